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

"""The filter in a real swift-object-server with two workers."""

import gzip
import time
import uuid

import pytest

from swiftinst.analysis import Scrape
from tests.testbed import ObjectServer, UdpListener, slow_disk_env
from tests.conftest import (DEVICE_REQUESTS, REQUESTS, scrape,
                            settled_scrape, start_server)

FSYNC = 'swift_object_disk_op_seconds_count'


def assert_every_scrape(server, check, scrapes=12):
    """A scrape lands on either worker; each one must satisfy ``check``."""
    for _ in range(scrapes):
        assert check(scrape(server))


def test_fsync_count_is_exact_whichever_worker_answers(server):
    n = 25
    for i in range(n):
        assert server.put('sdb', 'exact-%d' % i, b'x' * 4096)[0] == 201

    def exact(s):
        return s.total(FSYNC, op='fsync', device='sdb') == n
    assert exact(settled_scrape(server, exact))
    assert_every_scrape(server, exact)


def test_request_count_equals_requests_sent(server):
    sent = 0
    for i in range(10):
        server.put('sda', 'count-%d' % i, b'y' * 100)
        server.request('GET', '/sda/0/a/c/count-%d' % i)
        server.request('HEAD', '/sda/0/a/c/count-%d' % i)
        sent += 3
    # wait_ready's probe HEAD went to /sda too.
    sent += 1

    def exact(s):
        return s.total(DEVICE_REQUESTS, device='sda') == sent
    assert exact(settled_scrape(server, exact))
    assert_every_scrape(server, exact)
    s = scrape(server)
    assert s.total(REQUESTS, method='PUT',
                   status='2xx') == 10
    assert s.total('swift_object_input_bytes_total', method='PUT') == 1000


def _slow_client_put(server, path, txn, pause, size=8192, split=None):
    return server.put_slowly(path, size, size // 2 if split is None
                             else split, pause, txn)


def test_client_pausing_mid_body_is_a_slow_read(request):
    server = start_server(request,
                          filter_options={'slow_read_threshold': '0.3'})
    txn = 'tx' + uuid.uuid4().hex
    # The object server reads 64 KiB at a time: the pause after 100000
    # bytes stalls the second read, at offset 65536.
    reply = _slow_client_put(server, '/sda/7/a/c/slow', txn, pause=0.8,
                             size=4 * 65536, split=100000)
    assert reply.startswith(b'HTTP/1.1 201')

    def counted(s):
        return s.total('swift_object_slow_reads_total', device='sda',
                       method='PUT') == 1
    assert counted(settled_scrape(server, counted))
    warnings = server.log.wait_for(
        lambda line: 'Slow read' in line and txn in line)
    assert len(warnings) == 1
    line = warnings[0]
    # syslog priority 132 = local0.warning
    assert line.startswith('<132>')
    for part in ('device: sda', 'partition: 7', 'client: 127.0.0.1:',
                 'at offset 65536 of 262144', 'PUT body'):
        assert part in line
    # the pause shows up in the read histogram's upper buckets
    s = scrape(server)
    slow_bucket = s.total('swift_object_input_read_seconds_bucket',
                          device='sda', le='0.5')
    everything = s.total('swift_object_input_read_seconds_count',
                         device='sda')
    assert everything - slow_bucket == 1


def test_slow_disk_fsync_lands_in_its_bucket(request):
    server = start_server(request, env=slow_disk_env(fsync_delay=0.3))
    for i in range(3):
        assert server.put('sda', 'slowdisk-%d' % i, b'd' * 4096)[0] == 201

    def three(s):
        return s.total(FSYNC, op='fsync', device='sda') == 3
    s = settled_scrape(server, three)
    assert three(s)
    below = s.total('swift_object_disk_op_seconds_bucket', op='fsync',
                    device='sda', le='0.25')
    within = s.total('swift_object_disk_op_seconds_bucket', op='fsync',
                     device='sda', le='0.5')
    assert (below, within) == (0, 3)
    # the other ops were fast: the delay is attributed to fsync alone
    assert s.total('swift_object_disk_op_seconds_bucket', op='xattr_write',
                   device='sda', le='0.25') == 3


