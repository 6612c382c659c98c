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

"""``swiftinst report --prometheus URL``: the slowest disks of a fleet.

Asks a Prometheus (or Thanos, or Mimir: anything that answers
``/api/v1/query``) for every device's p99 per disk op and the fleet's
median for that op, which the shipped recording rules compute once
(``etc/prometheus/swiftinst-rules.yml``), and lists the devices furthest
above the median.  Each device also gets the verdict ``swiftinst report``
gives on its node (see verdict), from the same figures over the same
five minutes, asked of Prometheus instead of scraped.

The standard library's HTTP client is all it needs.
"""

import collections
import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request

from swiftinst import metrics, verdict
from swiftinst.report import ReportError
from swiftinst.summary import (format_table, format_verdict, own_time,
                               phase_shares, rank_holders)

# The recording rules this reads, and their expressions: where a
# Prometheus does not have the rules loaded, the expressions are asked
# instead (a test checks that both agree with the rules file).
P99 = 'instance_device_op:swift_object_disk_op_seconds:p99_5m'
FLEET_MEDIAN = 'op:swift_object_disk_op_seconds:p99_5m_fleet_median'
RECORDED = {
    P99: 'histogram_quantile(0.99, sum by (instance, device, op, le) '
         '(rate(swift_object_disk_op_seconds_bucket '
         '{op!="tpool_wait",device!=""}[5m]))) >= 0',
    FLEET_MEDIAN: 'quantile by (op) (0.5, '
                  'instance_device_op:swift_object_disk_op_seconds:p99_5m)',
}


def expanded(name):
    """The expression of the recording rule ``name``, with every rule it
    reads replaced by that rule's expression: the same vector, asked of a
    Prometheus that does not load the rules.
    """
    expr = RECORDED[name]
    for other in RECORDED:
        if other != name and other in expr:
            expr = expr.replace(other, '(%s)' % expanded(other))
    return expr


# What the verdict needs besides the disk-op p99s, per (instance, device),
# over the rules' five minutes.  A device's requests and phases are its
# totals (series_profile default, lean) or its histograms (full):
# whichever the node exports.  Only the nodes of the worst devices are
# asked about (``instance=~"..."``): a verdict compares a device with the
# other devices of its node, never with the rest of the fleet.
_BY = 'instance, device'
_ON_DEVICE = 'device!=""'


def _increase(name, node, *matchers, by=_BY):
    return 'sum by (%s) (increase(%s{%s}[5m]))' % (
        by, name, ','.join((node,) + matchers))


def _p99_of(name, node):
    return ('histogram_quantile(0.99, sum by (%s, le) '
            '(rate(%s_bucket{%s,%s}[5m])))' % (_BY, name, node, _ON_DEVICE))


def _either(suffix, node, metric_by_device, metric_by_node, by=_BY):
    """The device's totals, or its histogram (series_profile full)."""
    return '%s or %s' % (
        _increase(metric_by_device + suffix, node, by=by),
        _increase(metric_by_node + suffix, node, _ON_DEVICE, by=by))


def device_queries(node):
    """field of a verdict row -> its query, for the nodes matched by
    ``node`` (a label matcher).
    """
    def requests(suffix):
        return _either(suffix, node, metrics.DEVICE_REQUEST.name,
                       metrics.REQUEST.name)
    return {
        'requests': requests('_count'),
        'request_p99': _p99_of(metrics.REQUEST.name, node),
        'request_mean': '(%s) / (%s)' % (requests('_sum'),
                                         requests('_count')),
        'spent': requests('_sum'),
        'async_pendings': _increase(metrics.ASYNC_PENDINGS.name + '_total',
                                    node),
        'read_p99': _p99_of(metrics.INPUT_READ.name, node),
        'slow_reads': _increase(metrics.SLOW_READS.name + '_total', node),
        'ig_miss_ratio': '%s / %s' % (
            _increase(metrics.XFS_IG_MISSED.name + '_total', node),
            _increase(metrics.XFS_IG_ATTEMPTS.name + '_total', node)),
    }


