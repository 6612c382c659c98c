"""What the compiled modules ask of Cython when they run interpreted and
Cython is not installed: ``cython.compiled`` is False."""

compiled = False
