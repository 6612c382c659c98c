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

"""Courtesy for work that runs in a native thread beside the eventlet hub.

A scrape merges and renders, and every worker flushes its snapshot, in a
tpool thread so the hub keeps serving.  But the two threads share the
GIL, and the hub gives it up at every syscall: each time it asks for it
back, it waits until the native thread lets go, which CPython forces only
after ``sys.getswitchinterval()`` (5 ms).  A request makes dozens of
syscalls, so without care one request waited tens of milliseconds
(measured: 54 ms).  Hence ``off_hub_work``, around all such work, and
``pause()`` in its long loops.
"""

import gc
import sys
import time

from swiftinst import hub

QUANTUM = 0.0002
_sleep = hub.native_sleep
_clock = time.perf_counter
_last = [0.0]


def pause():
    """Release the GIL if this thread has held it for a QUANTUM."""
    now = _clock()
    if now - _last[0] >= QUANTUM:
        _sleep(0)
        _last[0] = _clock()


_lock = hub.native_lock()
_holders = [0]
_saved = {}


class off_hub_work(object):
    """While native threads merge, render or flush: hand the hub the GIL
    within a QUANTUM, and keep the cyclic GC from running.

    The switch interval, shortened, bounds every wait of the hub for the
    GIL, in loops that ``pause()`` misses as well.  The collections that a
    scrape's thousands of short-lived lists trigger traverse the whole
    worker heap holding the GIL (a 25 ms stall in a 48-worker scrape); the
    scrape's garbage has no cycles, so deferring them loses nothing.  Both
    are process-wide, so nested and concurrent holders are counted and the
    last one out restores them.
    """

    def __enter__(self):
        with _lock:
            if _holders[0] == 0:
                _saved['gc'] = gc.isenabled()
                _saved['switch_interval'] = sys.getswitchinterval()
                gc.disable()
                sys.setswitchinterval(QUANTUM)
            _holders[0] += 1

    def __exit__(self, *exc):
        with _lock:
            _holders[0] -= 1
            if _holders[0] == 0:
                sys.setswitchinterval(_saved['switch_interval'])
                if _saved['gc']:
                    gc.enable()


def _courteously(func, args):
    with off_hub_work():
        return func(*args)


def execute(func, *args):
    """``func(*args)`` in a tpool thread, inside ``off_hub_work``."""
    return hub.tpool_execute(_courteously, func, args)
