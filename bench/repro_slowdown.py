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

"""``make repro``: the seed thread's slowdown, reproduced on XFS, and what
swiftinst shows about it.

The operator's 4 KiB PUTs fell from 1200/s to 300/s once each disk held
millions of objects: XFS's inode and dentry caches no longer fit in RAM,
so directory lookups and inode reads in ``open``, ``mkdir`` and
``listdir`` went to disk, on the event loop.

This machine has plenty of RAM and a fast virtual disk, so both are
emulated (see docs/repro.rst):

* the XFS image lives on ``bench.slowfuse``, a passthrough FUSE
  filesystem that adds DELAY_MS to every read that misses the page cache:
  a seek-bound disk;
* "RAM too small for the inode cache" is ``echo 3 > drop_caches`` every
  second while the PUT load runs.

Stages: the device is pre-filled to each object count by separate
processes that write valid ``.data`` files through Swift's own
DiskFileManager; then wrk PUTs 4 KiB objects, once with warm caches and
once under cache pressure, while swiftinst's metrics are scraped before
and after.  Results: a CSV and a PNG in bench/results/.

Needs root, xfsprogs, libfuse2 (Debian) and fusepy, matplotlib (pip);
cleans up (server, mounts, files) even when interrupted.

    python -m bench.repro_slowdown [--stages 0,25000,...] [--seconds 8]
"""

import argparse
import csv
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from bench.e2e import run_wrk
from swiftinst import metrics
from swiftinst.analysis import Scrape, bucket_delta, histogram_quantile
from swiftinst.summary import device_rows
from swiftinst.demo.server import ObjectServer

HERE = os.path.dirname(os.path.abspath(__file__))
DEVICE = 'sda'
IMAGE_SIZE = 8 << 30
DEFAULT_STAGES = (0, 50000, 150000, 300000)
PREFILL_PROCESSES = 2
# Partitions the objects live in, pre-filled and PUT alike.  A real disk
# holds some hundreds to thousands of partitions and millions of objects:
# thousands per partition, so most of a partition's 4,096 suffix
# directories exist and every PUT looks one up in a big directory.  64
# partitions give 300,000 objects that density.
PARTITIONS = 64


# -- the pre-filler, run in its own processes ------------------------------

def prefill(devices, start, count):
    """Write objects start..start+count-1 as valid .data files through
    Swift's DiskFileManager, without fsync (the page cache is enough for
    a fill) and without tpool.
    """
    import logging
    from eventlet import tpool
    from swift.common import utils
    from swift.common.storage_policy import POLICIES
    from swift.obj import diskfile
    tpool.set_num_threads(0)          # tpool.execute runs inline
    for name in ('fsync', 'fdatasync', 'fsync_dir'):
        setattr(diskfile, name, lambda *a, **kw: None)
    utils.HASH_PATH_SUFFIX = utils.HASH_PATH_SUFFIX or b'repro'
    manager = diskfile.DiskFileManager(
        {'devices': devices, 'mount_check': 'false'},
        logging.getLogger('prefill'))
    body = b'p' * 4096
    etag = utils.md5(body, usedforsecurity=False).hexdigest()
    for i in range(start, start + count):
        df = manager.get_diskfile(DEVICE, str(i % PARTITIONS), 'AUTH_repro',
                                  'c', 'prefill-%d' % i, POLICIES[0])
        with df.create(size=len(body)) as writer:
            writer.write(body)
            writer.put({'X-Timestamp': utils.Timestamp.now().internal,
                        'Content-Length': str(len(body)), 'ETag': etag,
                        'Content-Type': 'application/octet-stream',
                        'name': '/AUTH_repro/c/prefill-%d' % i})


