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

"""The filter changes no response.

The same bytes go to a bare and a filtered object server, one request at a
time, so both hold the same objects throughout; every response must come
back byte for byte the same, 1xx interim responses included, but for its
Date header.  Hypothesis chooses the requests, among them odd, long,
non-UTF-8 and %-encoded paths, a device named ``metrics``, chunked bodies,
``Expect: 100-continue`` and clients that hang up mid-body.  Erasure-coded
PUTs in the proxy's multi-phase MIME form, REPLICATE and SSYNC run too.
"""

import hashlib
import json
import re
import select
import socket
import sys
import time

import pytest
from hypothesis import HealthCheck, event, given, settings, \
    strategies as st

from tests.testbed import ObjectServer, all_policies_available
from tests.conftest import REQUESTS, scrape, settled_scrape, start_server

DEVICES = ('sda', 'sdb', 'metrics')
EC_POLICY = '2'
# Deterministic timestamps, rising across examples, the same for both
# servers: responses carry them back.
_clock = [1700000000.0]


def next_timestamp():
    _clock[0] += 1
    return '%.5f' % _clock[0]


@pytest.fixture(scope='module')
def pair(request):
    bare = ObjectServer(instrument=False, devices=DEVICES)
    request.addfinalizer(bare.close)
    bare.start()
    return bare, start_server(request, devices=DEVICES)


# -- a client that keeps every byte ---------------------------------------

class Reader(object):
    def __init__(self, sock):
        self.file = sock.makefile('rb')

    def head(self):
        lines = []
        while True:
            line = self.file.readline(65537)
            if not line:
                raise ConnectionError('closed in the middle of a head: %r'
                                      % b''.join(lines))
            lines.append(line)
            if line in (b'\r\n', b'\n'):
                return b''.join(lines)

    def body(self, head, method):
        status = int(head.split(b' ', 2)[1])
        fields = dict(
            (k.strip().lower(), v.strip()) for k, _, v in
            (line.partition(b':') for line in head.split(b'\r\n')[1:]
             if b':' in line))
        if method == 'HEAD' or status in (204, 304) or status < 200:
            return b''
        if fields.get(b'transfer-encoding', b'').lower() == b'chunked':
            raw = []
            while True:
                size_line = self.file.readline()
                raw.append(size_line)
                if not size_line.endswith(b'\n'):
                    # the server hung up mid-body, as SSYNC does on errors
                    return b''.join(raw) + b'<closed>'
                size = int(size_line.split(b';')[0], 16)
                raw.append(self.file.read(size + 2))
                if size == 0:
                    return b''.join(raw)
        if b'content-length' in fields:
            return self.file.read(int(fields[b'content-length']))
        return self.file.read()


# Headers whose values the server makes up for each request.
_MADE_UP = (b'x-trans-id:', b'x-openstack-request-id:')


def comparable(head, request_head):
    """A response head without its Date, and with transaction ids Swift
    generated (not echoed from the request) masked.
    """
    lines = []
    for line in head.split(b'\r\n'):
        lower = line.lower()
        if lower.startswith(b'date:'):
            continue
        if lower.startswith(_MADE_UP) and \
                line.split(b':', 1)[1].strip() not in request_head:
            line = line.split(b':', 1)[0] + b': <generated>'
        lines.append(line)
    return b'\r\n'.join(lines)


