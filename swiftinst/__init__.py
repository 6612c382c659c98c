"""swiftinst: instrumentation middleware for the OpenStack Swift object server.

The filter answers the question an operator asks when object-server PUTs
slow down: is the time going to the client, to the event loop or to the
disk?  See README.rst for how to enable it.
"""

__version__ = '0.1.0'

from swiftinst import compiled as _compiled

_compiled.choose()
