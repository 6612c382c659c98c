"""Whether the C timers and request context of ``swiftinst/_speedups.c``
are used.

A 4 KiB PUT passes through about ten timed calls and one request
context.  As Python code, their frames were most of the filter's cost;
the C objects do the same work without a frame.  They are built when
swiftinst is installed with a C compiler and Python's headers.  Without
them, the pure-Python code in context, diskfile_hooks and input does the
same job at nearly three times the filter's cost (see BENCHMARKS.rst).
Setting ``SWIFTINST_PURE_PYTHON=1`` in the server's environment forces
the Python code; the tests run both.
"""

import os

from swift.common.utils import config_true_value

native = None
# Why ``native`` is None, for the start-up log line.
unused_because = None
if config_true_value(os.environ.get('SWIFTINST_PURE_PYTHON', '')):
    unused_because = 'SWIFTINST_PURE_PYTHON is set'
else:
    try:
        from swiftinst import _speedups
    except ImportError as err:
        unused_because = 'the C timers are not built (%s)' % err
    else:
        native = _speedups


class _RecorderSlots(object):
    """Pure-Python stand-in for ``_speedups.RecorderSlots``."""
    __slots__ = ('bounds', 'statsd', 'phases', '_kinds_by_raw',
                 'slow_read_threshold', 'slow_request_threshold')


class _KindSlots(object):
    """Pure-Python stand-in for ``_speedups.KindSlots``."""
    __slots__ = ('read_values', 'by_status', 'disk', 'input_bytes')


# The bases of recorder.Recorder and recorder.RequestKind: the fields every
# request reads, which the C context reads as C fields.
RecorderSlots = _RecorderSlots if native is None else native.RecorderSlots
KindSlots = _KindSlots if native is None else native.KindSlots
