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

"""``/debug/requests`` on real object servers (workers = 2): what each
request is waiting on right now, whichever worker answers, and the
slowest recent ones with their timelines.
"""

import contextlib
import io
import json
import os
import shutil
import signal
import threading
import time
import uuid

from swiftinst import cli, metrics, requests_view
from tests.conftest import settled_scrape, start_server
from tests.functional.test_container_updates import (  # noqa: F401
    containers, put, stalled)
from tests.testbed import slow_disk_env, wait_for

PATH = '/debug/requests'
ERRORS = metrics.INSTRUMENTATION_ERRORS.name + '_total'


def requests(server, timeout=30.0):
    status, headers, body = server.request('GET', PATH, timeout=timeout)
    assert status == 200, body
    assert headers['Content-Type'] == 'application/json'
    return json.loads(body)


def in_flight(server, txn):
    return [r for r in requests(server)['in_flight'] if r['txn_id'] == txn]


def test_a_stalled_container_server_holds_every_put_in_container(
        request, containers):  # noqa: F811 (the fixture)
    server = start_server(request, server_options={
        'container_update_timeout': '5'})
    stalled(containers, request)
    statuses = []
    puts = [threading.Thread(target=lambda i=i: statuses.append(
        put(server, containers, 'stalled-%d' % i))) for i in range(8)]
    for thread in puts:
        thread.start()
    try:
        answer = wait_for(lambda: requests(server), 4.0, 0.1, done=lambda a: [
            r['waiting_on'] for r in a['in_flight']] == ['container'] * 8)
        assert [r['waiting_on'] for r in answer['in_flight']] == \
            ['container'] * 8, answer
        for r in answer['in_flight']:
            assert r['method'] == 'PUT' and r['device'] == 'sda'
            assert r['partition'] == 0 and r['txn_id'].startswith('tx')
            assert r['worker'] in server.worker_pids()
            assert r['steps'][-1][0] == 'container'
            assert abs(sum(s for _, s in r['steps']) - r['seconds']) <= \
                0.05 * r['seconds'] + 0.001
            # no account, container or object name
            assert 'stalled' not in json.dumps(r)
        # oldest first
        started = [r['started'] for r in answer['in_flight']]
        assert started == sorted(started)
        out = cli_output(server)
        assert out.count(' container ') >= 8, out
    finally:
        for thread in puts:
            thread.join()
    assert statuses == [201] * 8


def cli_output(server, *flags):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli.main(['requests', 'http://127.0.0.1:%d%s' % (
            server.port, PATH)] + list(flags))
    assert code == 0
    return buf.getvalue()


def test_another_worker_shows_the_request_that_blocks_its_hub(request):
    server = start_server(request, env=slow_disk_env(open_path='/sdb/',
                                                     open_delay=3.0))
    txn = 'tx' + uuid.uuid4().hex
    replies = []
    began = time.monotonic()
    stuck = threading.Thread(target=lambda: replies.append(server.request(
        'PUT', '/sdb/5/a/c/stuck', b's' * 4096,
        server.object_headers(b's' * 4096, **{'X-Trans-Id': txn}))))
    stuck.start()
    try:
        time.sleep(1.3)
        # A connection the kernel hands to the blocked worker waits until
        # its hub is free: ask again, until the other worker answers.
        answer = None
        while answer is None and time.monotonic() < began + 2.9:
            try:
                answer = requests(server, timeout=0.3)
            except OSError:
                pass
        assert answer is not None, 'no worker answered during the block'
        [req] = [r for r in answer['in_flight'] if r['txn_id'] == txn]
        assert req['waiting_on'] == 'open', req
        assert req['steps'][-1][0] == 'open' and \
            req['steps'][-1][1] >= 1.0, req
        assert req['device'] == 'sdb' and req['partition'] == 5
        out = requests_view.format_answer(answer)
        line = [li for li in out.splitlines() if txn in li]
        assert line and ' open ' in line[0], out
    finally:
        stuck.join()
    assert replies[0][0] == 201


