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

"""Live values in shared memory: the file layout of series.py, its publish
protocol, and what the store makes of a damaged file.
"""

import multiprocessing
import os
import signal
import struct

import pytest

from swiftinst import series as series_mod
from swiftinst.series import SeriesFile, SeriesFileReader
from swiftinst.store import MetricStore

BOUNDS = (0.01, 0.1, 1.0)
KEY = ('swift_object_disk_op_seconds', ('fsync', 'sda', '0'))


def count(series, key=KEY):
    values = series.get(key)
    return 0 if values is None else values.count


def disk_op(i):
    return ('swift_object_disk_op_seconds', ('fsync', 'd%04d' % i, '0'))


def width_of(key):
    return len(BOUNDS) + 1


def read(path):
    reader = SeriesFileReader(path, BOUNDS, width_of)
    reader.refresh()
    totals = {}
    reader.add_to(totals, lambda key: series_mod.Series(BOUNDS))
    reader.close()
    return totals


@pytest.fixture
def ctx():
    return multiprocessing.get_context('fork')


def _killed_after(directory, n, done):
    s = MetricStore(directory, BOUNDS)
    s.adopt_current_process()
    for i in range(n):
        s.observe(KEY, 0.05)
        s.observe(disk_op(i % 7), 0.5)
    done.set()
    os.kill(os.getpid(), signal.SIGKILL)     # no flush, no atexit


def test_kill_9_loses_no_count(tmp_path, ctx):
    d = str(tmp_path)
    for n in (1, 20, 1000):
        done = ctx.Event()
        proc = ctx.Process(target=_killed_after, args=(d, n, done))
        proc.start()
        proc.join(30)
        assert proc.exitcode == -signal.SIGKILL
    total, problems = MetricStore(d, BOUNDS).merged()
    assert problems == []
    assert count(total) == 1021
    assert sum(count(total, disk_op(i)) for i in range(7)) == 1021
    # folded into the archive once, exactly
    assert [n for n in os.listdir(d) if n.startswith('live-')] == []
    assert count(MetricStore(d, BOUNDS).merged()[0]) == 1021


def test_series_span_regions_and_read_back(tmp_path):
    path = str(tmp_path / 'live-1-1')
    f = SeriesFile(path, BOUNDS)
    f.publish()
    views = [f.add(disk_op(i), 4) for i in range(1000)]
    assert os.path.getsize(path) >= 2 * series_mod.REGION_BYTES
    for i, (counts, total) in enumerate(views):
        counts[i % 4] += i
        total[0] += i / 2.0
    totals = read(path)
    assert len(totals) == 1000
    for i in range(1000):
        expected = [0] * 4
        expected[i % 4] = i
        assert totals[disk_op(i)].counts == expected
        assert totals[disk_op(i)].total == i / 2.0


def _publish_and_count(path, series, stop, rounds):
    f = SeriesFile(path, BOUNDS)
    f.publish()
    views = []
    for i in range(series):
        views.append(f.add(disk_op(i), 4))
        for counts, total in views:
            counts[3] += 1
            total[0] += 1.0
    while not stop.is_set():
        for counts, total in views:
            counts[3] += 1
            total[0] += 1.0
        rounds.value += 1


def test_a_reader_never_sees_a_torn_series(tmp_path, ctx):
    # A writer in another process appends series (across regions) and
    # counts into all of them while this one reads as fast as it can:
    # every read parses, no series goes backwards, and every series
    # appears only once complete (its count is that of its age).
    path = str(tmp_path / 'live-2-2')
    series = 600
    stop, rounds = ctx.Event(), ctx.Value('q', 0, lock=False)
    proc = ctx.Process(target=_publish_and_count,
                       args=(path, series, stop, rounds))
    proc.start()
    last = {}
    reads = 0
    try:
        while reads < 200 or len(last) < series:
            assert proc.is_alive()
            try:
                totals = read(path)
            except FileNotFoundError:       # not yet published
                continue
            reads += 1
            for key, values in totals.items():
                assert values.counts[:3] == [0, 0, 0]
                assert values.counts[3] >= last.get(key, 0)
                last[key] = values.counts[3]
    finally:
        stop.set()
        proc.join(60)
    assert proc.exitcode == 0
    final = read(path)
    assert len(final) == series
    assert final[disk_op(0)].counts[3] == series + rounds.value
    assert final[disk_op(series - 1)].counts[3] == 1 + rounds.value


