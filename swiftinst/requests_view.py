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

"""``swiftinst requests URL``: what the node's requests are doing now.

It reads an object server's ``requests_path`` (see activity) and prints a
line per request in flight, oldest first: its txn id, method, device,
age, what it waits on right now, and its steps so far; then the slowest
recent requests with their timelines.  ``--watch`` refreshes it like
``top``; ``--json`` prints the endpoint's answer as it is.
"""

import json
import sys
import time
import urllib.error
import urllib.request

# Steps shorter than this are counted, not listed, in a line.
SHORT_STEP = 0.001


class RequestsError(Exception):
    """A URL that cannot be read; the message says which and why."""


def fetch(url, timeout=10.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return json.loads(reply.read().decode('utf-8'))
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise RequestsError('cannot read %s: %s' % (
            url, getattr(err, 'reason', None) or err))


def format_steps(steps):
    """'client 2.001s, fsync 0.012s (+5 under 1 ms)'."""
    shown = ['%s %.3fs' % (kind, seconds) for kind, seconds in steps
             if seconds >= SHORT_STEP]
    short = len(steps) - len(shown)
    text = ', '.join(shown) or '-'
    return text + (' (+%d under 1 ms)' % short if short else '')


def _identity(request):
    return '%-36s %-7s %-8s' % (request.get('txn_id') or '-',
                                request.get('method') or '-',
                                request.get('device') or '-')


def format_answer(answer):
    lines = []
    in_flight = answer.get('in_flight', [])
    lines.append('%s, %d in flight, oldest first:' % (
        time.strftime('%H:%M:%S', time.localtime(answer.get('time'))),
        len(in_flight)))
    lines.append('%-36s %-7s %-8s %8s  %-14s %s' % (
        'txn', 'method', 'device', 'age', 'waiting on', 'steps'))
    for request in in_flight:
        lines.append('%s %7.3fs  %-14s %s' % (
            _identity(request), request['seconds'], request['waiting_on'],
            format_steps(request['steps'])))
    slowest = answer.get('slowest', [])
    lines.append('')
    lines.append('slowest recent requests (%d):' % len(slowest))
    lines.append('%-36s %-7s %-8s %8s  %-6s %s' % (
        'txn', 'method', 'device', 'took', 'status', 'steps'))
    for request in slowest:
        lines.append('%s %7.3fs  %-6s %s' % (
            _identity(request), request['seconds'], request['status'],
            format_steps(request['steps'])))
    return '\n'.join(lines) + '\n'


def run(url, as_json=False, watch=False, interval=2.0, out=sys.stdout,
        err=sys.stderr):
    """The ``swiftinst requests`` command; returns its exit status."""
    try:
        while True:
            answer = fetch(url)
            if as_json:
                out.write(json.dumps(answer, indent=2) + '\n')
            else:
                if watch and out.isatty():
                    out.write('\033[H\033[2J')
                out.write(format_answer(answer))
            out.flush()
            if not watch:
                return 0
            time.sleep(interval)
    except RequestsError as error:
        err.write('swiftinst requests: %s\n' % error)
        return 2
    except KeyboardInterrupt:
        return 0
