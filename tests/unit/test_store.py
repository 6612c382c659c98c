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

"""The multi-worker store: merging, compaction, pid reuse, races."""

import errno
import multiprocessing
import os
import shutil
import threading
from unittest import mock

import pytest

from swiftinst import store as store_mod
from swiftinst.store import Accumulator, MetricStore, encode
from tests.unit.helpers import series

BOUNDS = (0.01, 0.1, 1.0)
KEY = ('swift_object_disk_op_seconds', ('fsync', 'sda', '0'))
COUNT = ('swift_object_instrumentation_errors', ('x',))


def count(series, key=KEY):
    values = series.get(key)
    return 0 if values is None else values.count


def _worker(directory, n, started, release):
    """A real forked worker: observes n times, snapshots, waits, exits."""
    s = MetricStore(directory, BOUNDS)
    s.adopt_current_process()
    for _ in range(n):
        s.observe(KEY, 0.05)
    s.flush()
    started.set()
    release.wait(30)


@pytest.fixture
def ctx():
    return multiprocessing.get_context('fork')


def spawn(ctx, directory, n):
    started, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_worker, args=(directory, n, started, release))
    proc.start()
    assert started.wait(30)
    return proc, release


def test_observe_buckets_and_sum(tmp_path):
    s = MetricStore(str(tmp_path), BOUNDS)
    for value in (0.005, 0.01, 0.05, 0.5, 7.0):
        s.observe(KEY, value)
    # le semantics: 0.01 falls in the 0.01 bucket
    assert s.series[KEY].counts == [2, 1, 1, 1]
    assert s.series[KEY].total == pytest.approx(7.565)
    s.inc(COUNT)
    s.inc(COUNT, 4)
    assert s.series[COUNT] == series(5, 0.0)


def test_encoding_round_trips_and_sums_by_layout():
    other = ('swift_object_disk_op_seconds', ('write', 'sdb', '1'))
    a = {KEY: series(1, 2, 0, 0, 1.0), COUNT: series(3, 0.0)}
    b = {KEY: series(1, 0, 0, 5, 0.5)}                   # another layout
    c = {KEY: series(0, 0, 1, 0, 0.25), other: series(0, 0, 0, 1, 9.0),
         COUNT: series(1, 0.0)}
    acc = Accumulator(BOUNDS, {})
    for values in (a, b, c, a):
        acc.add(encode(values, BOUNDS))
    total = acc.result()
    assert total[KEY] == series(3, 4, 1, 5, 2.75)
    assert total[COUNT] == series(7, 0.0)
    assert total[other] == series(0, 0, 0, 1, 9.0)
    assert a[KEY] == series(1, 2, 0, 0, 1.0)             # inputs untouched


def test_large_counts_do_not_carry_into_neighbours():
    big = 2 ** 61
    acc = Accumulator(BOUNDS, {})
    for _ in range(3):
        acc.add(encode({KEY: series(big, 1, 0, 0, 0.0)}, BOUNDS))
    assert acc.result()[KEY].counts[:2] == [3 * big, 3]


def test_live_and_dead_workers_sum_and_dead_are_compacted(tmp_path, ctx):
    d = str(tmp_path)
    live = [spawn(ctx, d, 3) for _ in range(2)]
    dead = [spawn(ctx, d, 5) for _ in range(3)]
    for proc, release in dead:
        release.set()
        proc.join()
    scraper = MetricStore(d, BOUNDS)
    total, problems = scraper.merged()
    assert problems == [] and count(total) == 2 * 3 + 3 * 5
    names = os.listdir(d)
    assert 'archive' in names
    assert len([n for n in names if n.startswith('live-')]) == 2
    # A second scrape reads the compacted state: same totals.
    assert count(scraper.merged()[0]) == 21
    for proc, release in live:
        release.set()
        proc.join()
    assert count(scraper.merged()[0]) == 21
    assert [n for n in os.listdir(d) if n.startswith('live-')] == []


def test_a_scrape_counts_what_was_observed_before_it(tmp_path):
    s = MetricStore(str(tmp_path), BOUNDS)
    s.adopt_current_process()
    other = MetricStore(str(tmp_path), BOUNDS)   # another worker's view
    for n in range(1, 50):
        s.observe(KEY, 0.5)
        assert count(other.merged()[0]) == n     # no flush in between


def test_reused_pid_is_a_different_worker(tmp_path, monkeypatch):
    d = str(tmp_path)
    s = MetricStore(d, BOUNDS)
    s.adopt_current_process()
    s.observe(KEY, 0.5)
    s.flush()
    # A 0.3 snapshot left by an earlier process that had our pid.
    old = os.path.join(d, 'snap-%d-1' % os.getpid())
    with open(old, 'wb') as f:
        f.write(encode({KEY: series(0, 0, 7, 0, 3.5)}, BOUNDS))
    total, _ = MetricStore(d, BOUNDS).merged()
    assert count(total) == 8
    assert not os.path.exists(old)          # folded: its process is gone
    assert os.path.exists(os.path.join(d, 'live-' + s.wid))


