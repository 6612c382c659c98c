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

"""Disk-state parsing against files taken from a real XFS here, and the
choice of the one sampling worker.
"""

import os
import time

import pytest

from swiftinst import diskstate, metrics
from tests.conftest import fixture_path


def read_fixture(name):
    with open(fixture_path('xfs', name)) as f:
        return f.read()


def test_xfs_stats_parse_into_the_exported_counters():
    stats = diskstate.parse_xfs_stats(read_fixture('stats'))
    assert stats['ig'] == [52, 0, 0, 52, 0, 0, 0]
    assert stats['dir'] == [51, 51, 0, 0]
    counters = diskstate.xfs_counters(stats)
    assert counters['swift_object_xfs_ig_attempts'] == 52
    assert counters['swift_object_xfs_ig_missed'] == 52
    assert counters['swift_object_xfs_dir_create'] == 51
    assert counters['swift_object_xfs_attr_get'] == 51
    assert set(counters) == {d.name for d, _, _ in metrics.XFS_COUNTERS}


def test_mountinfo_maps_a_path_to_its_filesystem():
    mounts = diskstate.parse_mountinfo(read_fixture('mountinfo'))
    assert ('/mnt/xfsfix', '7:0', 'xfs') in mounts
    assert diskstate.mount_of('/mnt/xfsfix/sda', mounts)[2] == 'xfs'
    assert diskstate.mount_of('/mnt/xfsfixture', mounts)[0] == '/'
    # /dev/shm is mounted twice; the later mount is the one in use
    assert diskstate.mount_of('/dev/shm/x', mounts)[1] == '0:27'
    assert diskstate.mount_of('/var/tmp', mounts)[2] == 'ext4'


def test_mountinfo_escapes():
    mounts = diskstate.parse_mountinfo(
        '50 27 7:1 / /srv/node/my\\040disk rw - xfs /dev/loop1 rw\n'
        'garbage line\n')
    assert mounts == [('/srv/node/my disk', '7:1', 'xfs')]


@pytest.fixture
def fake_node(tmp_path):
    """devices/sda on an 'XFS' at 7:0, with /proc and /sys to match."""
    devices = tmp_path / 'node'
    (devices / 'sda').mkdir(parents=True)
    proc = tmp_path / 'proc'
    (proc / 'self').mkdir(parents=True)
    (proc / 'self' / 'mountinfo').write_text(
        read_fixture('mountinfo') + '99 27 7:0 / %s rw - xfs /dev/loop0 rw\n'
        % os.path.realpath(str(devices)))
    (proc / 'sys' / 'fs').mkdir(parents=True)
    (proc / 'sys' / 'fs' / 'dentry-state').write_text(
        '565146\t62525\t45\t0\t10615\t0\n')
    (proc / 'sys' / 'fs' / 'inode-nr').write_text('554200\t17\n')
    sys_root = tmp_path / 'sys'
    (sys_root / 'dev' / 'block').mkdir(parents=True)
    (sys_root / 'devices' / 'virtual' / 'block' / 'loop0').mkdir(
        parents=True)
    os.symlink('../../devices/virtual/block/loop0',
               str(sys_root / 'dev' / 'block' / '7:0'))
    (sys_root / 'fs' / 'xfs' / 'loop0' / 'stats').mkdir(parents=True)
    (sys_root / 'fs' / 'xfs' / 'loop0' / 'stats' / 'stats').write_text(
        read_fixture('stats'))
    return str(devices), str(proc), str(sys_root)


def test_sample_reads_statvfs_xfs_and_the_kernel_caches(fake_node):
    devices, proc, sys_root = fake_node
    values = diskstate.sample(devices, proc_root=proc, sys_root=sys_root)
    st = os.statvfs(devices)
    assert values[('swift_object_device_inodes_total', ('sda',))] == \
        st.f_files
    assert values[('swift_object_device_bytes_total', ('sda',))] == \
        st.f_blocks * st.f_frsize
    assert values[('swift_object_xfs_ig_missed', ('sda',))] == 52
    assert values[('swift_object_node_dentries', ())] == 565146
    assert values[('swift_object_node_inodes_free', ())] == 17


def test_one_sampler_at_a_time_and_takeover(tmp_path, fake_node):
    devices = fake_node[0]
    first = diskstate.DiskStateSampler(devices, str(tmp_path), 30)
    second = diskstate.DiskStateSampler(devices, str(tmp_path), 30)
    assert first.sample_if_elected()
    assert not second.sample_if_elected()
    assert first.elected() and not second.elected()
    published = second.published()
    assert published[('swift_object_device_inodes_used', ('sda',))].value > 0
    first.release()                     # the sampling worker went away
    assert second.sample_if_elected()
    second.release()


def test_a_stale_sample_is_not_shown(tmp_path, fake_node):
    sampler = diskstate.DiskStateSampler(fake_node[0], str(tmp_path), 30)
    assert sampler.sample_if_elected()
    sampler.release()
    assert sampler.published(now=time.time() + 10)
    assert sampler.published(now=time.time() + 91) == {}


def test_the_async_pending_backlog_is_swift_recon_crons(tmp_path, fake_node):
    """swift-recon-cron counts the async pendings into object.recon; the
    sampler publishes its count, and nothing where it has not run.
    """
    recon = tmp_path / 'recon'
    recon.mkdir()
    key = (metrics.ASYNC_PENDING_BACKLOG.name, ())
    sampler = diskstate.DiskStateSampler(fake_node[0], str(tmp_path), 30,
                                         recon_cache_path=str(recon))
    assert sampler.sample_if_elected()
    assert key not in sampler.published()
    (recon / 'object.recon').write_text(
        '{"async_pending": 17, "object_replication_time": 1.5}')
    assert sampler.sample_if_elected()
    assert sampler.published()[key].value == 17
    # a damaged cache is skipped, never a wrong number
    (recon / 'object.recon').write_text('{"async_pending": "lots"')
    assert sampler.sample_if_elected()
    assert key not in sampler.published()
    sampler.release()
