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

"""The verdict rules, on hand-made rows (the functional tests give them
real object servers).
"""

import math

from swiftinst import verdict
from swiftinst.verdict import judge_all, seconds_text

NAN = math.nan


def row(device, requests=100, ops=None, hub_wait=0.05, client_wait=0.2,
        read_p99=0.001, slow_reads=0, misses=NAN, request_p99=0.012):
    op_p99 = {'open': 0.0002, 'fsync': 0.004, 'metadata_read': 0.0001}
    op_p99.update(ops or {})
    return {'device': device, 'requests': requests, 'op_p99': op_p99,
            'hub_wait': hub_wait, 'client_wait': client_wait,
            'read_p99': read_p99, 'slow_reads': slow_reads,
            'ig_miss_ratio': misses, 'request_p99': request_p99}


def causes(rows, holders=()):
    return [(r['device'], r['verdict']['cause'])
            for r in judge_all(rows, list(holders))]


def test_a_slow_fsync_is_the_disk_of_that_device_only():
    rows = [row('sda'), row('sdb', ops={'fsync': 0.48}), row('sdc')]
    assert causes(rows) == [('sda', 'ok'), ('sdb', 'disk'), ('sdc', 'ok')]
    assert rows[1]['verdict']['reason'] == 'fsync p99 480 ms, node median 4 ms'
    assert rows[0]['verdict']['reason'] == \
        'request p99 12 ms over 100 requests'


def test_a_disk_needs_both_the_floor_and_the_ratio():
    # 5x the others, but under the 50 ms floor: not a disk problem
    assert causes([row('sda'), row('sdb', ops={'fsync': 0.03})]) == \
        [('sda', 'ok'), ('sdb', 'ok')]
    # every device slow alike: no device stands out
    slow = {'fsync': 0.4}
    assert causes([row('sda', ops=slow), row('sdb', ops=slow)]) == \
        [('sda', 'ok'), ('sdb', 'ok')]
    # alone, the absolute floor decides
    assert causes([row('sda', ops={'fsync': 0.2})]) == [('sda', 'disk')]
    assert causes([row('sda', ops={'fsync': 0.08})]) == [('sda', 'ok')]


def test_slow_opens_with_inode_cache_misses_are_the_inode_cache():
    rows = [row('sda', ops={'open': 0.3}, misses=0.38), row('sdb')]
    assert causes(rows) == [('sda', 'inode_cache'), ('sdb', 'ok')]
    assert rows[0]['verdict']['reason'] == (
        'open p99 300 ms, node median 0.2 ms; 38 % of inode lookups '
        'missed the cache')
    # the same opens with a warm cache are the disk
    assert causes([row('sda', ops={'open': 0.3}, misses=0.01),
                   row('sdb')])[0] == ('sda', 'disk')


def test_the_hub_share_names_the_holder():
    rows = [row('sda', hub_wait=0.62, read_p99=0.4), row('sdb')]
    holders = [('sdb', 'open', 14, 7.0), ('sda', 'request', 1, 0.06)]
    assert causes(rows, holders) == [('sda', 'event_loop'), ('sdb', 'ok')]
    assert rows[0]['verdict']['reason'] == (
        '62 % of request time waiting for the hub; held by sdb in open, '
        '14 blocks')


def test_slow_reads_while_waiting_for_the_client_are_the_client():
    rows = [row('sda', client_wait=0.8, read_p99=2.1, slow_reads=3)]
    assert causes(rows) == [('sda', 'client')]
    assert rows[0]['verdict']['reason'] == (
        '80 % of request time waiting for the client; read p99 2.1 s, '
        '3 slow reads')
    # slow reads, but the requests mostly waited for something else
    assert causes([row('sda', client_wait=0.1, read_p99=2.1)]) == \
        [('sda', 'ok')]
    # without event-loop accounting, slow reads decide, and say so
    rows = [row('sda', hub_wait=NAN, client_wait=NAN, read_p99=0.5)]
    assert causes(rows) == [('sda', 'client')]
    assert 'accounting off' in rows[0]['verdict']['reason']


def test_too_few_requests_are_ok():
    rows = [row('sda', requests=0, ops={'fsync': 9.0}, hub_wait=NAN)]
    assert causes(rows) == [('sda', 'ok')]
    assert rows[0]['verdict']['reason'] == '0 requests: too few to judge'


