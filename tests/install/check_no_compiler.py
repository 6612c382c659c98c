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

"""An sdist installed where no compiler works still serves and counts.

Run by ``make check-dist`` with the Python of a virtualenv into which the
sdist was installed with ``CC=false``: the installed swiftinst must have
no compiled module, start a real object server, say at start that its
request path runs interpreted, and count the requests it was sent.
"""

import os
import sys
import time

import swiftinst
from swiftinst import compiled
from swiftinst.analysis import Scrape
from swiftinst.demo.server import ObjectServer

PUTS = 5


def main():
    here = os.path.dirname(os.path.abspath(swiftinst.__file__))
    assert 'site-packages' in here, here
    assert compiled.interpreted_modules() == list(compiled.MODULES), \
        compiled.describe()
    with ObjectServer(workers=2, filter_options={'flush_interval': '0.1'},
                      env={'SWIFTINST_PURE_PYTHON': ''}) as server:
        for i in range(PUTS):
            assert server.put('sda', 'o-%d' % i, b'x' * 4096)[0] == 201
        deadline = time.time() + 10
        while True:
            scrape = Scrape(server.metrics_text())
            counted = scrape.total('swift_object_request_seconds_count',
                                   method='PUT')
            if counted == PUTS or time.time() > deadline:
                break
            time.sleep(0.1)
        assert counted == PUTS, counted
        logged = server.log.wait_for(
            lambda line: 'the request path runs interpreted' in line)
        assert logged, server.log.lines()
    print('installed from the sdist without a compiler: %s; %d PUTs '
          'counted; logged: %s' % (here, counted,
                                   logged[0].split('swiftinst: ', 1)[-1]
                                   .rstrip('\x00')))
    return 0


if __name__ == '__main__':
    sys.exit(main())
