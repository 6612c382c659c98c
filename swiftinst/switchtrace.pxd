# Declarations that compile switchtrace.py (Cython pure-Python mode).
cimport cython
from swiftinst.context cimport RequestContext

cdef class Culprit:
    cdef readonly object method
    cdef readonly object device
    cdef readonly object where
    cdef readonly object txn_id

@cython.locals(ctx=RequestContext, now=double, held=double, waited=double,
               in_tpool=double, idle=double)
cpdef on_switch(event, args)
