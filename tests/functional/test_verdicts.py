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

"""One scenario per cause: ``swiftinst report --json``, run as an operator
runs it, against real object servers with a real fault, gives each device
the verdict its fault deserves.
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

import pytest

from tests.conftest import FAST, start_server
from tests.testbed import ObjectServer, slow_disk_env


def report_during(server, load, interval):
    """What ``swiftinst report --json``, run as an operator runs it, says
    of ``interval`` seconds in which ``load()`` ran: {device: verdict},
    and the whole JSON.
    """
    return reports_during([server], load, interval)[0]


def reports_during(servers, load, interval):
    """``report_during`` for each of ``servers`` (nodes of their own),
    over the same ``interval``: [({device: verdict}, JSON)...].
    """
    procs = [subprocess.Popen(
        [sys.executable, '-m', 'swiftinst.cli', 'report',
         'http://%s:%d/metrics' % (server.host, server.port), '--json',
         '--interval', str(interval)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for server in servers]
    try:
        # written once the first scrape is in
        for proc in procs:
            assert 'next scrape' in proc.stderr.readline()
        started = time.time()
        load()
        # the other worker flushes within flush_interval (0.1 s)
        assert time.time() - started < interval - 0.5, 'load too slow'
        answers = []
        for proc in procs:
            out, err = proc.communicate(timeout=interval + 60)
            assert proc.returncode == 0, err
            report = json.loads(out)
            answers.append(({row['device']: row['verdict']
                             for row in report['devices']}, report))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return answers


def in_threads(*jobs):
    """Run each ``(function, args)`` in a thread of its own; wait."""
    threads = [threading.Thread(target=function, args=args)
               for function, args in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def put_many(server, device, count, prefix):
    for i in range(count):
        status = server.put(device, '%s-%d' % (prefix, i), b'v' * 4096)[0]
        assert status == 201, status


def test_a_quiet_node_is_ok(request):
    server = start_server(request)

    def load():
        for device in ('sda', 'sdb'):
            put_many(server, device, 8, 'quiet')
            for i in range(8):
                assert server.request('GET', '/%s/0/a/c/quiet-%d'
                                      % (device, i))[0] == 200
    verdicts, _ = report_during(server, load, 6)
    assert {device: verdict['cause'] for device, verdict
            in verdicts.items()} == {'sda': 'ok', 'sdb': 'ok'}
    # 'request mean 2.8 ms over 16 requests' (the server's start-up
    # probe may count too)
    assert re.match(r'request mean [0-9.]+ ms over 1[67] requests$',
                    verdicts['sda']['reason']), verdicts


@pytest.mark.parametrize('profile', ['default', 'lean', 'full'])
def test_a_slow_fsync_is_the_disk_of_its_device(request, profile):
    """The same verdict whatever each device's series are."""
    server = start_server(request, env=slow_disk_env(
        fsync_delay=0.2, fsync_path='/sdb/'), filter_options={
            'series_profile': profile})

    def load():
        # a PUT to sdb takes about 2 s: the object's fsync, and that of
        # each directory created for it
        in_threads(*[(put_many, (server, device, 3, 'fs%d' % i))
                     for device in ('sda', 'sdb') for i in range(2)])
    verdicts, _ = report_during(server, load, 12)
    assert verdicts['sda']['cause'] == 'ok', verdicts
    assert verdicts['sdb']['cause'] == 'disk', verdicts
    # 'fsync p99 250 ms, node median 1.2 ms' (or dir_fsync)
    reason = verdicts['sdb']['reason']
    assert 'fsync p99 ' in reason and ', node median ' in reason, reason


def test_a_blocking_open_is_the_event_loop_for_the_other_device(request):
    server = start_server(request, workers=1, env=slow_disk_env(
        open_path='/sdb/', open_delay=0.5), filter_options={
            'slow_read_threshold': '0.3'})

    def load():
        for i in range(5):
            fast, slow = server.put_behind_a_block(
                '/sda/1/a/c/ev-%d' % i, 'tx' + uuid.uuid4().hex,
                '/sdb/1/a/c/ev-%d' % i, 'tx' + uuid.uuid4().hex)
            assert fast.startswith(b'HTTP/1.1 201'), fast
            assert slow.startswith(b'HTTP/1.1 201'), slow
    # each PUT to sdb opens its file and, to fsync it, its directory
    verdicts, _ = report_during(server, load, 14)
    assert verdicts['sda']['cause'] == 'event_loop', verdicts
    # '61 % of request time waiting for the hub; held by sdb in open,
    # 5 blocks'
    assert re.search(r'held by sdb in open, \d blocks$',
                     verdicts['sda']['reason']), verdicts
    assert verdicts['sdb']['cause'] == 'disk', verdicts


def test_clients_stalling_mid_body_are_the_client(request):
    server = start_server(request, filter_options={
        'slow_read_threshold': '0.3'})

    def stall(i):
        status = server.put_slowly('/sda/2/a/c/stall-%d' % i, 8192, 4096,
                                   0.6, 'tx' + uuid.uuid4().hex)
        assert status.startswith(b'HTTP/1.1 201'), status

    def load():
        in_threads(*[(stall, (i,)) for i in range(6)] +
                   [(put_many, (server, 'sdb', 6, 'brisk'))])
    verdicts, _ = report_during(server, load, 6)
    assert verdicts['sda']['cause'] == 'client', verdicts
    # '98 % of request time waiting for the client; read p99 600 ms,
    # 6 slow reads'
    assert 'of request time waiting for the client; read p99 ' in \
        verdicts['sda']['reason']
    assert verdicts['sda']['reason'].endswith('6 slow reads')
    assert verdicts['sdb']['cause'] == 'ok', verdicts


