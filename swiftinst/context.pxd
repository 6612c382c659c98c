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

# Declarations that compile context.py (Cython pure-Python mode).
cimport cython
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from swiftinst.recorder cimport Recorder, RequestKind
from swiftinst.series cimport Series
from swiftinst.activity cimport RequestRecords

cdef class RequestContext:
    cdef readonly Recorder recorder
    cdef readonly RequestKind kind
    cdef public object env
    cdef public object start_response
    cdef public double started
    cdef public long long bytes_read
    cdef public list statsd_samples
    cdef public bint finished
    cdef readonly object greenlet
    cdef public object status
    cdef readonly list disk_ops
    cdef public double tpool_seconds
    cdef public list updates
    # event-loop accounting
    cdef public double running
    cdef public double client_wait
    cdef public double hub_wait
    cdef public double tpool_wait
    cdef public double container_wait
    cdef public double commit_wait
    cdef public int awaiting
    cdef public int updates_pending
    cdef public double updates_done
    cdef public double switched_at
    cdef public double idle_mark
    cdef public object tpool_called
    cdef public object tpool_done
    cdef public Py_ssize_t slice_mark
    cdef readonly RequestRecords records
    cdef public Py_ssize_t slot
    cdef public Py_ssize_t resume_kind
    cdef int op_depth
    cdef double op_started[8]
    cdef Py_ssize_t op_mark[8]
    cdef Py_ssize_t op_before[8]

    @cython.locals(records=RequestRecords)
    cpdef start(self, Recorder recorder, RequestKind kind, env,
                start_response)
    cpdef add_disk_op(self, op, double seconds)
    @cython.locals(now=double, depth=int, kind=Py_ssize_t)
    cpdef op_begin(self, op)
    @cython.locals(now=double, depth=int, seconds=double, before=Py_ssize_t)
    cpdef op_end(self, op, bint nesting, double excluded)
    @cython.locals(seconds=double, series=Series)
    cpdef read_done(self, Py_ssize_t nbytes, double started,
                    double hub_before)
    @cython.locals(recorder=Recorder, kind=RequestKind, now=double,
                   seconds=double, slot=Py_ssize_t)
    cpdef finish(self)
    cpdef tuple phases(self)

cdef class TimedInputFields:
    cdef readonly object _wrapped
    cdef readonly RequestContext _ctx

@cython.locals(kind=RequestKind, ctx=RequestContext)
cpdef RequestContext begin_request(type context_class, Recorder recorder, env,
                                   start_response)
@cython.locals(number=cython.longlong, slashes=int, ch=Py_UCS4)
cpdef long long partition_number(str path) except? -2
@cython.locals(code=cython.longlong, i=int, ch=Py_UCS4, text=str)
cpdef long long status_code(status) except? -2
cdef int OP_DEPTH
# the kinds of the request records' steps (activity.KIND_OF)
cdef dict KIND_OF

cpdef register(ctx, green)
cpdef unregister(ctx, green)

@cython.locals(ts=timespec)
cpdef double monotonic()

@cython.locals(inner=tuple)
cpdef append_own(list ops, op, Py_ssize_t mark, double seconds)
