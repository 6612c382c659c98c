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

"""Builds swiftinst, compiling its request path where it can.

Every module with a ``.pxd`` beside it (see swiftinst/compiled.py) is
compiled by Cython from its own ``.py`` source.  A compiler failure is
not an error: swiftinst then runs those modules interpreted, and says so
in its start-up log line.
"""

import glob
import os

import setuptools


def compiled_modules():
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    extensions = cythonize([
        setuptools.Extension(
            'swiftinst.' + os.path.basename(pxd)[:-len('.pxd')],
            [pxd[:-len('.pxd')] + '.py'])
        for pxd in sorted(glob.glob(os.path.join('swiftinst', '*.pxd')))],
        quiet=True, compiler_directives={'language_level': 3})
    for extension in extensions:
        # a compiler that fails leaves the module interpreted (cythonize
        # makes new Extensions, without this flag)
        extension.optional = True
    return extensions


setuptools.setup(ext_modules=compiled_modules())
