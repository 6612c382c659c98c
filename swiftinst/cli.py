"""The ``swiftinst`` command.

``swiftinst demo`` starts a real object server on loopback with the filter
in its pipeline, drives a little load with one deliberately slow client,
and prints what the metrics show.
"""

import argparse
import sys
import time
import uuid

from swiftinst.analysis import Scrape
from swiftinst.summary import device_rows, format_table


def _say(*parts):
    print(*parts)
    sys.stdout.flush()


def run_demo(args):
    from swiftinst.testbed import ObjectServer

    options = {'flush_interval': '0.2',
               'slow_read_threshold': str(args.slow_read_threshold)}
    with ObjectServer(workers=2, filter_options=options) as server:
        url = 'http://127.0.0.1:%d/metrics' % server.port
        _say('Started swift-object-server (workers = 2) with the instrument '
             'filter on 127.0.0.1:%d' % server.port)
        _say('  devices: %s (%s)' % (server.devices_dir,
                                     ', '.join(server.devices)))
        _say('Driving %d PUTs and GETs of 4 KiB, and one 1 MiB PUT ...'
             % args.requests)
        body = b'd' * 4096
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

        scrape = Scrape(server.metrics_text())
        _say('')
        _say('What the metrics show, per device (p50/p99 from the '
             'histogram buckets):')
        _say(format_table(device_rows(scrape)))
        warnings = server.log.wait_for(lambda line: 'Slow read' in line, 5)
        _say('')
        _say('The slow client, as logged by the object server:')
        for line in warnings:
            _say('  ' + line.split('>', 1)[-1].rstrip('\x00'))
        _say('')
        if args.serve:
            _say('Serving until Ctrl-C; scrape it:  curl -s %s' % url)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        else:
            _say('To keep the server up and curl its /metrics yourself: '
                 'swiftinst demo --serve')
        _say('Stopping the object server.')
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog='swiftinst',
        description='Instrumentation for the Swift object server.')
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
    demo.set_defaults(run=run_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == '__main__':
    sys.exit(main())
