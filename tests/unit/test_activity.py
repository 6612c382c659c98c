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

"""The request records: their timelines, the slowest, and the publish
protocol that never shows a reader a torn record, in either mode.
"""

import multiprocessing
import os
import struct
import time

import pytest

from swiftinst import activity, context
from swiftinst.activity import KIND_OF, LayoutError, RequestRecords

K = KIND_OF


def records(tmp_path, slots=4, slowest=3, window=600.0):
    return RequestRecords(str(tmp_path / ('%srec' % activity.PREFIX)),
                          slots, slowest, window)


def claim(rec, started, wall, txn, method, device, policy, partition):
    """A record for a request that started at ``started`` and ``wall``."""
    rec.wall_offset = wall - started
    return rec.claim(started, txn, activity.identity(method, device, policy),
                     partition)


def release(rec, slot, status, now, wall):
    rec.wall_offset = wall - now
    rec.release(slot, status, now)


def read(rec, now, wall_now=1000.0, alive=True):
    return activity.read_records(rec.path, 1, alive, now, wall_now)


def test_a_request_in_flight_shows_what_it_waits_on_and_its_steps(tmp_path):
    rec = records(tmp_path)
    slot = claim(rec, 10.0, 990.0, 'tx1', 'PUT', 'sda', '0', 17)
    rec.transition(slot, K['client'], 10.5)       # switched out
    rec.wait_ended(slot, K['client'], 11.5, 12.0, K['running'])  # idle, hub
    before = rec.transition(slot, K['open'], 12.25)
    assert before == K['running']
    live, done = read(rec, now=15.25)
    assert done == []
    [req] = live
    assert req['txn_id'] == 'tx1' and req['method'] == 'PUT'
    assert req['device'] == 'sda' and req['policy'] == '0'
    assert req['partition'] == 17 and req['started'] == 990.0
    assert req['waiting_on'] == 'open' and req['seconds'] == 5.25
    assert req['steps'] == [['running', 0.5], ['client', 1.0],
                            ['hub', 0.5], ['running', 0.25],
                            ['open', 3.0]]


def test_a_finished_request_keeps_its_timeline_among_the_slowest(tmp_path):
    rec = records(tmp_path)
    slot = claim(rec, 10.0, 990.0, 'tx1', 'PUT', 'sda', '', -1)
    rec.transition(slot, K['tpool'], 10.5)
    rec.transition(slot, K['fsync'], 10.75)
    rec.transition(slot, K['tpool'], 12.75)
    rec.wait_ended(slot, K['tpool'], 13.0, 13.0, K['running'])
    release(rec, slot, 201, 13.5, 993.5)
    live, [req] = read(rec, now=20.0)
    assert live == []
    assert req['status'] == 201 and req['seconds'] == 3.5
    assert req['partition'] is None and 'waiting_on' not in req
    assert req['steps'] == [['running', 0.5], ['tpool', 0.25],
                            ['fsync', 2.0], ['tpool', 0.25],
                            ['running', 0.5]]
    assert sum(s for _, s in req['steps']) == req['seconds']


def test_every_kind_fits_and_the_steps_always_add_up(tmp_path):
    rec = records(tmp_path)
    slot = claim(rec, 0.0, 0.0, 'tx', 'PUT', 'sda', '', 0)
    now = 0.0
    # a large body: reads and writes alternating, thousands of times
    for i in range(5000):
        now += 0.001
        rec.transition(slot, K['client'] if i % 2 else K['write'], now)
    # then every kind once
    for kind in activity.KINDS:
        now += 0.5
        rec.transition(slot, K[kind], now)
    [req], _ = read(rec, now=now + 1.0)
    steps = req['steps']
    with open(rec.path, 'rb') as f:
        max_steps = activity.HEADER.unpack(f.read(activity.HEADER.size))[4]
    assert len(steps) <= max_steps
    assert {name for name, _ in steps} == set(activity.KINDS)
    assert sum(s for _, s in steps) == pytest.approx(now + 1.0)


def test_more_requests_than_slots_are_counted_not_shown(tmp_path):
    rec = records(tmp_path, slots=2)
    assert claim(rec, 0.0, 0.0, 'a', 'GET', 'sda', '', 0) >= 0
    slot = claim(rec, 0.0, 0.0, 'b', 'GET', 'sda', '', 0)
    assert claim(rec, 0.0, 0.0, 'c', 'GET', 'sda', '', 0) == -1
    assert rec.untracked == 1
    release(rec, slot, 200, 1.0, 1.0)
    assert claim(rec, 0.0, 0.0, 'd', 'GET', 'sda', '', 0) == slot


def test_the_slowest_of_each_tenth_of_the_window_are_kept(tmp_path):
    rec = records(tmp_path, slowest=2, window=100.0)
    for i, seconds in enumerate((1.0, 5.0, 3.0, 0.5, 4.0)):
        slot = claim(rec, 0.0, 0.0, 'tx%d' % i, 'PUT', 'sda', '', 0)
        release(rec, slot, 201, seconds, 1.0)   # all in the first tenth
    _, done = read(rec, now=10.0, wall_now=2.0)
    assert sorted(r['txn_id'] for r in done) == ['tx1', 'tx4']
    # later: another tenth, and the first is out of the window
    slot = claim(rec, 0.0, 0.0, 'late', 'PUT', 'sda', '', 0)
    release(rec, slot, 201, 0.1, 95.0)
    answer, _ = activity.answer([(rec.path, 1, True)], 20, 100.0,
                                now=10.0, wall_now=96.0)
    assert [r['txn_id'] for r in answer['slowest']] == \
        ['tx1', 'tx4', 'late']
    answer, _ = activity.answer([(rec.path, 1, True)], 20, 100.0,
                                now=10.0, wall_now=150.0)
    assert [r['txn_id'] for r in answer['slowest']] == ['late']


