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

"""Why a device is slow, in one word and one line: its verdict.

The question the project started from ("is it green-thread switching,
the network, or the number of objects?") has one answer per device, read
from the same scrape as the table (see summary).  The rules, first match
wins:

1. ``ok``: fewer than ``min_requests`` requests to judge by;
2. ``inode_cache``: a ``disk`` verdict (below) in which ``open`` or
   ``metadata_read`` is slow while at least ``inode_miss_ratio`` of XFS's
   inode lookups missed its cache: the filesystem reads inodes from disk;
3. ``disk``: one of the device's disk ops has a p99 of at least
   ``disk_floor`` and ``disk_ratio`` times the median p99 of that op on
   the node's other devices (with no other device to compare, at least
   ``disk_alone``);
4. ``event_loop``: at least ``hub_share`` of the device's request time
   was spent ready to run while other greenthreads held the event loop;
   the reason names the device and step that held it longest;
5. ``client``: body reads with a p99 of at least ``slow_read_p99`` (or,
   where body reads are not kept per device, slow reads), and at least
   ``client_share`` of request time waiting for the client (without
   event-loop accounting the share is unknown, and slow reads alone
   decide);
6. ``ok`` otherwise.

Every threshold is in ``THRESHOLDS``; the README lists them.  The causes
and the JSON shape ``{"cause", "reason"}`` are part of the contract.
"""

import collections
import math
import statistics

OK = 'ok'
DISK = 'disk'
EVENT_LOOP = 'event_loop'
CLIENT = 'client'
INODE_CACHE = 'inode_cache'
CAUSES = (OK, DISK, EVENT_LOOP, CLIENT, INODE_CACHE)

Thresholds = collections.namedtuple('Thresholds', [
    'min_requests',      # fewer requests in the window: nothing to judge
    'disk_floor',        # seconds: a disk op p99 below this is never slow
    'disk_ratio',        # times the other devices' median p99 of the op
    'disk_alone',        # seconds: the floor when no device compares
    'inode_miss_ratio',  # share of XFS inode lookups that missed the cache
    'hub_share',         # share of request time waiting for the hub
    'slow_read_p99',     # seconds: a body-read p99 worth a look
    'client_share',      # share of request time waiting for the client
])

THRESHOLDS = Thresholds(
    min_requests=5,
    disk_floor=0.05,
    disk_ratio=5.0,
    disk_alone=0.1,
    inode_miss_ratio=0.1,
    hub_share=0.3,
    slow_read_p99=0.1,
    client_share=0.3,
)

# The ops that read inodes: slow with a cold inode cache.
INODE_OPS = ('open', 'metadata_read')

Verdict = collections.namedtuple('Verdict', 'cause reason')


def seconds_text(value):
    """0.48 -> '480 ms', 0.004 -> '4 ms', 0.0002 -> '0.2 ms', 2.7 ->
    '2.7 s'.
    """
    if value >= 1:
        return _short(value) + ' s'
    if value >= 0.01:
        return '%.0f ms' % (value * 1e3)
    return _short(value * 1e3) + ' ms'


def _short(number):
    return ('%.1f' % number).rstrip('0').rstrip('.')


def _counted(number, noun):
    """(3, 'block') -> '3 blocks'."""
    return '%d %s%s' % (number, noun, '' if number == 1 else 's')


def _known(value):
    return value is not None and not math.isnan(value)


def _slow_ops(row, rows, limits):
    """``[(op, p99, peers' median or None)]`` of the device's ops past
    the disk limits, the furthest past first.
    """
    found = []
    for op, p99 in sorted(row['op_p99'].items()):
        if not _known(p99) or p99 < limits.disk_floor:
            continue
        peers = [other['op_p99'][op] for other in rows
                 if other is not row and _known(other['op_p99'].get(op))]
        if peers:
            median = statistics.median(peers)
            if p99 < limits.disk_ratio * median:
                continue
            score = p99 / median if median > 0 else math.inf
        else:
            median = None
            if p99 < limits.disk_alone:
                continue
            score = p99 / limits.disk_alone
        found.append((score, op, p99, median))
    return [slow[1:] for slow in sorted(found, reverse=True)]


def _disk(row, rows, limits):
    slow = _slow_ops(row, rows, limits)
    if not slow:
        return None
    misses = row.get('ig_miss_ratio')
    inode_bound = [found for found in slow if found[0] in INODE_OPS]
    if inode_bound and _known(misses) and \
            misses >= limits.inode_miss_ratio:
        return Verdict(INODE_CACHE, '%s; %.0f %% of inode lookups missed '
                       'the cache' % (_op_text(*inode_bound[0]),
                                      misses * 100))
    return Verdict(DISK, _op_text(*slow[0]))


def _op_text(op, p99, median):
    return '%s p99 %s, %s' % (
        op, seconds_text(p99), 'node median %s' % seconds_text(median)
        if median is not None else 'no other device to compare')


def _event_loop(row, holders, limits):
    share = row.get('hub_wait')
    if not _known(share) or share < limits.hub_share:
        return None
    reason = '%.0f %% of request time waiting for the hub' % (share * 100)
    if holders:
        device, where, blocks, _ = holders[0]
        reason += '; held by %s in %s, %s' % (
            device, where, _counted(blocks, 'block'))
    return Verdict(EVENT_LOOP, reason)


def _client(row, limits):
    read_p99 = row.get('read_p99')
    slow = row.get('slow_reads') or 0
    if _known(read_p99):
        if read_p99 < limits.slow_read_p99:
            return None
        detail = 'read p99 %s, %s' % (seconds_text(read_p99),
                                      _counted(slow, 'slow read'))
    elif slow:
        # series_profile lean: the body reads are the node's histogram
        detail = _counted(slow, 'slow read')
    else:
        return None
    share = row.get('client_wait')
    if not _known(share):
        return Verdict(CLIENT, '%s (event-loop accounting off: the hub\'s '
                       'share is unknown)' % detail)
    if share < limits.client_share:
        return None
    return Verdict(CLIENT, '%.0f %% of request time waiting for the '
                   'client; %s' % (share * 100, detail))


def judge(row, rows, holders, limits=THRESHOLDS):
    """The Verdict of one device ``row`` (see summary.device_rows), among
    the node's ``rows``; ``holders``, worst first, are the
    ``(device, where, blocks, seconds)`` that held the event loop.
    """
    requests = row.get('requests') or 0
    if requests < limits.min_requests:
        return Verdict(OK, '%s: too few to judge' % _counted(
            requests, 'request'))
    verdict = _disk(row, rows, limits) or \
        _event_loop(row, holders, limits) or _client(row, limits)
    if verdict is not None:
        return verdict
    p99, mean = row.get('request_p99'), row.get('request_mean')
    if _known(p99):
        return Verdict(OK, 'request p99 %s over %d requests' % (
            seconds_text(p99), requests))
    return Verdict(OK, 'request mean %s over %d requests' % (
        seconds_text(mean) if _known(mean) else '-', requests))


def judge_all(rows, holders, limits=THRESHOLDS):
    """Give every row its ``verdict``: ``{"cause": ..., "reason": ...}``."""
    verdicts = [judge(row, rows, holders, limits) for row in rows]
    for row, verdict in zip(rows, verdicts):
        row['verdict'] = verdict._asdict()
    return rows