def test_a_client_that_stalls_is_among_the_slowest_with_its_timeline(
        request):
    server = start_server(request)
    txn = 'tx' + uuid.uuid4().hex
    status = server.put_slowly('/sda/3/a/c/slowly', 8192, 4096, 2.0, txn)
    assert status.startswith(b'HTTP/1.1 201')
    answer = wait_for(lambda: requests(server), 5.0, 0.1, done=lambda a: any(
        r['txn_id'] == txn for r in a['slowest']))
    [req] = [r for r in answer['slowest'] if r['txn_id'] == txn]
    assert req['status'] == 201 and req['method'] == 'PUT'
    # (the server began it a little after the client sent its headers)
    assert req['seconds'] >= 1.9
    client = [s for kind, s in req['steps'] if kind == 'client']
    assert max(client) >= 1.8, req
    assert abs(sum(s for _, s in req['steps']) - req['seconds']) <= \
        0.05 * req['seconds'], req
    # the disk ops of its _finalize_put, in order, in a tpool thread
    kinds = [kind for kind, _ in req['steps']]
    assert kinds.index('fsync') < kinds.index(
        'rename' if 'rename' in kinds else 'linkat')
    assert answer['slowest'][0]['seconds'] >= req['seconds']


def test_a_foreign_address_is_refused(request):
    server = start_server(request, filter_options={
        'metrics_allowed_ips': '10.11.12.13'})
    status, _, body = server.request('GET', PATH)
    assert status == 403, body
    status, _, _ = server.request('POST', PATH)
    assert status == 405


def test_a_killed_worker_leaves_in_flight_at_the_next_answer(request):
    server = start_server(request)
    txn = 'tx' + uuid.uuid4().hex
    sock = server.begin_put('/sda/7/a/c/killed', 8192, txn)
    try:
        sock.sendall(b'k' * 4096)
        [req] = wait_for(lambda: in_flight(server, txn), 5.0, 0.05,
                         done=lambda found: found and
                         found[0]['waiting_on'] == 'client')
        assert req['waiting_on'] == 'client', req
        os.kill(req['worker'], signal.SIGKILL)
        wait_for(lambda: req['worker'] not in server.worker_pids(), 5.0,
                 0.05)
        assert in_flight(server, txn) == []
    finally:
        sock.close()


def test_an_unreachable_url_exits_2(capsys):
    assert cli.main(['requests', 'http://127.0.0.1:1%s' % PATH]) == 2
    assert 'cannot read' in capsys.readouterr().err


def test_requests_beyond_the_limit_are_counted_not_lost(request):
    server = start_server(request, workers=1, filter_options={
        'requests_max_in_flight': '1'})
    socks = [server.begin_put('/sda/1/a/c/limit%d' % i, 8192,
                              'txlimit%d' % i) for i in range(2)]
    try:
        for sock in socks:
            sock.sendall(b'l' * 4096)
        answer = wait_for(lambda: requests(server), 5.0, 0.05,
                          done=lambda a: a['in_flight'])
        assert len(answer['in_flight']) == 1
        s = settled_scrape(server, lambda s: s.total(
            ERRORS, component='requests') == 1)
        assert s.total(ERRORS, component='requests') == 1
    finally:
        for sock in socks:
            sock.sendall(b'l' * 4096)
            server.reply_status(sock)


def test_records_come_back_when_metrics_dir_does(request):
    server = start_server(request)
    server.put('sda', 'before', b'b' * 4096)
    shutil.rmtree(server.metrics_dir)
    time.sleep(1.0)     # every worker notices within flush_interval
    socks = []
    try:
        for i in range(4):      # whichever workers take them
            socks.append(server.begin_put('/sda/2/a/c/back%d' % i, 8192,
                                          'txback%d' % i))
            socks[-1].sendall(b'b' * 4096)
        answer = wait_for(lambda: requests(server), 5.0, 0.05,
                          done=lambda a: len(a['in_flight']) == 4)
        assert sorted(r['txn_id'] for r in answer['in_flight']) == \
            ['txback%d' % i for i in range(4)]
    finally:
        for sock in socks:
            sock.close()
