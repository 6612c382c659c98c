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

"""``swiftinst report``: what is slow on this node right now.

Scrapes one or more object servers' ``/metrics`` twice, ``interval``
seconds apart, and summarises the difference per device, so an operator on
a storage node needs neither Prometheus nor Grafana.  Quantiles come from
bucket deltas, computed the way PromQL's ``histogram_quantile`` does (see
``analysis``), so they agree with the dashboard within one bucket.
"""

import json
import math
import sys
import time
import urllib.error
import urllib.request

from swiftinst.analysis import Scrape
from swiftinst.summary import REPORT_COLUMNS, device_rows, format_table


class ReportError(Exception):
    """A URL that cannot be used; the message says which and why."""


def fetch(url, timeout=10.0):
    """One scrape of ``url``; ReportError unless it is a swiftinst
    endpoint.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            text = reply.read().decode('utf-8', 'replace')
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise ReportError('cannot read %s: %s' % (
            url, getattr(err, 'reason', None) or err))
    try:
        scrape = Scrape(text)
    except Exception:
        raise ReportError('%s is not a Prometheus endpoint' % url)
    if not any(name.startswith('swift_object_')
               for name, _ in scrape.samples):
        raise ReportError('%s is not a swiftinst endpoint (no '
                          'swift_object_* metrics)' % url)
    return scrape


def fetch_all(urls):
    """The scrapes of every URL, summed into one."""
    return Scrape.combined([fetch(url) for url in urls])


def wait(seconds, progress):
    """Sleep ``seconds``, telling ``progress`` (a stream) how long is left."""
    deadline = time.time() + seconds
    interactive = progress.isatty()
    if not interactive:
        progress.write('swiftinst report: next scrape in %.0fs ...\n'
                       % seconds)
        progress.flush()
    while True:
        left = deadline - time.time()
        if left <= 0:
            break
        if interactive:
            progress.write('\rswiftinst report: next scrape in %2.0fs '
                           % math.ceil(left))
            progress.flush()
        time.sleep(min(left, 1.0))
    if interactive:
        progress.write('\r' + ' ' * 40 + '\r')
        progress.flush()


def as_json(rows, seconds, urls, window):
    """``window``: the Unix times of the two scrapes, so a script can ask
    Prometheus about the same stretch of time.
    """
    def clean(value):
        return None if isinstance(value, float) and math.isnan(value) \
            else value
    return json.dumps({'interval_seconds': seconds, 'urls': list(urls),
                       'window_start': window[0], 'window_end': window[1],
                       'devices': [{k: clean(v) for k, v in row.items()}
                                   for row in rows]}, indent=2)


def run(urls, interval, as_json_output=False, watch=False, out=sys.stdout,
        progress=sys.stderr):
    """The ``swiftinst report`` command; returns its exit status."""
    try:
        before = fetch_all(urls)
        before_at = time.time()
        while True:
            wait(interval, progress)
            after = fetch_all(urls)
            after_at = time.time()
            rows = device_rows(after, before, after_at - before_at)
            if as_json_output:
                out.write(as_json(rows, interval, urls,
                                  (before_at, after_at)) + '\n')
            else:
                if watch and out.isatty():
                    out.write('\033[H\033[2J')
                out.write('%s, %d URL(s), last %.0fs\n' % (
                    time.strftime('%H:%M:%S'), len(urls), interval))
                out.write(format_table(rows, REPORT_COLUMNS) + '\n')
            out.flush()
            if not watch:
                return 0
            before, before_at = after, after_at
    except ReportError as err:
        progress.write('swiftinst report: %s\n' % err)
        return 2
    except KeyboardInterrupt:
        return 0