def phase_query(node):
    return _either('_sum', node, metrics.DEVICE_PHASE.name,
                   metrics.REQUEST_PHASE.name, by=_BY + ', phase')


def op_seconds_query(node):
    """Each device's seconds in each disk op."""
    return _increase(metrics.DISK_OP.name + '_sum', node, _ON_DEVICE,
                     by=_BY + ', op')


def update_queries(node):
    """Each node's container updates, by outcome: count and seconds."""
    return {field: _increase(metrics.CONTAINER_UPDATE.name + suffix, node,
                             by='instance, outcome')
            for field, suffix in (('count', '_count'), ('seconds', '_sum'))}


def holder_queries(node):
    """Who held the event loop: blocks and seconds, by where."""
    return {field: _increase(metrics.HUB_BLOCKED.name + suffix, node,
                             by=_BY + ', where')
            for field, suffix in (('blocks', '_count'),
                                  ('seconds', '_sum'))}


# Some nodes of the fleet: their instance labels, and a label matcher
# for exactly those.
Nodes = collections.namedtuple('Nodes', 'instances matcher')


def nodes(instances):
    """The Nodes of ``instances``: ``instance=~"a|b"``, its regular
    expression's and string's special characters escaped.
    """
    instances = frozenset(instances)
    pattern = '|'.join(re.sub(r'([\\.+*?()|\[\]{}^$])', r'\\\1', instance)
                       for instance in sorted(instances))
    return Nodes(instances, 'instance=~%s' % json.dumps(pattern))


def _place(labels):
    return labels.get('instance', ''), labels.get('device', '')


class Prometheus(object):
    """The HTTP API of one Prometheus-compatible server."""

    def __init__(self, url, timeout=30.0):
        self.url = url.rstrip('/')
        self.timeout = timeout

    def query(self, expr):
        """The instant vector ``expr`` evaluates to now:
        ``[(labels dict, float value)]``.
        """
        url = '%s/api/v1/query?%s' % (
            self.url, urllib.parse.urlencode({'query': expr}))
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as reply:
                answer = json.load(reply)
        except urllib.error.HTTPError as err:
            raise ReportError('%s answered %s to %s' % (self.url, err.code,
                                                        expr))
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise ReportError('cannot query %s: %s' % (
                self.url, getattr(err, 'reason', None) or err))
        if answer.get('status') != 'success' or \
                answer.get('data', {}).get('resultType') != 'vector':
            raise ReportError('%s is not a Prometheus query API (%s)' % (
                self.url, answer.get('error') or answer.get('status')))
        return [(sample['metric'], float(sample['value'][1]))
                for sample in answer['data']['result']]

    def recorded(self, name):
        """The recording rule ``name``, or its expression where this
        Prometheus does not record it.
        """
        return self.query(name) or self.query(expanded(name))


def _device_rows(prometheus, p99s, node):
    """The rows verdict.judge reads, per (instance, device) of the nodes
    ``node`` matches.
    """
    rows = {}
    for labels, value in p99s:
        place = _place(labels)
        if place[0] in node.instances:
            rows.setdefault(place, {'op_p99': {}})['op_p99'][
                labels.get('op', '')] = value
    for field, expr in device_queries(node.matcher).items():
        for labels, value in prometheus.query(expr):
            row = rows.get(_place(labels))
            if row is not None:
                row[field] = value
    phases = collections.defaultdict(dict)
    for labels, value in prometheus.query(phase_query(node.matcher)):
        phases[_place(labels)][labels.get('phase', '')] = value
    op_seconds = collections.defaultdict(dict)
    for labels, value in prometheus.query(op_seconds_query(node.matcher)):
        op_seconds[_place(labels)][labels.get('op', '')] = value
    # instance -> outcome -> [count, seconds]
    updates = collections.defaultdict(
        lambda: collections.defaultdict(lambda: [0, 0.0]))
    for field, expr in update_queries(node.matcher).items():
        for labels, value in prometheus.query(expr):
            pair = updates[labels.get('instance', '')][
                labels.get('outcome', '')]
            if field == 'count':
                pair[0] = round(value)
            else:
                pair[1] = value
    for place, row in rows.items():
        row['device'] = place[1]
        row.update(phase_shares(phases.get(place, {})))
        row.setdefault('spent', math.nan)
        row['async_pendings'] = round(row.get('async_pendings') or 0)
        row['updates'] = {outcome: tuple(pair) for outcome, pair
                          in updates.get(place[0], {}).items() if pair[0]}
        own_time(row, phases.get(place, {}), op_seconds.get(place, {}))
    return rows


