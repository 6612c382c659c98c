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

"""Which modules are compiled, and whether this process runs them.

The request path is written once, in Python.  The modules named in
``MODULES`` are also compiled from that same source by Cython, in its
pure-Python mode: each has a ``.pxd`` beside it that declares its classes'
fields and the types of a few functions, and nothing else.  Compiled,
they run without Python frames, with fields read as C struct members; a
node without a compiler runs the same ``.py`` files interpreted.

The wrappers through which Swift's own calls pass (the WSGI call and its
start_response, the ``wsgi.input`` reads, the diskfile hooks, the tpool
hand-off) are never compiled: an exception raised through a compiled
function carries an entry for it in its traceback, and Swift and eventlet
put tracebacks in their 500 responses (see transparent).  They stay thin,
and call compiled code for their bookkeeping.

``SWIFTINST_PURE_PYTHON=1`` in the server's environment makes a process
import the ``.py`` files even where the compiled ones are built (the
tests run both).  The start-up log line says which ran, and why.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

PACKAGE = 'swiftinst'
MODULES = ('series', 'recorder', 'context', 'switchtrace', 'activity')
ENV = 'SWIFTINST_PURE_PYTHON'
_HERE = os.path.dirname(os.path.abspath(__file__))
# Swift's config_true_value, without importing Swift into every tool
_TRUE = ('true', '1', 'yes', 'on', 't', 'y')


def forced_interpreted():
    return os.environ.get(ENV, '').strip().lower() in _TRUE


class _SourceOnly(importlib.abc.MetaPathFinder):
    """Finds the compiled modules' ``.py`` source, never their build."""

    NAMES = frozenset('%s.%s' % (PACKAGE, name) for name in MODULES)

    def find_spec(self, name, path=None, target=None):
        if name not in self.NAMES:
            return None
        return importlib.util.spec_from_file_location(
            name, os.path.join(_HERE, name.rpartition('.')[2] + '.py'))


def choose():
    """Called by the package before any of MODULES is imported."""
    if forced_interpreted() and not any(
            isinstance(f, _SourceOnly) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceOnly())


def is_compiled(module):
    return isinstance(getattr(module, '__loader__', None),
                      importlib.machinery.ExtensionFileLoader)


def interpreted_modules():
    """The names among MODULES that this process runs interpreted."""
    return [name for name in MODULES if not is_compiled(
        importlib.import_module('%s.%s' % (PACKAGE, name)))]


def in_use():
    """True when every module of the request path runs compiled."""
    return not interpreted_modules()


def describe():
    """Which request path runs, and why, for the start-up log line."""
    interpreted = interpreted_modules()
    if not interpreted:
        return 'the request path runs compiled'
    if forced_interpreted():
        why = '%s is set' % ENV
    elif len(interpreted) == len(MODULES):
        why = 'its compiled modules are not built'
    else:
        why = 'these modules are not built: %s' % ', '.join(interpreted)
    return 'the request path runs interpreted (%s)' % why
