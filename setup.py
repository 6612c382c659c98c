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
    extensions = [
        setuptools.Extension(
            'swiftinst.' + os.path.basename(pxd)[:-len('.pxd')],
            [pxd[:-len('.pxd')] + '.py'], optional=True)
        for pxd in sorted(glob.glob(os.path.join('swiftinst', '*.pxd')))]
    return cythonize(extensions, quiet=True,
                     compiler_directives={'language_level': 3})


setuptools.setup(ext_modules=compiled_modules())