def test_statsd_datagrams_arrive(request):
    statsd = UdpListener()
    request.addfinalizer(statsd.close)
    server = start_server(request, workers=1, filter_options={
        'log_statsd_host': '127.0.0.1', 'log_statsd_port': str(statsd.port),
        'log_statsd_metric_prefix': 'node1',
        'slow_read_threshold': '0.3'})
    assert server.put('sdb', 'statsd-1', b's' * 4096)[0] == 201
    _slow_client_put(server, '/sdb/0/a/c/statsd-2', 'txslow', pause=0.6)
    names = {line.split(':')[0] for line in statsd.wait_for(
        lambda line: 'slow_reads' in line)} | {
        line.split(':')[0] for line in statsd.lines()}
    assert 'node1.object-server.PUT.sdb.input_read' in names
    assert 'node1.object-server.disk.fsync.sdb' in names
    assert 'node1.object-server.disk.xattr_write.sdb' in names
    assert 'node1.object-server.PUT.sdb.slow_reads' in names
    timer = [line for line in statsd.lines()
             if line.startswith('node1.object-server.disk.fsync.sdb:')][0]
    assert timer.endswith('|ms')
    # one request's samples travel together, not one packet per read
    ours = [m for m in statsd.messages if 'object-server.PUT.sdb' in m]
    assert any('\n' in m for m in ours)


def test_unknown_device_adds_no_label_value(server):
    server.put('sda', 'known', b'k')
    before = settled_scrape(server, lambda s: s.total(
        REQUESTS, method='PUT') >= 1)
    for name in ('nosuchdev', 'x' * 200, '..', 'metrics', '%ff'):
        server.request('PUT', '/%s/0/a/c/o' % name, b'b',
                       server.object_headers(b'b'))
    server.request('BREW', '/sda/0/a/c/o')
    server.put('sda', 'o2', b'b', policy=99)
    after = settled_scrape(server, lambda s: s.total(
        DEVICE_REQUESTS, device='other') >= 5)
    # the first PUT, counted with its device's own label
    assert before.total(REQUESTS, method='PUT') == 1
    assert before.total(DEVICE_REQUESTS, method='PUT', device='sda') == 1
    # every unknown device is "other" (five of them), every unknown method
    # "OTHER", policy 99 "other": the label values are exactly these
    assert after.total(DEVICE_REQUESTS, device='other') == 5
    assert after.label_values(DEVICE_REQUESTS, 'device') == {'sda', 'other'}
    assert after.label_values(REQUESTS, 'method') == {'PUT', 'HEAD',
                                                      'OTHER'}
    assert after.total(REQUESTS, method='OTHER') == 1
    assert after.label_values(REQUESTS, 'policy') == {'0', 'other'}
    assert after.total(REQUESTS, policy='other') == 1
    # no disk op of an unknown device got a series ('' is the node's own,
    # for the ops the default profile keeps node-wide)
    assert before.label_values(FSYNC, 'device') == \
        after.label_values(FSYNC, 'device') == {'sda', ''}


# -- the filter changes no response --------------------------------------

@pytest.fixture(scope='module')
def server_pair(request):
    """The same requests go to a bare and a filtered object server."""
    bare = ObjectServer(instrument=False, workers=2)
    request.addfinalizer(bare.close)
    filtered = start_server(request)
    bare.start()
    return bare, filtered


def _comparable(response):
    status, headers, body = response
    headers = {k: v for k, v in headers.items() if k.lower() != 'date'}
    return status, headers, body


def _same_on_both(pair, method, path, body=None, headers=None):
    results = [_comparable(s.request(method, path, body, dict(headers or {})))
               for s in pair]
    assert results[0] == results[1], (method, path)
    return results[0]