def exchange(server, method, head, body=b'', hang_up_after=None):
    """Send one request; its responses (interim ones too) as bytes, or
    None when the client hangs up after ``hang_up_after`` body bytes.

    ``body`` is bytes, or a list of parts of which each after the first
    waits for an interim 100 response, as the commit phase of a multi-phase
    PUT does.  With ``Expect: 100-continue`` the body waits, as a real
    client's does, for the 100 or the final response.  Without, it still
    waits a moment for an answer to the head alone (a request line the
    server refuses): a body sent into a socket the server closes unread
    turns into a reset that may swallow the response.
    """
    parts = [body] if isinstance(body, bytes) else list(body)
    sock = socket.create_connection(('127.0.0.1', server.port), timeout=30)
    try:
        sock.sendall(head)
        if hang_up_after is not None:
            sock.sendall(b''.join(parts)[:hang_up_after])
            return None
        reader = Reader(sock)
        responses = []
        if b'\r\nexpect: 100-continue' not in head.lower() and \
                not select.select([sock], [], [], 0.05)[0]:
            sock.sendall(parts.pop(0))
        while True:
            response = reader.head()
            responses.append(comparable(response, head))
            status = int(response.split(b' ', 2)[1])
            # a 100, or a response streamed while the body is still
            # wanted (SSYNC's), asks for the next part
            if parts and status < 400:
                sock.sendall(parts.pop(0))
            if status != 100:
                responses.append(reader.body(response, method))
                return responses
    finally:
        sock.close()


# Before Python 3.11 a bare ``raise`` puts the re-raising frame back in the
# traceback (README, "Transparent"): there, the one difference a 500 body
# may have is a line of one of the filter's thin wrappers, interpreted
# .py files.  A compiled module's frame, or anything else, still differs.
_WRAPPER_FRAME = re.compile(
    rb'  File "[^"\n]*/swiftinst/(input|requestpath|diskfile_hooks|'
    rb'server_hooks|eventloop|middleware|patching)\.py", line \d+, in '
    rb'\w+\n(    [^\n]*\n)?')


def _length(head, value):
    return re.sub(rb'(?im)^(content-length:) *\d+', b'\\1 ' + value, head)


def without_wrapper_frames(responses):
    if responses is None or sys.version_info >= (3, 11):
        return responses
    out = list(responses)      # ..., the final head, its body
    body = _WRAPPER_FRAME.sub(b'', out[-1])
    if body != out[-1]:
        out[-1] = body
        out[-2] = _length(out[-2], b'%d' % len(body))
    elif not body and out[-2].startswith(b'HTTP/1.1 500 '):
        # a HEAD's 500: no body to compare, only the length of the one
        # it would have had, traceback included
        out[-2] = _length(out[-2], b'<a traceback>')
    return out


def same_on_both(pair, method, head, body=b'', hang_up_after=None):
    results = [exchange(server, method, head, body, hang_up_after)
               for server in pair]
    results = [without_wrapper_frames(r) for r in results]
    assert results[0] == results[1], (head, results)
    return results[0]


def request_head(method, path, headers):
    lines = [method.encode('ascii') + b' ' + path + b' HTTP/1.1',
             b'Host: 127.0.0.1']
    lines += [k.encode('latin-1') + b': ' + v for k, v in headers]
    return b'\r\n'.join(lines) + b'\r\n\r\n'


def chunked(body, size):
    parts = [b'%x\r\n%s\r\n' % (len(body[i:i + size]), body[i:i + size])
             for i in range(0, len(body), size)]
    return b''.join(parts) + b'0\r\n\r\n'


# -- what Hypothesis chooses from -------------------------------------------

path_bytes = st.one_of(
    st.binary(max_size=60).map(
        lambda b: bytes(c for c in b if c > 0x20 and c != 0x7f)),
    st.text(max_size=40).map(lambda t: t.encode('utf-8')),
    st.sampled_from([b'%', b'%zz', b'%2F', b'%00', b'%ff%fe', b'..', b'/',
                     b'//', b'\xc3\x28', b'\xff', b'?x=1', b'#frag']),
    st.integers(1000, 9000).map(lambda n: b'o' * n))


