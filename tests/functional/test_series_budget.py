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

"""The series budget of each series_profile, on a real object server that
serves every method and status a storage node serves: what one device
costs, and that a node's series grow with its devices, never with its
requests.
"""

import time

import pytest

from tests.conftest import scrape, settled_scrape, start_server
from tests.testbed import free_port

BUDGET = {'default': 400, 'lean': 150}


def serve_everything(server, device, rounds=1):
    """Each method a storage node serves, with the status classes it
    answers with: 2xx, 3xx (conditional requests) and 4xx; and PUTs whose
    container updates fail, so that async pendings are written.  (A 5xx adds
    the count and sum of the method's requests that got it: 3 series.)
    """
    statuses = set()
    refused = free_port()

    def send(method, path, body=None, **headers):
        status = server.request(method, '/%s/0/a/c/%s' % (device, path)
                                if path is not None else '/%s/0' % device,
                                body, headers)[0]
        statuses.add((method, status // 100))
        return status
    for i in range(rounds):
        name = 'budget-%d' % i
        body = b'b' * 4096
        # its container update refused: an error, and an async pending
        headers = server.object_headers(body, **{
            'X-Container-Host': '127.0.0.1:%d' % refused,
            'X-Container-Device': 'sda', 'X-Container-Partition': '0'})
        send('PUT', name, body, **headers)                        # 201
        old = server.object_headers(body, **{'X-Timestamp': '1.00000'})
        send('PUT', name, body, **old)                            # 409
        _, reply, _ = server.request('HEAD', '/%s/0/a/c/%s' % (device, name))
        etag = reply.get('Etag') or reply.get('ETag')
        send('GET', name)                                         # 200
        send('GET', name, **{'If-None-Match': etag})              # 304
        send('GET', 'missing-%d' % i)                             # 404
        send('HEAD', name)                                        # 200
        send('HEAD', name, **{'If-None-Match': etag})             # 304
        send('HEAD', 'missing-%d' % i)                            # 404
        post = {'X-Timestamp': '%.5f' % time.time(),
                'Content-Type': 'text/plain'}
        send('POST', name, **post)                                # 202
        send('POST', 'missing-%d' % i, **post)                    # 404
        send('REPLICATE', None)                                   # 200
        send('SSYNC', None, b':MISSING_CHECK: START\r\n'
             b':MISSING_CHECK: END\r\n:UPDATES: START\r\n'
             b':UPDATES: END\r\n', **{
                 'Content-Length': '78',
                 'X-Backend-Storage-Policy-Index': '0'})           # 200
        send('DELETE', name, **{'X-Timestamp': '%.5f' % time.time()})
        send('DELETE', 'missing-%d' % i, **{
            'X-Timestamp': '%.5f' % time.time()})                 # 404
    return statuses


# What only a stall of the machine running the test adds (a hub block of
# 50 ms on a loaded CI machine): within the budget, but not the same on
# every device.
STALL_ONLY = ('swift_object_hub_blocked_seconds',)


def series_by_device(s, leave_out=()):
    """{device or '': number of series} of the Scrape ``s``: '' counts
    the node's own.
    """
    counts = {}
    for (name, labels), _ in s.samples.items():
        if not name.startswith('swift_object_') or \
                name.startswith(leave_out):
            continue
        device = dict(labels).get('device', '')
        counts[device] = counts.get(device, 0) + 1
    return counts


def settled_series(server, devices):
    """series_by_device once every one of ``devices`` has series and both
    workers have flushed.
    """
    settled_scrape(server, lambda s: all(
        series_by_device(s).get(device) for device in devices))
    time.sleep(0.5)
    s = scrape(server)
    return series_by_device(s), series_by_device(s, STALL_ONLY)


@pytest.mark.parametrize('profile', ['default', 'lean', 'full'])
def test_what_one_device_costs(request, profile):
    server = start_server(request, filter_options={
        'series_profile': profile, 'disk_state_interval': '0.5'})
    served = set()
    for device in server.devices:
        served |= serve_everything(server, device, rounds=2)
    # every method of the object server, and at least three status
    # classes of most of them
    assert {method for method, _ in served} == {
        'PUT', 'GET', 'HEAD', 'POST', 'DELETE', 'REPLICATE', 'SSYNC'}
    assert {status for _, status in served} >= {2, 3, 4}
    counts, steady = settled_series(server, server.devices)
    per_device = [counts[device] for device in server.devices]
    print('%s: %s series per device, %d of the node' % (
        profile, per_device, counts.get('', 0)))
    assert steady[server.devices[0]] == steady[server.devices[1]]
    if profile in BUDGET:
        assert per_device[0] <= BUDGET[profile], (profile, per_device)
    else:
        assert per_device[0] > BUDGET['default']


def test_series_grow_with_devices_never_with_requests(request):
    servers = {}
    for count in (2, 4):
        devices = tuple('sd' + chr(ord('a') + i) for i in range(count))
        server = start_server(request, devices=devices, filter_options={
            'disk_state_interval': '0.5'})
        for device in devices:
            serve_everything(server, device)
        servers[count] = (server, settled_series(server, devices)[1])
    small, large = servers[2][1], servers[4][1]
    one_device = small['sda']
    assert all(large[d] == one_device for d in ('sda', 'sdb', 'sdc', 'sdd'))
    # the node's own series do not depend on its devices
    assert large[''] == small['']
    # and more requests add none
    server, before = servers[4]
    for device in server.devices:
        serve_everything(server, device, rounds=5)
    after = settled_series(server, server.devices)[1]
    assert after == before, (before, after)