def test_a_dead_workers_requests_are_not_in_flight(tmp_path):
    rec = records(tmp_path)
    claim(rec, 0.0, 0.0, 'stuck', 'PUT', 'sda', '', 0)
    answer, problems = activity.answer([(rec.path, 1, False)], 20, 600.0)
    assert answer['in_flight'] == [] and problems == []
    answer, _ = activity.answer([(rec.path, 1, True)], 20, 600.0)
    assert [r['txn_id'] for r in answer['in_flight']] == ['stuck']


@pytest.mark.parametrize('damage', ['truncated', 'foreign', 'version',
                                    'step'])
def test_a_damaged_file_is_skipped_and_reported(tmp_path, damage):
    rec = records(tmp_path)
    slot = claim(rec, 0.0, 0.0, 'tx', 'PUT', 'sda', '', 0)
    rec.transition(slot, K['open'], 1.0)
    path = rec.path
    rec.close()
    with open(path, 'r+b') as f:
        if damage == 'truncated':
            f.truncate(os.path.getsize(path) - 8)
        elif damage == 'foreign':
            f.write(b'NOPE')
        elif damage == 'version':
            f.seek(4)
            f.write(struct.pack('<I', activity.FORMAT_VERSION + 1))
        else:
            # the first record's step count (words 8 + 6: the
            # module docstring's layout)
            f.seek(8 * (8 + 6))
            f.write(struct.pack('<q', 9999))
    answer, problems = activity.answer([(path, 1, True)], 20, 600.0)
    assert answer['in_flight'] == []
    assert [p for p, _ in problems] == [path]
    assert isinstance(problems[0][1], LayoutError)


def records_from(path):
    os.unlink(path)
    return RequestRecords(path, 1, 1, 600.0)


def test_a_reader_never_sees_a_torn_record(tmp_path):
    # The invariant of a complete record: its steps add up to SINCE -
    # STARTED.  A reader that saw half a write (the step added but SINCE
    # not yet moved, or the reverse) would find them apart.
    rec = records(tmp_path, slots=1, slowest=1)
    path = rec.path
    rec.close()
    fork = multiprocessing.get_context('fork')
    stop = fork.Event()
    writer = fork.Process(target=_writer_main, args=(path, stop))
    writer.start()
    try:
        seen = 0
        deadline = time.monotonic() + 60
        while seen < 3000 and time.monotonic() < deadline:
            try:
                live, _ = activity.read_records(path, 1, True, now=0.0)
            except (FileNotFoundError, LayoutError):
                continue
            for req in live:
                # now=0.0: the current step reads as 0 s
                total = sum(s for _, s in req['steps'])
                assert total == req['waiting_since'] - req['started'], req
                seen += 1
    finally:
        stop.set()
        writer.join(30)
    assert seen >= 3000


def _writer_main(path, stop):
    rec = records_from(path)
    slot = claim(rec, 0.0, 0.0, 'tx', 'PUT', 'sda', '', 0)
    assert slot == 0
    now = 0.0
    i = 0
    while not stop.is_set():
        for _ in range(1000):
            i += 1
            now += 1.0
            if i % 3 == 0:
                rec.wait_ended(slot, K['client'], now - 0.25, now,
                               K['running'])
            else:
                rec.transition(slot, K['fsync'] if i % 2 else K['tpool'],
                               now)


@pytest.mark.parametrize('path, number', [
    ('/sda/123/a/c/o', 123), ('/sda/0/a/c', 0), ('/sda/7', 7),
    ('/sda/', -1), ('/sda', -1), ('', -1), ('/sda//a', -1),
    ('/sda/12x/a', -1), ('/sda/-1/a', -1),
    ('/sda/999999999999/a', 999999999999), ('/sda/1000000000000/a', -1)])
def test_the_partition_of_a_path(path, number):
    assert context.partition_number(path) == number


@pytest.mark.parametrize('status, code', [
    ('201 Created', 201), ('404', 404), ('20', 0), ('2x1 Odd', 0),
    ('', 0), (None, 0), (b'200 OK', 0), ('500 Internal Error', 500)])
def test_the_code_of_a_status(status, code):
    assert context.status_code(status) == code


def test_a_txn_id_is_kept_to_its_field_and_a_missing_one_is_none(tmp_path):
    rec = records(tmp_path)
    long_txn = 'tx' + 'a' * 100
    claim(rec, 0.0, 0.0, long_txn, 'PUT', 'sda', '1', 0)
    claim(rec, 0.0, 0.0, None, 'DELETE', 'sdb', '', 0)
    claim(rec, 0.0, 0.0, 'tx-é', 'GET', 'sdc', '', 0)
    live, _ = read(rec, now=1.0)
    by_device = {r['device']: r for r in live}
    assert by_device['sda']['txn_id'] == long_txn[:64]
    assert by_device['sdb']['txn_id'] is None
    assert by_device['sdb']['method'] == 'DELETE'
    assert by_device['sdc']['txn_id'] == 'tx-é'
    with pytest.raises(ValueError):
        rec.claim(0.0, 'tx', b'short', 0)
