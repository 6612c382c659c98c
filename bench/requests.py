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

"""What answering ``/debug/requests`` costs: 48 workers' request records
(the default 1,024 slots each), 1,000 requests in flight among them, each
with a PUT's timeline of about 25 steps, and every worker's slowest
records full (ten tenths of the window, 20 each).  The figure is the
median time of ``activity.answer`` plus the JSON encoding, what the
answering worker does in a native thread; compiled and interpreted (the
latter in a child process with SWIFTINST_PURE_PYTHON=1).

    python -m bench.requests [--json]
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

WORKERS = 48
IN_FLIGHT = 1000
SLOTS = 1024
SLOWEST = 20
WINDOW = 600.0

# a 4 KiB PUT's steps, as a worker records them
PUT_STEPS = ('running', 'metadata_read', 'running', 'open', 'running',
             'client', 'hub', 'running', 'write', 'running', 'tpool',
             'xattr_write', 'tpool', 'fsync', 'tpool', 'drop_cache', 'tpool',
             'partition_lock', 'tpool', 'linkat', 'dir_fsync', 'linkat',
             'tpool', 'cleanup', 'tpool', 'hub', 'running', 'container')


def populate(directory):
    """The 48 workers' files; returns activity.answer's ``files``."""
    from swiftinst.activity import KIND_OF, RequestRecords, identity
    identity = identity('PUT', 'sda', '0')
    files = []
    wall = time.time()
    for worker in range(WORKERS):
        path = os.path.join(directory, 'requests-%d-1' % worker)
        records = RequestRecords(path, SLOTS, SLOWEST, WINDOW)
        # every tenth of the window full of finished requests
        for period in range(10):
            for i in range(SLOWEST + 5):
                slot = records.claim(0.0, 'tx%d-%d-%d' % (
                    worker, period, i), identity, 1234)
                t = 0.0
                for kind in PUT_STEPS:
                    t += 0.001
                    records.transition(slot, KIND_OF[kind], t)
                now = t + 0.001 * i
                records.wall_offset = \
                    wall - WINDOW + period * WINDOW / 10 + 1 - now
                records.release(slot, 201, now)
        share = IN_FLIGHT // WORKERS + (worker < IN_FLIGHT % WORKERS)
        for i in range(share):
            records.wall_offset = wall
            slot = records.claim(0.0, 'txlive%d-%d' % (worker, i),
                                 identity, 1234)
            t = 0.0
            for kind in PUT_STEPS:
                t += 0.001
                records.transition(slot, KIND_OF[kind], t)
        files.append((path, 1000 + worker, True))
    return files


def measure(repeat=9):
    from swiftinst import activity, compiled
    directory = tempfile.mkdtemp(prefix='swiftinst-requests-',
                                 dir='/dev/shm' if os.path.isdir('/dev/shm')
                                 else None)
    try:
        files = populate(directory)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            answer, problems = activity.answer(files, SLOWEST, WINDOW)
            json.dumps(answer, separators=(',', ':'),
                       check_circular=False).encode('utf-8')
            times.append(time.perf_counter() - started)
        assert not problems, problems
        assert len(answer['in_flight']) == IN_FLIGHT, len(answer['in_flight'])
        assert len(answer['slowest']) == SLOWEST
        return {'compiled': compiled.in_use(),
                'median_s': statistics.median(times),
                'in_flight': IN_FLIGHT, 'workers': WORKERS}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main():
    """Both modes: {'compiled_s', 'interpreted_s', ...}."""
    here = measure()
    env = dict(os.environ, SWIFTINST_PURE_PYTHON='1')
    child = json.loads(subprocess.run(
        [sys.executable, '-m', 'bench.requests', '--json'], env=env,
        check=True, capture_output=True, text=True).stdout)
    return {'compiled_s': here['median_s'],
            'compiled': here['compiled'],
            'interpreted_s': child['median_s'],
            'in_flight': IN_FLIGHT, 'workers': WORKERS}


if __name__ == '__main__':
    if sys.argv[1:] == ['--json']:
        print(json.dumps(measure()))
    else:
        result = main()
        print('/debug/requests, %d workers, %d in flight: %.1f ms compiled'
              ' (%s), %.1f ms interpreted; bar 50 ms' % (
                  result['workers'], result['in_flight'],
                  result['compiled_s'] * 1e3, result['compiled'],
                  result['interpreted_s'] * 1e3))
