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

"""``make soak``: a worker's memory stays flat over 100,000 requests.

One object server with the filter (``workers = 1``, devices on tmpfs)
takes wrk's MIX load: PUTs, GETs and POSTs of recent objects, and, for
a fifth of the requests, unknown devices, policies and methods.  After a
warm-up, the worker's resident memory is read every 20,000 requests; the
target is growth within 5 % from the first reading to the last.  A bare
server under the same load is measured beside it, for scale.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

from bench.e2e import run_wrk
from swiftinst.demo.server import ObjectServer

ENV = {'SWIFTINST_METHOD': 'MIX', 'SWIFTINST_BODY_BYTES': '4096'}
GROWTH_BAR = 1.05


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise RuntimeError('no VmRSS for %d' % pid)


def soak(instrument, requests, warmup, step, options=None):
    root = tempfile.mkdtemp(prefix='swiftinst-soak-', dir='/dev/shm')
    server = ObjectServer(root=root, devices=('sda', 'sdb'), workers=1,
                          instrument=instrument,
                          filter_options=options or {})
    try:
        server.start()
        worker = server.worker_pids()[0]

        def load():
            """Requests served by one 5-second wrk run."""
            return run_wrk(server, 5, 16, ENV, errors_expected=True)[
                'requests']
        done = 0
        while done < warmup:
            done += load()
        readings = [(done, rss_kib(worker))]
        target = done + requests
        while done < target:
            done += load()
            if done - readings[-1][0] >= step or done >= target:
                readings.append((done, rss_kib(worker)))
        assert server.worker_pids() == [worker], 'the worker was replaced'
        return {'instrumented': instrument, 'readings': readings,
                'growth': readings[-1][1] / readings[0][1]}
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--requests', type=int, default=100000)
    parser.add_argument('--warmup', type=int, default=20000)
    parser.add_argument('--step', type=int, default=20000)
    args = parser.parse_args(argv)
    started = time.time()
    results = [soak(instrument, args.requests, args.warmup, args.step)
               for instrument in (False, True)]
    print('soak: %d requests after %d of warm-up, %.0f s' % (
        args.requests, args.warmup, time.time() - started))
    for r in results:
        print('  %-12s RSS KiB %s  growth %.3f%s' % (
            'filter' if r['instrumented'] else 'bare',
            ' '.join('%d@%dk' % (kib, n // 1000) for n, kib in r['readings']),
            r['growth'],
            ('  (bar <= %.2f: %s)' % (GROWTH_BAR, 'PASS' if r['growth'] <=
                                      GROWTH_BAR else 'FAIL'))
            if r['instrumented'] else ''))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results')
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'soak-%d.json' % started), 'w') as f:
        json.dump(results, f, indent=1)
    return 0 if results[-1]['growth'] <= GROWTH_BAR else 1


if __name__ == '__main__':
    sys.exit(main())
