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

"""A throwaway, real object server on loopback, with or without the filter.

What ``swiftinst demo`` runs; the functional tests and the benchmarks run
it too (``tests/testbed.py`` adds what only they need), so all three
exercise what an operator runs: ``swift-object-server`` with a paste
pipeline, forked workers, real devices directories.  It runs as the
current user, in a temporary directory, and logs through Swift's own
``log_udp_host`` to a listener here, so callers can read the log lines.
"""

import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

# Set in the environment of every server started here, to its root: the
# slow-disk injector acts only where the server's config lies under it.
OWNER_VARIABLE = 'SWIFTINST_DEMO_SERVER_ROOT'

SWIFT_CONF = """\
[swift-hash]
swift_hash_path_suffix = swiftinst-suffix
swift_hash_path_prefix = swiftinst-prefix

[storage-policy:0]
name = gold
default = yes

[storage-policy:1]
name = silver

[storage-policy:2]
name = ec
policy_type = erasure_coding
ec_type = liberasurecode_rs_vand
ec_num_data_fragments = 2
ec_num_parity_fragments = 1
"""


NODE_SWIFT_CONF = '/etc/swift/swift.conf'


def honours_swift_dir():
    """Whether this Swift reads swift.conf from a server's ``swift_dir``
    (2.29 reads only /etc/swift/swift.conf).
    """
    from swift.common import wsgi
    return hasattr(wsgi, 'set_swift_dir')


