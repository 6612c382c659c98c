"""Courtesy for work that runs in a native thread beside the eventlet hub.

A scrape merges and renders in a tpool thread so the hub keeps serving.
But the two threads share the GIL: a busy native thread keeps it for up to
``sys.getswitchinterval()`` (5 ms) each time the hub asks for it back, and
the hub asks after every syscall, so one request can wait tens of
milliseconds (measured: 54 ms).  Long loops off the hub call ``pause()``,
which hands the GIL over every QUANTUM seconds of work.
"""

import gc
import time

from eventlet import patcher

QUANTUM = 0.0002
_sleep = patcher.original('time').sleep
_clock = time.perf_counter
_last = [0.0]


def pause():
    """Release the GIL if this thread has held it for a QUANTUM."""
    now = _clock()
    if now - _last[0] >= QUANTUM:
        _sleep(0)
        _last[0] = _clock()


_gc_lock = patcher.original('threading').Lock()
_gc_holders = [0]
_gc_was_enabled = [False]


class collector_paused(object):
    """Keep the cyclic GC from running while a scrape allocates.

    A scrape makes thousands of short-lived lists; the collections they
    trigger traverse the whole worker heap while holding the GIL, which
    stalled the hub for 25 ms in a 48-worker scrape.  The scrape's garbage
    has no cycles, so nothing is lost by deferring collection until it
    ends.  Nested and concurrent scrapes are counted.
    """

    def __enter__(self):
        with _gc_lock:
            if _gc_holders[0] == 0:
                _gc_was_enabled[0] = gc.isenabled()
                gc.disable()
            _gc_holders[0] += 1

    def __exit__(self, *exc):
        with _gc_lock:
            _gc_holders[0] -= 1
            if _gc_holders[0] == 0 and _gc_was_enabled[0]:
                gc.enable()
