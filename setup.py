import setuptools

setuptools.setup(ext_modules=[setuptools.Extension(
    # optional: without a compiler, swiftinst uses its pure-Python timers
    # (see swiftinst/speedups.py)
    'swiftinst._speedups', ['swiftinst/_speedups.c'], optional=True)])
