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

"""Our renderer against prometheus_client's own, through its parsers."""

import gzip
import shutil
import subprocess

import pytest
from prometheus_client.core import (
    CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily)
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import \
    generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import \
    text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from swiftinst import metrics
from swiftinst.exporters.prometheus import render, render_text
from swiftinst.series import Series
from tests.unit.helpers import series

BOUNDS = (0.001, 0.1, 2.5)


class ReferenceCollector(object):
    """The same series through prometheus_client's metric families."""

    def __init__(self, series):
        self.series = series

    def collect(self):
        les = [str(b) for b in BOUNDS] + ['+Inf']
        for d in metrics.ALL_METRICS:
            rows = sorted((labels, v) for (name, labels), v
                          in self.series.items() if name == d.name)
            if d.kind == metrics.HISTOGRAM:
                fam = HistogramMetricFamily(d.name, d.help, labels=d.labels)
                for labels, v in rows:
                    cumulative, running = [], 0
                    for c in v.counts:
                        running += c
                        cumulative.append(running)
                    fam.add_metric(labels, list(zip(les, cumulative)), v.total)
            elif d.kind == metrics.GAUGE:
                fam = GaugeMetricFamily(d.name, d.help, labels=d.labels)
                for labels, v in rows:
                    fam.add_metric(labels, v.value)
            else:
                fam = CounterMetricFamily(d.name, d.help, labels=d.labels)
                for labels, v in rows:
                    fam.add_metric(labels, v.value)
            yield fam


SERIES = {
    (metrics.DISK_OP.name, ('fsync', 'sda', '0')): series(1, 2, 0, 3, 4.25),
    (metrics.DISK_OP.name, ('open', 'we"ird\\dev\n', '1')):
        series(0, 0, 1, 0, .5),
    (metrics.INPUT_READ.name, ('PUT', 'sda', '0')): series(5, 0, 0, 0, 0.001),
    (metrics.INPUT_BYTES.name, ('PUT', 'sda', '0')): series(123456, 0.0),
    (metrics.INSTRUMENTATION_ERRORS.name, ('store',)): series(2, 0.0),
    (metrics.HUB_LAG.name, ()): series(7, 1, 0, 0, 0.02),  # no labels at all
    (metrics.DEVICE_INODES_USED.name, ('sda',)): series(123456, 0.0),
    (metrics.NODE_DENTRIES.name, ()): series(565146, 0.0),
    (metrics.XFS_COUNTERS[0][0].name, ('sda',)): series(52, 0.0),
}


def samples(families):
    return sorted((s.name, tuple(sorted(s.labels.items())), float(s.value))
                  for f in families for s in f.samples)


def test_text_format_matches_prometheus_client():
    ours = render_text(SERIES, BOUNDS).decode()
    theirs = generate_latest(ReferenceCollector(SERIES)).decode()
    assert samples(text_string_to_metric_families(ours)) == \
        samples(text_string_to_metric_families(theirs))
    types = {f.name: f.type for f in text_string_to_metric_families(ours)}
    assert types['swift_object_disk_op_seconds'] == 'histogram'
    assert types['swift_object_input_bytes'] == 'counter'


def test_openmetrics_matches_prometheus_client():
    ours = render_text(SERIES, BOUNDS, openmetrics=True).decode()
    theirs = generate_openmetrics(ReferenceCollector(SERIES)).decode()
    assert ours.endswith('# EOF\n')
    assert samples(parse_openmetrics(ours)) == \
        samples(parse_openmetrics(theirs))


def test_empty_store_renders_every_family():
    text = render_text({}, BOUNDS).decode()
    for d in metrics.ALL_METRICS:
        assert '# TYPE %s' % d.name in text


@pytest.mark.parametrize('accept,encoding,openmetrics,gzipped', [
    ('', '', False, False),
    ('application/openmetrics-text; version=1.0.0', '', True, False),
    ('text/plain', 'gzip, deflate', False, True),
])
def test_negotiation(accept, encoding, openmetrics, gzipped):
    headers, chunks = render(SERIES, BOUNDS, accept, encoding)
    headers = dict(headers)
    body = b''.join(chunks)
    assert headers['Content-Type'].startswith(
        'application/openmetrics-text' if openmetrics else 'text/plain')
    assert ('Content-Encoding' in headers) == gzipped
    if gzipped:
        body = gzip.decompress(body)
    assert body.endswith(b'# EOF\n') == openmetrics


@pytest.mark.skipif(shutil.which('promtool') is None,
                    reason='promtool missing (Debian package prometheus)')
def test_prometheus_itself_parses_the_text_format():
    """prometheus_client's parser is lenient; Prometheus's is not (an
    unlabelled histogram once rendered as ``x_bucket{,le=...}``).
    """
    out = subprocess.run(['promtool', 'check', 'metrics'],
                         input=render_text(SERIES, BOUNDS),
                         capture_output=True, timeout=60)
    assert b'error' not in out.stdout + out.stderr, out.stderr
    assert b'expected' not in out.stdout + out.stderr, out.stderr


def _with_exemplars():
    with_exemplars = {key: Series(BOUNDS).load(values.counts, values.total)
                      if len(values.counts) == len(BOUNDS) + 1 else values
                      for key, values in SERIES.items()}
    fsync = with_exemplars[(metrics.DISK_OP.name, ('fsync', 'sda', '0'))]
    fsync.offer(1, ('tx1a2b-0065f0e4c1', 0.08, 1764651000.125))
    fsync.offer(3, ('txf00-0065f0e4c2-extra', 7.5, 1764651001.0))
    return with_exemplars


def test_openmetrics_buckets_carry_their_exemplars():
    text = render_text(_with_exemplars(), BOUNDS, openmetrics=True).decode()
    assert ('swift_object_disk_op_seconds_bucket{op="fsync",device="sda",'
            'policy="0",le="0.1"} 3 # {txn_id="tx1a2b-0065f0e4c1"} 0.08 '
            '1764651000.125\n') in text
    found = {}
    for family in parse_openmetrics(text):
        for sample in family.samples:
            if sample.exemplar is not None:
                found[sample.labels['le']] = sample.exemplar
    assert found['0.1'].labels == {'txn_id': 'tx1a2b-0065f0e4c1'}
    assert found['0.1'].value == 0.08
    assert float(found['0.1'].timestamp) == 1764651000.125
    assert found['+Inf'].labels == {'txn_id': 'txf00-0065f0e4c2-extra'}
    assert len(found) == 2


def test_an_exemplar_label_is_escaped():
    """The object server takes X-Trans-Id from whoever sends it."""
    odd = Series(BOUNDS)
    odd.exemplar(0.5, 'tx"odd\\\n', 1.0)
    text = render_text({(metrics.REQUEST.name, ('PUT', 'sda', '0', '2xx')):
                        odd}, BOUNDS, openmetrics=True).decode()
    assert '# {txn_id="tx\\"odd\\\\\\n"} 0.5 1.000\n' in text


def test_the_text_format_is_unchanged_by_exemplars():
    assert render_text(_with_exemplars(), BOUNDS) == \
        render_text(SERIES, BOUNDS)
