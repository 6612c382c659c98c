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

"""An erasure-coded PUT through a real proxy, to three object servers of
which one has a slow disk: that node's verdict is its disk, and the other
two, whose PUTs wait for the proxy's commit until the slow fragment is
written, are ``peers``: not their clients, not their disks.
"""

import os
import tempfile
import threading
import uuid

import pytest

from swiftinst import metrics
from tests.conftest import FAST
from tests.functional.test_verdicts import reports_during
from tests.testbed import (AccountServer, ContainerServer, ObjectServer,
                           ProxyServer, all_policies_available, build_rings,
                           slow_disk_env)

pytestmark = pytest.mark.skipif(
    not all_policies_available(),
    reason='the EC policy needs the testbed\'s swift.conf in every server '
           '(a private mount namespace: root)')

EC_POLICY = '2'     # swiftinst.demo.server.SWIFT_CONF: ec, 2 + 1


@pytest.fixture(scope='module')
def cluster(request):
    """A proxy, an account and a container server, and three object
    servers (workers = 2) of which the third fsyncs in 0.3 s.
    """
    def started(server):
        request.addfinalizer(server.close)
        return server.start()
    accounts = started(AccountServer())
    containers = started(ContainerServer())
    nodes = []
    for i in range(3):
        # the healthy nodes on tmpfs: their fsyncs take microseconds
        root = tempfile.mkdtemp(prefix='swiftinst-ec-', dir='/dev/shm')
        nodes.append(started(ObjectServer(
            root=root, devices=('sda',), workers=2, filter_options=FAST,
            env=slow_disk_env(fsync_delay=0.3) if i == 2 else None)))
    proxy = ProxyServer()
    request.addfinalizer(proxy.close)
    build_rings(proxy.swift_dir, {
        'account': [accounts], 'container': [containers],
        'object': nodes[:1], 'object-1': nodes[:1],
        'object-%s' % EC_POLICY: nodes})
    proxy.start()
    status = proxy.request('PUT', '/v1/AUTH_test/ec', headers={
        'X-Storage-Policy': 'ec'})[0]
    assert status == 201, status
    return proxy, nodes


def test_the_slow_fragment_is_its_disk_and_the_others_wait_for_it(cluster):
    proxy, nodes = cluster
    statuses = []

    def put(i):
        for j in range(3):
            statuses.append(proxy.request(
                'PUT', '/v1/AUTH_test/ec/o-%d-%d' % (i, j), os.urandom(4096),
                {'X-Trans-Id': 'tx' + uuid.uuid4().hex})[0])

    def load():
        threads = [threading.Thread(target=put, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    answers = reports_during(nodes, load, 20)
    assert statuses == [201] * 9, statuses
    (fast_a, report_a), (fast_b, report_b), (slow, report_c) = answers
    rows = [report['devices'][0] for report in (report_a, report_b,
                                                report_c)]
    # the slow fragment's node: its own disk
    assert slow['sda']['cause'] == 'disk', rows[2]
    assert 'fsync p99 ' in slow['sda']['reason'], rows[2]
    # the others: the wait for the commit, which is the peers'
    for verdicts, row in ((fast_a, rows[0]), (fast_b, rows[1])):
        assert verdicts['sda']['cause'] == 'peers', row
        assert row['commit_wait'] > 0.5 and row['client_wait'] < 0.1, row
        # and no body read was slow for it
        assert row['slow_reads'] == 0, row
    print([row['verdict'] for row in rows])


def test_the_commit_message_is_no_body_read(cluster):
    """The healthy nodes wait up to a second and more for each commit
    message: none of those waits is a body read, and the phase that holds
    them is commit_wait.
    """
    from tests.conftest import scrape
    _, nodes = cluster
    s = scrape(nodes[0])
    reads = dict(s.buckets(metrics.INPUT_READ.name, method='PUT'))
    # every body read of the healthy node took under 0.1 s
    assert reads and reads[0.1] == reads[float('inf')], reads
    assert s.total(metrics.SLOW_READS.name + '_total') == 0
    commit = s.total(metrics.DEVICE_PHASE.name + '_sum', phase='commit_wait')
    assert commit > 9 * 0.3, commit      # 9 PUTs, each behind an fsync
