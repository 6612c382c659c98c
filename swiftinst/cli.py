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

"""The ``swiftinst`` command.

``swiftinst demo`` starts a real object server on loopback with the filter
in its pipeline, drives a little load with one deliberately slow client,
and prints what the metrics show.  ``swiftinst report`` summarises live
object servers (see ``report``).
"""

import argparse
import signal
import sys
import time
import uuid

from swiftinst import __version__
from swiftinst.analysis import Scrape
from swiftinst.summary import (PHASE_COLUMNS, REPORT_COLUMNS, device_rows,
                               format_table)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP: the demo stops as it does on Ctrl-C."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _stop_on_signals():
    """Make SIGTERM and SIGHUP (``kill``, ``timeout``, a supervisor, a
    closed terminal) unwind the demo like Ctrl-C, so that its object
    server is stopped and its temporary directory removed.
    """
    def stop(signum, frame):
        raise Stopped(signum)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)


def _say(*parts):
    print(*parts)
    sys.stdout.flush()


def _log_lines(server, *markers):
    return ['  ' + line.split('>', 1)[-1].rstrip('\x00')
            for line in server.log.wait_for(
                lambda line: all(m in line for m in markers), 5)]


def run_slow_disk_demo(args):
    """One worker, one sick disk: who waited for whom."""
    import threading
    from swiftinst.demo.server import ObjectServer, slow_disk_env

    delay = args.slow_disk_delay
    options = {'flush_interval': '0.2', 'slow_read_threshold': '0.3',
               'event_loop_accounting': 'true'}
    with ObjectServer(workers=1, filter_options=options,
                      env=slow_disk_env(open_path='/sdb/',
                                        open_delay=delay)) as server:
        _say('Started swift-object-server (workers = 1) with the instrument '
             'filter on 127.0.0.1:%d' % server.port)
        _say('Every os.open on sdb blocks for %.2fs, as on a disk whose '
             'inode cache no longer fits in RAM; sda is healthy.' % delay)
        _say('Driving PUTs to both devices at once, in one worker ...')
        body = b'd' * 4096

        def put_many(device, count):
            for i in range(count):
                server.put(device, 'demo-%s-%d' % (device, i), body)
        threads = [threading.Thread(target=put_many, args=('sda', 40)),
                   threading.Thread(target=put_many, args=('sdb', 4))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        fast_txn, slow_txn = 'tx' + uuid.uuid4().hex, 'tx' + uuid.uuid4().hex
        _say('One more PUT to sda is halfway through its body when a PUT to '
             'sdb (txn %s) blocks the hub ...' % slow_txn)
        server.put_behind_a_block('/sda/0/a/c/demo-fast', fast_txn,
                                  '/sdb/0/a/c/demo-slow', slow_txn)
        time.sleep(0.5)     # let the worker flush its snapshot

        scrape = Scrape(server.metrics_text())
        _say('')
        _say('Where each device\'s request time went:')
        _say(format_table(device_rows(scrape), PHASE_COLUMNS))
        _say('')
        _say('sda\'s PUTs waited for the event loop (hub_wait) while sdb\'s '
             'PUTs held it (running, and the hub blocks).')
        _say('')
        _say('The hub blocks, as logged by the object server:')
        for line in _log_lines(server, 'Event loop blocked'):
            _say(line)
        _say('')
        _say('The read of the sda PUT that the last block stalled:')
        for line in _log_lines(server, 'Slow read', fast_txn):
            _say(line)
    return 0


def run_demo(args):
    from swiftinst.demo.server import ObjectServer

    _stop_on_signals()
    if args.slow_disk:
        return run_slow_disk_demo(args)

    options = {'flush_interval': '0.2',
               'slow_read_threshold': str(args.slow_read_threshold),
               'event_loop_accounting': 'true'}
    with ObjectServer(workers=2, filter_options=options) as server:
        url = 'http://127.0.0.1:%d/metrics' % server.port
        _say('Started swift-object-server (workers = 2) with the instrument '
             'filter on 127.0.0.1:%d' % server.port)
        _say('  devices: %s (%s)' % (server.devices_dir,
                                     ', '.join(server.devices)))
        _say('Driving %d PUTs and GETs of 4 KiB, and one 1 MiB PUT ...'
             % args.requests)
        body = b'd' * 4096
        before, started = Scrape(server.metrics_text()), time.time()
        for i in range(args.requests):
            device = server.devices[i % len(server.devices)]
            server.put(device, 'demo-%d' % i, body)
            server.request('GET', '/%s/0/a/c/demo-%d' % (device, i))
        server.put(server.devices[0], 'demo-big', b'b' * (1 << 20))

        txn = 'tx' + uuid.uuid4().hex
        pause = args.slow_read_threshold * 2
        _say('One client stalls %.1fs in the middle of its PUT body to %s '
             '(txn %s) ...' % (pause, server.devices[-1], txn))
        server.put_slowly('/%s/0/a/c/demo-slow' % server.devices[-1],
                          4 * 65536, 100000, pause, txn)
        time.sleep(0.5)     # let both workers flush their snapshots

        after = Scrape(server.metrics_text())
        _say('')
        _say('What the metrics show, per device, as `swiftinst report %s` '
             'would (rates over the %.0fs of load; p50/p99 from the '
             'histogram buckets; * marks the worst device):'
             % (url, time.time() - started))
        _say(format_table(device_rows(after, before, time.time() - started),
                          REPORT_COLUMNS))
        _say('')
        _say('The slow client, as logged by the object server:')
        for line in _log_lines(server, 'Slow read'):
            _say(line)
        _say('')
        if args.serve:
            try:
                # inside the try: a signal right after this line is the
                # way to stop, as during the sleep
                _say('Serving until Ctrl-C (or SIGTERM); scrape it:  '
                     'curl -s %s' % url)
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        else:
            _say('To keep the server up and curl its /metrics yourself: '
                 'swiftinst demo --serve')
        _say('Stopping the object server.')
    return 0


def run_report(args):
    from swiftinst import report
    if bool(args.urls) == bool(args.prometheus):
        print('swiftinst report: give either object-server URLs or '
              '--prometheus URL', file=sys.stderr)
        return 2
    if args.prometheus:
        from swiftinst import fleet
        if args.top <= 0:
            print('swiftinst report: --top must be > 0', file=sys.stderr)
            return 2
        return fleet.run(args.prometheus, args.top, args.json, sys.stdout,
                         sys.stderr)
    if args.interval <= 0:
        print('swiftinst report: --interval must be > 0', file=sys.stderr)
        return 2
    return report.run(args.urls, args.interval, as_json_output=args.json,
                      watch=args.watch)


def run_requests(args):
    from swiftinst import requests_view
    if args.interval <= 0:
        print('swiftinst requests: --interval must be > 0', file=sys.stderr)
        return 2
    return requests_view.run(args.url, as_json=args.json, watch=args.watch,
                             interval=args.interval, out=sys.stdout,
                             err=sys.stderr)


def build_parser():
    parser = argparse.ArgumentParser(
        prog='swiftinst',
        description='Instrumentation for the Swift object server.')
    parser.add_argument('--version', action='version',
                        version='swiftinst %s' % __version__)
    commands = parser.add_subparsers(dest='command', required=True)
    demo = commands.add_parser(
        'demo', help='run a real object server with the filter and show '
                     'what it measures')
    demo.add_argument('--requests', type=int, default=200,
                      help='PUT+GET pairs to drive (default 200)')
    demo.add_argument('--slow-read-threshold', type=float, default=0.5,
                      help='seconds; the slow client stalls twice this')
    demo.add_argument('--serve', action='store_true',
                      help='keep the server running until Ctrl-C')
    demo.add_argument('--slow-disk', action='store_true',
                      help='one worker, a device whose opens block the '
                           'event loop: show who waited for whom')
    demo.add_argument('--slow-disk-delay', type=float, default=0.5,
                      help='seconds each open on the slow device blocks '
                           '(default 0.5)')
    demo.set_defaults(run=run_demo)
    report = commands.add_parser(
        'report', help='what is slow on this node now: per-device rates, '
                       'latencies, phase split, slow reads, hub blocks')
    report.add_argument('urls', nargs='*', metavar='URL',
                        help='an object server\'s metrics URL, e.g. '
                             'http://127.0.0.1:6200/metrics; several are '
                             'summed')
    report.add_argument('--prometheus', metavar='URL',
                        help='instead, the worst devices of the whole '
                             'fleet, from this Prometheus (or Thanos, '
                             'Mimir) with swiftinst\'s recording rules, '
                             'e.g. http://prometheus:9090')
    report.add_argument('--top', type=int, default=20,
                        help='with --prometheus: how many devices '
                             '(default 20)')
    report.add_argument('--interval', type=float, default=10.0,
                        help='seconds between the two scrapes (default 10)')
    report.add_argument('--watch', action='store_true',
                        help='keep scraping every interval, like top')
    report.add_argument('--json', action='store_true',
                        help='machine-readable output')
    report.set_defaults(run=run_report)
    requests = commands.add_parser(
        'requests', help='what each request on a node is waiting on right '
                         'now, and the slowest recent ones, step by step')
    requests.add_argument('url', metavar='URL',
                          help='an object server\'s requests URL, e.g. '
                               'http://127.0.0.1:6200/debug/requests')
    requests.add_argument('--json', action='store_true',
                          help='the endpoint\'s JSON answer')
    requests.add_argument('--watch', action='store_true',
                          help='refresh every interval, like top')
    requests.add_argument('--interval', type=float, default=2.0,
                          help='with --watch: seconds between refreshes '
                               '(default 2)')
    requests.set_defaults(run=run_requests)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt as stop:
        # the shell's convention: 128 + the signal's number
        return 128 + getattr(stop, 'signum', signal.SIGINT)


if __name__ == '__main__':
    sys.exit(main())
