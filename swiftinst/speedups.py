"""Whether the C timers of ``swiftinst/_speedups.c`` are used.

A 4 KiB PUT passes through about ten timed calls.  As Python wrappers,
their frames cost about as much as the rest of the filter together; the C
timers do the same work without a frame.  They are built when swiftinst
is installed with a C compiler and Python's headers.  Without them, the
pure-Python wrappers in diskfile_hooks and input do the same job at about
1.8 times the filter's cost (see BENCHMARKS.rst).  Setting
``SWIFTINST_PURE_PYTHON=1`` in the server's environment forces the Python
wrappers; the tests run both.
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
