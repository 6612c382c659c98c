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

"""The demo's throwaway object server, plus what only the tests need: a
real Prometheus scraping servers, and what only root may do: every
storage policy of the testbed's swift.conf (in a private mount
namespace) and loop-mounted XFS filesystems.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from swiftinst.demo import server
from swiftinst.demo.server import (  # noqa: F401 (the tests' one import)
    SWIFT_CONF, UdpListener, executable, free_port, slow_disk_env)
from tests import ROOT

ETC = os.path.join(ROOT, 'etc')
RULES = os.path.join(ETC, 'prometheus', 'swiftinst-rules.yml')
DASHBOARD = os.path.join(ETC, 'grafana', 'swiftinst-dashboard.json')


def all_policies_available():
    """Whether servers here see every policy of the testbed's swift.conf.

    Swift loads its storage policies from /etc/swift/swift.conf when it is
    imported; ``swift_dir`` moves only the hash settings (2.29 does not
    even honour that).  As root, each server runs in a private mount
    namespace where /etc/swift is its own directory; otherwise a Swift that
    honours ``swift_dir`` runs with the default policy alone.
    """
    return os.geteuid() == 0


class OwnSwiftConf(object):
    """A demo server reading its own swift.conf where root can make it
    (see all_policies_available).
    """

    def wrap_command(self, command):
        if all_policies_available():
            os.makedirs('/etc/swift', exist_ok=True)
            return ['unshare', '--mount', '--propagation', 'private', 'sh',
                    '-c', 'mount --bind "$0" /etc/swift && exec "$@"',
                    self.swift_dir] + command
        return super().wrap_command(command)


class ObjectServer(OwnSwiftConf, server.ObjectServer):
    """The demo's object server, with the testbed's swift.conf."""


class ContainerServer(OwnSwiftConf, server.ContainerServer):
    """The demo's container server, with the testbed's swift.conf."""


class AccountServer(ContainerServer):
    """A swift-account-server, never filtered."""

    SERVER = 'account'


class ProxyServer(OwnSwiftConf, server.ObjectServer):
    """A swift-proxy-server with no auth (every request is allowed), that
    creates accounts as it needs them, over the rings that ``build_rings``
    wrote into its ``swift_dir``.
    """

    SERVER = 'proxy'

    def __init__(self, workers=1, **kwargs):
        kwargs['instrument'] = False
        options = {'account_autocreate': 'true'}
        options.update(kwargs.pop('server_options', None) or {})
        super().__init__(devices=(), workers=workers,
                         server_options=options, **kwargs)

    def wait_ready(self, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('proxy exited:\n%s' % self.stderr())
            try:
                self.request('GET', '/info')
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError('proxy not ready:\n%s' % self.stderr())


def build_rings(swift_dir, rings):
    """Write ``{ring name: [server, ...]}`` (``account``, ``container``,
    ``object``, ``object-2``...) into ``swift_dir``: one replica on each
    server's first device, each in a zone of its own.
    """
    from swift.common.ring import RingBuilder
    for name, servers in rings.items():
        builder = RingBuilder(4, len(servers), 0)
        for i, one in enumerate(servers):
            builder.add_dev({'id': i, 'region': 1, 'zone': i + 1,
                             'ip': one.host, 'port': one.port,
                             'device': one.devices[0], 'weight': 100})
        builder.rebalance()
        builder.get_ring().save(os.path.join(swift_dir,
                                             '%s.ring.gz' % name))


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


class Prometheus(object):
    """Debian's prometheus on loopback, with exemplar storage, scraping
    every ``host:port`` of ``targets`` every second with ``rules``.
    """

    def __init__(self, targets, rules):
        self.root = tempfile.mkdtemp(prefix='swiftinst-prom-')
        self.port = free_port()
        config = os.path.join(self.root, 'prometheus.yml')
        with open(config, 'w') as f:
            f.write('global:\n  scrape_interval: 1s\n'
                    '  evaluation_interval: 1s\n'
                    'rule_files: [%s]\n'
                    'scrape_configs:\n  - job_name: swift-object\n'
                    '    metrics_path: /metrics\n'
                    '    static_configs: [{targets: %s}]\n'
                    % (rules, json.dumps(list(targets))))
        self.log = open(os.path.join(self.root, 'prometheus.log'), 'wb')
        self.proc = subprocess.Popen(
            ['prometheus', '--config.file=' + config,
             '--storage.tsdb.path=' + os.path.join(self.root, 'data'),
             '--web.listen-address=127.0.0.1:%d' % self.port,
             '--enable-feature=exemplar-storage'],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url('/-/ready'), timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError('prometheus did not start')

    def url(self, path=''):
        return 'http://127.0.0.1:%d%s' % (self.port, path)

    def api(self, path, **params):
        with urllib.request.urlopen(self.url('/api/v1/%s?%s' % (
                path, urllib.parse.urlencode(params))), timeout=10) as r:
            reply = json.load(r)
        assert reply['status'] == 'success', reply
        return reply['data']

    def query(self, expr, at=None):
        params = {'query': expr}
        if at is not None:
            params['time'] = '%.3f' % at
        return self.api('query', **params)['result']

    def firing(self, alertname):
        return [alert for alert in self.api('alerts')['alerts']
                if alert['labels']['alertname'] == alertname
                and alert['state'] == 'firing']

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for(check, timeout=60.0, interval=1.0, done=bool):
    """``check()``'s first result that is ``done``, asked every
    ``interval`` seconds (Prometheus scrapes and evaluates every second),
    or its last one once ``timeout`` has passed.
    """
    deadline = time.time() + timeout
    while True:
        result = check()
        if done(result) or time.time() > deadline:
            return result
        time.sleep(interval)


def quick_rules(directory):
    """The shipped rules with every ``for:`` made 1s, for a short test."""
    with open(RULES) as f:
        text = re.sub(r'for: \d+m', 'for: 1s', f.read())
    path = os.path.join(directory, 'rules.yml')
    with open(path, 'w') as f:
        f.write(text)
    return path
