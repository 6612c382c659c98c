"""The ``wsgi.input`` wrapper that times every read of a request body.

Only the three read calls are intercepted.  Everything else, including
``get_socket()`` for SSYNC, ``send_hundred_continue_response()`` for
multi-phase EC PUTs and attribute writes, reaches eventlet's Input
unchanged.  The wrapper is never installed for GET/HEAD, whose zero-copy
path checks ``isinstance(wsgi.input, eventlet.wsgi.Input)``.
"""

import time
from bisect import bisect_left

from swiftinst.speedups import native
from swiftinst.transparent import drop_own_frame

_monotonic = time.monotonic


def _observe_read(ctx, result, size, started, seconds, hub_before):
    """Record one read of ``ctx``'s body that returned ``result``: bytes,
    the input-read histogram and, when statsd is on or the read was slow,
    the extras.  (What the C ReadTimer does itself.)"""
    try:
        nbytes = size(result)
        offset = ctx.bytes_read
        ctx.bytes_read = offset + nbytes
        recorder = ctx.recorder
        # MetricStore.observe, on the kind's histogram
        values = ctx.kind.read_values
        values[bisect_left(recorder.bounds, seconds)] += 1
        values[-1] += seconds
        if ctx.statsd_samples is not None or \
                seconds >= recorder.slow_read_threshold > 0:
            _read_extras(ctx, started, seconds, offset, nbytes, hub_before)
    except Exception:
        ctx.recorder.error('input')


def _read_extras(ctx, started, seconds, offset, nbytes, hub_before):
    """The rare part of recording a read: its statsd sample, and the
    warning when it was slow."""
    try:
        recorder = ctx.recorder
        if ctx.statsd_samples is not None:
            ctx.statsd_samples.append((ctx.kind.read_statsd, seconds))
        if seconds >= recorder.slow_read_threshold > 0:
            recorder.slow_read(ctx, started, seconds, offset, nbytes,
                               ctx.hub_wait - hub_before)
    except Exception:
        ctx.recorder.error('input')


def _read_failed(ctx, exc):
    """The C ReadTimer could not record a read."""
    ctx.recorder.error('input', 'cannot record a body read: %r' % (exc,))


def _timed_reader(name, size=len):
    """A TimedInput method that times the wrapped input's ``name``; the C
    ReadTimer when available (see speedups)."""
    if native is not None:
        return native.ReadTimer(name, size, _read_extras, _read_failed)

    def timed(self, *args, **kwargs):
        ctx = self._ctx
        hub_before = ctx.hub_wait
        started = _monotonic()
        try:
            result = getattr(self._wrapped, name)(*args, **kwargs)
        except BaseException as exc:
            drop_own_frame(exc)
            raise
        _observe_read(ctx, result, size, started, _monotonic() - started,
                      hub_before)
        return result
    timed.__name__ = name
    return timed


class _TimedInputMethods(object):
    """What a TimedInput does, whichever of the two below holds its
    ``_wrapped`` and ``_ctx``."""

    __slots__ = ()

    read = _timed_reader('read')
    readline = _timed_reader('readline')
    readlines = _timed_reader('readlines',
                              lambda lines: sum(map(len, lines)))

    def __iter__(self):
        return iter(self.read, b'')

    def __getattr__(self, name):
        return getattr(self._wrapped, name)

    def __setattr__(self, name, value):
        setattr(self._wrapped, name, value)


if native is None:
    class TimedInput(_TimedInputMethods):

        __slots__ = ('_wrapped', '_ctx')

        def __init__(self, wrapped, ctx):
            object.__setattr__(self, '_wrapped', wrapped)
            object.__setattr__(self, '_ctx', ctx)
else:
    class TimedInput(_TimedInputMethods, native.InputSlots):
        """TimedInput(wrapped, ctx), its slots filled in C."""

        __slots__ = ()
