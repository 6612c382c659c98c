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

"""The request path's cost with cold caches: what callgrind cannot see.

In a live worker the filter's per-request work costs several times what
a hot micro-benchmark says, because between two requests Swift's own
work evicts everything the filter touches.  Its cost then follows the
cache lines and pages it touches rather than its instructions.  This
runs the filter around a WSGI app that only reads a 4 KiB body and
answers, and times each call after writing over a buffer of 0 (hot),
2 (past L2), 8 and 64 MiB (past L3): the last figure is an upper bound
for a live worker, where part of the data survives.

    python -m bench.coldcache [requests]
"""

import io
import os
import shutil
import statistics
import sys
import tempfile
import time

BODY = b'x' * 4096
EVICT_MIB = (0, 2, 8, 64)


def _app(env, start_response):
    body = env['wsgi.input']
    while body.read(65536):
        pass
    start_response('201 Created', [('Content-Length', '0')])
    return [b'']


def _start_response(status, headers, exc_info=None):
    pass


def _timed_call(app, evict):
    env = {'REQUEST_METHOD': 'PUT', 'PATH_INFO': '/sda/0/a/c/o',
           'CONTENT_LENGTH': str(len(BODY)), 'wsgi.input': io.BytesIO(BODY)}
    if evict is not None:
        evict[::64] = b'\x01' * len(evict[::64])     # every cache line
    started = time.perf_counter()
    app(env, _start_response)
    return time.perf_counter() - started


def main(requests=1500):
    from swiftinst import diskfile_hooks
    from swiftinst.middleware import filter_factory
    root = tempfile.mkdtemp(prefix='swiftinst-cold-')
    try:
        os.makedirs(os.path.join(root, 'node', 'sda'))
        filtered = filter_factory(
            {'devices': os.path.join(root, 'node'), 'mount_check': 'false',
             'log_address': '/nonexistent'},
            metrics_dir=os.path.join(root, 'metrics'), flush_interval='3600',
            disk_state_interval='0')(_app)
        diskfile_hooks.uninstall()      # the request path alone
        print('%-12s %10s %10s %10s' % ('evicted', 'bare', 'filter',
                                        'added'))
        for mib in EVICT_MIB:
            evict = bytearray(mib << 20) if mib else None
            bare, instrumented = [], []
            for _ in range(requests):
                bare.append(_timed_call(_app, evict))
                instrumented.append(_timed_call(filtered, evict))
            b, f = (1e6 * statistics.median(x) for x in (bare, instrumented))
            print('%-12s %8.2f us %7.2f us %7.2f us' % ('%d MiB' % mib, b, f,
                                                        f - b))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    main(*(int(a) for a in sys.argv[1:]))
