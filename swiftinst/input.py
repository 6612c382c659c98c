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

    def _observe(self, started, nbytes):
        try:
            self._ctx.on_read(_monotonic() - started, nbytes)
        except Exception:
            self._ctx.recorder.error('input')

    def read(self, *args, **kwargs):
        # The hot one: _observe written out, one call fewer per chunk.
        started = _monotonic()
        data = self._wrapped.read(*args, **kwargs)
        try:
            self._ctx.on_read(_monotonic() - started, len(data))
        except Exception:
            self._ctx.recorder.error('input')
        return data

    def readline(self, *args, **kwargs):
        started = _monotonic()
        data = self._wrapped.readline(*args, **kwargs)
        self._observe(started, len(data))
        return data

    def readlines(self, *args, **kwargs):
        started = _monotonic()
        lines = self._wrapped.readlines(*args, **kwargs)
        self._observe(started, sum(map(len, lines)))
        return lines

    def __iter__(self):
        return iter(self.read, b'')

    def __getattr__(self, name):
        return getattr(self._wrapped, name)

    def __setattr__(self, name, value):
        setattr(self._wrapped, name, value)
