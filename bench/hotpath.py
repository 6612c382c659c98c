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

"""Added cost of one timed wsgi.input.read(), observation included.

Three loops over the same in-memory input, each repeated and the median
per-call time kept:

* bare: ``read()``;
* swiftinst: ``TimedInput.read()`` with a real RequestContext and store,
  compiled and (in a subprocess) interpreted;
* prometheus_client multiprocess: ``read()`` timed by hand and observed
  into a labelled Histogram child, with PROMETHEUS_MULTIPROC_DIR set (in a
  subprocess, since the value class is chosen at import).
"""

import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CHUNK = b'x' * 65536
LOOPS = 20000
REPEAT = 15


class ConstantInput(object):
    """An input whose read() costs as little as a read can."""

    def read(self, size=-1):
        return CHUNK


def per_call(fn, loops=LOOPS, repeat=REPEAT):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(loops):
            fn(65536)
        times.append((time.perf_counter() - started) / loops)
    return statistics.median(times)


def swiftinst_added():
    from swiftinst.context import RequestContext
    from swiftinst.labels import LabelPolicy
    from swiftinst.input import TimedInput
    from swiftinst.metrics import DEFAULT_LATENCY_BUCKETS
    from swiftinst.recorder import Recorder
    from swiftinst.store import MetricStore
    directory = tempfile.mkdtemp()
    try:
        store = MetricStore(directory, DEFAULT_LATENCY_BUCKETS)
        recorder = Recorder(store, None, logging.getLogger('bench'), 1.0,
                            LabelPolicy(directory, 60.0))
        ctx = RequestContext(recorder, recorder.kind('PUT', 'sda', '0'), {})
        raw = ConstantInput()
        timed = TimedInput(raw, ctx)
        bare = per_call(raw.read)
        instrumented = per_call(timed.read)
        ctx.status = '201 Created'
        ctx.finish()
        return bare, instrumented
    finally:
        shutil.rmtree(directory, ignore_errors=True)


PROMETHEUS_SCRIPT = r'''
import sys, time
sys.path.insert(0, sys.argv[1])
from bench.hotpath import ConstantInput, per_call
from prometheus_client import CollectorRegistry, Histogram
from swiftinst.metrics import DEFAULT_LATENCY_BUCKETS, INPUT_READ
h = Histogram(INPUT_READ.name, INPUT_READ.help, INPUT_READ.labels,
              buckets=DEFAULT_LATENCY_BUCKETS, registry=CollectorRegistry())
child = h.labels('PUT', 'sda', '0')
raw = ConstantInput()
monotonic = time.monotonic
def observed(size):
    started = monotonic()
    data = raw.read(size)
    child.observe(monotonic() - started)
    return data
print(per_call(raw.read), per_call(observed))
'''


def prometheus_added(multiprocess):
    directory = tempfile.mkdtemp()
    env = dict(os.environ)
    env.pop('PROMETHEUS_MULTIPROC_DIR', None)
    if multiprocess:
        env['PROMETHEUS_MULTIPROC_DIR'] = directory
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        out = subprocess.run([sys.executable, '-c', PROMETHEUS_SCRIPT, root],
                             env=env, capture_output=True, text=True,
                             check=True, timeout=600)
        bare, observed = map(float, out.stdout.split())
        return bare, observed
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def interpreted_added():
    """swiftinst_added() in a process that runs the request path
    interpreted.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, '-c', 'import sys; sys.path.insert(0, sys.argv[1]);'
         'from bench.hotpath import swiftinst_added;'
         'print(*swiftinst_added())', root],
        env=dict(os.environ, SWIFTINST_PURE_PYTHON='1'), capture_output=True,
        text=True, check=True, timeout=600)
    return tuple(map(float, out.stdout.split()))


def main():
    bare, ours = swiftinst_added()
    py_bare, py_ours = interpreted_added()
    mp_bare, mp = prometheus_added(True)
    ip_bare, ip = prometheus_added(False)
    result = {
        'bare_read_us': bare * 1e6,
        'swiftinst_added_us': (ours - bare) * 1e6,
        'interpreted_added_us': (py_ours - py_bare) * 1e6,
        'multiprocess_added_us': (mp - mp_bare) * 1e6,
        'in_process_added_us': (ip - ip_bare) * 1e6,
    }
    print(json.dumps(result))
    return result


if __name__ == '__main__':
    main()
