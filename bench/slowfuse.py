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

"""A passthrough FUSE filesystem that adds a delay to every read.

    python -m bench.slowfuse BACKING_DIR MOUNT_POINT DELAY_MS

This machine's virtual disk answers in microseconds, so a cold inode cache
costs little here.  An XFS image loop-mounted from this filesystem sees
every read that misses the page cache wait DELAY_MS, as on a seek-bound
spinning disk; dropping the caches then makes each inode and directory
block XFS needs a "disk" read.  Writes are not delayed, and fsync of the
image returns at once: Swift's fsyncs then cost what XFS's own log and
the loop device make them cost, and the reads are what is slow.

Needs fusepy (pip) and libfuse2 (Debian package); runs in the foreground
until unmounted (``fusermount -u MOUNT_POINT`` or ``umount``).
"""

import errno
import os
import sys
import time

from fuse import FUSE, FuseOSError, Operations


class SlowReads(Operations):
    """Every call goes to BACKING_DIR; read() first sleeps ``delay``."""

    def __init__(self, root, delay):
        self.root = root
        self.delay = delay

    def _path(self, path):
        return os.path.join(self.root, path.lstrip('/'))

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self._path(path))
        except OSError as err:
            raise FuseOSError(err.errno)
        return {key: getattr(st, key) for key in (
            'st_atime', 'st_ctime', 'st_mtime', 'st_gid', 'st_uid',
            'st_mode', 'st_nlink', 'st_size', 'st_blocks')}

    def readdir(self, path, fh):
        return ['.', '..'] + os.listdir(self._path(path))

    def statfs(self, path):
        st = os.statvfs(self._path(path))
        return {key: getattr(st, key) for key in (
            'f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail',
            'f_ffree', 'f_files', 'f_flag', 'f_frsize', 'f_namemax')}

    def open(self, path, flags):
        return os.open(self._path(path), flags)

    def create(self, path, mode, fi=None):
        return os.open(self._path(path), os.O_WRONLY | os.O_CREAT, mode)

    def read(self, path, size, offset, fh):
        time.sleep(self.delay)
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        os.truncate(self._path(path), length)

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        # Not passed on: the image's durability is not what is emulated, and
        # a real flush of the host's disk per Swift fsync would bury the
        # read latency this filesystem exists to add.
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0

    def unlink(self, path):
        os.unlink(self._path(path))

    def access(self, path, mode):
        if not os.access(self._path(path), mode):
            raise FuseOSError(errno.EACCES)


def main(argv):
    backing, mount_point, delay_ms = argv
    FUSE(SlowReads(os.path.realpath(backing), float(delay_ms) / 1000.0),
         mount_point, foreground=True, nothreads=False, allow_other=True)


if __name__ == '__main__':
    main(sys.argv[1:])
