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

"""Instructions per PUT, counted by valgrind: a figure that does not swing.

The A/B runs of bench/e2e.py move by a few per cent from run to run on a
shared host.  Counting user-space instructions with callgrind, with a
fixed hash seed, usually repeats to within 0.03 % (an odd run is 1 %
off: valgrind schedules the tpool threads), so it can tell which part
of the filter costs what.  Each variant runs N and 4N PUTs through Swift's
ObjectController in-process (swob requests, eventlet monkey-patched) and
the difference divided by 3N is the steady per-PUT count.

Variants: bare (no filter), filter (compiled, event-loop accounting
off), pure (the same modules interpreted), accounting (the filter with
event-loop accounting on, and so the request records),
accounting-no-records (the same without the records), request (the
filter without
its diskfile hooks), no-hub-wrappers and no-helpers (the filter less one
group of diskfile hooks), detached (the hooks alone, with no filter: disk
work outside any request, as replication does).

``--worker`` counts the same in a real ``swift-object-server`` worker
(``workers = 1``, devices on /dev/shm), eventlet's HTTP server included,
for PUTs and for GETs of one 4 KiB object, bare and with the filter
compiled (its defaults: event-loop accounting and exemplars on),
interpreted, and compiled with accounting off (``WORKER_VARIANTS``):
200 requests of warm-up, then callgrind's counters are zeroed and dumped
around WORKER_REQUESTS sequential requests.  The flusher and the disk-state
sampler are set to (almost) never run: under valgrind a PUT takes 50
times longer, so once-a-second work would weigh 50 times too much.

    python -m bench.instructions [variant ...]     # needs Debian's valgrind
    python -m bench.instructions --worker
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

from swiftinst import diskfile_hooks, server_hooks

N = 100
WORKER_REQUESTS = 1000
VARIANTS = ('bare', 'filter', 'pure', 'accounting', 'accounting-no-records',
            'request', 'no-hub-wrappers', 'no-helpers', 'detached')


def _app(variant, root):
    """The WSGI app under test, set up for ``variant``."""
    from swift.common import utils
    from swift.obj.server import ObjectController
    from swiftinst.middleware import filter_factory
    from swiftinst.demo.server import SWIFT_CONF
    from swiftinst.worker import WorkerLifecycle
    os.makedirs(os.path.join(root, 'node', 'sda'))
    os.makedirs(os.path.join(root, 'etc'))
    with open(os.path.join(root, 'etc', 'swift.conf'), 'w') as f:
        f.write(SWIFT_CONF)
    utils.set_swift_dir(os.path.join(root, 'etc'))
    conf = {'devices': os.path.join(root, 'node'), 'mount_check': 'false',
            'swift_dir': os.path.join(root, 'etc'),
            'log_name': 'object-server', 'log_address': '/nonexistent'}
    bare = ObjectController(conf)
    if variant == 'no-hub-wrappers':
        diskfile_hooks._METHODS = ()
    if variant == 'no-helpers':
        diskfile_hooks._HELPERS = ()
    if variant == 'accounting-no-records':
        # what the request records (see activity) cost, by difference
        WorkerLifecycle.start_request_records = lambda self: None
    filtered = filter_factory(
        conf, metrics_dir=os.path.join(root, 'm'), flush_interval='3600',
        # periodic work runs by the wall clock, which valgrind slows 50
        # times: it would add noise and weigh 50 times too much
        disk_state_interval='0',
        event_loop_accounting=str(variant.startswith('accounting')))(bare)
    if variant in ('bare', 'request'):
        diskfile_hooks.uninstall()
    if variant == 'bare':
        server_hooks.uninstall()
    return bare if variant in ('bare', 'detached') else filtered


def run_puts(variant, count):
    import eventlet
    eventlet.monkey_patch(all=False, socket=True, select=True, thread=True)
    from swift.common import swob, utils
    root = tempfile.mkdtemp(dir='/dev/shm' if os.path.isdir('/dev/shm')
                            else None)
    try:
        app = _app(variant, root)
        body = b'x' * 4096
        for i in range(count):
            req = swob.Request.blank(
                '/sda/0/a/c/o%d' % i, method='PUT', body=body, headers={
                    'X-Timestamp': utils.Timestamp.now().internal,
                    'Content-Type': 'application/octet-stream'})
            assert req.get_response(app).status_int == 201
    finally:
        shutil.rmtree(root, ignore_errors=True)


def count_instructions(variant, count):
    out = tempfile.mktemp(prefix='callgrind-')
    env = dict(os.environ, PYTHONHASHSEED='0',
               SWIFTINST_PURE_PYTHON=str(variant == 'pure'))
    proc = subprocess.run(
        ['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out,
         sys.executable, '-m', 'bench.instructions', '--run', variant,
         str(count)], capture_output=True, text=True, env=env, check=True)
    os.unlink(out)
    return int(re.search(r'Collected : (\d+)', proc.stderr).group(1))


def per_put(variant):
    return (count_instructions(variant, 4 * N) -
            count_instructions(variant, N)) / (3 * N)


def _worker_instructions(server, out_dir, method, count):
    """Instructions one worker of ``server`` (under callgrind) spends on
    ``count`` sequential 4 KiB PUTs, or GETs of one object.
    """
    body = b'x' * 4096
    if method == 'GET':
        assert server.put('sda', 'got', body)[0] == 201

        def one(i):
            status, _, got = server.request('GET', '/sda/0/a/c/got')
            assert status == 200 and got == body, status
    else:
        def one(i):
            assert server.put('sda', 'o-%d' % i, body)[0] == 201
    for i in range(200):
        one(-1 - i)
    pid = str(server.worker_pids()[0])
    subprocess.run(['callgrind_control', '--zero', pid], check=True,
                   capture_output=True)
    for i in range(count):
        one(i)
    subprocess.run(['callgrind_control', '--dump', pid], check=True,
                   capture_output=True)
    with open(os.path.join(out_dir, 'callgrind.%s.1' % pid)) as f:
        return int(re.search(r'^(?:summary|totals): (\d+)', f.read(),
                             re.M).group(1))


# name -> (filtered, extra filter options, interpreted)
WORKER_VARIANTS = {
    'bare': (False, {}, False),
    'compiled': (True, {}, False),
    'interpreted': (True, {}, True),
    'accounting-off': (True, {'event_loop_accounting': 'false'}, False),
}


def worker_per_request(variant, method, count=WORKER_REQUESTS):
    from swiftinst.demo.server import ObjectServer
    instrument, options, interpreted = WORKER_VARIANTS[variant]
    root = tempfile.mkdtemp(prefix='swiftinst-instr-', dir='/dev/shm')
    server = ObjectServer(
        root=root, devices=('sda',), workers=1, instrument=instrument,
        filter_options=dict({'flush_interval': '3600',
                             'disk_state_interval': '0'}, **options),
        env={'PYTHONHASHSEED': '0',
             'SWIFTINST_PURE_PYTHON': '1' if interpreted else '0'},
        command_prefix=['valgrind', '--tool=callgrind', '--trace-children=yes',
                        '--callgrind-out-file=' +
                        os.path.join(root, 'callgrind.%p')])
    try:
        server.start(timeout=300)
        return _worker_instructions(server, root, method, count) / count
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)


def main_worker(variants=('compiled', 'interpreted', 'accounting-off')):
    print('%-22s %12s %10s' % ('worker', 'instr/req', 'added'))
    for method in ('PUT', 'GET'):
        base = worker_per_request('bare', method)
        print('%-22s %12.0f %10s' % ('bare ' + method, base, '-'))
        for variant in variants:
            n = worker_per_request(variant, method)
            print('%-22s %12.0f %+9.1f%%' % (
                '%s %s' % (variant, method), n, 100.0 * (n - base) / base),
                flush=True)


def main(variants):
    base = per_put('bare')
    print('%-16s %12s %10s' % ('variant', 'instr/PUT', 'added'))
    print('%-16s %12.0f %10s' % ('bare', base, '-'))
    for variant in variants:
        if variant != 'bare':
            n = per_put(variant)
            print('%-16s %12.0f %+9.1f%%' % (variant, n,
                                             100.0 * (n - base) / base))


if __name__ == '__main__':
    if sys.argv[1:2] == ['--run']:
        run_puts(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ['--worker']:
        main_worker(sys.argv[2:] or tuple(WORKER_VARIANTS)[1:])
    else:
        main(sys.argv[1:] or VARIANTS)