def free_port(host='127.0.0.1', kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def executable(name):
    """The console script beside this interpreter, else the one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else shutil.which(name) or name


class UdpListener(object):
    """Collects datagrams (syslog lines or statsd packets) in a thread."""

    def __init__(self, host='127.0.0.1', port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.messages = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            self.messages.append(data.decode('utf-8', 'replace'))

    def lines(self):
        return [line for m in list(self.messages) for line in m.split('\n')]

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [line for line in self.lines() if predicate(line)]
            if found:
                return found
            time.sleep(0.05)
        return []

    def close(self):
        self.sock.close()


def slow_disk_env(fsync_delay=None, open_path=None, open_delay=0.5,
                  fsync_path=None):
    """Environment for an ObjectServer whose disk calls block for real:
    every fsync (of a file whose path contains ``fsync_path``, if given)
    ``fsync_delay`` seconds, and every open of a path that contains
    ``open_path`` (say '/sdb/') ``open_delay`` seconds.  (The
    injector, ``slowdisk/sitecustomize.py``, acts only in a server that an
    ObjectServer started: see there.)
    """
    env = {'PYTHONPATH': os.path.join(os.path.dirname(
        os.path.abspath(__file__)), 'slowdisk')}
    if fsync_delay:
        env['SWIFTINST_SLOW_FSYNC_DELAY'] = str(fsync_delay)
        if fsync_path:
            env['SWIFTINST_SLOW_FSYNC_PATH'] = fsync_path
    if open_path:
        env['SWIFTINST_SLOW_OPEN_PATH'] = open_path
        env['SWIFTINST_SLOW_OPEN_DELAY'] = str(open_delay)
    return env


class ObjectServer(object):
    """One swift-object-server process tree.

    ``filter_options`` None runs a bare object server (the baseline);
    a dict puts ``instrument`` in the pipeline with those options.  It
    listens on ``host`` (a loopback address) and ``port`` (a free one if
    not given): several servers on 127.0.0.2, 127.0.0.3... and one port
    are nodes of a fleet on one machine.
    """

    # swift-<SERVER>-server, running egg:swift#<SERVER>
    SERVER = 'object'

    def __init__(self, root=None, devices=('sda', 'sdb'), workers=2,
                 filter_options=None, server_options=None, env=None,
                 devices_root=None, instrument=True, command_prefix=(),
                 host='127.0.0.1', port=None):
        self.root = root or tempfile.mkdtemp(prefix='swiftinst-')
        self._own_root = root is None
        self.devices_dir = devices_root or os.path.join(self.root, 'node')
        self.swift_dir = os.path.join(self.root, 'etc')
        self.metrics_dir = os.path.join(self.root, 'metrics')
        self.devices = tuple(devices)
        self.workers = workers
        self.instrument = instrument
        self.filter_options = dict(filter_options or {})
        self.server_options = dict(server_options or {})
        self.env = dict(env or {})
        # run the server under this: taskset (bench.e2e), valgrind
        # (bench.instructions)
        self.command_prefix = list(command_prefix)
        self.host = host
        self.port = port or free_port(host)
        self.log = UdpListener()
        self.proc = None
        self.conf_path = os.path.join(self.swift_dir,
                                      '%s-server.conf' % self.SERVER)
        for device in self.devices:
            os.makedirs(os.path.join(self.devices_dir, device), exist_ok=True)
        os.makedirs(self.swift_dir, exist_ok=True)
        with open(os.path.join(self.swift_dir, 'swift.conf'), 'w') as f:
            f.write(SWIFT_CONF)

    def write_config(self):
        default = {
            'bind_ip': self.host, 'bind_port': str(self.port),
            'workers': str(self.workers), 'devices': self.devices_dir,
            'swift_dir': self.swift_dir, 'mount_check': 'false',
            'log_udp_host': '127.0.0.1', 'log_udp_port': str(self.log.port),
            'log_name': 'object-server',
            'user': pwd.getpwuid(os.getuid()).pw_name,
        }
        default.update(self.server_options)
        filters = {'metrics_dir': self.metrics_dir}
        filters.update(self.filter_options)
        app = '%s-server' % self.SERVER
        pipeline = 'instrument ' + app if self.instrument else app
        lines = ['[DEFAULT]'] + ['%s = %s' % kv for kv in default.items()]
        lines += ['', '[pipeline:main]', 'pipeline = %s' % pipeline, '',
                  '[app:%s]' % app, 'use = egg:swift#%s' % self.SERVER, '',
                  '[filter:instrument]', 'use = egg:swiftinst#instrument']
        lines += ['%s = %s' % kv for kv in filters.items()]
        with open(self.conf_path, 'w') as f:
            f.write('\n'.join(lines) + '\n')

    def start(self, timeout=30.0, wait=True):
        self.write_config()
        env = dict(os.environ)
        env.update(self.env)
        self.stderr_path = os.path.join(self.root, 'server.stderr')
        # the slow-disk injector's proof that this server is ours
        env[OWNER_VARIABLE] = self.root
        with open(self.stderr_path, 'ab') as err:
            command = self.wrap_command(self.command_prefix + [
                executable('swift-%s-server' % self.SERVER), self.conf_path])
            self.proc = subprocess.Popen(
                command,
                stdout=err, stderr=err, env=env, start_new_session=True)
        if wait:
            self.wait_ready(timeout)
        return self

    def wrap_command(self, command):
        """The command that starts the server.  A Swift that honours
        ``swift_dir`` reads this server's own swift.conf for its hash
        settings; an older one (2.29) reads only the node's
        /etc/swift/swift.conf, whose policy 0 the demo then uses.
        """
        if not honours_swift_dir() and not os.path.exists(NODE_SWIFT_CONF):
            raise RuntimeError(
                'this Swift reads only %s, and there is none: the demo '
                'needs a newer Swift, or a node\'s swift.conf'
                % NODE_SWIFT_CONF)
        return command

    def stderr(self):
        with open(self.stderr_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def wait_ready(self, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('object server exited (%s):\n%s'
                                   % (self.proc.returncode, self.stderr()))
            if len(self.worker_pids()) >= self.workers:
                try:
                    self.request('HEAD', '/%s/0/a/c/ready' % self.devices[0])
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError('object server not ready after %ss:\n%s'
                           % (timeout, self.stderr()))

    def worker_pids(self):
        if self.proc is None:
            return []
        path = '/proc/%d/task/%d/children' % (self.proc.pid, self.proc.pid)
        try:
            with open(path) as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def cpu_seconds(self):
        """User + system CPU of the parent and its live workers."""
        total = 0
        for pid in [self.proc.pid] + self.worker_pids():
            try:
                with open('/proc/%d/stat' % pid, 'rb') as f:
                    fields = f.read().rsplit(b')', 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf('SC_CLK_TCK')

    def signal(self, signum):
        os.kill(self.proc.pid, signum)

    def signal_all(self, signum):
        """``signum`` to the parent and every worker (SIGSTOP: a server
        that accepts connections and answers nothing, as one whose disk
        has stopped does).
        """
        os.killpg(self.proc.pid, signum)

    def stop(self, timeout=15.0):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        self.log.close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- HTTP -----------------------------------------------------------
    def connection(self, timeout=30.0):
        return http.client.HTTPConnection(self.host, self.port,
                                          timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=30.0):
        """(status, headers dict, body bytes) of one request."""
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    @staticmethod
    def object_headers(body=b'', **extra):
        headers = {'X-Timestamp': '%.5f' % time.time(),
                   'Content-Type': 'application/octet-stream',
                   'Content-Length': str(len(body)),
                   'X-Trans-Id': 'tx' + uuid.uuid4().hex}
        headers.update(extra)
        return headers

    def put(self, device, name, body, policy=None, **extra):
        if policy is not None:
            extra['X-Backend-Storage-Policy-Index'] = str(policy)
        return self.request('PUT', '/%s/0/a/c/%s' % (device, name), body,
                            self.object_headers(body, **extra))

    def begin_put(self, path, size, txn):
        """Send a PUT's headers over a raw socket and return it; the caller
        sends the ``size`` bytes of body when it likes, then reads the
        status line with ``reply_status``.
        """
        sock = socket.create_connection((self.host, self.port))
        sock.sendall(('PUT %s HTTP/1.1\r\nHost: x\r\nX-Timestamp: %.5f\r\n'
                      'Content-Type: application/octet-stream\r\n'
                      'Content-Length: %d\r\nX-Trans-Id: %s\r\n\r\n'
                      % (path, time.time(), size, txn)).encode('ascii'))
        return sock

    @staticmethod
    def reply_status(sock):
        """The status line of the reply on ``sock``, which is then closed."""
        try:
            return sock.makefile('rb').readline()
        finally:
            sock.close()

    def put_behind_a_block(self, fast_path, fast_txn, slow_path, slow_txn):
        """Two PUTs timed so that the first is halfway through its body
        when the second, to a device made slow with slow_disk_env's
        ``open_path``, blocks the hub; the rest of the first body arrives
        during the block.  Returns both status lines (fast, slow).
        """
        fast = self.begin_put(fast_path, 8192, fast_txn)
        fast.sendall(b'f' * 4096)
        time.sleep(0.3)             # the server now waits on fast's socket
        slow = self.begin_put(slow_path, 4096, slow_txn)
        slow.sendall(b's' * 4096)
        time.sleep(0.1)             # the slow PUT is in its blocking open
        fast.sendall(b'f' * 4096)
        slow_status = self.reply_status(slow)
        return self.reply_status(fast), slow_status

    def put_slowly(self, path, size, split, pause, txn):
        """A PUT whose client stops for ``pause`` seconds after ``split``
        bytes of the body.  Returns the status line.
        """
        sock = self.begin_put(path, size, txn)
        sock.sendall(b'z' * split)
        time.sleep(pause)
        sock.sendall(b'z' * (size - split))
        return self.reply_status(sock)

    def metrics_text(self, headers=None):
        status, _, body = self.request('GET', '/metrics', headers=headers)
        if status != 200:
            raise RuntimeError('/metrics answered %s: %r' % (status, body))
        return body.decode('utf-8')


class ContainerServer(ObjectServer):
    """One swift-container-server process tree, never filtered: what an
    object server's container updates reach.
    """

    SERVER = 'container'

    def __init__(self, devices=('sda',), workers=1, **kwargs):
        kwargs['instrument'] = False
        super().__init__(devices=devices, workers=workers, **kwargs)

    def create(self, account='a', container='c', partition='0'):
        """Create the container on every device, as a proxy would."""
        for device in self.devices:
            status = self.request('PUT', '/%s/%s/%s/%s' % (
                device, partition, account, container), headers={
                    'X-Timestamp': '%.5f' % time.time(),
                    'X-Backend-Storage-Policy-Index': '0'})[0]
            if status not in (201, 202):
                raise RuntimeError('container PUT answered %s' % status)
        return self

    def update_headers(self, partition='0'):
        """What a proxy adds to an object PUT, POST or DELETE so that the
        object server updates this server's copies of the container.
        """
        hosts = ','.join('%s:%d' % (self.host, self.port)
                         for _ in self.devices)
        return {'X-Container-Host': hosts,
                'X-Container-Device': ','.join(self.devices),
                'X-Container-Partition': partition}

    def listing(self, device=None, account='a', container='c',
                partition='0'):
        """The object names in the container, as this server lists them."""
        status, _, body = self.request('GET', '/%s/%s/%s/%s?format=json' % (
            device or self.devices[0], partition, account, container))
        if status not in (200, 204):
            raise RuntimeError('container GET answered %s' % status)
        return [item['name'] for item in json.loads(body or b'[]')]
