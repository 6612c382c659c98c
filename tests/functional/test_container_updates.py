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

"""Container updates, on real object servers updating a real container
server with the headers a proxy sends: healthy, stalled (SIGSTOP: it
accepts connections and answers nothing, as a server whose database or
disk cannot keep up), gone (connections refused), and the expirer
queue's updates, which no container_update_timeout caps.
"""

import re
import signal
import time

import pytest

from swiftinst import metrics
from tests.conftest import scrape, settled_scrape, start_server
from tests.functional.test_verdicts import in_threads, report_during
from tests.testbed import ContainerServer, slow_disk_env

UPDATES = metrics.CONTAINER_UPDATE.name
PENDINGS = metrics.ASYNC_PENDINGS.name + '_total'
DISK = metrics.DISK_OP.name
DEVICE_PHASE = metrics.DEVICE_PHASE.name + '_sum'


@pytest.fixture
def containers(request):
    """A real container server holding a/c on its device sda."""
    server = ContainerServer()
    request.addfinalizer(server.close)
    return server.start().create()


def stalled(containers, request):
    """Stop every process of the container server; continue it at the
    end of the test.
    """
    containers.signal_all(signal.SIGSTOP)
    request.addfinalizer(
        lambda: containers.signal_all(signal.SIGCONT))


def put(server, containers, name, **extra):
    headers = containers.update_headers()
    headers.update(extra)
    return server.put('sda', name, b'u' * 4096, **headers)[0]


def phase(s, name, device='sda'):
    return s.total(DEVICE_PHASE, device=device, phase=name)


def test_healthy_updates_are_ok_and_listed(request, containers):
    server = start_server(request)
    for i in range(6):
        assert put(server, containers, 'fine-%d' % i) == 201
    assert containers.listing() == ['fine-%d' % i for i in range(6)]
    s = settled_scrape(server, lambda s: s.total(
        UPDATES + '_count', outcome='ok') == 6)
    assert s.total(UPDATES + '_count', outcome='ok') == 6
    assert s.total(UPDATES + '_count') == 6
    assert s.total(PENDINGS) == 0
    # each PUT waited a little for its update: less than the timeout
    assert 0 < phase(s, 'container_wait') < 1.0
    assert phase(s, 'client_wait') < 0.05


def test_a_stalled_container_server_is_named(request, containers):
    """Eight PUTs at once to a container server that answers nothing: each
    waits container_update_timeout (1 s) for its update, which times out
    at node_timeout (3 s) and is saved as an async pending.
    """
    server = start_server(request, filter_options={
        'slow_request_threshold': '0.5'})
    stalled(containers, request)
    statuses = []

    def one(i):
        statuses.append(put(server, containers, 'stalled-%d' % i))

    def load():
        in_threads(*[(one, (i,)) for i in range(8)])
        # the updates end at node_timeout, after the PUTs
        time.sleep(3)
    verdicts, report = report_during(server, load, 9)
    assert statuses == [201] * 8
    rows = {row['device']: row for row in report['devices']}
    sda = rows['sda']
    assert sda['verdict']['cause'] == 'container', sda
    # '97 % of request time waiting for container updates; 8 of 8 timed
    # out after 3 s, 8 async pendings' (and the server's probe)
    assert re.match(r'\d+ % of request time waiting for container updates; '
                    r'8 of 8 timed out after 3(\.0)? s, 8 async pendings$',
                    sda['verdict']['reason']), sda['verdict']
    # the naive split called it the client's
    assert sda['container_wait'] > 0.9 and sda['client_wait'] < 0.02, sda

    s = scrape(server)
    assert s.total(UPDATES + '_count', outcome='timeout') == 8
    assert s.total(UPDATES + '_sum', outcome='timeout') >= 8 * 2.9
    assert s.total(PENDINGS, device='sda') == 8
    assert s.total(DISK + '_count', op='async_pending', device='sda') == 8
    assert 8 * 0.95 <= phase(s, 'container_wait') <= 8 * 1.1
    # the slow-request line names each update and where it stood
    lines = server.log.wait_for(lambda line: 'Slow request: PUT' in line)
    assert lines, server.log.lines()
    # (each update began a moment after its request started waiting)
    assert re.search(r'container_wait 1\.0\d\ds, .*; container updates: '
                     r'127\.0\.0\.1:%d/sda pending (0\.9|1\.0)\d\ds \(txn: '
                     r'tx' % containers.port, lines[0]), lines[0]


def test_refused_updates_are_errors(request, containers):
    server = start_server(request)
    containers.stop()
    for i in range(5):
        assert put(server, containers, 'refused-%d' % i) == 201
    s = settled_scrape(server, lambda s: s.total(
        UPDATES + '_count', outcome='error') == 5)
    assert s.total(UPDATES + '_count', outcome='error') == 5
    assert s.total(UPDATES + '_count') == 5
    assert s.total(PENDINGS, device='sda') == 5
    # refused at once: no request waited long
    assert phase(s, 'container_wait') < 0.5


def test_an_async_pending_on_a_slow_disk_blocks_the_hub(
        request, containers):
    """The update fails, and Swift writes its async pending with an fsync
    on the event loop: a hub block, in async_pending, named by the PUT
    that spawned the update.
    """
    server = start_server(request, workers=1, env=slow_disk_env(
        fsync_delay=0.2, fsync_path='/async_pending'), filter_options={
            'hub_block_threshold': '0.1'})
    containers.stop()
    txn = 'txpending0123456789abcdef01234567'
    assert put(server, containers, 'slowpickle',
               **{'X-Trans-Id': txn}) == 201
    blocked = metrics.HUB_BLOCKED.name + '_count'
    s = settled_scrape(server, lambda s: s.total(blocked) >= 1)
    assert s.total(blocked, method='PUT', device='sda',
                   where='async_pending') >= 1, s.select(blocked)
    assert s.total(DISK + '_sum', op='async_pending') >= 0.2
    lines = server.log.wait_for(lambda line: 'Event loop blocked' in line)
    assert re.search(r'txn %s \(PUT sda, updating container '
                     r'127\.0\.0\.1:%d/sda, in async_pending\) held the hub'
                     % (txn, containers.port), lines[0]), lines


def test_the_expirer_queue_is_waited_for_without_a_cap(
        request, containers):
    """An object with X-Delete-At: the object server updates the
    expirer's queue container itself, in the request's greenthread, for
    as long as conn_timeout + node_timeout allow.
    """
    server = start_server(request, server_options={'node_timeout': '1.5'})
    stalled(containers, request)
    delete_at = int(time.time()) + 86400
    started = time.time()
    status = server.put('sda', 'expiring', b'e' * 4096, **{
        'X-Delete-At': str(delete_at),
        'X-Delete-At-Container': str(delete_at // 86400 * 86400),
        'X-Delete-At-Host': '127.0.0.1:%d' % containers.port,
        'X-Delete-At-Device': 'sda', 'X-Delete-At-Partition': '0'})[0]
    took = time.time() - started
    assert status == 201
    assert took >= 1.5
    s = settled_scrape(server, lambda s: s.total(
        UPDATES + '_count', outcome='timeout') == 1)
    assert s.total(UPDATES + '_count', outcome='timeout') == 1
    assert 1.4 <= phase(s, 'container_wait') <= took
    assert phase(s, 'client_wait') < 0.05
