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

"""Per-device summaries of a scrape (or of the change between two), and
the plain-text table that shows them.

``swiftinst demo`` and ``swiftinst report`` print the same table, so a
number means the same thing in both.
"""

import math

from swiftinst import metrics, verdict
from swiftinst.analysis import bucket_delta, histogram_quantile

READ = metrics.INPUT_READ.name
DISK = metrics.DISK_OP.name
REQUEST = metrics.REQUEST.name
DEVICE_REQUEST = metrics.DEVICE_REQUEST.name
SLOW = metrics.SLOW_READS.name + '_total'
PHASE = metrics.REQUEST_PHASE.name
DEVICE_PHASE = metrics.DEVICE_PHASE.name
BLOCKED = metrics.HUB_BLOCKED.name
UPDATE = metrics.CONTAINER_UPDATE.name
ASYNC_PENDINGS = metrics.ASYNC_PENDINGS.name + '_total'
# The disk ops a request's greenthread makes itself, on the event loop:
# with its work in tpool threads, the device's own disk time.  (An async
# pending is the container's failure, whatever it costs the disk.)
HUB_DISK_OPS = ('open', 'write', 'metadata_read', 'read',
                'replication_lock')


def _delta_total(after, before, name, **match):
    now = after.total(name, **match)
    if before is None:
        return now
    then = before.total(name, **match)
    return now - then if now >= then else now


def _quantile(after, before, q, name, **match):
    buckets = after.buckets(name, **match)
    if before is not None:
        buckets = bucket_delta(buckets, before.buckets(name, **match))
    return histogram_quantile(q, buckets)


def devices_in(scrape):
    found = scrape.label_values(READ + '_count', 'device') | \
        scrape.label_values(DISK + '_count', 'device') | \
        scrape.label_values(REQUEST + '_count', 'device') | \
        scrape.label_values(DEVICE_REQUEST + '_count', 'device')
    return sorted(d for d in found if d)


def hub_holders(after, before=None):
    """``[(device, where, blocks, seconds)]``: who held the event loop
    past hub_block_threshold, the longest in total first.
    """
    held = {}
    for labels in after.select(BLOCKED + '_count'):
        match = dict(labels)
        place = (match.get('device', ''), match.get('where', ''))
        blocks, seconds = held.get(place, (0, 0.0))
        held[place] = (
            blocks + _delta_total(after, before, BLOCKED + '_count', **match),
            seconds + _delta_total(after, before, BLOCKED + '_sum', **match))
    return rank_holders(held)


def rank_holders(held):
    """``{(device, where): (blocks, seconds)}`` -> the list verdict.judge
    reads, ``[(device, where, blocks, seconds)]``, the longest held first.
    """
    holders = [place + tuple(values) for place, values in held.items()
               if values[0] > 0]
    return sorted(holders, key=lambda holder: (-holder[3], holder[:2]))


def phase_shares(spent):
    """``{phase: seconds}`` -> ``{phase: share of their total}`` for
    every phase (NaN when nothing was spent).
    """
    total = sum(spent.values())
    return {phase: spent.get(phase, 0.0) / total if total > 0 else math.nan
            for phase in metrics.PHASES}


def own_time(row, spent, op_seconds):
    """Add to ``row`` the shares of its request time (``row['spent']``
    seconds) that the verdict reads besides the phases, from the device's
    ``spent`` seconds by phase and ``op_seconds`` by disk op: ``disk``
    (its own disk time), ``tpool_queue`` (waiting for a free tpool
    thread), ``replication_lock``; and, in seconds, ``tpool_work`` (its
    ops in tpool threads) and ``tpool_busy`` (the threads' time it took).
    """
    total = row['spent']
    work = {op: op_seconds[op] for op in metrics.TPOOL_OPS
            if op_seconds.get(op)}
    queue = op_seconds.get('tpool_wait', 0.0)
    in_threads = spent.get('tpool_wait', 0.0) - queue
    busy = max(in_threads, sum(work.values()))
    row['tpool_work'] = work
    row['tpool_busy'] = busy
    row['disk'] = _ratio(sum(op_seconds.get(op, 0.0) for op in HUB_DISK_OPS)
                         + busy, total)
    row['tpool_queue'] = _ratio(queue, total)
    row['replication_lock'] = _ratio(op_seconds.get('replication_lock', 0.0),
                                     total)
    return row