def _holders(prometheus, node):
    """instance -> [(device, where, blocks, seconds)], longest first."""
    # instance -> (device, where) -> [blocks, seconds]
    held = collections.defaultdict(
        lambda: collections.defaultdict(lambda: [0, 0.0]))
    for field, expr in holder_queries(node.matcher).items():
        for labels, value in prometheus.query(expr):
            place = held[labels.get('instance', '')][
                (labels.get('device', ''), labels.get('where', ''))]
            if field == 'seconds':
                place[1] += value
            else:
                place[0] += round(value)
    return {instance: rank_holders(places)
            for instance, places in held.items()}


def worst_devices(prometheus, top=20):
    """The ``top`` (instance, device, op) furthest above the fleet's
    median for their op, worst first, each a dict with the contract's
    keys: instance, device, op, p99, fleet_median, ratio, verdict.
    """
    p99s = prometheus.recorded(P99)
    if not p99s:
        raise ReportError('%s has no swift_object_disk_op_seconds data of '
                          'the last 5 minutes' % prometheus.url)
    medians = {labels.get('op', ''): value for labels, value
               in prometheus.recorded(FLEET_MEDIAN)}
    found = []
    for labels, p99 in p99s:
        median = medians.get(labels.get('op', ''))
        if median is None:
            continue
        ratio = p99 / median if median > 0 else \
            (math.inf if p99 > 0 else 1.0)
        found.append(_place(labels) + (labels.get('op', ''), p99, median,
                                       ratio))
    found.sort(key=lambda item: (-item[5], -item[3], item[:3]))
    found = found[:top]
    if not found:
        return []
    node = nodes(item[0] for item in found)
    rows = _device_rows(prometheus, p99s, node)
    holders = _holders(prometheus, node)
    by_instance = collections.defaultdict(list)
    for (instance, _), row in rows.items():
        by_instance[instance].append(row)
    worst = []
    for instance, device, op, p99, median, ratio in found:
        row = rows[(instance, device)]
        judged = verdict.judge(row, by_instance[instance],
                               holders.get(instance, []))
        worst.append({'instance': instance, 'device': device, 'op': op,
                      'p99': p99, 'fleet_median': median, 'ratio': ratio,
                      'verdict': judged._asdict()})
    return worst


def _ratio_text(ratio):
    return '%.1fx' % ratio if math.isfinite(ratio) else 'inf'


# The table of ``swiftinst report --prometheus``, as summary.format_table
# draws it.
COLUMNS = (
    ('instance', 'instance', str, False),
    ('device', 'device', str, False),
    ('op', 'op', str, False),
    ('p99', 'p99', verdict.seconds_text, False),
    ('fleet_median', 'fleet median', verdict.seconds_text, False),
    ('ratio', 'ratio', _ratio_text, False),
    ('verdict', 'verdict', format_verdict, False),
)


def format_lines(worst):
    """One aligned line per device, worst first."""
    return format_table(worst, COLUMNS, mark_worst=False)


def run(url, top, as_json_output, out, progress):
    """``swiftinst report --prometheus URL``; returns the exit status."""
    try:
        worst = worst_devices(Prometheus(url), top)
    except ReportError as err:
        progress.write('swiftinst report: %s\n' % err)
        return 2
    if as_json_output:
        out.write(json.dumps({'prometheus': url, 'devices': [
            dict(item, ratio=item['ratio'] if math.isfinite(item['ratio'])
                 else None) for item in worst]}, indent=2) + '\n')
    else:
        out.write(format_lines(worst) + '\n')
    out.flush()
    return 0
