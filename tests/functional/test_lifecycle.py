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

"""Counts survive worker deaths, reloads and restarts: never lost, never
doubled, never backwards.
"""

import os
import signal
import threading
import time

from tests.conftest import scrape, settled_scrape, start_server

FSYNC = 'swift_object_disk_op_seconds_count'
FLUSHED = 0.5   # comfortably more than the tests' flush_interval


def puts(server, prefix, n, device='sda'):
    for i in range(n):
        assert server.put(device, '%s-%d' % (prefix, i), b'l' * 1000)[0] \
            == 201


def fsyncs(s):
    return s.total(FSYNC, op='fsync')


def exactly(server, n):
    s = settled_scrape(server, lambda s: fsyncs(s) == n)
    assert fsyncs(s) == n
    for _ in range(6):
        assert fsyncs(scrape(server)) == n


def wait_for_new_workers(server, old, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        pids = set(server.worker_pids())
        if len(pids - set(old)) >= server.workers:
            return pids - set(old)
        time.sleep(0.1)
    raise AssertionError('no new workers: %s' % server.worker_pids())


def test_kill_9_of_a_worker_loses_no_flushed_count(request):
    server = start_server(request)
    puts(server, 'before', 10)
    exactly(server, 10)
    time.sleep(FLUSHED)
    victim = server.worker_pids()[0]
    before = server.worker_pids()

    os.kill(victim, signal.SIGKILL)
    deadline = time.time() + 20
    while victim in server.worker_pids() or \
            len(server.worker_pids()) < 2:
        assert time.time() < deadline, 'Swift did not respawn the worker'
        time.sleep(0.1)
    assert set(server.worker_pids()) != set(before)
    puts(server, 'after', 10)
    exactly(server, 20)


def test_seamless_reload_keeps_what_draining_workers_record(request):
    server = start_server(request)
    puts(server, 'old', 10)
    old_workers = server.worker_pids()
    replies = []
    slow = threading.Thread(target=lambda: replies.append(
        server.put_slowly('/sdb/0/a/c/draining', 200000, 1000, 3.0,
                          'txdraining')))
    slow.start()
    time.sleep(0.5)
    server.signal(signal.SIGUSR1)
    wait_for_new_workers(server, old_workers)
    # The idle old worker may still accept a connection as it shuts down
    # and reset it: give it time to stop listening.
    time.sleep(1.0)
    puts(server, 'new', 10)
    slow.join()
    assert replies and replies[0].startswith(b'HTTP/1.1 201'), replies
    # The draining worker recorded the slow PUT after the reload began.
    exactly(server, 21)
    assert scrape(server).total(FSYNC, op='fsync', device='sdb') == 1


def test_stop_and_fresh_start_continue_the_counts(request):
    server = start_server(request)
    puts(server, 'first', 7)
    exactly(server, 7)
    server.signal(signal.SIGHUP)       # graceful: workers drain and exit
    server.proc.wait(30)
    server.proc = None
    server.start()
    exactly(server, 7)                 # continues, not a partial mix
    puts(server, 'second', 5)
    exactly(server, 12)


def test_200_worker_restarts(request):
    server = start_server(request)
    total = restarts = 0
    while restarts < 200:
        puts(server, 'r%d' % restarts, 1)
        total += 1
        exactly(server, total)          # flushed, so a kill loses nothing
        before = server.worker_pids()
        for pid in before:
            os.kill(pid, signal.SIGKILL)
        wait_for_new_workers(server, before)
        restarts += len(before)
    exactly(server, total)
    # the dead workers' snapshots were folded into the archive
    snapshots = [n for n in os.listdir(server.metrics_dir)
                 if n.startswith('snap-')]
    assert len(snapshots) <= 2 * server.workers, snapshots