def container_updates(after, before=None):
    """The node's container updates: ``{outcome: (count, seconds)}``."""
    updates = {}
    for outcome in metrics.UPDATE_OUTCOMES:
        count = _delta_total(after, before, UPDATE + '_count',
                             outcome=outcome)
        if count:
            updates[outcome] = (count, _delta_total(
                after, before, UPDATE + '_sum', outcome=outcome))
    return updates


def device_rows(after, before=None, seconds=None):
    """One dict per device: counts (or rates, given ``seconds``),
    quantiles in seconds, and its verdict (see verdict).

    A device's requests and phases are in its totals (series_profile
    default and lean) or in its request and phase histograms (full): a
    scrape has one or the other, so their sum is the device's figure.
    """
    rows = []
    updates = container_updates(after, before)
    for device in devices_in(after):
        def count(name, **match):
            return _delta_total(after, before, name, device=device, **match)

        def requests(suffix, **match):
            return count(DEVICE_REQUEST + suffix, **match) + \
                count(REQUEST + suffix, **match)

        def q(quantile, name, **match):
            return _quantile(after, before, quantile, name, device=device,
                             **match)
        row = {
            'device': device,
            'requests': requests('_count'),
            # only where the request histograms are per device (full)
            'request_p99': q(0.99, REQUEST),
            'request_mean': _ratio(requests('_sum'), requests('_count')),
            'puts': requests('_count', method='PUT'),
            'gets': requests('_count', method='GET'),
            'reads': count(READ + '_count'),
            'read_p50': q(0.5, READ),
            'read_p99': q(0.99, READ),
            'slow_reads': count(SLOW),
            'fsync_p99': q(0.99, DISK, op='fsync'),
            'xattr_p99': q(0.99, DISK, op='xattr_write'),
            'rename_p99': max_nan(q(0.99, DISK, op='rename'),
                                  q(0.99, DISK, op='linkat')),
            'hub_blocks': count(BLOCKED + '_count'),
            # every disk op's p99, for the verdict (tpool_wait is a queue)
            'op_p99': {op: q(0.99, DISK, op=op) for op in metrics.DISK_OPS
                       if op != 'tpool_wait'},
            # disk state: the latest sample, not a delta
            'inodes_used': after.total(metrics.DEVICE_INODES_USED.name,
                                       device=device) or math.nan,
            'ig_miss_ratio': _ratio(
                count(metrics.XFS_IG_MISSED.name + '_total'),
                count(metrics.XFS_IG_ATTEMPTS.name + '_total')),
        }
        # each phase's share of the device's request time
        spent = {phase: count(DEVICE_PHASE + '_sum', phase=phase) +
                 count(PHASE + '_sum', phase=phase)
                 for phase in metrics.PHASES}
        row.update(phase_shares(spent))
        row['spent'] = requests('_sum')
        row['async_pendings'] = count(ASYNC_PENDINGS)
        row['updates'] = updates
        own_time(row, spent, {op: count(DISK + '_sum', op=op)
                              for op in metrics.DISK_OPS})
        if seconds:
            row['put_rate'] = row['puts'] / seconds
            row['get_rate'] = row['gets'] / seconds
        rows.append(row)
    return verdict.judge_all(rows, hub_holders(after, before))


def _ratio(part, whole):
    return part / whole if whole else math.nan


def max_nan(*values):
    real = [v for v in values if not math.isnan(v)]
    return max(real) if real else math.nan