def fill_to(devices, have, want):
    """Grow the device from ``have`` to ``want`` objects, in parallel."""
    todo = want - have
    if todo <= 0:
        return
    share = -(-todo // PREFILL_PROCESSES)
    procs = []
    for k in range(PREFILL_PROCESSES):
        start = have + k * share
        count = min(share, want - start)
        if count > 0:
            procs.append(subprocess.Popen(
                [sys.executable, '-m', 'bench.repro_slowdown', '--prefill',
                 devices, str(start), str(count)], cwd=os.path.dirname(HERE)))
    for proc in procs:
        if proc.wait() != 0:
            raise RuntimeError('pre-filler failed')


# -- the emulated slow disk -----------------------------------------------

class SlowXfs(object):
    """An XFS image on bench.slowfuse, loop-mounted at ``mount_point``."""

    def __init__(self, work, mount_point, delay_ms):
        self.backing = os.path.join(work, 'backing')
        self.fuse = os.path.join(work, 'fuse')
        self.mount_point = mount_point
        self.delay_ms = delay_ms
        self.fuse_proc = None
        self.mounted = False

    def start(self):
        os.makedirs(self.backing)
        os.makedirs(self.fuse)
        image = os.path.join(self.backing, 'xfs.img')
        with open(image, 'wb') as f:
            f.truncate(IMAGE_SIZE)
        subprocess.run(['mkfs.xfs', '-q', image], check=True)
        self.fuse_proc = subprocess.Popen(
            [sys.executable, '-m', 'bench.slowfuse', self.backing,
             self.fuse, str(self.delay_ms)], cwd=os.path.dirname(HERE))
        deadline = time.time() + 20
        while not os.path.ismount(self.fuse):
            if time.time() > deadline or self.fuse_proc.poll() is not None:
                raise RuntimeError('the FUSE filesystem did not mount')
            time.sleep(0.1)
        subprocess.run(['mount', '-o', 'loop', os.path.join(
            self.fuse, 'xfs.img'), self.mount_point], check=True)
        self.mounted = True

    def remount(self):
        """Unmount and mount the XFS again: every inode and directory block
        it needs next is read from the (slow) disk, as after a reboot.
        """
        subprocess.run(['umount', self.mount_point], check=True)
        self.mounted = False
        subprocess.run(['mount', '-o', 'loop', os.path.join(
            self.fuse, 'xfs.img'), self.mount_point], check=True)
        self.mounted = True

    def stop(self):
        if self.mounted:
            subprocess.run(['umount', self.mount_point], check=False)
            self.mounted = False
        if self.fuse_proc is not None:
            subprocess.run(['umount', self.fuse], check=False,
                           stderr=subprocess.DEVNULL)
            try:
                self.fuse_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.fuse_proc.kill()
            self.fuse_proc = None


class CachePressure(object):
    """Drops the page, dentry and inode caches every second: RAM too small
    to keep the device's inodes.
    """

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(1.0):
            with open('/proc/sys/vm/drop_caches', 'w') as f:
                f.write('3\n')

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# -- one measurement --------------------------------------------------------

def _p99(before, after, name, **match):
    return histogram_quantile(0.99, bucket_delta(
        after.buckets(name, **match), before.buckets(name, **match)))


def measure(server, objects, condition, seconds):
    env = {'SWIFTINST_METHOD': 'PUT', 'SWIFTINST_BODY_BYTES': '4096',
           'SWIFTINST_DEVICE': DEVICE, 'SWIFTINST_PARTITIONS': str(PARTITIONS)}
    before = Scrape(server.metrics_text())
    started = time.time()
    result = run_wrk(server, seconds, 16, env)
    time.sleep(1.5)      # workers flush; the disk state is sampled
    after = Scrape(server.metrics_text())
    elapsed = time.time() - started
    row = [r for r in device_rows(after, before, elapsed)
           if r['device'] == DEVICE][0]
    disk = metrics.DISK_OP.name

    def delta(name):
        return after.total(name, device=DEVICE) - before.total(
            name, device=DEVICE)
    return {
        'objects': objects, 'condition': condition,
        'put_rate': result['rps'],
        'put_p99_ms': result['p99_us'] / 1e3,
        'running': row['running'], 'client_wait': row['client_wait'],
        'hub_wait': row['hub_wait'], 'tpool_wait': row['tpool_wait'],
        'open_p99': _p99(before, after, disk, device=DEVICE, op='open'),
        'metadata_read_p99': _p99(before, after, disk, device=DEVICE,
                                  op='metadata_read'),
        'fsync_p99': _p99(before, after, disk, device=DEVICE, op='fsync'),
        'hub_lag_p99': _p99(before, after, metrics.HUB_LAG.name),
        'hub_blocks': row['hub_blocks'],
        'ig_missed': delta(metrics.XFS_IG_MISSED.name + '_total'),
        'ig_missed_per_s': delta(metrics.XFS_IG_MISSED.name + '_total') /
        elapsed,
        'ig_attempts': delta(metrics.XFS_IG_ATTEMPTS.name + '_total'),
        'inodes_used': after.total(metrics.DEVICE_INODES_USED.name,
                                   device=DEVICE),
    }


def plot(rows, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    warm = [r for r in rows if r['condition'] == 'warm']
    cold = [r for r in rows if r['condition'] == 'pressure']
    x = [r['objects'] / 1000.0 for r in cold]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    ax = axes[0]
    ax.plot([r['objects'] / 1000.0 for r in warm],
            [r['put_rate'] for r in warm], 'o-', label='warm caches')
    ax.plot(x, [r['put_rate'] for r in cold], 's-',
            label='cache pressure')
    ax.set_title('4 KiB PUT/s')
    ax.set_xlabel('objects on the device (thousands)')
    ax.set_ylim(bottom=0)
    ax.legend()
    ax = axes[1]
    bottom = [0.0] * len(cold)
    for phase in metrics.PHASES:
        share = [r[phase] * 100 for r in cold]
        ax.bar(x, share, bottom=bottom, label=phase,
               width=max(x[-1] / 12.0, 1) if x else 1)
        bottom = [b + s for b, s in zip(bottom, share)]
    ax.set_title('Request time by phase, under cache pressure (%)')
    ax.set_xlabel('objects on the device (thousands)')
    ax.legend(fontsize='small')
    ax = axes[2]
    for key, label in (('open_p99', 'open p99'),
                       ('metadata_read_p99', 'metadata_read p99'),
                       ('fsync_p99', 'fsync p99')):
        ax.plot(x, [r[key] * 1e3 for r in cold], 'o-', label=label)
    ax.set_ylabel('ms')
    ax.set_xlabel('objects on the device (thousands)')
    ax.set_title('Disk ops (p99) and XFS inode-cache misses, pressure')
    twin = ax.twinx()
    twin.plot(x, [r['ig_missed_per_s'] for r in cold], 'k--',
              label='XFS inode-cache misses/s')
    twin.set_ylabel('XFS inode-cache misses per second')
    twin.legend(loc='upper right', fontsize='small')
    ax.legend(loc='upper left', fontsize='small')
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_results(rows, out, draw):
    """``rows`` into ``out``.csv, and ``draw(rows, path)``'s figure into
    ``out``.png.
    """
    with open(out + '.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    draw(rows, out + '.png')
    print('wrote %s.csv and %s.png' % (out, out))


def check_tools():
    """Exit, saying why, where make repro cannot run."""
    if os.geteuid() != 0:
        sys.exit('make repro needs root: it loop-mounts an XFS, mounts a '
                 'FUSE filesystem and drops the kernel caches.')
    for tool, package in (('mkfs.xfs', 'xfsprogs'), ('wrk', 'wrk')):
        if shutil.which(tool) is None:
            sys.exit('make repro needs %s (Debian package %s)'
                     % (tool, package))
    if ctypes.util.find_library('fuse') is None:
        sys.exit('make repro needs libfuse2 (Debian package libfuse2)')


def run(stages, seconds, delay_ms):
    check_tools()
    work = tempfile.mkdtemp(prefix='swiftinst-repro-', dir='/var/tmp')
    server = ObjectServer(root=work, devices=(DEVICE,), workers=2,
                          filter_options={'disk_state_interval': '1',
                                          'flush_interval': '0.5',
                                          'event_loop_accounting': 'true'})
    disk = SlowXfs(work, os.path.join(server.devices_dir, DEVICE), delay_ms)
    rows = []
    stamp = time.strftime('%Y%m%d-%H%M%S')
    out = os.path.join(HERE, 'results', 'repro-%s' % stamp)
    os.makedirs(os.path.dirname(out), exist_ok=True)

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        disk.start()
        server.start()
        have = 0
        for objects in stages:
            started = time.time()
            fill_to(server.devices_dir, have, objects)
            have = objects
            print('stage %d objects (filled in %.0fs)'
                  % (objects, time.time() - started), flush=True)
            rows.append(measure(server, objects, 'warm', seconds))
            with CachePressure():
                rows.append(measure(server, objects, 'pressure', seconds))
            for row in rows[-2:]:
                print('  %-8s %6.0f PUT/s  hub_wait %3.0f%%  running %3.0f%%'
                      '  open p99 %6.1f ms  inode-cache misses %d' % (
                          row['condition'], row['put_rate'],
                          row['hub_wait'] * 100, row['running'] * 100,
                          row['open_p99'] * 1e3, row['ig_missed']),
                      flush=True)
        write_results(rows, out, plot)
    finally:
        server.close()
        disk.stop()
        shutil.rmtree(work, ignore_errors=True)
    return rows


def stage_options(stages):
    """The options both halves of make repro take: ``--stages`` (comma
    separated, ``stages`` by default), ``--seconds``, ``--delay-ms``.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument('--stages', default=','.join(
        str(s) for s in stages))
    parser.add_argument('--seconds', type=int, default=8)
    parser.add_argument('--delay-ms', type=float, default=4.0)
    return parser


def main(argv=None):
    parser = stage_options(DEFAULT_STAGES)
    parser.add_argument('--prefill', nargs=3, metavar=('DEVICES', 'START',
                                                       'COUNT'))
    args = parser.parse_args(argv)
    if args.prefill:
        prefill(args.prefill[0], int(args.prefill[1]), int(args.prefill[2]))
        return 0
    run([int(s) for s in args.stages.split(',')], args.seconds,
        args.delay_ms)
    return 0


if __name__ == '__main__':
    sys.exit(main())
