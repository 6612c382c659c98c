"""The ``wsgi.input`` wrapper that times every read of a request body.

Only the three read calls are intercepted.  Everything else, including
``get_socket()`` for SSYNC, ``send_hundred_continue_response()`` for
multi-phase EC PUTs and attribute writes, reaches eventlet's Input
unchanged.  The wrapper is never installed for GET/HEAD, whose zero-copy
path checks ``isinstance(wsgi.input, eventlet.wsgi.Input)``.
"""

import time

_monotonic = time.monotonic


class TimedInput(object):

    __slots__ = ('_wrapped', '_ctx')

    def __init__(self, wrapped, ctx):
        object.__setattr__(self, '_wrapped', wrapped)
        object.__setattr__(self, '_ctx', ctx)

    def _timed(self, reader, args, kwargs, size=len):
        ctx = self._ctx
        hub_before = ctx.hub_wait
        started = _monotonic()
        result = reader(*args, **kwargs)
        try:
            ctx.on_read(started, size(result), hub_before)
        except Exception:
            ctx.recorder.error('input')
        return result

    def read(self, *args, **kwargs):
        # The hot one: _timed written out, one call fewer per chunk.
        ctx = self._ctx
        hub_before = ctx.hub_wait
        started = _monotonic()
        data = self._wrapped.read(*args, **kwargs)
        try:
            ctx.on_read(started, len(data), hub_before)
        except Exception:
            ctx.recorder.error('input')
        return data

    def readline(self, *args, **kwargs):
        return self._timed(self._wrapped.readline, args, kwargs)

    def readlines(self, *args, **kwargs):
        return self._timed(self._wrapped.readlines, args, kwargs,
                           lambda lines: sum(map(len, lines)))

    def __iter__(self):
        return iter(self.read, b'')

    def __getattr__(self, name):
        return getattr(self._wrapped, name)

    def __setattr__(self, name, value):
        setattr(self._wrapped, name, value)
