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

"""``swiftinst demo --serve`` stopped by a signal leaves nothing behind."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from swiftinst.demo.server import NODE_SWIFT_CONF, honours_swift_dir


def _children(pid):
    """Every live descendant of ``pid``."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % entry, 'rb') as f:
                    fields = f.read().rsplit(b')', 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] not in (b'Z', b'X'):
                found.append(int(entry))
                frontier.append(int(entry))
    return found


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            state = f.read().rsplit(b')', 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b'Z', b'X')


NEEDS_A_SERVER = pytest.mark.skipif(
    not honours_swift_dir() and not os.path.exists(NODE_SWIFT_CONF),
    reason='this Swift reads only %s, which this machine does not have: '
           'the demo cannot start a server here' % NODE_SWIFT_CONF)


@NEEDS_A_SERVER
@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_server_and_removes_the_directory(signum):
    demo = subprocess.Popen(
        [sys.executable, '-m', 'swiftinst.cli', 'demo', '--serve',
         '--requests', '4', '--slow-read-threshold', '0.2'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output = []
        deadline = time.time() + 120
        while time.time() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith('Serving until'):
                break
        text = ''.join(output)
        assert 'Serving until' in text, text
        root = os.path.dirname(
            re.search(r'devices: (\S+)', text).group(1))
        servers = _children(demo.pid)
        assert len(servers) >= 3, servers   # the server and two workers
        assert os.path.isdir(root)
        demo.send_signal(signum)
        rest, _ = demo.communicate(timeout=60)
        # the way to end --serve: a clean exit, as on Ctrl-C
        assert demo.returncode == 0, text + rest
        assert 'Stopping the object server' in rest
        deadline = time.time() + 10
        while any(map(_alive, servers)) and time.time() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in servers if _alive(pid)]
        assert not os.path.exists(root)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


@NEEDS_A_SERVER
def test_the_slow_disk_demo_names_the_event_loop_for_the_victim():
    out = subprocess.run(
        [sys.executable, '-m', 'swiftinst.cli', 'demo', '--slow-disk'],
        capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines()
            if line.startswith(('sda ', 'sdb '))}
    assert ' event_loop (' in rows['sda'], out.stdout
    assert 'held by sdb in open' in rows['sda'], out.stdout
    # the open of the object, or that of its directory to fsync it
    assert ' disk (' in rows['sdb'], out.stdout