def _dash_if_missing(formatter):
    """A formatter that shows a missing value (None, NaN) as '-'."""
    def format_or_dash(value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return '-'
        return formatter(value)
    return format_or_dash


@_dash_if_missing
def format_seconds(value):
    if value < 0.001:
        return '%.0fus' % (value * 1e6)
    if value < 1:
        return '%.1fms' % (value * 1e3)
    return '%.2fs' % value


@_dash_if_missing
def format_share(value):
    return '%.0f%%' % (value * 100)


@_dash_if_missing
def format_count(value):
    """123456789 -> '123M': inode counts in a narrow column."""
    for unit, size in (('G', 1e9), ('M', 1e6), ('k', 1e3)):
        if value >= size:
            return '%.3g%s' % (value / size, unit)
    return '%d' % value


@_dash_if_missing
def format_verdict(value):
    """{'cause': 'disk', 'reason': '...'} -> 'disk (...)'."""
    return '%s (%s)' % (value['cause'], value['reason'])


@_dash_if_missing
def format_number(value):
    if isinstance(value, float) and not value.is_integer():
        return '%.1f' % value
    return '%d' % value


def _phase_columns(heading):
    """A share column per phase of request time, headed ``heading(phase)``."""
    return tuple((phase, heading(phase), format_share, True)
                 for phase in metrics.PHASES)


# (key, heading, formatter, whether the highest value is the worst)
REPORT_COLUMNS = (
    ('device', 'device', str, False),
    ('put_rate', 'PUT/s', format_number, False),
    ('get_rate', 'GET/s', format_number, False),
    ('read_p50', 'read p50', format_seconds, True),
    ('read_p99', 'read p99', format_seconds, True),
    ('fsync_p99', 'fsync p99', format_seconds, True),
    ('xattr_p99', 'xattr p99', format_seconds, True),
    ('rename_p99', 'rename p99', format_seconds, True),
) + _phase_columns(lambda phase: phase.split('_')[0]) + (
    ('slow_reads', 'slow reads', format_number, True),
    ('hub_blocks', 'hub blocks', format_number, True),
    ('inodes_used', 'inodes', format_count, True),
    ('ig_miss_ratio', 'icache miss', format_share, True),
    ('verdict', 'verdict', format_verdict, False),
)

# The phase split of each device's request time (event-loop accounting).
PHASE_COLUMNS = (
    ('device', 'device', str, False),
    ('puts', 'PUTs', format_number, False),
) + _phase_columns(str) + (
    ('hub_blocks', 'hub blocks', format_number, True),
    ('verdict', 'verdict', format_verdict, False),
)

# Columns of words, aligned left; numbers are aligned right.
_TEXT_COLUMNS = ('instance', 'device', 'op', 'verdict')


def format_table(rows, columns=REPORT_COLUMNS, mark_worst=True):
    """Aligned text; with ``mark_worst`` the highest value of each numeric
    column gets a ``*`` when there is more than one device to compare.
    """
    headings = [column[1] for column in columns]
    cells = []
    for row in rows:
        line = []
        for key, _, fmt, ranked in columns:
            text = fmt(row.get(key))
            if mark_worst and ranked and len(rows) > 1 \
                    and _is_worst(rows, key, row.get(key)):
                text += '*'
            line.append(text)
        cells.append(line)
    widths = [max([len(h)] + [len(c[i]) for c in cells])
              for i, h in enumerate(headings)]
    left = [column[0] in _TEXT_COLUMNS for column in columns]
    out = []
    for line in [headings] + cells:
        out.append('  '.join(
            text.ljust(width) if is_left else text.rjust(width)
            for text, width, is_left in zip(line, widths, left)).rstrip())
    return '\n'.join(out)


def _is_worst(rows, key, value):
    if not isinstance(value, (int, float)) or math.isnan(value) \
            or value <= 0:
        return False
    values = [r.get(key) for r in rows
              if isinstance(r.get(key), (int, float))
              and not math.isnan(r.get(key))]
    return value == max(values) and values.count(value) == 1
