# Declarations that compile switchtrace.py (Cython pure-Python mode).
cimport cython
from swiftinst.context cimport RequestContext

cdef class TraceState:
    cdef public double idle_total
    cdef public double last_switch
    cdef public double block_threshold
    cdef public object hub_greenlet
    cdef public object previous_trace
    cdef public long long errors

cdef class Culprit:
    cdef readonly object method
    cdef readonly object device
    cdef readonly object where
    cdef readonly object txn_id

@cython.locals(st=TraceState, active=dict, ctx=RequestContext, now=double, held=double,
               waited=double, in_tpool=double, idle=double)
cpdef on_switch(event, args)