def test_every_threshold_is_in_one_place():
    assert set(verdict.THRESHOLDS._fields) >= {
        'disk_floor', 'disk_ratio', 'hub_share', 'client_share'}
    assert set(verdict.THRESHOLDS._fields) >= {
        'container_share', 'peers_share', 'tpool_share', 'wait_floor'}
    assert verdict.CAUSES == ('ok', 'disk', 'event_loop', 'client',
                              'inode_cache', 'container', 'peers', 'tpool')


def test_seconds_text():
    assert [seconds_text(v) for v in (0.48, 0.004, 0.0002, 2.7, 13.0)] == \
        ['480 ms', '4 ms', '0.2 ms', '2.7 s', '13 s']


def test_slow_opens_beside_a_slower_fsync_with_misses_are_the_inode_cache():
    rows = [row('sda', ops={'open': 0.2, 'fsync': 2.0}, misses=0.5),
            row('sdb')]
    assert causes(rows)[0] == ('sda', 'inode_cache')
    assert rows[0]['verdict']['reason'].startswith('open p99 200 ms')


def test_without_per_device_histograms_the_verdict_uses_what_is_kept():
    """series_profile default: no request p99 per device, but its mean;
    lean: no read p99 per device, but its slow reads.
    """
    rows = [row('sda', request_p99=NAN)]
    rows[0]['request_mean'] = 0.0023
    assert causes(rows) == [('sda', 'ok')]
    assert rows[0]['verdict']['reason'] == \
        'request mean 2.3 ms over 100 requests'
    rows = [row('sda', client_wait=0.7, read_p99=NAN, slow_reads=4)]
    assert causes(rows) == [('sda', 'client')]
    assert rows[0]['verdict']['reason'] == \
        '70 % of request time waiting for the client; 4 slow reads'


class CannedPrometheus(object):
    """Answers fleet's queries from canned vectors: the first
    ``(fragment, vector)`` whose fragment the expression contains.
    """

    def __init__(self, answers):
        self.answers = answers

    def query(self, expr):
        for fragment, vector in self.answers:
            if fragment in expr:
                return vector
        return []


def test_report_prometheus_reads_what_the_node_report_reads():
    """A stalled container server as a Prometheus sees it: fleet's rows
    carry the figures summary's do, and get the same verdict.
    """
    from swiftinst import fleet
    place = {'instance': 'n1:6200', 'device': 'sda'}
    phases = [(dict(place, phase=phase), seconds) for phase, seconds in (
        ('running', 0.3), ('client_wait', 0.1), ('hub_wait', 0.1),
        ('tpool_wait', 0.5), ('container_wait', 11.9), ('commit_wait', 0))]
    prometheus = CannedPrometheus([
        ('swift_object_device_phase_seconds', phases),
        ('swift_object_disk_op_seconds_sum', [
            (dict(place, op='fsync'), 0.2), (dict(place, op='tpool_wait'),
                                             0.05)]),
        ('swift_object_container_update_seconds_count', [
            ({'instance': 'n1:6200', 'outcome': 'timeout'}, 12)]),
        ('swift_object_container_update_seconds_sum', [
            ({'instance': 'n1:6200', 'outcome': 'timeout'}, 36.1)]),
        ('swift_object_async_pendings_total', [(place, 12)]),
        ('/ (sum by', [(place, 1.01)]),      # request_mean
        ('swift_object_device_request_seconds_count', [(place, 12)]),
        ('swift_object_device_request_seconds_sum', [(place, 12.9)]),
    ])
    p99s = [(dict(place, op='fsync'), 0.003)]
    rows = fleet._device_rows(prometheus, p99s, fleet.nodes(['n1:6200']))
    row = rows[('n1:6200', 'sda')]
    for key in ('requests', 'spent', 'container_wait', 'disk', 'tpool_queue',
                'tpool_work', 'async_pendings', 'updates'):
        assert key in row, key
    judged = verdict.judge(row, [row], [])
    assert judged == verdict.Verdict('container', (
        '92 % of request time waiting for container updates; 12 of 12 '
        'timed out after 3 s, 12 async pendings')), row
