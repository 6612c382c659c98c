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


def _wait_for_respawn(server, killed, before):
    deadline = time.time() + 20
    while set(killed) & set(server.worker_pids()) or \
            len(server.worker_pids()) < server.workers:
        assert time.time() < deadline, 'Swift did not respawn the workers'
        time.sleep(0.05)
    assert set(server.worker_pids()) != set(before)


def test_kill_9_right_after_the_puts_loses_no_count(request):
    # No pause for any flush: each worker is killed the moment the last
    # PUT's response is in, and the very next scrape counts every one.
    server = start_server(request, filter_options={'flush_interval': '60'})
    total = 0
    for n in (1, 20, 7):
        puts(server, 'k%d' % total, n)
        total += n
        before = server.worker_pids()
        for pid in before:
            os.kill(pid, signal.SIGKILL)
        _wait_for_respawn(server, before, before)
        assert fsyncs(scrape(server)) == total
    puts(server, 'after', 10)
    assert fsyncs(scrape(server)) == total + 10


def test_a_scrape_after_a_response_counts_it(request):
    # Whichever worker answers the scrape, and with exemplars published
    # only once a minute: the values themselves are never flushed.
    server = start_server(request, filter_options={'flush_interval': '60'})
    for n in range(1, 41):
        puts(server, 'fresh%d' % n, 1, device=('sda', 'sdb')[n % 2])
        s = scrape(server)
        assert fsyncs(s) == n
        assert s.total('swift_object_request_seconds_count',
                       method='PUT', status='2xx') == n


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
        exactly(server, total)          # in the files: a kill loses nothing
        before = server.worker_pids()
        for pid in before:
            os.kill(pid, signal.SIGKILL)
        wait_for_new_workers(server, before)
        restarts += len(before)
    exactly(server, total)
    # the dead workers' files were folded into the archive
    files = [n for n in os.listdir(server.metrics_dir)
             if n.startswith('live-')]
    assert len(files) <= 2 * server.workers, files