def body_and_framing(draw, method, headers):
    body = draw(st.one_of(st.just(b''), st.binary(max_size=200),
                          st.integers(0, 70000).map(lambda n: b'b' * n)))
    framing = draw(st.sampled_from(['length', 'length', 'chunked', 'none']))
    if framing == 'length' or (framing == 'none' and body and
                               method not in ('GET', 'HEAD')):
        headers.append(('Content-Length', b'%d' % len(body)))
    elif framing == 'chunked':
        headers.append(('Transfer-Encoding', b'chunked'))
        body = chunked(body, draw(st.integers(1, 70000)))
    else:
        body = b''
    if draw(st.booleans()):
        headers.append(('Expect', b'100-continue'))
    hang_up_after = None
    if body and draw(st.integers(0, 9)) == 0:
        hang_up_after = draw(st.integers(0, len(body) - 1))
    return body, hang_up_after


@st.composite
def object_requests(draw):
    """Well-formed requests on a few objects, so that PUTs succeed and
    later GETs, HEADs, POSTs and DELETEs find them.
    """
    method = draw(st.sampled_from(['PUT', 'PUT', 'GET', 'GET', 'HEAD',
                                   'POST', 'DELETE']))
    path = b'/%s/0/a/c/%s' % (
        draw(st.sampled_from([b'sda', b'sda', b'metrics'])),
        draw(st.sampled_from([b'o1', b'o1', b'%E2%82%AC', b'x' * 900])))
    headers = [('X-Timestamp', next_timestamp().encode('ascii')),
               ('Content-Type', b'application/octet-stream')]
    policy = draw(st.sampled_from([None, None, None, '1']))
    if policy is not None:
        headers.append(('X-Backend-Storage-Policy-Index',
                        policy.encode('ascii')))
    if draw(st.booleans()):
        headers.append(('X-Object-Meta-Color', b'blue'))
    if method == 'GET' and draw(st.booleans()):
        headers.append(('Range', b'bytes=1-5'))
    body, hang_up_after = body_and_framing(draw, method, headers) \
        if method == 'PUT' else (b'', None)
    return method, request_head(method, path, headers), body, hang_up_after


@st.composite
def odd_requests(draw):
    """Anything a client might send: odd methods, paths and headers."""
    method = draw(st.sampled_from(
        ['PUT', 'PUT', 'GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS',
         'REPLICATE', 'SSYNC', 'UPDATE', 'BREW', 'get']))
    device = draw(st.sampled_from(
        [b'sda', b'sda', b'sdb', b'metrics', b'nosuch', b'%73da', b'']))
    partition = draw(st.sampled_from(
        [b'0', b'0', b'1', b'4294967296', b'-1', b'x']))
    if draw(st.integers(0, 2)):         # mostly account/container/object
        tail = b'a/c/' + draw(path_bytes.filter(bool))
    else:
        tail = b'/'.join(draw(st.lists(path_bytes, max_size=4)))
    path = b'/' + device + b'/' + partition + (b'/' + tail if tail else b'')
    if path == b'/metrics':             # the filter's own endpoint
        path = b'/metrics/0'
    headers = []
    if draw(st.integers(0, 3)):
        headers.append(('X-Timestamp', draw(st.one_of(
            st.just(next_timestamp()),
            st.sampled_from(['garbage', '-1', '1e30', ''])))
            .encode('ascii')))
    policy = draw(st.sampled_from([None, '0', '1', EC_POLICY, '7', 'x']))
    if policy is not None:
        headers.append(('X-Backend-Storage-Policy-Index',
                        policy.encode('ascii')))
    if draw(st.integers(0, 3)):
        headers.append(('Content-Type', draw(st.sampled_from(
            [b'application/octet-stream', b'application/octet-stream',
             b'text/plain; charset=\xff', b'']))))
    for name, value in draw(st.lists(st.tuples(
            st.sampled_from(['X-Object-Meta-Color', 'X-Delete-At',
                             'X-Object-Meta-' + 'k' * 300, 'Range',
                             'If-None-Match', 'Etag', 'X-Trans-Id']),
            st.binary(max_size=40).map(
                lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7f))),
            max_size=3)):
        headers.append((name, value))
    body, hang_up_after = body_and_framing(draw, method, headers)
    return method, request_head(method, path, headers), body, hang_up_after


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(request=st.one_of(object_requests(), odd_requests()))
def test_any_request_gets_the_same_response(pair, request):
    method, head, body, hang_up_after = request
    responses = same_on_both(pair, method, head, body, hang_up_after)
    # --hypothesis-show-statistics: what the examples reached
    event('%s %s' % (method, 'hung up' if responses is None else
                     responses[-2].split(b' ', 2)[1].decode('latin-1')))
    if hang_up_after is not None:
        # what the server made of the half request shows in a GET after it
        time.sleep(0.05)
        path = head.split(b' ', 2)[1]
        same_on_both(pair, 'GET', request_head('GET', path, []))


