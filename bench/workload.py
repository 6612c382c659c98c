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


def label_sets(profile='full'):
    """(metric, labels) of every series, in a stable order, as
    ``profile`` keeps them: 'full' has every histogram per device and
    policy; 'default' (swiftinst's default) keeps the request histograms
    per node, the device's requests as totals, no policy on a device's
    own series, and the cache drop and cleanup ops per node.
    """
    seen = set()
    full = profile == 'full'
    node_ops = () if full else ('drop_cache', 'cleanup')
    for device in DEVICES:
        for policy in POLICIES:
            own = policy if full else metrics.ALL_POLICIES
            for op in metrics.DISK_OPS:
                yield from _once(seen, metrics.DISK_OP, (
                    op, metrics.NODE if op in node_ops else device, own))
            for method in metrics.METHODS:
                labels = (method, device, own)
                yield from _once(seen, metrics.INPUT_READ, labels)
                yield from _once(seen, metrics.INPUT_BYTES, labels)
                yield from _once(seen, metrics.SLOW_READS, labels)
                for status in STATUSES:
                    if full:
                        yield metrics.REQUEST, labels + (status,)
                    else:
                        yield from _once(seen, metrics.REQUEST, (
                            method, metrics.NODE, policy, status))
                        yield from _once(seen, metrics.DEVICE_REQUEST,
                                         labels + (status,))


def _once(seen, definition, labels):
    if (definition.name, labels) not in seen:
        seen.add((definition.name, labels))
        yield definition, labels


def fill(store, observations=3, profile='full'):
    """Give ``store`` every series, each with a few observations."""
    for definition, labels in label_sets(profile):
        key = (definition.name, labels)
        for i in range(observations):
            if definition.kind == metrics.HISTOGRAM:
                store.observe(key, 0.0005 * (10 ** (i % 5)))
            else:
                store.inc(key, 1 + i)


def _worker(directory, bounds, ready, release, profile):
    store = MetricStore(directory, bounds)
    store.adopt_current_process()
    fill(store, profile=profile)
    store.flush()
    ready.set()
    if release is not None:
        release.wait(3600)


class FakeWorkers(object):
    """Real processes that each hold a full set of series in
    ``directory``.

    ``live`` ones wait until close(); the others exit at once, leaving
    snapshots of dead workers behind, as worker churn does.
    """

    def __init__(self, directory, bounds, live, dead=0, profile='full'):
        ctx = multiprocessing.get_context('fork')
        self.release = ctx.Event()
        self.procs = []
        for i in range(live + dead):
            ready = ctx.Event()
            proc = ctx.Process(target=_worker, args=(
                directory, bounds, ready, self.release if i < live else None,
                profile))
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
    """The workers' values files in ``directory``."""
    return [n for n in os.listdir(directory) if n.startswith('live-')]
