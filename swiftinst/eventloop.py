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

The switch trace and the idle timer are in switchtrace, compiled with
the request path; this module installs them through ``hub``, the one
door to eventlet, and runs the probe.  Its tpool wrapper stays
interpreted: Swift's own exceptions pass through it, and a compiled
function would add itself to their tracebacks (see transparent).
"""

import time

from swiftinst import context, hub, metrics, switchtrace
from swiftinst.transparent import drop_own_frame

_monotonic = time.monotonic
_active_get = context.active_get
# What start() has installed in this process.
_installed = {}


def _accounted_in_native_thread(ctx, meth, args, kwargs):
    """What a tpool thread runs for a request: ``meth``, then a note of
    when it finished (a plain store: no green lock).
    """
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
            ctx = _active_get(hub.getcurrent())
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


class EventLoopAccounting(object):
    """Installs the hooks in a worker and runs its probe greenthread."""

    def __init__(self, recorder, block_threshold, lag_interval):
        self.recorder = recorder
        self.block_threshold = block_threshold
        self.lag_interval = lag_interval
        self._errors_reported = 0

    def start(self):
        """In a worker's hub thread, at its first request.  Returns what
        could not be hooked on this eventlet, for a warning.
        """
        missing = []
        if 'do_poll' not in _installed:
            real_poll = hub.patch_hub_poll(switchtrace.timed_poll)
            if real_poll is None:
                missing.append('hub.do_poll (client_wait counts as hub_wait)')
            else:
                _installed['do_poll'] = real_poll
        if 'execute' not in _installed:
            _installed['execute'] = hub.patch_tpool_execute(
                _accounted_execute)
        if 'trace' not in _installed:
            switchtrace.start(hub.hub_greenlet(), self.block_threshold)
            switchtrace.chain(hub.set_switch_trace(switchtrace.on_switch))
            _installed['trace'] = True
        hub.spawn_n(self._probe_forever)
        return missing

    def _probe_forever(self):
        interval = self.lag_interval
        while 'trace' in _installed:
            expected = _monotonic() + interval
            hub.sleep(interval)
            try:
                self.probe(_monotonic() - expected)
            except Exception:
                self.recorder.error('eventloop')

    def probe(self, lag):
        """Observe the hub lag; report blocks and trace errors seen since
        the last probe.
        """
        self.recorder.store.observe((metrics.HUB_LAG.name, ()),
                                    max(lag, 0.0))
        for block in switchtrace.take_blocks():
            self._report_block(*block)
        errors = switchtrace.trace_errors()
        if errors > self._errors_reported:
            self._errors_reported = errors
            self.recorder.error('eventloop', 'the greenlet switch trace '
                                'failed %d times' % errors)

    def _report_block(self, ended, held, culprit):
        self.recorder.store.observe(
            (metrics.HUB_BLOCKED.name,
             (culprit.method, culprit.device, culprit.where)), held)
        limiter = self.recorder.limiters['hub_blocked']
        if limiter.allow():
            self.recorder.logger.warning(
                'Event loop blocked: %s held the hub for %.3fs; every other '
                'request of this worker waited%s', culprit.describe(), held,
                limiter.note())