def test_crash_between_archive_and_unlink_does_not_double(tmp_path,
                                                          monkeypatch):
    d = str(tmp_path)
    path = os.path.join(d, 'snap-999999-1')
    with open(path, 'wb') as f:
        f.write(encode({KEY: series(0, 4, 0, 0, 0.2)}, BOUNDS))
    s = MetricStore(d, BOUNDS)
    # Crash right after the archive is renamed in: the unlink never runs.
    monkeypatch.setattr(MetricStore, '_unlink',
                        staticmethod(lambda p: None))
    assert count(s.merged()[0]) == 4
    assert os.path.exists(path)
    monkeypatch.undo()
    fresh = MetricStore(d, BOUNDS)
    assert count(fresh.merged()[0]) == 4     # folded once, not twice
    assert not os.path.exists(path)
    assert count(fresh.merged()[0]) == 4


def test_concurrent_writer_during_scrapes_never_goes_backwards(tmp_path):
    d = str(tmp_path)
    writer = MetricStore(d, BOUNDS)
    writer.adopt_current_process()
    stop, flushed = threading.Event(), threading.Event()

    def write_forever():
        while not stop.is_set():
            writer.observe(KEY, 0.05)
            writer.flush()
            flushed.set()

    thread = threading.Thread(target=write_forever)
    thread.start()
    try:
        # on a busy host the writer may not have run at all yet
        assert flushed.wait(30)
        scraper = MetricStore(d, BOUNDS)
        seen = [count(scraper.merged()[0]) for _ in range(200)]
    finally:
        stop.set()
        thread.join()
    assert seen == sorted(seen) and seen[-1] > 0


def test_dead_temp_files_are_removed(tmp_path):
    d = str(tmp_path)
    tmp = os.path.join(d, 'snap-999998-1.tmp')
    with open(tmp, 'wb') as f:
        f.write(b'half a snapsh')
    with open(os.path.join(d, 'snap-999997-1'), 'wb') as f:
        f.write(encode({KEY: series(1, 0, 0, 0, 0.001)}, BOUNDS))
    total, problems = MetricStore(d, BOUNDS).merged()
    assert count(total) == 1 and problems == []
    assert not os.path.exists(tmp)


def test_corrupt_and_foreign_layout_files_are_reported(tmp_path):
    d = str(tmp_path)
    with open(os.path.join(d, 'snap-999996-1'), 'wb') as f:
        f.write(b'\x00garbage')
    with open(os.path.join(d, 'snap-999995-1'), 'wb') as f:
        f.write(encode({KEY: series(1, 0, 0.1)}, (5.0,)))
    total, problems = MetricStore(d, BOUNDS).merged()
    assert count(total) == 0
    assert sorted(p.component for p in problems) == [
        'store_corrupt', 'store_layout']
    assert [n for n in os.listdir(d) if n.startswith('snap-')] == []


def test_corrupt_archive_restarts_from_zero_not_a_mix(tmp_path):
    d = str(tmp_path)
    with open(os.path.join(d, 'archive'), 'wb') as f:
        f.write(encode({KEY: series(1, 0, 0, 0, 0.1)}, BOUNDS)[:-3])
    with open(os.path.join(d, 'snap-999994-1'), 'wb') as f:
        f.write(encode({KEY: series(1, 0, 0, 0, 0.001)}, BOUNDS))
    s = MetricStore(d, BOUNDS)
    total, problems = s.merged()
    assert [p.component for p in problems] == ['store_corrupt']
    assert count(total) == 1
    assert any(n.startswith('archive.bad-') for n in os.listdir(d))


def test_deleted_metrics_dir_is_recreated_with_the_values(tmp_path):
    d = str(tmp_path / 'gone')
    s = MetricStore(d, BOUNDS)
    s.adopt_current_process()
    s.observe(KEY, 0.1)
    shutil.rmtree(d)
    s.observe(KEY, 0.1)                 # into the unlinked file
    problems = s.flush()
    assert s.needs_repair and [p.component for p in problems] == ['store']
    assert 'removed' in str(problems[0])
    assert s.flush() == []              # said once
    assert s.repair()
    assert os.listdir(d) == ['live-' + s.wid]
    s.observe(KEY, 0.1)
    assert count(MetricStore(d, BOUNDS).merged()[0]) == 3


