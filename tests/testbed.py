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

"""The demo's throwaway object server, plus what only the tests need and
only root may do: every storage policy of the testbed's swift.conf (in a
private mount namespace) and loop-mounted XFS filesystems.
"""

import os
import subprocess

from swiftinst.demo import server
from swiftinst.demo.server import (  # noqa: F401 (the tests' one import)
    SWIFT_CONF, UdpListener, executable, free_port, slow_disk_env)


def all_policies_available():
    """Whether servers here see every policy of the testbed's swift.conf.

    Swift loads its storage policies from /etc/swift/swift.conf when it is
    imported; ``swift_dir`` moves only the hash settings (2.29 does not
    even honour that).  As root, each server runs in a private mount
    namespace where /etc/swift is its own directory; otherwise a Swift that
    honours ``swift_dir`` runs with the default policy alone.
    """
    return os.geteuid() == 0


class ObjectServer(server.ObjectServer):
    """The demo's server, reading its own swift.conf where root can make
    it (see all_policies_available).
    """

    def wrap_command(self, command):
        if all_policies_available():
            os.makedirs('/etc/swift', exist_ok=True)
            return ['unshare', '--mount', '--propagation', 'private', 'sh',
                    '-c', 'mount --bind "$0" /etc/swift && exec "$@"',
                    self.swift_dir] + command
        return super().wrap_command(command)


class LoopXfs(object):
    """An XFS in a sparse image file, loop-mounted (root only).

    ``mount()`` raises OSError with mount's own message when the sandbox
    does not allow it, so callers can skip with that reason.
    """

    def __init__(self, image, mount_point, size=512 << 20):
        self.image = image
        self.mount_point = mount_point
        self.size = size
        self.mounted = False

    def mount(self):
        with open(self.image, 'wb') as f:
            f.truncate(self.size)
        subprocess.run(['mkfs.xfs', '-q', '-f', self.image], check=True,
                       capture_output=True)
        os.makedirs(self.mount_point, exist_ok=True)
        done = subprocess.run(['mount', '-o', 'loop', self.image,
                               self.mount_point],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise OSError('mount -o loop failed: %s' % done.stderr.strip())
        self.mounted = True
        return self

    def unmount(self):
        if self.mounted:
            subprocess.run(['umount', self.mount_point], check=False,
                           capture_output=True)
            self.mounted = False
        try:
            os.unlink(self.image)
        except OSError:
            pass
