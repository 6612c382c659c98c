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

"""The greenlet switch trace and the hub's idle timer: the hot half of
event-loop accounting (see eventloop), compiled with the request path.

At every switch, the time since the previous one is charged to the
greenthread switching out (``running``); a request's greenthread
switching back in has its wait split by what it waited for
(``RequestContext.awaiting``) into:

* a tpool thread: ``tpool_wait`` up to the moment the thread finished;
* the container updates it spawned (``container_update``):
  ``container_wait`` up to the moment the last of them ended;
* a socket (its client's; a container server's in ``delete_at_update``;
  the proxy's EC commit message): the part during which the hub sat idle
  in its poll, as ``client_wait``, ``container_wait`` or
  ``commit_wait`` (nothing had arrived for anyone, so nothing for it
  either);

and the rest of the wait is ``hub_wait``: other greenthreads held the
hub while it could have run.  A greenthread that
held the hub longer than the threshold is a *hub block*: ``on_switch``
only appends it to a list, since it runs inside a switch and must not log
or touch anything green; the probe in eventloop reports it.

Nothing here calls into Swift, so no Swift traceback can pass through it.
"""

import collections

from swiftinst import context, metrics
from swiftinst.activity import KIND_OF
from swiftinst.context import (AWAIT_CLIENT, AWAIT_CONTAINER,
                               AWAIT_UPDATES, monotonic)

_active = context.active
# What a request's record says it waits on (see activity).
CLIENT = KIND_OF['client']
TPOOL = KIND_OF['tpool']
CONTAINER = KIND_OF['container']
COMMIT = KIND_OF['commit']


def waits_on(ctx):
    """What a request's greenthread switching out waits for, as a kind of
    its record: the same split as its phases.
    """
    if ctx.tpool_called is not None:
        return TPOOL
    if ctx.awaiting == AWAIT_CLIENT:
        return CLIENT
    if ctx.awaiting == AWAIT_CONTAINER or ctx.awaiting == AWAIT_UPDATES:
        return CONTAINER
    return COMMIT


class TraceState(object):
    """What the trace keeps between switches: one per process, since a
    worker has one hub thread.  (Fields of one object rather than module
    globals: compiled, they are C fields, and a store to one does not
    invalidate every global the trace reads.)
    """

    __slots__ = ('idle_total', 'last_switch', 'block_threshold',
                 'hub_greenlet', 'previous_trace', 'errors', 'clock')

    def __init__(self):
        # Seconds the hub spent idle in do_poll, ever: a waiting request
        # notes the value when it switches out and compares when it
        # switches back in.
        self.idle_total = 0.0
        self.last_switch = 0.0
        self.block_threshold = float('inf')
        self.hub_greenlet = None
        # another tool's switch trace, called after ours
        self.previous_trace = None
        # exceptions inside on_switch, reported by the probe
        self.errors = 0
        # None: the monotonic clock (compiled, clock_gettime); unit tests
        # set a fake one
        self.clock = None


def _now(st):
    clock = st.clock
    if clock is None:
        return monotonic()
    return clock()


state = TraceState()
# Hub blocks not yet turned into metrics and log lines by the probe, and
# the recent ones a slow-read line may name: (ended, held, culprit).
_pending_blocks = []
_recent_blocks = collections.deque(maxlen=32)

# The ops that may block the hub (the others run in tpool threads, or
# wait in green sleeps).
HUB_OPS = frozenset(('open', 'write', 'metadata_read', 'read',
                     'async_pending', 'rename', 'dir_fsync',
                     'partition_lock', 'cleanup'))