@pytest.mark.parametrize('size', [0, 1, 4096, 1024 * 1024 + 17])
def test_responses_are_identical_with_and_without_filter(server_pair, size):
    body = bytes(range(256)) * (size // 256) + b'q' * (size % 256)
    path = '/sda/3/a/c/same-%d' % size
    headers = ObjectServer.object_headers(body, **{'X-Object-Meta-Color':
                                                   'blue'})
    status = _same_on_both(server_pair, 'PUT', path, body, headers)[0]
    assert status == 201
    got = _same_on_both(server_pair, 'GET', path)
    assert got[0] == 200 and got[2] == body
    assert got[1]['Etag'].strip('"') == __import__('hashlib').md5(
        body).hexdigest()
    _same_on_both(server_pair, 'GET', path, headers={'Range': 'bytes=1-5'})
    _same_on_both(server_pair, 'HEAD', path)
    post = {'X-Timestamp': '%.5f' % (time.time() + 1),
            'X-Object-Meta-Color': 'red'}
    assert _same_on_both(server_pair, 'POST', path, headers=post)[0] == 202
    assert _same_on_both(server_pair, 'HEAD', path)[1][
        'X-Object-Meta-Color'] == 'red'
    delete = {'X-Timestamp': '%.5f' % (time.time() + 2)}
    assert _same_on_both(server_pair, 'DELETE', path,
                         headers=delete)[0] == 204
    assert _same_on_both(server_pair, 'GET', path)[0] == 404


def test_error_responses_are_identical(server_pair):
    _same_on_both(server_pair, 'PUT', '/sda/0/a/c/noheaders', b'x',
                  {'Content-Length': '1'})
    _same_on_both(server_pair, 'GET', '/nosuchdev/0/a/c/o')
    _same_on_both(server_pair, 'BREW', '/sda/0/a/c/o')
    _same_on_both(server_pair, 'GET', '/sda')


def test_chunked_put_is_identical_and_timed(server_pair):
    body = b'c' * 200000
    headers = ObjectServer.object_headers(body)
    del headers['Content-Length']
    headers['Transfer-Encoding'] = 'chunked'

    def chunks():
        for i in range(0, len(body), 30000):
            yield body[i:i + 30000]
    results = []
    for s in server_pair:
        conn = s.connection()
        conn.request('PUT', '/sdb/0/a/c/chunked', body=chunks(),
                     headers=headers, encode_chunked=True)
        resp = conn.getresponse()
        results.append((resp.status, resp.read()))
        conn.close()
    assert results[0] == results[1] and results[0][0] == 201
    got = _same_on_both(server_pair, 'GET', '/sdb/0/a/c/chunked')
    assert got[2] == body
    filtered = server_pair[1]
    s = settled_scrape(filtered, lambda s: s.total(
        'swift_object_input_bytes_total', device='sdb') >= len(body))
    assert s.total('swift_object_input_bytes_total', device='sdb') == \
        len(body)


# -- /metrics itself -------------------------------------------------------

def test_metrics_endpoint_formats_and_methods(shared_server):
    server = shared_server
    status, headers, body = server.request('GET', '/metrics')
    assert status == 200
    assert headers['Content-Type'].startswith('text/plain; version=0.0.4')
    assert b'# TYPE swift_object_disk_op_seconds histogram' in body
    status, headers, body = server.request(
        'GET', '/metrics',
        headers={'Accept': 'application/openmetrics-text; version=1.0.0'})
    assert headers['Content-Type'].startswith('application/openmetrics-text')
    assert body.endswith(b'# EOF\n')
    status, headers, body = server.request(
        'GET', '/metrics', headers={'Accept-Encoding': 'gzip'})
    assert headers['Content-Encoding'] == 'gzip'
    assert b'swift_object_request_seconds' in gzip.decompress(body)
    status, headers, body = server.request('HEAD', '/metrics')
    assert status == 200 and body == b''
    for method in ('PUT', 'POST', 'DELETE'):
        status, headers, _ = server.request(method, '/metrics', b'')
        assert status == 405 and headers['Allow'] == 'GET, HEAD'
    # a device called "metrics" is still Swift's business
    status, _, _ = server.request('GET', '/metrics/0/a/c/o')
    assert status in (404, 507)


def test_metrics_allowed_ips(request):
    server = start_server(request, workers=1, filter_options={
        'metrics_allowed_ips': '10.0.0.0/8, ::1'})
    status, _, _ = server.request('GET', '/metrics', headers={
        'X-Forwarded-For': '10.1.2.3'})
    assert status == 403


def test_buckets_span_100us_to_60s(shared_server):
    text = shared_server.metrics_text()
    s = Scrape(text)
    les = {dict(labels)['le'] for labels in
           s.select('swift_object_request_seconds_bucket')}
    assert {'0.0001', '60.0', '+Inf'} <= les and len(les) == 20


# -- bad configuration stops the server, naming the option -----------------

@pytest.mark.parametrize('option,value', [
    ('slow_read_threshold', 'soon'),
    ('metrics_allowed_ips', '10.0.0.0/33'),
    ('latency_buckets', '0.5, 0.1, 1'),
    ('metrics_dir', '/proc/swiftinst-cannot-write-here'),
    ('flush_interval', '-1'),
    ('log_statsd_port', 'eighty'),
])
def test_bad_option_fails_at_start(option, value):
    server = ObjectServer(workers=1, filter_options={option: value})
    try:
        with pytest.raises(RuntimeError) as err:
            server.start(timeout=20)
        message = str(err.value)
        assert 'swiftinst: invalid %s' % option in message
    finally:
        server.close()


def test_many_bucket_bounds_count_every_request(request):
    # 65 bounds once made the C timers drop every request's metrics; the
    # one implementation has no such limit, in either mode.
    bounds = ','.join('%g' % (0.0001 * 1.2 ** i) for i in range(65))
    server = start_server(request, filter_options={'latency_buckets': bounds})
    for i in range(5):
        assert server.put('sda', 'bounds-%d' % i, b'z' * 4096)[0] == 201

    def exact(s):
        return s.total(DEVICE_REQUESTS, method='PUT', device='sda') == 5
    s = settled_scrape(server, exact)
    assert exact(s)
    assert s.total('swift_object_instrumentation_errors_total') == 0
    assert s.total(FSYNC, op='fsync', device='sda') == 5
    buckets = [le for le in s.label_values(
        'swift_object_request_seconds_bucket', 'le')]
    assert len(set(buckets)) == 66
