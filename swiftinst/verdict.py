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
from the same scrape as the table (see summary).  A device's request
time is split among causes, each measured where the request waited:

=============== ========================================================
``client``      ``client_wait``: its clients had nothing for it (less an
                SSYNC's wait for the replication lock, which is the
                device's own)
``event_loop``  ``hub_wait``: ready while other greenthreads held the
                event loop; the reason names who held it longest
``container``   ``container_wait``: its container updates
``peers``       ``commit_wait``: an EC PUT waiting for the other
                fragments' servers; this disk is not the problem
``tpool``       the op ``tpool_wait``: waiting for a free tpool thread;
                the reason names the device and op whose work held them
``disk``        its disk ops on the event loop, plus its own work in
                tpool threads
=============== ========================================================

A cause *stands out* when its share is at least its threshold and it
costs a request at least ``wait_floor`` on average (a 3 ms request that
spends 2 ms on its container update is healthy); ``disk`` stands out
when one of its ops has a p99 of at least ``disk_floor`` and
``disk_ratio`` times the median p99 of that op on the node's other
devices (with no other device to compare, at least ``disk_alone``).  The
verdict is the cause with the largest share among those that stand out,
quoting its figures, and:

* ``disk`` is ``inode_cache`` when ``open`` or ``metadata_read`` is among
  its slow ops while at least ``inode_miss_ratio`` of XFS's inode lookups
  missed its cache: the filesystem reads inodes from disk;
* ``tpool`` held by the device's own work is ``disk``: it waits behind
  itself;
* ``client`` needs slow body reads too (``slow_read_p99``, or slow reads
  where body reads are not kept per device); without event-loop
  accounting the shares are unknown, and slow reads alone decide;
* fewer than ``min_requests`` requests, or nothing standing out, is
  ``ok``.

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
CONTAINER = 'container'
PEERS = 'peers'
TPOOL = 'tpool'
CAUSES = (OK, DISK, EVENT_LOOP, CLIENT, INODE_CACHE, CONTAINER, PEERS,
          TPOOL)

Thresholds = collections.namedtuple('Thresholds', [
    'min_requests',      # fewer requests in the window: nothing to judge
    'disk_floor',        # seconds: a disk op p99 below this is never slow
    'disk_ratio',        # times the other devices' median p99 of the op
    'disk_alone',        # seconds: the floor when no device compares
    'inode_miss_ratio',  # share of XFS inode lookups that missed the cache
    'hub_share',         # share of request time waiting for the hub
    'slow_read_p99',     # seconds: a body-read p99 worth a look
    'client_share',      # share of request time waiting for the client
    'container_share',   # share waiting for container updates
    'peers_share',       # share waiting for an EC commit
    'tpool_share',       # share waiting for a free tpool thread
    'wait_floor',        # seconds per request a cause must cost, at least
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
    container_share=0.3,
    peers_share=0.3,
    tpool_share=0.3,
    wait_floor=0.02,
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


def _disk(row, slow, limits):
    """The Verdict of a device with ``slow`` ops (see _slow_ops)."""
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


def _share(row, key):
    share = row.get(key)
    return share if _known(share) else 0.0


def _stands_out(row, share, threshold, limits):
    """A share of request time at least ``threshold`` that costs a request
    at least ``wait_floor`` on average (where the mean is known).
    """
    if share < threshold:
        return False
    mean = row.get('request_mean')
    return not _known(mean) or share * mean >= limits.wait_floor


def _event_loop(row, holders, limits):
    share = _share(row, 'hub_wait')
    if not _stands_out(row, share, limits.hub_share, limits):
        return None
    reason = '%.0f %% of request time waiting for the hub' % (share * 100)
    if holders:
        device, where, blocks, _ = holders[0]
        reason += '; held by %s in %s, %s' % (
            device, where, _counted(blocks, 'block'))
    return share, Verdict(EVENT_LOOP, reason)


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
        return 0.0, Verdict(CLIENT, '%s (event-loop accounting off: the '
                            'hub\'s share is unknown)' % detail)
    # an SSYNC's wait for the replication lock sleeps on the idle loop
    share = max(share - _share(row, 'replication_lock'), 0.0)
    if not _stands_out(row, share, limits.client_share, limits):
        return None
    return share, Verdict(CLIENT, '%.0f %% of request time waiting for the '
                          'client; %s' % (share * 100, detail))


def _updates_text(row):
    """'12 of 12 timed out after 3.0 s, 12 async pendings'."""
    updates = row.get('updates') or {}
    total = sum(count for count, _ in updates.values())
    parts = []
    timeouts, timeout_seconds = updates.get('timeout', (0, 0.0))
    errors = updates.get('error', (0, 0.0))[0]
    if timeouts:
        parts.append('%d of %d timed out after %s' % (
            timeouts, total, seconds_text(timeout_seconds / timeouts)))
    if errors:
        parts.append('%d of %d failed' % (errors, total))
    if total and not parts:
        seconds = sum(spent for _, spent in updates.values())
        parts.append('%s took %s on average' % (
            _counted(total, 'update'), seconds_text(seconds / total)))
    pendings = row.get('async_pendings')
    if pendings:
        parts.append(_counted(pendings, 'async pending'))
    return ', '.join(parts)


def _container(row, limits):
    share = _share(row, 'container_wait')
    if not _stands_out(row, share, limits.container_share, limits):
        return None
    detail = _updates_text(row)
    return share, Verdict(CONTAINER, '%.0f %% of request time waiting for '
                          'container updates%s' % (
                              share * 100, '; ' + detail if detail else ''))


def _peers(row, limits):
    share = _share(row, 'commit_wait')
    if not _stands_out(row, share, limits.peers_share, limits):
        return None
    return share, Verdict(PEERS, '%.0f %% of request time waiting for the EC '
                          'commit: the other fragments\' servers were '
                          'slower; not this disk' % (share * 100))


def tpool_holder(rows):
    """``(device, op, seconds)``: the device whose work held tpool threads
    longest, and its longest op; None when no work is known.
    """
    best = None
    for row in rows:
        work = row.get('tpool_work') or {}
        spent = row.get('tpool_busy', sum(work.values()))
        if spent > 0 and (best is None or spent > best[2]):
            op = max(sorted(work), key=work.get) if work else \
                'untimed work'
            best = (row['device'], op, spent)
    return best


def _tpool(row, rows, slow, limits):
    share = _share(row, 'tpool_queue')
    if not _stands_out(row, share, limits.tpool_share, limits):
        return None
    holder = tpool_holder(rows)
    if holder is not None and holder[0] == row['device']:
        # it waits behind its own work
        reason = _op_text(*slow[0]) if slow else \
            '%.0f %% of request time waiting for tpool threads held by its ' \
            'own %s' % (share * 100, holder[1])
        return share, Verdict(DISK, reason)
    reason = '%.0f %% of request time waiting for a free tpool thread' % (
        share * 100)
    if holder is not None:
        reason += '; held by %s in %s' % holder[:2]
    return share, Verdict(TPOOL, reason + '; see servers_per_port')


def judge(row, rows, holders, limits=THRESHOLDS):
    """The Verdict of one device ``row`` (see summary.device_rows), among
    the node's ``rows``; ``holders``, worst first, are the
    ``(device, where, blocks, seconds)`` that held the event loop.
    """
    requests = row.get('requests') or 0
    if requests < limits.min_requests:
        return Verdict(OK, '%s: too few to judge' % _counted(
            requests, 'request'))
    slow = _slow_ops(row, rows, limits)
    candidates = [found for found in (
        (_share(row, 'disk'), _disk(row, slow, limits)) if slow else None,
        _event_loop(row, holders, limits), _client(row, limits),
        _container(row, limits), _peers(row, limits),
        _tpool(row, rows, slow, limits)) if found is not None]
    if candidates:
        # the largest share; on a tie (shares unknown), the first
        return max(candidates, key=lambda found: found[0])[1]
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