class Culprit(object):
    """Who held the hub: enough to name it in a log line, captured when the
    block is seen (the request may have ended by the time it is logged).
    A container update's greenthread is named by the request that spawned
    it, and the container server it was updating.
    """

    __slots__ = ('method', 'device', 'where', 'txn_id', 'updating')

    def __init__(self, ctx, held, green=None):
        self.updating = None
        if ctx is None:
            update = context.update_of(green) if green is not None else None
            if update is not None and update.method is not None:
                self.method = update.method
                self.device = update.device
                self.txn_id = update.txn_id
                self.updating = update.target or '-'
                self.where = 'async_pending' \
                    if update.pickle_seconds >= held / 2 \
                    else metrics.WHERE_REQUEST
                return
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
        return 'txn %s (%s %s, %sin %s)' % (
            self.txn_id or '-', self.method, self.device,
            'updating container %s, ' % self.updating
            if self.updating else '', self.where)


def on_switch(event, args):
    """greenlet's trace function: charge the time since the last switch."""
    st = state
    if event == 'switch' or event == 'throw':
        try:
            active = _active
            origin, target = args
            now = _now(st)
            held = now - st.last_switch
            st.last_switch = now
            ctx = active.get(origin)
            if ctx is not None:
                ctx.running += now - ctx.switched_at
                ctx.switched_at = now
                ctx.idle_mark = st.idle_total
                if ctx.slot >= 0:
                    # the op it is in, if any, goes on after the wait
                    ctx.resume_kind = ctx.records.transition(
                        ctx.slot, waits_on(ctx), now)
            if held >= st.block_threshold and origin is not st.hub_greenlet:
                block = (now, held, Culprit(ctx, held, origin))
                _pending_blocks.append(block)
                _recent_blocks.append(block)
            ctx = active.get(target)
            if ctx is not None:
                waited = now - ctx.switched_at
                if ctx.tpool_called is not None:
                    done = ctx.tpool_done
                    part = waited if done is None else \
                        min(max(done - ctx.switched_at, 0.0), waited)
                    ctx.tpool_wait += part
                elif ctx.awaiting == AWAIT_UPDATES:
                    # until the last of its container updates ended
                    part = waited if ctx.updates_pending > 0 else \
                        min(max(ctx.updates_done - ctx.switched_at, 0.0),
                            waited)
                    ctx.container_wait += part
                else:
                    # a socket: whatever of the wait the hub sat idle
                    part = st.idle_total - ctx.idle_mark
                    if part > waited:
                        part = waited
                    if ctx.awaiting == AWAIT_CLIENT:
                        ctx.client_wait += part
                    elif ctx.awaiting == AWAIT_CONTAINER:
                        ctx.container_wait += part
                    else:
                        ctx.commit_wait += part
                ctx.hub_wait += waited - part
                if ctx.slot >= 0:
                    # what it waited on up to switched_at + part, then the
                    # hub; then what the wait interrupted
                    ctx.records.wait_ended(ctx.slot, waits_on(ctx),
                                           ctx.switched_at + part, now,
                                           ctx.resume_kind)
                ctx.switched_at = now
                ctx.slice_mark = len(ctx.disk_ops)
        except Exception:
            st.errors += 1
    if st.previous_trace is not None:
        st.previous_trace(event, args)


def timed_poll(real):
    """The hub's do_poll, adding the time it sat idle to the total."""
    def do_poll(seconds):
        st = state
        started = _now(st)
        try:
            return real(seconds)
        finally:
            st.idle_total += _now(st) - started
    return do_poll


def culprit_between(started, ended):
    """The longest hub block that ended in [started, ended], or None."""
    found = None
    for block in tuple(_recent_blocks):
        if started <= block[0] <= ended and \
                (found is None or block[1] > found[1]):
            found = block
    return found


def start(hub_greenlet, block_threshold):
    """Begin accounting in this worker's hub thread."""
    state.hub_greenlet = hub_greenlet
    state.block_threshold = block_threshold
    state.last_switch = _now(state)


def chain(previous_trace):
    """Call ``previous_trace`` (another tool's switch trace) after ours."""
    state.previous_trace = previous_trace


def take_blocks():
    """The hub blocks seen since the last call: [(ended, held, Culprit)]."""
    blocks = _pending_blocks[:]
    del _pending_blocks[:len(blocks)]
    return blocks


def trace_errors():
    """Exceptions inside on_switch, ever."""
    return state.errors
