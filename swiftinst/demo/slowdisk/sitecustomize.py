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

"""Make some disk calls of this process slow, for real.

Loaded through PYTHONPATH (``swiftinst.demo.server.slow_disk_env``) by an
object server that the demo, a test or a benchmark starts.  It acts only
in such a server: one whose command line names a config under the
directory in SWIFTINST_DEMO_SERVER_ROOT, which the demo's ObjectServer
sets.  Anywhere else (this directory put on a production server's
PYTHONPATH by mistake, another Python program) it says so on stderr and
changes nothing.  Then, only if one of its variables is set:

* SWIFTINST_SLOW_FSYNC_DELAY: every ``os.fsync`` first blocks that long
  (with SWIFTINST_SLOW_FSYNC_PATH, only that of a file whose path
  contains it: one sick disk among healthy ones);
* SWIFTINST_SLOW_OPEN_PATH and SWIFTINST_SLOW_OPEN_DELAY: every
  ``os.open`` of a path containing the former blocks the latter.

The blocking ``time.sleep`` is captured before eventlet loads, so a delay
really holds the calling thread, as a sick disk would: on the hub thread
every greenthread of the worker stalls, as with an inode-cache miss on a
full disk.
"""
import os
import sys
import time

_blocking_sleep = time.sleep
_FSYNC_DELAY = float(os.environ.get('SWIFTINST_SLOW_FSYNC_DELAY') or 0)
_FSYNC_PATH = os.environ.get('SWIFTINST_SLOW_FSYNC_PATH', '')
_OPEN_PATH = os.environ.get('SWIFTINST_SLOW_OPEN_PATH', '')
_OPEN_DELAY = float(os.environ.get('SWIFTINST_SLOW_OPEN_DELAY') or 0.5)


def _started_by_the_demo():
    """Whether this process is an object server that a demo ObjectServer
    started: its command line names a file under the demo's root.
    """
    root = os.environ.get('SWIFTINST_DEMO_SERVER_ROOT')
    if not root:
        return False
    try:
        with open('/proc/self/cmdline', 'rb') as f:
            args = f.read().decode('utf-8', 'replace').split('\0')
    except OSError:
        return False
    root = os.path.join(os.path.realpath(root), '')
    return any(os.path.realpath(arg).startswith(root) for arg in args
               if arg.endswith('.conf'))


if (_FSYNC_DELAY or _OPEN_PATH) and not _started_by_the_demo():
    sys.stderr.write('swiftinst.demo.slowdisk: not a server the demo '
                     'started; disk calls left as they are\n')
    _FSYNC_DELAY = 0
    _OPEN_PATH = ''


def _slowed(real, delay, applies=lambda *args: True):
    def slow(*args, **kwargs):
        if applies(*args):
            _blocking_sleep(delay)
        return real(*args, **kwargs)
    return slow


def _fd_path(fd):
    """The path an fsync'ed descriptor (or file object) was opened by."""
    try:
        fd = fd if isinstance(fd, int) else fd.fileno()
        return os.readlink('/proc/self/fd/%d' % fd)
    except (OSError, AttributeError, ValueError):
        return ''


if _FSYNC_DELAY:
    os.fsync = _slowed(os.fsync, _FSYNC_DELAY,
                       lambda fd, *rest: _FSYNC_PATH in _fd_path(fd))
if _OPEN_PATH:
    os.open = _slowed(os.open, _OPEN_DELAY,
                      lambda path, *rest: _OPEN_PATH in os.fsdecode(path))
