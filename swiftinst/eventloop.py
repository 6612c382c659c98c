"""Event-loop accounting: was a request slow because of its client, the
event loop, or a tpool thread?

A worker runs every request on one thread, the eventlet hub.  A blocking
syscall (an ``open`` on a disk whose inode cache no longer fits in RAM)
holds that thread, and every other greenthread of the worker waits.  A
read timer alone cannot tell that wait from a client that sends nothing.
Three hooks can, without signals and without ever interrupting anything:

* ``greenlet.settrace``: at every switch, the time since the previous
  switch is charged to the greenthread switching out (``running``), and
  the time a request's greenthread was switched out is split when it
  switches back in;
* the hub's ``do_poll``: time spent idle in epoll.  Of a request's wait,
  the part during which the hub sat idle is ``client_wait`` (nothing had
  arrived for anyone, so nothing for it either); the rest is ``hub_wait``
  (other greenthreads held the hub);
* ``tpool.execute``: the native thread notes when it finished, so a wait
  for it is ``tpool_wait`` up to that moment and ``hub_wait`` after.

Per request the four phases add up to its wall time by construction.

A greenthread that held the hub longer than ``hub_block_threshold`` is a
*hub block*.  The trace function only appends the episode to a list; it
must not log or touch anything green, since it runs inside a switch.  A
probe greenthread, woken every ``hub_lag_interval``, measures how late it
woke (hub lag) and turns the episodes into metrics and rate-limited
WARNING lines.

The state is module-level: ``greenlet.settrace`` is per thread, and a
worker has one hub thread.
"""

import collections
import time

import eventlet
import greenlet
from eventlet import hubs, tpool

from swiftinst import context, metrics
from swiftinst.transparent import drop_own_frame

_monotonic = time.monotonic
_active_get = context.active_get

# Seconds the hub spent idle in do_poll, ever: a waiting request notes the
# value when it switches out and compares when it switches back in.
_idle_total = 0.0
_last_switch = 0.0
_block_threshold = float('inf')
_hub_greenlet = None
_previous_trace = None
# Hub blocks not yet turned into metrics and log lines by the probe, and
# the recent ones a slow-read line may name: (ended, held, culprit).
_pending_blocks = []
_recent_blocks = collections.deque(maxlen=32)
# Exceptions inside the trace function: counted there, reported by the probe.
_trace_errors = [0]
_installed = {}

HUB_OPS = frozenset(('open', 'write', 'metadata_read'))


class Culprit(object):
    """Who held the hub: enough to name it in a log line, captured when the
    block is seen (the request may have ended by the time it is logged)."""

    __slots__ = ('method', 'device', 'where', 'txn_id')

    def __init__(self, ctx, held):
        if ctx is None:
            self.method = metrics.OTHER_METHOD
            self.device = metrics.OTHER_DEVICE
            self.where = metrics.WHERE_OTHER
            self.txn_id = None
            return
        self.method = ctx.method
        self.device = ctx.device
        self.txn_id = ctx.txn_id
        # The longest disk op this greenthread made on the hub during the
        # slice that just ended, if it explains most of the block.
        where, longest = metrics.WHERE_REQUEST, held / 2
        for op, seconds in ctx.disk_ops[ctx.slice_mark:]:
            if seconds >= longest and op in HUB_OPS:
                where, longest = op, seconds
        self.where = where

    def describe(self):
        return 'txn %s (%s %s, in %s)' % (self.txn_id or '-', self.method,
                                          self.device, self.where)


def _on_switch(event, args):
    """greenlet's trace function: charge the time since the last switch."""
    global _last_switch
    if event == 'switch' or event == 'throw':
        try:
            origin, target = args
            now = _monotonic()
            held = now - _last_switch
            _last_switch = now
            ctx = _active_get(origin)
            if ctx is not None:
                ctx.running += now - ctx.switched_at
                ctx.switched_at = now
                ctx.idle_mark = _idle_total
            if held >= _block_threshold and origin is not _hub_greenlet:
                block = (now, held, Culprit(ctx, held))
                _pending_blocks.append(block)
                _recent_blocks.append(block)
            ctx = _active_get(target)
            if ctx is not None:
                waited = now - ctx.switched_at
                if ctx.tpool_called is not None:
                    done = ctx.tpool_done
                    in_tpool = waited if done is None else \
                        min(max(done - ctx.switched_at, 0.0), waited)
                    ctx.tpool_wait += in_tpool
                    ctx.hub_wait += waited - in_tpool
                else:
                    idle = _idle_total - ctx.idle_mark
                    if idle > waited:
                        idle = waited
                    ctx.client_wait += idle
                    ctx.hub_wait += waited - idle
                ctx.switched_at = now
                ctx.slice_mark = ctx.disk_op_count
        except Exception:
            _trace_errors[0] += 1
    if _previous_trace is not None:
        _previous_trace(event, args)


