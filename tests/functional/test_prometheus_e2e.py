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

"""The operator surface against a real Prometheus: Debian's ``prometheus``
scrapes a real object server (workers = 2) every second with the shipped
rules loaded and exemplar storage on; alerts, recording rules, dashboard
queries, exemplars and ``swiftinst report`` are checked through its HTTP
API.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from bisect import bisect_left

import pytest

from swiftinst.metrics import DEFAULT_LATENCY_BUCKETS
from tests.testbed import (DASHBOARD, ContainerServer, LoopXfs,
                           ObjectServer, Prometheus, free_port, quick_rules,
                           slow_disk_env, wait_for)

# Why sda is not an XFS here, if it is not (then XFS queries are skipped).
XFS_MISSING = []

pytestmark = pytest.mark.skipif(
    shutil.which('prometheus') is None,
    reason='prometheus missing (Debian package prometheus; .ci/run '
           'installs it)')


class Load(object):
    """PUTs and GETs to both devices from a thread and, while
    ``stalling`` is set, a client that stalls now and then.  Clearing
    ``running`` parks it after the request in flight; ``idle`` is set
    while it is parked.
    """

    def __init__(self, server, updates=None, slow_every=5):
        self.server = server
        # device -> the container-update headers of its PUTs
        self.updates = updates or {}
        self.slow_every = slow_every
        self.stop, self.stalling = threading.Event(), threading.Event()
        self.running, self.idle = threading.Event(), threading.Event()
        self.stalling.set()
        self.running.set()
        self.thread = threading.Thread(target=self._drive, daemon=True)
        self.thread.start()

    def pause(self):
        self.running.clear()
        assert self.idle.wait(30)

    def resume(self):
        self.idle.clear()
        self.running.set()

    def close(self):
        self.stop.set()
        self.running.set()
        self.thread.join(30)

    def _drive(self):
        server, i = self.server, 0
        while not self.stop.is_set():
            if not self.running.is_set():
                self.idle.set()
                self.running.wait()
                continue
            try:
                for device in server.devices:
                    server.put(device, 'e2e-%d' % i, b'e' * 70000,
                               **self.updates.get(device, {}))
                    server.request('GET', '/%s/0/a/c/e2e-%d' % (device, i))
                if self.stalling.is_set() and i % self.slow_every == 0:
                    server.put_slowly('/sda/0/a/c/e2e-slow-%d' % i, 8192,
                                      4096, 0.4, 'txe2e%d' % i)
            except OSError:
                if not self.stop.is_set():
                    raise
            i += 1


@pytest.fixture(scope='module')
def stack(request):
    server = ObjectServer(workers=2, filter_options={
        'flush_interval': '0.2', 'slow_read_threshold': '0.3',
        'disk_state_interval': '0.5', 'event_loop_accounting': 'true'},
        env=slow_disk_env(open_path='/sdb/', open_delay=0.1))
    # sda on a loop-mounted XFS where allowed (root, as in CI), so that the
    # XFS panels and rules have data too
    xfs = LoopXfs(os.path.join(server.root, 'sda.img'),
                  os.path.join(server.devices_dir, 'sda'))
    try:
        xfs.mount()
    except (OSError, subprocess.CalledProcessError) as err:
        xfs = None
        XFS_MISSING.append(str(err))

    def stop():
        server.close()
        if xfs is not None:
            xfs.unmount()
    request.addfinalizer(stop)
    server.start()
    # sdb's objects update a real container server; sda's a port where
    # nothing listens, so that each of its PUTs writes an async pending
    # (on sda: sdb's slow opens would make its PUTs slow enough to take
    # the exemplar test's bucket)
    containers = ContainerServer()
    request.addfinalizer(containers.close)
    containers.start().create()
    updates = {'sdb': containers.update_headers(),
               'sda': dict(containers.update_headers(), **{
                   'X-Container-Host': '127.0.0.1:%d' % free_port()})}
    rules_dir = tempfile.mkdtemp(prefix='swiftinst-rules-')
    request.addfinalizer(lambda: shutil.rmtree(rules_dir, True))
    prometheus = Prometheus(['127.0.0.1:%d' % server.port],
                            quick_rules(rules_dir))
    request.addfinalizer(prometheus.close)
    load = Load(server, updates)
    request.addfinalizer(load.close)
    time.sleep(8)       # several scrapes and rule evaluations with data
    return server, prometheus, load


def test_slow_read_alert_fires(stack):
    _, prometheus, _ = stack

    alerts = wait_for(lambda: prometheus.firing('SwiftObjectSlowReads'))
    assert alerts, prometheus.api('alerts')
    assert {a['labels']['device'] for a in alerts} == {'sda'}
    assert alerts[0]['labels']['severity'] == 'warning'


def test_failing_container_updates_alert_fires(stack):
    _, prometheus, _ = stack
    alerts = wait_for(lambda: prometheus.firing(
        'SwiftObjectContainerUpdatesFailing'))
    assert {a['labels']['device'] for a in alerts} == {'sda'}, \
        prometheus.api('alerts')
    outcomes = {r['metric']['outcome'] for r in prometheus.query(
        'instance_outcome:swift_object_container_update_seconds:p99_5m')}
    assert outcomes == {'ok', 'error'}


def _rules(prometheus):
    return [rule for group in prometheus.api('rules')['groups']
            for rule in group['rules']]


def _without_threshold(expr):
    """An alert's expression without its comparisons: the series it
    watches, which must exist whether or not the alert fires.
    """
    return re.sub(r'\s*>\s*[0-9.]+', '', expr)


def test_every_rule_and_alert_expression_returns_data(stack):
    _, prometheus, _ = stack
    rules = _rules(prometheus)
    assert len(rules) == 20
    for rule in rules:
        if rule['type'] == 'recording':
            expr = rule['name']
        elif rule['name'] == 'SwiftObjectDiskOutlier':
            # compares each device with the fleet: one node of two
            # devices has no outlier; tests/functional/test_fleet.py
            # makes one.  Its operands are recording rules, checked here.
            continue
        else:
            expr = _without_threshold(rule['query'])
        if XFS_MISSING and 'xfs' in rule['query']:
            continue
        assert wait_for(lambda: prometheus.query(expr), 20), \
            'no data for %s: %s' % (rule['name'], expr)


def _panel_queries():
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    for panel in dashboard['panels']:
        for target in panel.get('targets', ()):   # a row has none
            yield panel['title'], target['expr']
    for variable in dashboard['templating']['list']:
        match = re.match(r'label_values\((.+), \w+\)$',
                         variable.get('definition', ''))
        if match:
            yield 'variable ' + variable['name'], match.group(1)


def _substitute(expr):
    return expr.replace('$__rate_interval', '30s').replace(
        '$instance', '.*').replace('$device', '.*')


def test_every_dashboard_query_returns_data(stack):
    _, prometheus, _ = stack
    queries = list(_panel_queries())
    assert len(queries) >= 12
    for title, expr in queries:
        if XFS_MISSING and 'xfs' in expr:
            continue
        assert wait_for(lambda: prometheus.query(_substitute(expr)), 20), \
            'panel %r has no data: %s' % (title, expr)


def _bucket(value):
    return bisect_left(DEFAULT_LATENCY_BUCKETS, value)


def test_report_agrees_with_histogram_quantile(stack):
    server, prometheus, load = stack
    # The report's window and Prometheus's (its samples are up to a scrape
    # interval, 1 s, from the report's scrapes) must hold the same
    # requests, or one slow fsync in one and not the other moves p99 by
    # buckets: so the load stops around both ends of the window, and
    # stalled reads stop altogether.
    load.stalling.clear()
    load.pause()
    time.sleep(2)       # flushed, and scraped by Prometheus
    interval = 9
    report_run = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), 'swiftinst'),
         'report', '--json', '--interval', str(interval),
         'http://127.0.0.1:%d/metrics' % server.port],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # its first scrape is done when it says how long it will wait
        progress = report_run.stderr.readline()
        assert 'next scrape in' in progress, progress
        time.sleep(1.5)     # Prometheus has sampled the quiet start
        load.resume()
        time.sleep(interval - 5)
        load.pause()
        stdout, stderr = report_run.communicate(timeout=60)
    finally:
        report_run.kill()
        load.resume()
    assert report_run.returncode == 0, stderr
    report = json.loads(stdout)
    rows = {row['device']: row for row in report['devices']}
    ended = report['window_end']
    window_ms = int(round(1000 * (ended - report['window_start'])))
    assert abs(window_ms - 1000 * interval) < 2000
    assert set(rows) == {'sda', 'sdb'}
    time.sleep(2)       # Prometheus has scraped past the report's window
    checks = (
        ('read_p50', 0.5, 'swift_object_input_read_seconds_bucket', ''),
        ('read_p99', 0.99, 'swift_object_input_read_seconds_bucket', ''),
        ('fsync_p99', 0.99, 'swift_object_disk_op_seconds_bucket',
         ',op="fsync"'),
        ('xattr_p99', 0.99, 'swift_object_disk_op_seconds_bucket',
         ',op="xattr_write"'),
    )
    for key, q, metric, match in checks:
        result = prometheus.query(
            'histogram_quantile(%s, sum by (device, le) (increase(%s{'
            'device=~"sda|sdb"%s}[%dms])))' % (q, metric, match, window_ms),
            at=ended)
        promql = {r['metric']['device']: float(r['value'][1])
                  for r in result}
        for device, row in rows.items():
            ours = row[key]
            assert ours is not None, (key, device)
            assert abs(_bucket(ours) - _bucket(promql[device])) <= 1, \
                (key, device, ours, promql[device])
    assert rows['sda']['put_rate'] > 0 and rows['sdb']['put_rate'] > 0
    assert rows['sdb']['hub_blocks'] > 0


def test_an_exemplar_leads_from_a_bucket_to_the_slow_request(stack):
    """A spike on the dashboard -> the bucket's exemplar -> the txn id
    that the object server's WARNING line carries.
    """
    server, prometheus, load = stack
    # no other slow read in the second before ours: its WARNING would
    # hold ours back (one line a second per worker)
    load.stalling.clear()
    time.sleep(1.5)
    txn = 'tx' + uuid.uuid4().hex
    started = time.time()
    # a read of 0.7 s: le="1.0" (the Load's stalls read 0.4 s: le="0.5")
    status = server.put_slowly('/sda/0/a/c/exemplar', 8192, 4096, 0.7, txn)
    assert status.startswith(b'HTTP/1.1 201'), status
    warning = server.log.wait_for(
        lambda line: 'Slow read' in line and txn in line)
    assert warning, 'no Slow read line for %s' % txn

    def exemplars(metric):
        # the request histogram is the node's: no device label
        data = prometheus.api(
            'query_exemplars', query='%s{method="PUT",le="1.0"}' % metric,
            start='%.3f' % (started - 60), end='%.3f' % (time.time() + 60))
        return [exemplar for series in data
                for exemplar in series['exemplars']
                if exemplar['labels'].get('txn_id') == txn]
    for metric in ('swift_object_input_read_seconds_bucket',
                   'swift_object_request_seconds_bucket'):
        found = wait_for(lambda: exemplars(metric), 30)
        assert found, metric
        assert 0.5 < float(found[0]['value']) <= 1.0, found
        assert started - 1 <= float(found[0]['timestamp']) <= time.time()
    # the classic text format has none
    assert ' # {' not in server.metrics_text()


def test_xfs_queries_were_checked(stack):
    if XFS_MISSING:
        pytest.skip('sda is not an XFS, so XFS rules and panels were not '
                    'checked: %s' % XFS_MISSING[0])


def test_report_fails_clearly_on_a_bad_url(stack):
    _, prometheus, _ = stack
    command = [os.path.join(os.path.dirname(sys.executable), 'swiftinst'),
               'report', '--interval', '1']
    closed = subprocess.run(command + ['http://127.0.0.1:%d/metrics'
                                       % free_port()],
                            capture_output=True, text=True, timeout=30)
    assert closed.returncode == 2
    assert 'cannot read http://127.0.0.1:' in closed.stderr
    # Prometheus's own /metrics is an endpoint, but not a swiftinst one
    other = subprocess.run(command + [prometheus.url('/metrics')],
                           capture_output=True, text=True, timeout=30)
    assert other.returncode == 2
    assert 'not a swiftinst endpoint' in other.stderr
