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

"""Faults in the metrics path cost metrics, never a request.

Each test breaks one thing the filter writes to (metrics_dir, statsd)
while a real server runs, checks that requests still succeed, that
``swift_object_instrumentation_errors_total`` names the component and
that the log says it once per worker rather than per request, then clears
the fault and checks the counts come back exact, without a restart.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from tests.testbed import UdpListener, free_port
from tests.conftest import REQUESTS, scrape, settled_scrape, start_server

ERRORS = 'swift_object_instrumentation_errors_total'
WORKERS = 2

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason='mounting a small tmpfs needs root')


def puts(server, prefix, n):
    for i in range(n):
        status = server.put('sda', '%s-%d' % (prefix, i), b'f' * 100)[0]
        assert status == 201, status


def put_count(s):
    return s.total(REQUESTS, method='PUT', status='2xx')


def exactly(server, n):
    s = settled_scrape(server, lambda s: put_count(s) == n)
    assert put_count(s) == n


def error_lines(server, component):
    return [line for line in server.log.lines()
            if 'swiftinst: %s error' % component in line]


def kill_a_worker(server):
    """kill -9 one worker and wait for Swift's new one, which must then
    make its values file in the broken metrics_dir.
    """
    before = server.worker_pids()
    os.kill(before[0], signal.SIGKILL)
    deadline = time.time() + 20
    while before[0] in server.worker_pids() or \
            len(server.worker_pids()) < WORKERS:
        assert time.time() < deadline, 'Swift did not respawn the worker'
        time.sleep(0.05)


def survives(server, fault, clear, component, respawn=False):
    """PUTs before, during and after ``fault`` (with a worker respawned
    in the middle of it: a new worker must then do without a file); the
    counts of all of them once ``clear`` has run.
    """
    puts(server, 'before', 5)
    exactly(server, 5)
    fault()
    try:
        puts(server, 'during', 10)
        if respawn:
            kill_a_worker(server)
        puts(server, 'during-more', 10)
        time.sleep(0.5)                 # several flushes per worker
        lines = error_lines(server, component)
        assert 1 <= len(lines) <= WORKERS, lines
    finally:
        clear()
    exactly(server, 25)
    s = settled_scrape(server, lambda s: s.total(
        ERRORS, component=component) >= 1)
    assert s.total(ERRORS, component=component) >= 1
    assert len(error_lines(server, component)) <= WORKERS


@pytest.fixture
def tmpfs(request, tmp_path):
    """A 1 MiB tmpfs, mounted before the server starts (whose private
    mount namespace then shares it).
    """
    path = str(tmp_path / 'metrics')
    os.mkdir(path)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', path],
                   check=True)
    request.addfinalizer(lambda: subprocess.run(['umount', '-l', path]))
    return path


def test_metrics_dir_deleted(request):
    # The workers' files go with it: each makes a new one, its counts
    # carried over, within flush_interval.
    server = start_server(request, workers=WORKERS)
    survives(server, lambda: shutil.rmtree(server.metrics_dir),
             lambda: None, 'store')


@needs_root
def test_metrics_dir_read_only(request, tmpfs):
    # What a kernel does to a filesystem after an error: nothing opens
    # for writing any more, while what is open (the workers' mapped
    # files) stays.  (A remount would refuse: files are open for
    # writing.)  Mounting the directory over itself read-only does that
    # to every new open, and unmounting it clears the fault.
    server = start_server(request, workers=WORKERS,
                          filter_options={'metrics_dir': tmpfs})

    # in the server's own mount namespace (Swift 2.29's is private)
    inside = ['nsenter', '--target', str(server.proc.pid), '--mount', '--']

    def read_only():
        subprocess.run(inside + ['mount', '--bind', '-o', 'ro', tmpfs,
                                 tmpfs], check=True)

    def writable():
        subprocess.run(inside + ['umount', tmpfs], check=True)
    survives(server, read_only, writable, 'store', respawn=True)


@needs_root
def test_metrics_dir_full(request, tmpfs):
    server = start_server(request, workers=WORKERS,
                          filter_options={'metrics_dir': tmpfs})
    filler = os.path.join(tmpfs, 'filler')

    def fill():
        with open(filler, 'wb', buffering=0) as f:
            try:
                while True:
                    f.write(b'\0' * 65536)
                    f.flush()
            except OSError:
                pass
        # and what smaller writes still find
        with open(filler + '2', 'wb', buffering=0) as f:
            try:
                while True:
                    f.write(b'\0' * 4096)
                    f.flush()
            except OSError:
                pass
    survives(server, fill, lambda: (os.unlink(filler),
                                    os.unlink(filler + '2')), 'store',
             respawn=True)


def test_statsd_port_refusing_then_listening(request):
    # Nothing listens: the kernel answers each datagram with ICMP port
    # unreachable.  Requests do not notice; once a daemon listens, the
    # timers arrive, without a restart.
    port = free_port(kind=socket.SOCK_DGRAM)
    server = start_server(request, workers=WORKERS, filter_options={
        'log_statsd_host': '127.0.0.1', 'log_statsd_port': str(port)})
    puts(server, 'refused', 10)
    listener = UdpListener(port=port)
    request.addfinalizer(listener.close)
    puts(server, 'heard', 5)
    listener.wait_for(lambda line: 'disk.fsync.sda' in line)
    exactly(server, 15)


@pytest.mark.parametrize('host', ['statsd.invalid', '192.0.2.1', '::1'])
def test_statsd_unresolvable_or_unreachable(request, host):
    server = start_server(request, workers=WORKERS, filter_options={
        'log_statsd_host': host, 'log_statsd_port': '8125'})
    puts(server, 'p', 20)
    exactly(server, 20)
    lines = error_lines(server, 'statsd')
    assert len(lines) <= WORKERS, lines
    if host == 'statsd.invalid':
        assert lines and 'cannot resolve statsd.invalid' in lines[0]
        s = scrape(server)
        assert s.total(ERRORS, component='statsd') >= 1
