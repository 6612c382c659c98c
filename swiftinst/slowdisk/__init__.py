"""A sick disk, for real: see ``sitecustomize`` here and
``testbed.slow_disk_env``, which puts it on an object server's PYTHONPATH.
"""
