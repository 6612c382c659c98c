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

"""What one greenlet switch costs with the switch trace, compiled and
interpreted.

Two greenlets switch back and forth ``SWITCHES`` times with no trace, with
an empty Python trace function (what greenlet's calling convention alone
costs: a call with an args tuple, at every switch), and with swiftinst's
``on_switch`` with both greenlets in requests (the accounting's own work
on top).  Each variant is timed in alternation, in one process per mode,
and the medians are quoted in ns per switch.

    python -m bench.switchcost
"""

import json
import os
import subprocess
import sys

SWITCHES = 200000
ROUNDS = 7

SCRIPT = r'''
import json, logging, statistics, sys, tempfile, time
import greenlet
from swiftinst import compiled, context, switchtrace
from swiftinst.labels import LabelPolicy
from swiftinst.recorder import Recorder
from swiftinst.store import MetricStore

n = int(sys.argv[1])
labels = LabelPolicy('/nonexistent', 60.0)
labels.device = lambda name: name
recorder = Recorder(MetricStore(tempfile.mkdtemp(), (0.1, 1.0)), None,
                    logging.getLogger('bench'), 1.0, labels, phases=True)
kind = recorder.kind('PUT', 'sda', '0')


def run(trace, in_requests):
    def other():
        while True:
            main.switch()
    main = greenlet.getcurrent()
    peer = greenlet.greenlet(other)
    peer.switch()
    if in_requests:
        for g in (main, peer):
            context.active[g] = context.RequestContext(recorder, kind, {})
    greenlet.settrace(trace)
    started = time.perf_counter()
    for _ in range(n // 2):
        peer.switch()
    elapsed = time.perf_counter() - started
    greenlet.settrace(None)
    context.active.clear()
    return elapsed / n * 1e9


def empty(event, args):
    pass


variants = {'none': (None, False), 'empty trace': (empty, False),
            'on_switch, in requests': (switchtrace.on_switch, True)}
times = {name: [] for name in variants}
for _ in range(int(sys.argv[2])):
    for name, (trace, in_requests) in variants.items():
        times[name].append(run(trace, in_requests))
print(json.dumps({'compiled': compiled.in_use(),
                  'ns': {k: statistics.median(v) for k, v in times.items()}}))
'''


def measure(interpreted):
    env = dict(os.environ)
    if interpreted:
        env['SWIFTINST_PURE_PYTHON'] = '1'
    out = subprocess.run([sys.executable, '-c', SCRIPT, str(SWITCHES),
                          str(ROUNDS)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    results = {'compiled': measure(False)['ns'],
               'interpreted': measure(True)['ns']}
    for mode, ns in results.items():
        print('%-12s switch %.0f ns; empty trace +%.0f ns; on_switch +%.0f '
              'ns' % (mode, ns['none'], ns['empty trace'] - ns['none'],
                      ns['on_switch, in requests'] - ns['none']))
    return results


if __name__ == '__main__':
    main()
