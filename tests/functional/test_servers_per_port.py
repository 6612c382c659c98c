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

"""servers_per_port: one scrape, on any port, shows the whole server.

With ``servers_per_port`` Swift starts workers per ring port, and each
port's workers serve only their devices' requests, yet share the
filter's metrics_dir; so a scrape on either port must show both devices.
"""

import os
import subprocess

import pytest

from tests.testbed import ObjectServer, all_policies_available, \
    executable, free_port
from tests.conftest import FAST, settled_scrape

FSYNC = 'swift_object_disk_op_seconds_count'


def ring_builder(*args):
    out = subprocess.run([executable('swift-ring-builder')] + list(args),
                         capture_output=True, text=True)
    # 1 is swift-ring-builder's "done, with warnings"
    assert out.returncode in (0, 1), out.stdout + out.stderr


def build_rings(swift_dir, devices_and_ports):
    """A ring per policy the server loads, each device on its own port."""
    for index in (0, 1, 2) if all_policies_available() else (0,):
        builder = os.path.join(swift_dir, 'object%s.builder' % (
            '-%d' % index if index else ''))
        ring_builder(builder, 'create', '4', '1', '1')
        for device, port in devices_and_ports:
            ring_builder(builder, 'add',
                         'r1z1-127.0.0.1:%d/%s' % (port, device), '100')
        ring_builder(builder, 'rebalance')


@pytest.fixture
def per_port(request):
    ports = {'sda': free_port(), 'sdb': free_port()}
    server = ObjectServer(workers=4, filter_options=FAST, server_options={
        'servers_per_port': '2', 'bind_port': str(ports['sda'])})
    request.addfinalizer(server.close)
    build_rings(server.swift_dir, sorted(ports.items()))
    server.port = ports['sda']
    server.start()
    return server, ports


def test_a_scrape_on_either_port_shows_both_devices(per_port):
    server, ports = per_port
    assert len(server.worker_pids()) == 4       # two per port
    for device, n in (('sda', 3), ('sdb', 5)):
        server.port = ports[device]
        for i in range(n):
            assert server.put(device, 'spp-%d' % i, b'p' * 10)[0] == 201
    for device in ('sda', 'sdb'):
        server.port = ports[device]
        s = settled_scrape(server, lambda s: s.total(FSYNC, op='fsync') == 8)
        assert s.total(FSYNC, op='fsync', device='sda') == 3
        assert s.total(FSYNC, op='fsync', device='sdb') == 5