# -- erasure-coded PUTs, REPLICATE and SSYNC ---------------------------------

def ec_fragment(data, frag_index):
    """What the proxy sends one object server: a real fragment archive
    (the object server checks it when it is read back).
    """
    from pyeclib.ec_iface import ECDriver
    driver = ECDriver(k=2, m=1, ec_type='liberasurecode_rs_vand')
    return driver.encode(data)[frag_index] if data else b''


def multiphase_put(path, data, frag_index, boundary=b'bnd42'):
    """A PUT as Swift's proxy sends an EC fragment of ``data``: MIME
    documents for the body and a footer of metadata, then, after the
    server's second 100, the commit.  Returns the head and the two parts of
    the chunked body.
    """
    fragment = ec_fragment(data, frag_index)
    footer = json.dumps({
        'Etag': hashlib.md5(fragment).hexdigest(),
        'X-Object-Sysmeta-Ec-Frag-Index': str(frag_index),
        'X-Object-Sysmeta-Ec-Etag': hashlib.md5(data).hexdigest(),
        'X-Object-Sysmeta-Ec-Content-Length': str(len(data)),
    }).encode('ascii')
    data = b''.join([
        b'--', boundary, b'\r\nX-Document: object body\r\n\r\n', fragment,
        b'\r\n--', boundary, b'\r\nX-Document: object metadata\r\n'
        b'Content-MD5: ', hashlib.md5(footer).hexdigest().encode('ascii'),
        b'\r\n\r\n', footer, b'\r\n--', boundary, b'\r\n'])
    commit = b''.join([b'X-Document: put commit\r\n\r\n'
                       b'commit_confirmation\r\n--', boundary, b'--'])
    head = request_head('PUT', path, [
        ('X-Timestamp', next_timestamp().encode('ascii')),
        ('Content-Type', b'application/octet-stream'),
        ('X-Backend-Storage-Policy-Index', EC_POLICY.encode('ascii')),
        ('X-Backend-Obj-Content-Length', b'%d' % len(fragment)),
        ('X-Backend-Obj-Multiphase-Commit', b'yes'),
        ('X-Backend-Obj-Metadata-Footer', b'yes'),
        ('X-Backend-Obj-Multipart-Mime-Boundary', boundary),
        ('Transfer-Encoding', b'chunked'),
        ('Expect', b'100-continue')])
    # Each phase ends its chunked stream; the second 100 starts a new one.
    return head, [chunked(data, 1000), chunked(commit, 1000)]


needs_ec_policy = pytest.mark.skipif(
    not all_policies_available(),
    reason='the EC policy of the testbed swift.conf needs root (see '
           'swiftinst.testbed.all_policies_available)')


