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

"""Disk-state gauges of a real object server whose sda is a loop-mounted
XFS (needs root and mount; CI runs as root).
"""

import os
import shutil
import tempfile
import time

import pytest

from tests.testbed import LoopXfs, ObjectServer
from tests.conftest import scrape, settled_scrape

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which('mkfs.xfs') is None,
    reason='needs root and mkfs.xfs (Debian package xfsprogs) to '
           'loop-mount an XFS; .ci/run has both')


@pytest.fixture
def xfs_server(request):
    root = tempfile.mkdtemp(prefix='swiftinst-xfs-', dir='/var/tmp')
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    server = ObjectServer(root=root, workers=2, filter_options={
        'flush_interval': '0.1', 'disk_state_interval': '0.3'})
    xfs = LoopXfs(os.path.join(root, 'sda.img'),
                  os.path.join(server.devices_dir, 'sda'))
    try:
        xfs.mount()
    except OSError as err:
        pytest.skip(str(err))

    def stop():
        server.close()
        xfs.unmount()
    request.addfinalizer(stop)
    return server.start()


def _holders(lock_path):
    """pids holding a flock on ``lock_path``, from /proc/locks."""
    inode = os.stat(lock_path).st_ino
    pids = set()
    with open('/proc/locks') as f:
        for line in f:
            fields = line.split()
            if fields[1] == 'FLOCK' and fields[5].endswith(':%d' % inode):
                pids.add(int(fields[4]))
    return pids


def test_gauges_and_xfs_counters_move_after_puts(xfs_server):
    server = xfs_server

    def sampled(s):
        return s.total('swift_object_device_inodes_used', device='sda') > 0
    before = settled_scrape(server, sampled)
    assert sampled(before)
    for i in range(30):
        assert server.put('sda', 'xfs-%d' % i, b'x' * 4096)[0] == 201
    inodes_before = before.total('swift_object_device_inodes_used',
                                 device='sda')

    def grew(s):
        return s.total('swift_object_device_inodes_used', device='sda') >= \
            inodes_before + 30
    after = settled_scrape(server, grew)
    assert grew(after)
    for counter in ('swift_object_xfs_dir_create_total',
                    'swift_object_xfs_ig_attempts_total',
                    'swift_object_xfs_log_force_total'):
        assert after.total(counter, device='sda') > \
            before.total(counter, device='sda'), counter
    assert after.total('swift_object_device_bytes_used', device='sda') > \
        before.total('swift_object_device_bytes_used', device='sda')
    assert 0 < after.total('swift_object_device_bytes_total',
                           device='sda') <= 512 << 20
    # sdb is a plain directory on the root filesystem: gauges, no XFS
    assert after.total('swift_object_device_inodes_total', device='sdb') > 0
    assert not after.select('swift_object_xfs_ig_attempts_total',
                            device='sdb')
    assert after.total('swift_object_node_dentries') > 0
    assert after.total('swift_object_node_inodes') > 0
    # whichever worker answers, the same sample
    assert scrape(server).total('swift_object_device_inodes_total',
                                device='sda') == after.total(
        'swift_object_device_inodes_total', device='sda')


def test_one_worker_samples_and_another_takes_over(xfs_server):
    server = xfs_server
    lock = os.path.join(server.metrics_dir, 'diskstate.lock')
    deadline = time.time() + 10
    while time.time() < deadline and not (
            os.path.exists(lock) and _holders(lock)):
        time.sleep(0.1)
    holders = _holders(lock)
    workers = set(server.worker_pids())
    assert len(holders) == 1 and holders <= workers
    os.kill(holders.pop(), 9)
    deadline = time.time() + 15
    while time.time() < deadline:
        # a worker starts its background work at its first request
        try:
            server.request('HEAD', '/sda/0/a/c/o')
        except OSError:
            pass    # landed on the killed worker

        new = _holders(lock)
        if new and new <= set(server.worker_pids()):
            break
        time.sleep(0.2)
    assert len(new) == 1 and new.isdisjoint(workers - set(
        server.worker_pids()))
