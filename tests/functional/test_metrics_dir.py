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

"""One object server, one metrics_dir: the default directory of each
server on one host, and the lock that keeps a second one out.
"""

import os
import shutil
import socket
import tempfile

from swiftinst.demo.server import free_port
from tests.conftest import start_server
from tests.functional.test_lifecycle import exactly, puts
from tests.testbed import ObjectServer


def _port_free_on(*hosts):
    """A TCP port free on every one of ``hosts``."""
    for _ in range(50):
        port = free_port(hosts[0])
        try:
            for host in hosts[1:]:
                with socket.socket() as s:
                    s.bind((host, port))
            return port
        except OSError:
            continue
    raise AssertionError('no port free on all of %s' % (hosts,))


def _shared_root(request):
    root = tempfile.mkdtemp(prefix='swiftinst-recon-')
    request.addfinalizer(lambda: shutil.rmtree(root, True))
    return root


def test_servers_on_two_addresses_and_one_port_do_not_merge(request):
    recon = _shared_root(request)
    port = _port_free_on('127.0.0.2', '127.0.0.3')
    # the default metrics_dir (the testbed's own is not set)
    options = {'metrics_dir': '', 'recon_cache_path': recon}
    two = start_server(request, host='127.0.0.2', port=port,
                       filter_options=options)
    three = start_server(request, host='127.0.0.3', port=port,
                         filter_options=options)
    puts(two, 'two', 3)
    puts(three, 'three', 5)
    exactly(two, 3)
    exactly(three, 5)
    assert sorted(n for n in os.listdir(recon)
                  if n.startswith('swiftinst-')) == [
        'swiftinst-127.0.0.2-%d' % port, 'swiftinst-127.0.0.3-%d' % port]


def test_a_second_server_in_one_metrics_dir_refuses_to_start(request):
    shared = os.path.join(_shared_root(request), 'metrics')
    first = start_server(request, filter_options={'metrics_dir': shared})
    second = ObjectServer(filter_options={'metrics_dir': shared})
    request.addfinalizer(second.close)
    second.start(wait=False)
    assert second.proc.wait(30) != 0
    stderr = second.stderr()
    assert "invalid metrics_dir = '%s'" % shared in stderr, stderr
    assert 'in use by another object server (pid %d)' % first.proc.pid \
        in stderr, stderr
    # and the first one is untouched
    puts(first, 'first', 4)
    exactly(first, 4)
    # once it has stopped, the directory is free again, counts and all
    first.stop()
    second.start()
    exactly(second, 4)
