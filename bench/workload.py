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

"""The realistic series set of one busy worker, and fake workers holding it.

12 devices, 2 policies, every disk op, every method, every status class,
20 buckets: what a worker of a 12-disk node serving everything ends up
with after a while.
"""

import multiprocessing
import os

from swiftinst import metrics
from swiftinst.store import MetricStore

# A server under test runs on one core, what loads or probes it on the
# other, so neither takes CPU from the other.
SERVER_CPU = '1'
LOAD_CPU = '0'


def on_cpu(cpu):
    """A command prefix pinning to ``cpu``; empty on a single core."""
    return ['taskset', '-c', cpu] if (os.cpu_count() or 1) > 1 else []


DEVICES = ['d%02d' % i for i in range(12)]
POLICIES = ('0', '1')
STATUSES = ('2xx', '3xx', '4xx', '5xx', 'other')


def label_sets():
    """(metric, labels) of every series, in a stable order."""
    for device in DEVICES:
        for policy in POLICIES:
            for op in metrics.DISK_OPS:
                yield metrics.DISK_OP, (op, device, policy)
            for method in metrics.METHODS:
                labels = (method, device, policy)
                yield metrics.INPUT_READ, labels
                yield metrics.INPUT_BYTES, labels
                yield metrics.SLOW_READS, labels
                for status in STATUSES:
                    yield metrics.REQUEST, labels + (status,)


def fill(store, observations=3):
    """Give ``store`` every series, each with a few observations."""
    for definition, labels in label_sets():
        key = (definition.name, labels)
        for i in range(observations):
            if definition.kind == metrics.HISTOGRAM:
                store.observe(key, 0.0005 * (10 ** (i % 5)))
            else:
                store.inc(key, 1 + i)


def _worker(directory, bounds, ready, release):
    store = MetricStore(directory, bounds)
    store.adopt_current_process()
    fill(store)
    store.flush()
    ready.set()
    if release is not None:
        release.wait(3600)


class FakeWorkers(object):
    """Real processes that each wrote a full snapshot into ``directory``.

    ``live`` ones wait until close(); the others exit at once, leaving
    snapshots of dead workers behind, as worker churn does.
    """

    def __init__(self, directory, bounds, live, dead=0):
        ctx = multiprocessing.get_context('fork')
        self.release = ctx.Event()
        self.procs = []
        for i in range(live + dead):
            ready = ctx.Event()
            proc = ctx.Process(target=_worker, args=(
                directory, bounds, ready, self.release if i < live else None))
            proc.start()
            ready.wait(60)
            if i >= live:
                proc.join()
            else:
                self.procs.append(proc)

    def close(self):
        self.release.set()
        for proc in self.procs:
            proc.join()


def snapshot_names(directory):
    return [n for n in os.listdir(directory) if n.startswith('snap-')]
