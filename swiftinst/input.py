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

"""The ``wsgi.input`` wrapper that times every read of a request body.

Only the three read calls are intercepted.  Everything else, including
``get_socket()`` for SSYNC, ``send_hundred_continue_response()`` for
multi-phase EC PUTs and attribute writes, reaches eventlet's Input
unchanged.  The wrapper is never installed for GET/HEAD, whose zero-copy
path checks ``isinstance(wsgi.input, eventlet.wsgi.Input)``.

Swift's read errors pass through the three read methods, so they are
never compiled (see compiled); the rest of the wrapper is context's
TimedInputFields, and the request's context records each read.
"""

import time

from swiftinst.context import TimedInputFields
from swiftinst.transparent import drop_own_frame

_monotonic = time.monotonic


def _lines_size(lines):
    return sum(map(len, lines))


def _timed_reader(name, size=len):
    """A TimedInput method that times the wrapped input's ``name``."""
    def timed(self, *args, **kwargs):
        ctx = self._ctx
        hub_before = ctx.hub_wait
        started = _monotonic()
        try:
            result = getattr(self._wrapped, name)(*args, **kwargs)
        except BaseException as exc:
            drop_own_frame(exc)
            raise
        ctx.read_done(size(result), started, hub_before)
        return result
    timed.__name__ = timed.__qualname__ = name
    return timed


class TimedInput(TimedInputFields):
    """``wsgi.input`` for a request with a body: TimedInput(wrapped, ctx)."""

    __slots__ = ()

    read = _timed_reader('read')
    readline = _timed_reader('readline')
    readlines = _timed_reader('readlines', _lines_size)
