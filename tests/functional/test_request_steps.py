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

"""Steps of a request that sit inside others, named on a real object
server: the partition lock inside _finalize_put, a GET's reads from the
data file, EC's wait for the proxy's commit message, an SSYNC's wait for
the replication lock.
"""

import hashlib
import os
import re
import socket
import threading
import time
import uuid

from swiftinst import metrics
from tests.conftest import settled_scrape, start_server
from tests.testbed import all_policies_available

DISK = metrics.DISK_OP.name
PHASE = metrics.REQUEST_PHASE.name + '_sum'
READS = metrics.INPUT_READ.name + '_count'


def test_a_held_partition_lock_is_the_puts_partition_lock(request):
    """The replicator (here, this test) holds the partition's lock for
    1.5 s: the PUT waits for it inside _finalize_put, in its tpool thread.
    """
    from swift.common.utils import lock_path
    server = start_server(request, filter_options={
        'slow_request_threshold': '1.0'})
    assert server.put('sda', 'first', b'f' * 10)[0] == 201
    partition = os.path.join(server.devices_dir, 'sda', 'objects', '0')
    held = threading.Event()

    def hold():
        with lock_path(partition):
            held.set()
            time.sleep(1.5)
    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    started = time.time()
    assert server.put('sda', 'locked', b'l' * 4096)[0] == 201
    took = time.time() - started
    holder.join()
    assert took >= 1.4
    s = settled_scrape(server, lambda s: s.total(
        DISK + '_sum', op='partition_lock') >= 1.0)
    assert 1.0 <= s.total(DISK + '_sum', op='partition_lock',
                          device='sda') <= took
    # the wait is the tpool's: not the client's, not the hub's
    assert s.total(PHASE, phase='tpool_wait') >= 1.0
    lines = server.log.wait_for(lambda line: 'Slow request: PUT' in line)
    assert re.search(r'partition_lock 1\.[4-9]\d\ds', lines[0]), lines


def test_a_get_reads_its_object_chunk_by_chunk(request):
    server = start_server(request)
    body = os.urandom(16 * 65536)
    assert server.put('sda', 'big', body)[0] == 201
    status, _, got = server.request('GET', '/sda/0/a/c/big')
    assert (status, got == body) == (200, True)
    s = settled_scrape(server, lambda s: s.total(
        DISK + '_count', op='read') >= 17)
    # 16 chunks of disk_chunk_size, and the read that found the end
    assert s.total(DISK + '_count', op='read', device='sda') == 17
    assert s.total(DISK + '_sum', op='read', device='sda') > 0
    # a HEAD reads no data
    assert server.request('HEAD', '/sda/0/a/c/big')[0] == 200
    s = settled_scrape(server, lambda s: s.total(
        metrics.DEVICE_REQUEST.name + '_count', method='HEAD') >= 2)
    assert s.total(DISK + '_count', op='read', device='sda') == 17


def ec_put(server, name, fragment, commit_delay):
    """What a proxy sends an object server for one fragment of an EC PUT:
    a multiphase MIME body (the fragment, then, after the server's second
    100 Continue, the commit).  Returns the status line.
    """
    boundary = b'bound%s' % uuid.uuid4().hex.encode('ascii')
    sock = socket.create_connection((server.host, server.port))
    try:
        sock.sendall((
            'PUT /sda/0/a/c/%s HTTP/1.1\r\nHost: x\r\nX-Timestamp: %.5f\r\n'
            'Content-Type: application/octet-stream\r\n'
            'Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n'
            'X-Backend-Storage-Policy-Index: 2\r\n'
            'X-Backend-Obj-Multiphase-Commit: yes\r\n'
            'X-Backend-Obj-Content-Length: %d\r\n'
            'X-Backend-Obj-Multipart-Mime-Boundary: %s\r\n'
            'X-Backend-Obj-Metadata-Footer: yes\r\n'
            'X-Object-Sysmeta-Ec-Frag-Index: 0\r\n'
            'X-Trans-Id: tx%s\r\n\r\n' % (
                name, time.time(), len(fragment), boundary.decode('ascii'),
                uuid.uuid4().hex)).encode('ascii'))
        reply = sock.makefile('rb')
        assert reply.readline().startswith(b'HTTP/1.1 100'), 'no continue'
        _headers(reply)

        def chunk(data):
            sock.sendall(b'%x\r\n%s\r\n' % (len(data), data))
        footer = b'{}'
        # as the proxy's MIMEPutter frames them
        chunk(b'--%s\r\nX-Document: object body\r\n\r\n' % boundary)
        chunk(fragment)
        chunk(b'\r\n--%s\r\nX-Document: object metadata\r\n'
              b'Content-MD5: %s\r\n\r\n%s\r\n--%s\r\n' % (
                  boundary, hashlib.md5(footer).hexdigest().encode('ascii'),
                  footer, boundary))
        chunk(b'')
        # the server has written the fragment: its second 100 Continue
        assert reply.readline().startswith(b'HTTP/1.1 100'), 'no 2nd one'
        _headers(reply)
        time.sleep(commit_delay)     # the other fragments' servers
        chunk(b'X-Document: put commit\r\n\r\nput_commit_confirmation'
              b'\r\n--%s--' % boundary)
        chunk(b'')
        return reply.readline()
    finally:
        sock.close()


def _headers(reply):
    while reply.readline() not in (b'\r\n', b''):
        pass


def test_an_ec_commit_is_waited_for_as_the_peers(request):
    """After writing its fragment, the object server waits 1 s for the
    proxy's commit, which comes once the other fragments are written:
    commit_wait, not client_wait, and no slow body read.
    """
    if not all_policies_available():
        import pytest
        pytest.skip('the EC policy needs the testbed swift.conf (root)')
    server = start_server(request, filter_options={
        'slow_read_threshold': '0.5'})
    status = ec_put(server, 'frag', b'F' * 4096, 1.0)
    assert status.startswith(b'HTTP/1.1 201'), status
    s = settled_scrape(server, lambda s: s.total(
        PHASE, method='PUT', phase='commit_wait') > 0)
    assert 0.95 <= s.total(PHASE, method='PUT', phase='commit_wait') <= 1.2
    assert s.total(PHASE, method='PUT', phase='client_wait') < 0.1
    assert s.total(metrics.SLOW_READS.name + '_total') == 0
    assert not server.log.wait_for(lambda line: 'Slow read' in line, 0.5)


def test_an_ssync_waits_for_the_replication_lock(request):
    """Another replication job (here, this test) holds the partition's
    replication lock for a second: the SSYNC request's wait is the op
    replication_lock (which the verdict counts as the device's, not the
    client's).
    """
    from swift.common.utils import lock_path
    server = start_server(request)
    assert server.put('sda', 'replicated', b'r' * 10)[0] == 201
    partition = os.path.join(server.devices_dir, 'sda', 'objects', '0')
    held = threading.Event()

    def hold():
        with lock_path(partition, name='replication'):
            held.set()
            time.sleep(1.0)
    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    body = (b':MISSING_CHECK: START\r\n:MISSING_CHECK: END\r\n'
            b':UPDATES: START\r\n:UPDATES: END\r\n')
    status = server.request('SSYNC', '/sda/0', body, {
        'Content-Length': str(len(body)),
        'X-Backend-Storage-Policy-Index': '0'})[0]
    holder.join()
    assert status == 200
    s = settled_scrape(server, lambda s: s.total(
        DISK + '_count', op='replication_lock') >= 1)
    assert 0.9 <= s.total(DISK + '_sum', op='replication_lock',
                          device='sda') <= 1.5
