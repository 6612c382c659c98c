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

"""A fleet on one machine: four object servers, each on its own loopback
address and the same port as real nodes are, two devices each, one of
them with slow fsyncs; a real Prometheus scrapes them with the shipped
rules.  The outlier alert and ``swiftinst report --prometheus`` must both
name that one device.
"""

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from swiftinst.demo.server import free_port
from tests.testbed import ObjectServer, Prometheus, quick_rules, \
    slow_disk_env, wait_for

pytestmark = pytest.mark.skipif(
    shutil.which('prometheus') is None,
    reason='prometheus missing (Debian package prometheus; .ci/run '
           'installs it)')

HOSTS = ('127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5')
SLOW_HOST, SLOW_DEVICE = '127.0.0.4', 'sdb'


def _common_port():
    """A port free on every host of the fleet."""
    for _ in range(50):
        port = free_port(HOSTS[0])
        if not any(_taken(host, port) for host in HOSTS[1:]):
            return port
    raise RuntimeError('no port free on all of %s' % (HOSTS,))


def _taken(host, port):
    sock = socket.socket()
    try:
        sock.bind((host, port))
        return False
    except OSError:
        return True
    finally:
        sock.close()


class Traffic(object):
    """Two threads per device of every node, PUTting 4 KiB objects."""

    def __init__(self, servers):
        self.stop = threading.Event()
        self.errors = []
        self.threads = [threading.Thread(target=self._put, args=(
            server, device, i), daemon=True)
            for server in servers for device in server.devices
            for i in range(2)]
        for thread in self.threads:
            thread.start()

    def _put(self, server, device, i):
        n = 0
        while not self.stop.is_set():
            try:
                status = server.put(device, 'fleet-%d-%d' % (i, n),
                                    b'f' * 4096)[0]
                if status != 201:
                    self.errors.append(status)
            except OSError as err:
                if not self.stop.is_set():
                    self.errors.append(err)
            n += 1
            time.sleep(0.05)

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


@pytest.fixture(scope='module')
def fleet(request):
    port = _common_port()
    servers = []
    for host in HOSTS:
        slow = slow_disk_env(fsync_delay=0.2, fsync_path='/%s/'
                             % SLOW_DEVICE) if host == SLOW_HOST else {}
        # on tmpfs: the healthy disks' fsyncs take microseconds
        root = tempfile.mkdtemp(prefix='swiftinst-fleet-', dir='/dev/shm')
        request.addfinalizer(lambda root=root: shutil.rmtree(root, True))
        server = ObjectServer(root=root, host=host, port=port, workers=2,
                              env=slow,
                              filter_options={'flush_interval': '0.2'})
        request.addfinalizer(server.close)
        servers.append(server.start())
    rules_dir = tempfile.mkdtemp(prefix='swiftinst-rules-')
    request.addfinalizer(lambda: shutil.rmtree(rules_dir, True))
    prometheus = Prometheus(['%s:%d' % (host, port) for host in HOSTS],
                            quick_rules(rules_dir))
    request.addfinalizer(prometheus.close)
    traffic = Traffic(servers)
    request.addfinalizer(traffic.close)
    return servers, prometheus, traffic, port


def test_the_outlier_alert_names_the_slow_disk(fleet):
    _, prometheus, traffic, port = fleet
    slow = ('%s:%d' % (SLOW_HOST, port), SLOW_DEVICE)
    firing = wait_for(lambda: prometheus.firing('SwiftObjectDiskOutlier'),
                      90)
    assert firing, prometheus.api('alerts')
    # a few more evaluations: nothing else joins it
    time.sleep(5)
    firing = prometheus.firing('SwiftObjectDiskOutlier')
    assert {(alert['labels']['instance'], alert['labels']['device'])
            for alert in firing} == {slow}, firing
    assert {alert['labels']['op'] for alert in firing} <= {
        'fsync', 'dir_fsync'}, firing
    alert = [a for a in firing if a['labels']['op'] == 'fsync'][0]
    print('firing:', json.dumps(alert, indent=2))
    assert 'the fleet median is' in alert['annotations']['description']
    assert not traffic.errors, traffic.errors[:5]


def test_report_prometheus_lists_the_slow_disk_first(fleet):
    _, prometheus, _, port = fleet
    assert wait_for(lambda: prometheus.firing('SwiftObjectDiskOutlier'),
                    90)
    command = [sys.executable, '-m', 'swiftinst.cli', 'report',
               '--prometheus', prometheus.url()]
    as_json = subprocess.run(command + ['--json'], capture_output=True,
                             text=True, timeout=60)
    assert as_json.returncode == 0, as_json.stderr
    devices = json.loads(as_json.stdout)['devices']
    first = devices[0]
    assert (first['instance'], first['device']) == \
        ('%s:%d' % (SLOW_HOST, port), SLOW_DEVICE), devices[:3]
    assert first['op'] in ('fsync', 'dir_fsync')
    assert first['p99'] >= 0.1 and first['ratio'] >= 5
    assert first['verdict']['cause'] == 'disk', first
    assert set(first) == {'instance', 'device', 'op', 'p99',
                          'fleet_median', 'ratio', 'verdict'}
    ratios = [device['ratio'] for device in devices]
    assert ratios == sorted(ratios, reverse=True)
    table = subprocess.run(command, capture_output=True, text=True,
                           timeout=60)
    assert table.returncode == 0, table.stderr
    print(table.stdout)
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ['instance', 'device', 'op']
    assert lines[1].startswith('%s:%d  %s' % (SLOW_HOST, port,
                                              SLOW_DEVICE))
    assert ' disk (' in lines[1]
