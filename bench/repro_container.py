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

"""``make repro``, the container side: the seed thread's nodes kept their
container servers on the same disks as their objects, and put 15 million
objects into 200 containers.

Every object PUT updates its container's database on a container server
before it answers (up to ``container_update_timeout``, 1 s); Swift's
container-sharding docs describe updates slowing down as a container
grows, until they time out and pile up as async pendings.  Here:

* the object server's device is on tmpfs: its own disk is never slow;
* the container server's device is ``bench.repro_slowdown``'s XFS on a
  FUSE disk whose reads wait DELAY_MS, like the object side's;
* the container ``a/c`` grows by rows written straight into its database
  (Swift's ContainerBroker), stage by stage;
* at each stage wrk PUTs 4 KiB objects with the headers a proxy sends
  (``X-Container-Host`` and friends), once with warm caches and once with
  the kernel's caches dropped every second, and swiftinst's figures for
  the object device are read from two scrapes: the PUT rate,
  ``container_wait``'s share of request time, the updates' p99 and
  outcomes, the async pendings, and the verdict.

Results: a CSV and a PNG in bench/results/.  Needs what
bench.repro_slowdown needs (root, xfsprogs, libfuse2, fusepy, matplotlib).

    python -m bench.repro_container [--stages 0,250000,...] [--seconds 8]
"""

import os
import shutil
import signal
import sys
import tempfile
import time

from bench.e2e import run_wrk
from bench.repro_slowdown import (HERE, CachePressure, SlowXfs, check_tools,
                                  stage_options, write_results)
from swiftinst import metrics
from swiftinst.analysis import Scrape, bucket_delta, histogram_quantile
from swiftinst.demo.server import ContainerServer, ObjectServer
from swiftinst.summary import device_rows
from swiftinst.verdict import seconds_text

OBJECT_DEVICE = 'sda'
CONTAINER_DEVICE = 'sdc'
DEFAULT_STAGES = (0, 250000, 1000000)
BATCH = 20000


def database(containers):
    """The path of a/c's database on the container server's device."""
    for top, _, files in os.walk(os.path.join(
            containers.devices_dir, CONTAINER_DEVICE, 'containers')):
        for name in files:
            if name.endswith('.db'):
                return os.path.join(top, name)
    raise RuntimeError('the container a/c has no database')


def grow(db_path, have, want):
    """Add rows ``have`` .. ``want`` - 1 to the container's database."""
    from swift.common.utils import Timestamp
    from swift.container.backend import ContainerBroker
    broker = ContainerBroker(db_path, account='a', container='c')
    for start in range(have, want, BATCH):
        now = Timestamp.now().internal
        broker.merge_items([{
            'name': 'grown-%09d' % i, 'created_at': now, 'size': 4096,
            'content_type': 'application/octet-stream',
            'etag': 'd41d8cd98f00b204e9800998ecf8427e', 'deleted': 0,
            'storage_policy_index': 0}
            for i in range(start, min(start + BATCH, want))])


def measure(server, containers, rows, condition, seconds):
    env = {'SWIFTINST_METHOD': 'PUT', 'SWIFTINST_BODY_BYTES': '4096',
           'SWIFTINST_DEVICE': OBJECT_DEVICE,
           'SWIFTINST_CONTAINER': '127.0.0.1:%d/%s' % (
               containers.port, CONTAINER_DEVICE)}
    before = Scrape(server.metrics_text())
    started = time.time()
    result = run_wrk(server, seconds, 16, env)
    # the updates that outlived their PUTs end by node_timeout (3 s)
    time.sleep(3.5)
    after = Scrape(server.metrics_text())
    row = [r for r in device_rows(after, before, time.time() - started)
           if r['device'] == OBJECT_DEVICE][0]
    update = metrics.CONTAINER_UPDATE.name
    outcomes = row['updates']
    return {
        'rows': rows, 'condition': condition,
        'put_rate': result['rps'], 'put_p99_ms': result['p99_us'] / 1e3,
        'container_wait': row['container_wait'],
        'client_wait': row['client_wait'],
        'update_p99': histogram_quantile(0.99, bucket_delta(
            after.buckets(update), before.buckets(update))),
        'updates_ok': outcomes.get('ok', (0, 0.0))[0],
        'updates_timeout': outcomes.get('timeout', (0, 0.0))[0],
        'updates_error': outcomes.get('error', (0, 0.0))[0],
        'async_pendings': row['async_pendings'],
        'verdict': '%(cause)s (%(reason)s)' % row['verdict'],
    }


def plot(rows, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for condition, style in (('warm', 'o-'), ('pressure', 's-')):
        chosen = [r for r in rows if r['condition'] == condition]
        x = [r['rows'] / 1000.0 for r in chosen]
        axes[0].plot(x, [r['put_rate'] for r in chosen], style,
                     label=condition)
        axes[1].plot(x, [r['container_wait'] * 100 for r in chosen], style,
                     label=condition)
    axes[0].set_title('4 KiB PUT/s, updating one container')
    axes[0].set_ylim(bottom=0)
    axes[1].set_title('container_wait, % of request time')
    axes[1].set_ylim(0, 100)
    for ax in axes:
        ax.set_xlabel('objects in the container (thousands)')
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run(stages, seconds, delay_ms):
    check_tools()
    work = tempfile.mkdtemp(prefix='swiftinst-repro-c-', dir='/var/tmp')
    shm = tempfile.mkdtemp(prefix='swiftinst-repro-o-', dir='/dev/shm')
    server = ObjectServer(root=shm, devices=(OBJECT_DEVICE,), workers=2,
                          filter_options={'flush_interval': '0.5',
                                          'disk_state_interval': '0'})
    containers = ContainerServer(root=work, devices=(CONTAINER_DEVICE,))
    disk = SlowXfs(work, os.path.join(containers.devices_dir,
                                      CONTAINER_DEVICE), delay_ms)
    out = os.path.join(HERE, 'results', 'repro-container-%s'
                       % time.strftime('%Y%m%d-%H%M%S'))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    rows = []

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        disk.start()
        containers.start().create()
        server.start()
        db_path = database(containers)
        have = 0
        for want in stages:
            started = time.time()
            grow(db_path, have, want)
            have = want
            print('stage: %d objects in the container (grown in %.0fs)'
                  % (want, time.time() - started), flush=True)
            rows.append(measure(server, containers, want, 'warm', seconds))
            with CachePressure():
                rows.append(measure(server, containers, want, 'pressure',
                                    seconds))
            for row in rows[-2:]:
                print('  %-8s %6.0f PUT/s  container_wait %3.0f%%  update '
                      'p99 %s  ok/timeout/error %d/%d/%d  async pendings '
                      '%d\n           verdict: %s' % (
                          row['condition'], row['put_rate'],
                          row['container_wait'] * 100,
                          seconds_text(row['update_p99'])
                          if row['update_p99'] == row['update_p99'] else '-',
                          row['updates_ok'], row['updates_timeout'],
                          row['updates_error'], row['async_pendings'],
                          row['verdict']), flush=True)
        write_results(rows, out, plot)
    finally:
        server.close()
        containers.close()
        disk.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)
    return rows


def main(argv=None):
    args = stage_options(DEFAULT_STAGES).parse_args(argv)
    run([int(s) for s in args.stages.split(',')], args.seconds,
        args.delay_ms)
    return 0


if __name__ == '__main__':
    sys.exit(main())
