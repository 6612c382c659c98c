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

"""The one door to eventlet.

Everything swiftinst needs from the concurrency library is here, and
nothing else in swiftinst imports eventlet or greenlet:

* which greenthread is running (``getcurrent``), and starting or pausing
  one (``spawn_n``, ``sleep``); what a green timeout raises
  (``Timeout``);
* the real, unpatched thread primitives for code that runs in native
  threads (``original``, ``native_ident``, ``native_local``,
  ``native_lock``, ``native_sleep``) and whether the caller runs on the
  hub's own thread (``mark_hub_thread``, ``on_hub_thread``);
* handing work to a native thread (``tpool_execute``) and the patch that
  lets event-loop accounting see every such hand-off
  (``patch_tpool_execute``);
* the hub's idle poll (``patch_hub_poll``) and the greenlet switch trace
  (``set_switch_trace``).

Eventlet is imported through ``swift.common.concurrency`` where the
installed Swift has it (Swift routes every eventlet import through that
module on its way to running without eventlet), directly otherwise.

A threaded Swift, one without eventlet, would need this module
re-implemented, and nothing else: ``getcurrent`` becomes the running
thread (requests are threads, so the registry keys stay valid);
``spawn_n`` and ``sleep`` a daemon thread and ``time.sleep``; the
``native_*`` helpers the plain ones; ``tpool_execute`` a direct call (the
request's own thread does the disk work, and the diskfile hooks'
thread-local still finds its ops); ``on_hub_thread`` true in every
request thread.  The hub poll and switch trace have no equivalent there:
``patch_hub_poll`` and ``set_switch_trace`` report themselves missing,
and event-loop accounting, whose question (who held the one loop thread)
no longer exists, measures only the tpool wait.
"""

import greenlet

try:
    from swift.common import concurrency as _eventlet
except ImportError:   # Swift before its concurrency module
    import eventlet as _eventlet
    import eventlet.hubs
    import eventlet.patcher
    import eventlet.tpool

_hubs = _eventlet.hubs
_patcher = _eventlet.patcher
_tpool = _eventlet.tpool

getcurrent = greenlet.getcurrent
spawn_n = _eventlet.spawn_n
sleep = _eventlet.sleep
# what a timed-out green wait raises (Swift's ConnectionTimeout is one)
Timeout = _eventlet.Timeout
original = _patcher.original

native_ident = original('_thread').get_ident
native_sleep = original('time').sleep
_hub_ident = [None]


def native_local():
    """A thread-local of the real threads (a green one would be shared
    by every tpool thread).
    """
    return original('_thread')._local()


def native_lock():
    """A lock for native threads only: a green lock taken in one hangs
    the worker.
    """
    return original('threading').Lock()


def mark_hub_thread():
    """Note the calling thread as the one that runs the hub."""
    _hub_ident[0] = native_ident()


def on_hub_thread():
    return native_ident() == _hub_ident[0]


def tpool_execute(func, *args, **kwargs):
    """Run ``func`` in a native thread; the greenthread waits for it."""
    return _tpool.execute(func, *args, **kwargs)


def patch_tpool_execute(wrap):
    """Replace ``tpool.execute`` with ``wrap(tpool.execute)``; returns the
    original.
    """
    real = _tpool.execute
    _tpool.execute = wrap(real)
    return real


def hub_greenlet():
    return _hubs.get_hub().greenlet


def patch_hub_poll(wrap):
    """Replace the running hub's ``do_poll`` (its idle wait) with
    ``wrap(do_poll)``.  Returns the original, or None where the hub has
    none.
    """
    hub = _hubs.get_hub()
    real = getattr(hub, 'do_poll', None)
    if real is not None:
        hub.do_poll = wrap(real)
    return real


def set_switch_trace(trace):
    """Install ``trace(event, args)`` as the greenlet switch trace of
    this thread; returns the previous one.
    """
    return greenlet.settrace(trace)