def _slow_xfs_or_skip(work, mount_point):
    """make repro's XFS: an image on a FUSE filesystem whose reads wait,
    loop-mounted at ``mount_point``.
    """
    if os.geteuid() != 0:
        pytest.skip('mounting an XFS needs root')
    try:
        import fuse  # noqa: F401 (fusepy, and Debian's libfuse2)
        from bench.repro_slowdown import CachePressure, SlowXfs
    except (ImportError, OSError) as err:
        pytest.skip('needs the repository\'s bench/, fusepy and libfuse2: '
                    '%s' % err)
    xfs = SlowXfs(work, mount_point, delay_ms=50)
    try:
        xfs.start()
    except (OSError, RuntimeError, subprocess.CalledProcessError) as err:
        xfs.stop()
        pytest.skip('no loop-mounted XFS on FUSE here: %s' % err)
    return xfs, CachePressure


def test_a_cold_inode_cache_is_the_inode_cache(request):
    """sda is make repro's XFS on a disk whose reads take 50 ms, remounted
    after it was filled (nothing of it in RAM) and its caches dropped every
    second; sdb is a plain directory on tmpfs (on the host's disk, its
    fsyncs slowed under that cache pressure: up to 70 ms p99, a real disk
    verdict).
    """
    root = tempfile.mkdtemp(prefix='swiftinst-', dir='/dev/shm')
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    server = ObjectServer(root=root, workers=2, filter_options=dict(
        FAST, disk_state_interval='0.5'))
    request.addfinalizer(server.close)
    work = tempfile.mkdtemp(prefix='swiftinst-icache-', dir='/var/tmp')
    xfs, cache_pressure = _slow_xfs_or_skip(
        work, os.path.join(server.devices_dir, 'sda'))

    def stop():
        server.close()
        xfs.stop()
        subprocess.run(['rm', '-rf', work])
    request.addfinalizer(stop)
    server.start()
    for device in ('sda', 'sdb'):
        put_many(server, device, 60, 'cold')
    server.stop()
    xfs.remount()
    server.start()

    def load():
        with cache_pressure():
            for i in range(60):
                for device in ('sda', 'sdb'):
                    assert server.request(
                        'HEAD', '/%s/0/a/c/cold-%d' % (device, i),
                        headers={'X-Trans-Id': 'txcold%d' % i})[0] == 200
                    assert server.put(device, 'warm-%d' % i,
                                      b'w' * 4096)[0] == 201
    verdicts, report = report_during(server, load, 30)
    rows = {row['device']: row for row in report['devices']}
    assert verdicts['sda']['cause'] == 'inode_cache', json.dumps(rows)
    # 'metadata_read p99 95 ms, node median 0.4 ms; 43 % of inode lookups
    # missed the cache'
    assert re.match(r'(open|metadata_read) p99 .*, node median .*; \d+ % '
                    r'of inode lookups missed the cache$',
                    verdicts['sda']['reason']), verdicts
    assert verdicts['sdb']['cause'] == 'ok', verdicts


def test_a_device_starved_of_tpool_threads_names_who_held_them(request):
    """One worker with two tpool threads, and 0.3 s fsyncs on sdb: sda's
    PUTs wait for threads that sdb's fsyncs hold.  A naive rule reads sda
    as ok (its own fsyncs are fast); the verdict names sdb.
    """
    server = start_server(request, workers=1, env=slow_disk_env(
        fsync_delay=0.3, fsync_path='/sdb/'), server_options={
            'eventlet_tpool_num_threads': '2'})

    def load():
        in_threads(*[(put_many, (server, device, 3, 'tp%d' % i))
                     for device in ('sda', 'sdb') for i in range(3)])
    verdicts, report = report_during(server, load, 16)
    rows = {row['device']: row for row in report['devices']}
    assert verdicts['sda']['cause'] == 'tpool', rows
    # '91 % of request time waiting for a free tpool thread; held by sdb
    # in fsync; see servers_per_port' (or its directory fsyncs)
    assert re.match(r'\d+ % of request time waiting for a free tpool '
                    r'thread; held by sdb in (dir_)?fsync; see '
                    r'servers_per_port$', verdicts['sda']['reason']), rows
    # its own fsyncs are fast: the disk rule alone says nothing of sda
    assert rows['sda']['fsync_p99'] < 0.05, rows['sda']
    # sdb waits mostly behind its own fsyncs: its disk
    assert verdicts['sdb']['cause'] == 'disk', rows


def test_clients_stalling_beside_a_noisy_fsync_are_the_client(request):
    """sda's fsyncs take 80 ms, many times sdb's: the disk rule alone would
    blame sda's disk.  But its clients stall 0.6 s mid-body, and most of
    its request time is theirs.
    """
    server = start_server(request, env=slow_disk_env(
        fsync_delay=0.08, fsync_path='/sda/'), filter_options={
            'slow_read_threshold': '0.3'})

    def stall(i):
        status = server.put_slowly('/sda/2/a/c/noisy-%d' % i, 8192, 4096,
                                   0.6, 'tx' + uuid.uuid4().hex)
        assert status.startswith(b'HTTP/1.1 201'), status

    def load():
        in_threads(*[(stall, (i,)) for i in range(6)] +
                   [(put_many, (server, 'sdb', 6, 'brisk'))])
    verdicts, report = report_during(server, load, 8)
    rows = {row['device']: row for row in report['devices']}
    assert rows['sda']['fsync_p99'] >= 5 * rows['sdb']['fsync_p99'], rows
    assert verdicts['sda']['cause'] == 'client', rows
    assert verdicts['sdb']['cause'] == 'ok', rows
