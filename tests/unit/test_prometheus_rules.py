# Copyright (c) 2026 The swiftinst authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#    http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or
# implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""The shipped alert and recording rules, through Prometheus's promtool."""

import os
import shutil
import subprocess
import textwrap

import pytest

from tests import ROOT

ETC = os.path.join(ROOT, 'etc', 'prometheus')
pytestmark = pytest.mark.skipif(
    shutil.which('promtool') is None,
    reason='promtool missing (Debian package prometheus; .ci/run installs '
           'it)')


def promtool(*args):
    return subprocess.run(('promtool',) + args, capture_output=True,
                          text=True, cwd=ETC, timeout=120)


def test_rules_are_valid():
    out = promtool('check', 'rules', 'swiftinst-rules.yml')
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'SUCCESS: 20 rules found' in out.stdout


def test_rule_unit_tests_pass():
    out = promtool('test', 'rules', 'swiftinst-rules.test.yml')
    assert out.returncode == 0, out.stdout + out.stderr


# Cumulative fsync buckets per minute of 600 observations, all at or
# under ``le`` (promtool's series notation: start+increment x minutes).
_BOUNDS = ('0.001', '0.005', '0.025', '0.5', '+Inf')


def _fsync_series(instance, device, le):
    lines = []
    for bound in _BOUNDS:
        counted = _BOUNDS.index(bound) >= _BOUNDS.index(le)
        lines.append(
            "      - series: 'swift_object_disk_op_seconds_bucket{"
            'job="swift-object",instance="%s",device="%s",op="fsync",'
            'policy="0",le="%s"}\'\n        values: \'%s\'' % (
                instance, device, bound, '0+600x40' if counted else '0x40'))
    return lines


def _fleet(slowest, others):
    """Input series of 20 devices (4 nodes of 5): node-3's sdc has its
    fsyncs at or under ``slowest`` seconds, every other at or under
    ``others``.
    """
    series = []
    for node in range(4):
        for device in 'abcde':
            name = 'sd' + device
            slow = node == 3 and name == 'sdc'
            series.extend(_fsync_series('node-%d:6200' % node, name,
                                        slowest if slow else others))
    return series


TEST_TEMPLATE = textwrap.dedent('''\
        rule_files: [%s]
        evaluation_interval: 1m
        tests:
          - interval: 1m
            input_series:
        %s
            alert_rule_test:
              - eval_time: 30m
                alertname: SwiftObjectDiskOutlier
                exp_alerts:%s
        ''')


def _promtool_test(tmp_path, series, expected_alerts):
    text = TEST_TEMPLATE % (os.path.join(ETC, 'swiftinst-rules.yml'),
                            '\n'.join(series), expected_alerts)
    path = tmp_path / 'fleet.test.yml'
    path.write_text(text)
    return promtool('test', 'rules', str(path))


OUTLIER_DESCRIPTION = (
    'fsync p99 on device sdc of node-3:6200 is 495.2ms; the fleet median '
    'is 4.96ms.  `swiftinst report --prometheus` lists the worst devices '
    'of the fleet with their verdicts.\\n')


def test_one_disk_among_twenty_is_an_outlier(tmp_path):
    expected = textwrap.indent(textwrap.dedent('''
        - exp_labels:
            severity: warning
            instance: node-3:6200
            device: sdc
            op: fsync
          exp_annotations:
            summary: "sdc on node-3:6200 is an outlier at fsync"
            description: "%s"
        ''') % OUTLIER_DESCRIPTION, ' ' * 10)
    out = _promtool_test(tmp_path, _fleet('0.5', '0.005'), expected)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize('slowest,others', [
    ('0.5', '0.5'),       # every disk slow alike: the fleet, not a disk
    ('0.025', '0.001'),   # 25x the others, but under the 50 ms floor
])
def test_no_outlier(tmp_path, slowest, others):
    out = _promtool_test(tmp_path, _fleet(slowest, others), ' []')
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_outlier_test_can_fail(tmp_path):
    """The quiet cases above pass only because nothing fires."""
    out = _promtool_test(tmp_path, _fleet('0.5', '0.001'), ' []')
    assert out.returncode != 0
    assert 'SwiftObjectDiskOutlier' in out.stdout + out.stderr


def _recorded_expressions():
    """{record: its expression, on one line} from the rules file (a
    folded ``expr: >`` block after each ``- record:``).
    """
    found, name, expr, indent = {}, None, None, None
    with open(os.path.join(ETC, 'swiftinst-rules.yml')) as f:
        for line in f:
            stripped = line.strip()
            if expr is not None:
                if stripped and len(line) - len(line.lstrip()) > indent:
                    expr.append(stripped)
                    continue
                found[name] = ' '.join(expr)
                expr = None
            if stripped.startswith('- record:'):
                name = stripped.split(':', 1)[1].strip()
            elif stripped == 'expr: >' and name is not None:
                expr, indent = [], len(line) - len(line.lstrip())
            elif stripped.startswith('- alert:'):
                name = None
    return found


def test_report_prometheus_asks_what_the_rules_record():
    """fleet.RECORDED stands in for the rules where they are not loaded."""
    from swiftinst import fleet
    recorded = _recorded_expressions()
    for name, expr in fleet.RECORDED.items():
        assert ' '.join(expr.split()) == recorded[name], name


def test_without_the_rules_no_expression_reads_a_recorded_series():
    """The fleet median reads the p99 rule; asked of a Prometheus that
    does not load the rules, it must compute the p99s itself.
    """
    from swiftinst import fleet
    for name in fleet.RECORDED:
        expr = fleet.expanded(name)
        assert not [other for other in fleet.RECORDED if other in expr], \
            expr
    assert fleet.RECORDED[fleet.P99] in fleet.expanded(fleet.FLEET_MEDIAN)


def test_the_worst_devices_nodes_are_matched_exactly():
    """An instance is matched whole: its dots are not wildcards, and a
    quote cannot end the PromQL string.
    """
    from swiftinst import fleet
    node = fleet.nodes(['10.0.0.4:6200', '10.0.0.4:6200', 'a"b|c'])
    assert node.instances == {'10.0.0.4:6200', 'a"b|c'}
    assert node.matcher == r'instance=~"10\\.0\\.0\\.4:6200|a\"b\\|c"'
