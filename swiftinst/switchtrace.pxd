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

# Declarations that compile switchtrace.py (Cython pure-Python mode).
cimport cython
from swiftinst.context cimport RequestContext, monotonic

# what a request waits for (see context), as C ints
cdef int AWAIT_CLIENT, AWAIT_CONTAINER, AWAIT_UPDATES
# what a request's record waits on (see activity)
cdef Py_ssize_t CLIENT, TPOOL, CONTAINER, COMMIT

cpdef Py_ssize_t waits_on(RequestContext ctx) except -1

cdef class TraceState:
    cdef public double idle_total
    cdef public double last_switch
    cdef public double block_threshold
    cdef public object hub_greenlet
    cdef public object previous_trace
    cdef public long long errors
    cdef public object clock

cdef double _now(TraceState st) except? -1.0

cdef class Culprit:
    cdef readonly object method
    cdef readonly object device
    cdef readonly object where
    cdef readonly object txn_id
    cdef readonly object updating

@cython.locals(st=TraceState, active=dict, ctx=RequestContext, now=double, held=double,
               waited=double, part=double)
cpdef on_switch(event, args)
