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

"""Who may read /metrics, and that clients cannot grow the series set."""

import http.client
import itertools
import random
import threading
import time

import pytest

from swiftinst import metrics
from tests.conftest import REQUESTS, scrape, settled_scrape, start_server


def metrics_status(host, port, headers=None):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request('GET', '/metrics', headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@pytest.mark.parametrize('allowed,from_v4,from_v6', [
    # A dual-stack socket sees 127.0.0.1 as ::ffff:127.0.0.1.
    ('127.0.0.1', 200, 403),
    ('::1', 403, 200),
    ('10.0.0.0/8, ::1/128', 403, 200),
    ('127.0.0.0/8, ::1', 200, 200),
])
def test_allowed_ips_over_ipv4_ipv6_and_mapped(request, allowed, from_v4,
                                               from_v6):
    server = start_server(request, workers=1, server_options={
        'bind_ip': '::'}, filter_options={'metrics_allowed_ips': allowed})
    assert metrics_status('127.0.0.1', server.port) == from_v4
    assert metrics_status('::1', server.port) == from_v6
    # a forwarded-for header is the client's word, never trusted
    for host, status in (('127.0.0.1', from_v4), ('::1', from_v6)):
        for forwarded in ('127.0.0.1', '::1', '10.1.2.3'):
            assert metrics_status(host, server.port, {
                'X-Forwarded-For': forwarded, 'X-Real-Ip': forwarded,
                'Forwarded': 'for=%s' % forwarded}) == status


# Kinds of value a client can choose; each kind gets random contents.
METHODS = list(metrics.METHODS) + ['WORD', 'get', 'M-SEARCH']
DEVICES = ['sda', 'sdb', 'word', 'sdword']
POLICIES = ['0', '1', '2', 'word', 'number']
BODIES = [False, True]


def send(conn, rng, counter, method, device, policy, body):
    def word():
        return ''.join(rng.choice('abcdefghsd0123456789')
                       for _ in range(rng.randint(1, 12)))
    # Each kind is answered alike whatever its random contents: no word
    # is a device or a number.
    if method == 'WORD':
        method = word().upper()
    device = {'word': 'x' + word(), 'sdword': 'sdz' + word()}.get(device,
                                                                  device)
    policy = {'word': 'p' + word(),
              'number': str(rng.randint(3, 10 ** 9))}.get(policy, policy)
    headers = {'X-Backend-Storage-Policy-Index': policy}
    if body:
        body = b'c' * rng.randint(1, 100)
        headers['X-Timestamp'] = '1700000000.00000'
        headers['Content-Type'] = 'text/plain'
    # Names never repeat, so no GET finds an object by chance.
    conn.request(method, '/%s/%d/a/c/o-%s' % (device, rng.randint(0, 9),
                                              counter), body=body or None,
                 headers=headers)
    resp = conn.getresponse()
    resp.read()
    if resp.will_close:
        conn.close()


def requests_of(server, choices, seed, threads=4):
    """Send each (method, device, policy, body) kind in ``choices`` with
    random contents, on keep-alive connections.
    """
    def run(k):
        rng = random.Random(seed * 100 + k)
        conn = http.client.HTTPConnection('127.0.0.1', server.port,
                                          timeout=30)
        try:
            for i, kinds in enumerate(choices[k::threads]):
                send(conn, rng, '%d-%d-%d' % (seed, k, i), *kinds)
        finally:
            conn.close()
    workers = [threading.Thread(target=run, args=(k,))
               for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def series(s):
    """The series of a scrape but the hub blocks': a block is an event of
    the machine (a slow moment under this load), not of a request's
    labels; their labels are checked to be bounded instead.
    """
    return {key for key in s.samples
            if not key[0].startswith(metrics.HUB_BLOCKED.name)}


def test_10000_random_requests_add_no_series(request):
    server = start_server(request, workers=2)
    time.sleep(0.3)
    sent = scrape(server).total(REQUESTS)   # the testbed's readiness probe
    # every kind of request twice: every series a client can reach
    every_kind = list(itertools.product(METHODS, DEVICES, POLICIES, BODIES))
    requests_of(server, every_kind * 2, seed=1)
    sent += 2 * len(every_kind)
    before = settled_scrape(server, lambda s: s.total(
        REQUESTS) == sent)
    rng = random.Random(2)
    requests_of(server, [tuple(rng.choice(kinds) for kinds in (
        METHODS, DEVICES, POLICIES, BODIES)) for _ in range(10000)], seed=2)
    after = settled_scrape(server, lambda s: s.total(
        REQUESTS) == sent + 10000)
    assert after.total(REQUESTS) == sent + 10000
    assert series(after) == series(before), \
        series(after).symmetric_difference(series(before))
    # the request histogram is the node's (series_profile default); the
    # device's requests are its totals
    assert after.label_values(REQUESTS, 'device') == {''}
    name = metrics.DEVICE_REQUEST.name + '_count'
    assert after.label_values(name, 'device') <= {'sda', 'sdb', 'other'}
    blocked = metrics.HUB_BLOCKED.name + '_count'
    assert after.label_values(blocked, 'device') <= {'sda', 'sdb', 'other'}
    assert after.label_values(blocked, 'where') <= set(metrics.DISK_OPS) | {
        metrics.WHERE_REQUEST, metrics.WHERE_OTHER}
    # a device's own series carry no policy; the node's tell them apart
    assert after.label_values(name, 'policy') == {''}
    assert after.label_values(REQUESTS, 'policy') <= {'0', '1', '2', 'other'}
    assert after.label_values(name, 'method') <= \
        set(metrics.METHODS) | {metrics.OTHER_METHOD}