def test_a_read_only_metrics_dir_can_still_be_scraped(tmp_path):
    d = str(tmp_path / 'ro')
    s = MetricStore(d, BOUNDS)
    s.adopt_current_process()
    s.observe(KEY, 0.1)
    s.merged()                          # creates the lock file
    real_open = os.open

    def read_only_open(path, flags, *args):
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, 'Read-only file system', path)
        return real_open(path, flags, *args)
    s.observe(KEY, 0.2)
    with mock.patch('os.open', read_only_open):
        series, problems = s.merged()
    assert series[KEY].count == 2 and problems == []


def test_a_worker_that_cannot_create_its_file_counts_in_memory(tmp_path):
    d = str(tmp_path)
    s = MetricStore(d, BOUNDS)
    with mock.patch('os.posix_fallocate', side_effect=OSError(
            errno.ENOSPC, 'No space left on device')):
        assert s.adopt_current_process()
        s.observe(KEY, 0.1)
        assert s.needs_repair and not s.repair()
    assert [p.component for p in s.hub_problems] == ['store']
    # its own scrape still counts it; and once there is room, the file
    # takes the values over
    assert count(s.merged()[0]) == 1
    assert s.repair() and not s.unbound
    s.observe(KEY, 0.1)
    assert count(MetricStore(d, BOUNDS).merged()[0]) == 2


def test_a_file_that_cannot_grow_keeps_the_new_series_in_memory(tmp_path):
    d = str(tmp_path)
    s = MetricStore(d, BOUNDS)
    s.adopt_current_process()
    keys = [('swift_object_disk_op_seconds', ('fsync', 'd%d' % i, '0'))
            for i in range(1500)]      # more than one region holds
    with mock.patch('os.posix_fallocate', side_effect=OSError(
            errno.ENOSPC, 'No space left on device')):
        for key in keys:
            s.observe(key, 0.1)
    assert s.unbound and s.needs_repair
    assert {p.component for p in s.hub_problems} == {'store'}
    own = s.merged()[0]
    assert sum(count(own, key) for key in keys) == 1500
    assert s.repair() and not s.unbound
    for key in keys:
        s.observe(key, 0.1)
    total = MetricStore(d, BOUNDS).merged()[0]
    assert [count(total, key) for key in keys] == [2] * 1500


def test_process_start_time_tells_pid_reuse_apart():
    me = store_mod.process_start_time(os.getpid())
    assert me and me.isdigit()
    assert store_mod.worker_alive('%d-%s' % (os.getpid(), me))
    assert not store_mod.worker_alive('%d-%s' % (os.getpid(), int(me) + 1))
    assert store_mod.process_start_time(2 ** 22 + 1) is None


def test_concurrent_scrapers_compact_once_and_agree(tmp_path, ctx):
    d = str(tmp_path)
    live = [spawn(ctx, d, 2) for _ in range(3)]
    for _ in range(12):
        proc, release = spawn(ctx, d, 1)
        release.set()
        proc.join()
    results = []

    def scrape_many():
        s = MetricStore(d, BOUNDS)
        for _ in range(20):
            results.append(count(s.merged()[0]))

    threads = [threading.Thread(target=scrape_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for proc, release in live:
        release.set()
        proc.join()
    assert set(results) == {3 * 2 + 12}
    assert len([n for n in os.listdir(d) if n.startswith('live-')]) == 3


def test_exemplars_survive_the_merge_and_the_freshest_wins(tmp_path):
    one, two = series(1, 0, 1, 0, 0.5), series(0, 0, 2, 0, 1.0)
    one.offer(2, ('tx-one', 0.6, 1000.0))
    two.offer(2, ('tx-two', 0.6, 2000.0))
    two.offer(3, ('tx-two-inf', 9.0, 1500.0))
    acc = Accumulator(BOUNDS, {})
    acc.add(encode({KEY: one, COUNT: series(1, 0.0)}, BOUNDS))
    acc.add(encode({KEY: two}, BOUNDS))
    merged = acc.result()[KEY]
    assert merged == series(1, 0, 3, 0, 1.5)
    assert merged.exemplar_items() == [(2, ('tx-two', 0.6, 2000.0)),
                                       (3, ('tx-two-inf', 9.0, 1500.0))]
    # and through an archive: a dead worker's exemplars are kept too
    acc = Accumulator(BOUNDS, {})
    assert acc.add(encode({KEY: merged}, BOUNDS, ('1-2',))) == ('1-2',)
    assert acc.result()[KEY].exemplar_items() == merged.exemplar_items()


def test_a_file_without_exemplars_has_none():
    acc = Accumulator(BOUNDS, {})
    acc.add(encode({KEY: series(1, 0, 0, 0, 0.001)}, BOUNDS))
    assert acc.result()[KEY].exemplars is None