def _timed_poll(real):
    def do_poll(seconds):
        global _idle_total
        started = _monotonic()
        try:
            return real(seconds)
        finally:
            _idle_total += _monotonic() - started
    return do_poll


def _accounted_in_native_thread(ctx, meth, args, kwargs):
    """What a tpool thread runs for a request: ``meth``, then a note of
    when it finished (a plain store: no green lock)."""
    try:
        return meth(*args, **kwargs)
    except BaseException as exc:
        drop_own_frame(exc)
        raise
    finally:
        ctx.tpool_done = _monotonic()


def _accounted_execute(real):
    def execute(meth, *args, **kwargs):
        try:
            ctx = _active_get(greenlet.getcurrent())
            if ctx is None:
                return real(meth, *args, **kwargs)
            ctx.tpool_done = None
            ctx.tpool_called = _monotonic()
            try:
                return real(_accounted_in_native_thread, ctx, meth, args,
                            kwargs)
            finally:
                ctx.tpool_called = None
        except BaseException as exc:
            drop_own_frame(exc)
            raise
    return execute


def culprit_between(started, ended):
    """The longest hub block that ended in [started, ended], or None."""
    found = None
    for block in tuple(_recent_blocks):
        if started <= block[0] <= ended and \
                (found is None or block[1] > found[1]):
            found = block
    return found


class EventLoopAccounting(object):
    """Installs the hooks in a worker and runs its probe greenthread."""

    WARNING_INTERVAL = 1.0

    def __init__(self, recorder, block_threshold, lag_interval):
        self.recorder = recorder
        self.block_threshold = block_threshold
        self.lag_interval = lag_interval
        self._next_warning = 0.0
        self._suppressed = 0
        self._errors_reported = 0

    def start(self):
        """In a worker's hub thread, at its first request.  Returns what
        could not be hooked on this eventlet, for a warning."""
        global _previous_trace, _hub_greenlet, _block_threshold, _last_switch
        missing = []
        hub = hubs.get_hub()
        if 'do_poll' not in _installed:
            real_poll = getattr(hub, 'do_poll', None)
            if real_poll is None:
                missing.append('hub.do_poll (client_wait counts as hub_wait)')
            else:
                _installed['do_poll'] = (hub, real_poll)
                hub.do_poll = _timed_poll(real_poll)
        if 'execute' not in _installed:
            _installed['execute'] = tpool.execute
            tpool.execute = _accounted_execute(tpool.execute)
        if 'trace' not in _installed:
            _hub_greenlet = hub.greenlet
            _block_threshold = self.block_threshold
            _last_switch = _monotonic()
            _previous_trace = greenlet.settrace(_on_switch)
            _installed['trace'] = True
        eventlet.spawn_n(self._probe_forever)
        return missing

    def _probe_forever(self):
        interval = self.lag_interval
        while 'trace' in _installed:
            expected = _monotonic() + interval
            eventlet.sleep(interval)
            try:
                self.probe(_monotonic() - expected)
            except Exception:
                self.recorder.error('eventloop')

    def probe(self, lag):
        """Observe the hub lag; report blocks and trace errors seen since
        the last probe."""
        self.recorder.store.observe((metrics.HUB_LAG.name, ()),
                                    max(lag, 0.0))
        if _pending_blocks:
            blocks = _pending_blocks[:]
            del _pending_blocks[:len(blocks)]
            for block in blocks:
                self._report_block(*block)
        if _trace_errors[0] > self._errors_reported:
            self._errors_reported = _trace_errors[0]
            self.recorder.error('eventloop', 'the greenlet switch trace '
                                'failed %d times' % _trace_errors[0])

    def _report_block(self, ended, held, culprit):
        self.recorder.store.observe(
            (metrics.HUB_BLOCKED.name,
             (culprit.method, culprit.device, culprit.where)), held)
        now = _monotonic()
        if now < self._next_warning:
            self._suppressed += 1
            self.recorder.store.inc((metrics.SUPPRESSED_WARNINGS.name,
                                     ('hub_blocked',)))
            return
        self._next_warning = now + self.WARNING_INTERVAL
        suppressed, self._suppressed = self._suppressed, 0
        self.recorder.logger.warning(
            'Event loop blocked: %s held the hub for %.3fs; every other '
            'request of this worker waited%s', culprit.describe(), held,
            ' (%d similar lines suppressed)' % suppressed if suppressed
            else '')