@needs_ec_policy
@pytest.mark.parametrize('size', [0, 1, 5000, 300000])
def test_multiphase_ec_put_is_identical(pair, size):
    data = bytes(range(256)) * (size // 256) + b'f' * (size % 256)
    path = b'/sda/0/a/c/ec-%d' % size
    head, body = multiphase_put(path, data, frag_index=1)
    responses = same_on_both(pair, 'PUT', head, body)
    # continue, commit continue, then Created (and its empty body)
    assert [r.split(b' ', 2)[1] for r in responses[:-1]] == \
        [b'100', b'100', b'201'], responses
    assert b'X-Obj-Multiphase-Commit: yes' in responses[0]
    got = same_on_both(pair, 'GET', request_head('GET', path, [
        ('X-Backend-Storage-Policy-Index', EC_POLICY.encode('ascii'))]))
    assert got[0].startswith(b'HTTP/1.1 200'), got
    assert got[1] == ec_fragment(data, 1)
    assert b'X-Object-Sysmeta-Ec-Frag-Index: 1' in got[0]
    # and the filter did see it, under the EC policy
    filtered = pair[1]
    s = settled_scrape(filtered, lambda s: s.total(
        REQUESTS, method='PUT', policy=EC_POLICY, status='2xx') > 0)
    assert s.total(REQUESTS, method='PUT', policy=EC_POLICY,
                   status='2xx') > 0


@needs_ec_policy
def test_a_multiphase_put_cut_off_before_its_commit_is_identical(pair):
    path = b'/sdb/0/a/c/ec-uncommitted'
    head, body = multiphase_put(path, b'x' * 3000, frag_index=0)
    same_on_both(pair, 'PUT', head, body, hang_up_after=len(body[0]) - 60)
    time.sleep(0.1)
    same_on_both(pair, 'GET', request_head('GET', path, [
        ('X-Backend-Storage-Policy-Index', EC_POLICY.encode('ascii'))]))


def object_hash(path):
    return hashlib.md5(b'swiftinst-prefix' + path +
                       b'swiftinst-suffix').hexdigest()


def test_replicate_and_ssync_are_identical(pair):
    time.sleep(0.3)                     # earlier tests' counts are flushed
    before = scrape(pair[1])
    timestamp = next_timestamp()
    same_on_both(pair, 'PUT', request_head('PUT', b'/sda/5/a/c/synced', [
        ('X-Timestamp', timestamp.encode('ascii')),
        ('Content-Type', b'text/plain'), ('Content-Length', b'2')]), b'hi')
    present = object_hash(b'/a/c/synced')
    missing = object_hash(b'/a/c/not-here')
    for suffixes in (b'', b'/' + present[-3:].encode('ascii')):
        replicate = same_on_both(pair, 'REPLICATE', request_head(
            'REPLICATE', b'/sda/5' + suffixes, [('Content-Length', b'0')]))
        assert replicate[0].startswith(b'HTTP/1.1 200'), replicate

    newer = next_timestamp()
    ssync_body = '\r\n'.join([
        ':MISSING_CHECK: START',
        '%s %s' % (present, timestamp.replace('.', '.')),
        '%s %s' % (missing, newer),
        ':MISSING_CHECK: END',
        ':UPDATES: START',
        'PUT /a/c/not-here',
        'Content-Length: 4',
        'Content-Type: text/plain',
        'X-Timestamp: %s' % newer,
        '',
        'sync:UPDATES: END', '']).encode('ascii')
    head = request_head('SSYNC', b'/sda/5', [
        ('Transfer-Encoding', b'chunked'),
        ('X-Backend-Storage-Policy-Index', b'0')])
    ssync = same_on_both(pair, 'SSYNC', head, chunked(ssync_body, 64))
    assert ssync[0].startswith(b'HTTP/1.1 200'), ssync
    assert missing.encode('ascii') in ssync[1] and b':ERROR' not in ssync[1]
    got = same_on_both(pair, 'GET', request_head(
        'GET', b'/sda/5/a/c/not-here', []))
    assert got[0].startswith(b'HTTP/1.1 200') and got[1] == b'sync', got

    # and the filter did see them
    def added(s, method):
        return s.total(REQUESTS, method=method, status='2xx') - \
            before.total(REQUESTS, method=method, status='2xx')
    s = settled_scrape(pair[1], lambda s: added(s, 'SSYNC') >= 1 and
                       added(s, 'REPLICATE') >= 2)
    assert added(s, 'SSYNC') == 1 and added(s, 'REPLICATE') == 2
