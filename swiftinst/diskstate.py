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

"""Disk state beside the latencies: space and inodes per device, XFS's own
counters, the kernel's dentry and inode caches, and the backlog of async
pendings that swift-recon-cron counted.

When a disk holds millions of small objects, its inode and dentry caches
stop fitting in RAM; ``open``, ``mkdir`` and ``listdir`` then read from
disk, on the hub thread.  These figures show that cause beside the
symptom the latency histograms show.

One worker per object server samples, every ``disk_state_interval``: the
one that holds an exclusive ``flock`` on ``<metrics_dir>/diskstate.lock``
(the kernel drops the lock when that worker dies, and another takes over
at its next try).  Sampling runs in a tpool thread, since ``statvfs`` on a
sick disk can block; the sample is written to ``<metrics_dir>/diskstate``
and every worker's scrape renders it.  Values are the kernel's own (XFS
counters count since mount), so nothing is summed across workers.
"""

import errno
import fcntl
import json
import marshal
import os
import time

from swiftinst import metrics
from swiftinst.series import Series

STATE_FILE = 'diskstate'
LOCK_FILE = 'diskstate.lock'
# swift-recon-cron's counts, in the recon cache (Swift's RECON_OBJECT_FILE)
RECON_OBJECT_FILE = 'object.recon'
XFS_STATS = '/sys/fs/xfs/%s/stats/stats'
# A sample older than this many intervals is not shown: its sampler died
# and nobody has taken over.
STALE_INTERVALS = 3


def parse_mountinfo(text):
    """[(mount point, 'major:minor', fstype)] from /proc/self/mountinfo."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        try:
            separator = fields.index('-')
            mounts.append((_unescape(fields[4]), fields[2],
                           fields[separator + 1]))
        except (ValueError, IndexError):
            continue
    return mounts


def _unescape(path):
    # mountinfo escapes space, tab, newline and backslash as \\ooo
    return path.encode('latin-1').decode('unicode_escape') \
        if '\\' in path else path


def mount_of(path, mounts):
    """The (mount point, 'major:minor', fstype) that holds ``path``: the
    longest mount point that is a prefix of it (the last one mounted wins
    a tie, as in the kernel).
    """
    best = None
    for mount in mounts:
        point = mount[0]
        if path == point or path.startswith(point.rstrip('/') + '/'):
            if best is None or len(point) >= len(best[0]):
                best = mount
    return best


def parse_xfs_stats(text):
    """{line name: [int, ...]} from /sys/fs/xfs/<dev>/stats/stats."""
    stats = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 1:
            try:
                stats[fields[0]] = [int(v) for v in fields[1:]]
            except ValueError:
                continue
    return stats


def xfs_counters(stats):
    """{counter metric name: value} for the XFS counters swiftinst exports."""
    values = {}
    for definition, line, index in metrics.XFS_COUNTERS:
        row = stats.get(line)
        if row is not None and index < len(row):
            values[definition.name] = row[index]
    return values


def block_device_name(major_minor, sys_root='/sys'):
    """'7:0' -> 'loop0': the kernel's name, as /sys/fs/xfs uses it."""
    try:
        return os.path.basename(os.readlink(
            os.path.join(sys_root, 'dev', 'block', major_minor)))
    except OSError:
        return None


def _read(path):
    with open(path) as f:
        return f.read()


def async_pending_backlog(recon_cache_path):
    """The async pendings that swift-recon-cron last counted on this node
    (``object.recon``'s ``async_pending``), or None.  It walks the
    ``async_pending`` directories itself, so nothing here has to.
    """
    try:
        with open(os.path.join(recon_cache_path, RECON_OBJECT_FILE)) as f:
            backlog = json.load(f).get('async_pending')
    except (OSError, ValueError, AttributeError):
        return None
    return backlog if isinstance(backlog, int) and backlog >= 0 else None