def _damage(path, offset, data):
    with open(path, 'r+b') as f:
        f.seek(offset)
        f.write(data)


def _worker_file(d, wid, n=3, keys=(KEY,)):
    f = SeriesFile(os.path.join(d, 'live-' + wid), BOUNDS)
    f.publish()
    for key in keys:
        counts, total = f.add(key, 4)
        counts[1] += n
        total[0] += 0.05 * n
    return f.path


def _record_at(path, index):
    """Byte offset of record ``index`` of the first region."""
    offset = series_mod.RECORDS_AT
    with open(path, 'rb') as f:
        data = f.read(series_mod.REGION_BYTES)
    for _ in range(index):
        offset += struct.unpack_from('<I', data, offset)[0]
    return offset


DAMAGE = {
    'truncated': lambda p: os.truncate(p, 1000),
    'empty': lambda p: os.truncate(p, 0),
    'foreign': lambda p: _damage(p, 0, b'\x7fELF'),
    'another version': lambda p: _damage(p, 4, struct.pack('<I', 99)),
    'other bounds': lambda p: _damage(p, series_mod.DIGEST_AT, b'x' * 16),
    'a damaged record': lambda p: _damage(p, _record_at(p, 0) + 20, b'?'),
    'a record past its region': lambda p: _damage(
        p, _record_at(p, 0), struct.pack('<I', 1 << 20)),
}


@pytest.mark.parametrize('damage', sorted(DAMAGE))
def test_a_damaged_file_is_skipped_whole_and_counted(tmp_path, damage):
    d = str(tmp_path)
    me = MetricStore(d, BOUNDS)
    me.adopt_current_process()
    me.observe(KEY, 0.05)                    # a sound worker beside it
    other = ('swift_object_disk_op_seconds', ('write', 'sda', '0'))
    path = _worker_file(d, '%d-%s' % (os.getpid(), 'x'),
                        keys=(KEY, other))
    DAMAGE[damage](path)
    total, problems = MetricStore(d, BOUNDS).merged()
    assert [p.component for p in problems] == ['store_layout']
    assert count(total) == 1 and count(total, other) == 0


def test_a_last_record_not_yet_all_visible_waits_for_a_later_scrape(
        tmp_path):
    # What a weakly ordered CPU may show a reader: the count of records
    # raised before the last record's bytes arrive.  Its check fails; it
    # is left out without a problem, and read once it is whole.
    path = str(tmp_path / 'live-3-3')
    f = SeriesFile(path, BOUNDS)
    f.publish()
    f.add(KEY, 4)[0][0] += 1
    late = disk_op(1)
    counts, _ = f.add(late, 4)
    counts[0] += 5
    at = _record_at(path, 1)
    with open(path, 'rb') as fh:
        fh.seek(at + 16)
        whole = fh.read(8)
    _damage(path, at + 16, b'\0' * 8)
    reader = SeriesFileReader(path, BOUNDS, width_of)
    reader.refresh()
    assert [key for key, _, _ in reader.records] == [KEY]
    _damage(path, at + 16, whole)
    reader.refresh()
    assert [key for key, _, _ in reader.records] == [KEY, late]
    totals = {}
    reader.add_to(totals, lambda key: series_mod.Series(BOUNDS))
    assert totals[late].counts == [5, 0, 0, 0]
    reader.close()


def test_a_file_of_unknown_series_is_skipped(tmp_path):
    d = str(tmp_path)
    _worker_file(d, '%d-y' % os.getpid(),
                 keys=(('swift_object_no_such_metric', ()),))
    total, problems = MetricStore(d, BOUNDS).merged()
    assert [p.component for p in problems] == ['store_layout'] and not total