def sample(devices_dir, proc_root='/proc', sys_root='/sys',
           recon_cache_path=None):
    """Everything, now: ``{(metric name, labels): value}``.  May block on a
    sick disk; call it from a native thread.
    """
    values = {}
    backlog = async_pending_backlog(recon_cache_path) \
        if recon_cache_path else None
    if backlog is not None:
        values[(metrics.ASYNC_PENDING_BACKLOG.name, ())] = backlog
    try:
        devices = sorted(os.listdir(devices_dir))
    except OSError:
        devices = []
    try:
        mounts = parse_mountinfo(_read(os.path.join(proc_root, 'self',
                                                    'mountinfo')))
    except OSError:
        mounts = []
    xfs_seen = {}
    for device in devices:
        path = os.path.realpath(os.path.join(devices_dir, device))
        try:
            st = os.statvfs(path)
        except OSError:
            continue
        labels = (device,)
        values[(metrics.DEVICE_BYTES_TOTAL.name, labels)] = \
            st.f_blocks * st.f_frsize
        values[(metrics.DEVICE_BYTES_USED.name, labels)] = \
            (st.f_blocks - st.f_bfree) * st.f_frsize
        values[(metrics.DEVICE_INODES_TOTAL.name, labels)] = st.f_files
        values[(metrics.DEVICE_INODES_USED.name, labels)] = \
            st.f_files - st.f_ffree
        mount = mount_of(path, mounts)
        if mount is None or mount[2] != 'xfs':
            continue
        if mount[1] not in xfs_seen:
            name = block_device_name(mount[1], sys_root)
            try:
                xfs_seen[mount[1]] = xfs_counters(parse_xfs_stats(
                    _read(XFS_STATS.replace('/sys', sys_root, 1) % name)))
            except (OSError, TypeError):
                xfs_seen[mount[1]] = {}
        for name, value in xfs_seen[mount[1]].items():
            values[(name, labels)] = value
    try:
        dentry = _read(os.path.join(proc_root, 'sys/fs/dentry-state')).split()
        values[(metrics.NODE_DENTRIES.name, ())] = int(dentry[0])
        values[(metrics.NODE_DENTRIES_UNUSED.name, ())] = int(dentry[1])
        inodes = _read(os.path.join(proc_root, 'sys/fs/inode-nr')).split()
        values[(metrics.NODE_INODES.name, ())] = int(inodes[0])
        values[(metrics.NODE_INODES_FREE.name, ())] = int(inodes[1])
    except (OSError, IndexError, ValueError):
        pass
    return values


class DiskStateSampler(object):
    """Runs in every worker; samples only while it holds the lock."""

    def __init__(self, devices_dir, metrics_dir, interval, xfs_names=None,
                 recon_cache_path=None):
        self.devices_dir = devices_dir
        self.metrics_dir = metrics_dir
        self.recon_cache_path = recon_cache_path
        self.interval = interval
        # the XFS counters published (the series profile's); None: all
        self._left_out = frozenset() if xfs_names is None else frozenset(
            definition.name for definition, _, _ in metrics.XFS_COUNTERS
            if definition.name not in xfs_names)
        self._lock_fd = None

    def elected(self):
        """True while this process holds the sampler lock (taking it if it
        is free).  Native thread.
        """
        if self._lock_fd is not None:
            return True
        fd = os.open(os.path.join(self.metrics_dir, LOCK_FILE),
                     os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        self._lock_fd = fd
        return True

    def release(self):
        """Give the sampler role up (tests; a worker's exit does it too)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def sample_if_elected(self):
        """Sample and publish if this worker is the sampler.  Native thread:
        no logging, no green calls; errors propagate to the caller.
        """
        if not self.elected():
            return False
        blob = marshal.dumps((time.time(), sample(
            self.devices_dir, recon_cache_path=self.recon_cache_path)))
        path = os.path.join(self.metrics_dir, STATE_FILE)
        tmp = '%s.%d.tmp' % (path, os.getpid())
        with open(tmp, 'wb') as f:
            f.write(blob)
        os.rename(tmp, path)
        return True

    def published(self, now=None):
        """The latest sample as ``{key: Series}`` for the renderer, or {}
        if none is fresh.  Native thread.
        """
        try:
            with open(os.path.join(self.metrics_dir, STATE_FILE), 'rb') as f:
                taken, values = marshal.loads(f.read())
        except (OSError, EOFError, ValueError, TypeError):
            return {}
        if (now or time.time()) - taken > STALE_INTERVALS * self.interval:
            return {}
        published = {}
        for key, value in values.items():
            if key[0] in metrics.BY_NAME and key[0] not in self._left_out:
                published[key] = series = Series()
                series.set(value)
        return published
