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

# Declarations that compile activity.py (Cython pure-Python mode).
cimport cython
from libc.string cimport memcpy, memset

cdef extern from *:
    # GCC's full memory barrier: a declaration of the compiler's builtin
    void full_memory_barrier "__sync_synchronize"() nogil

cdef Py_ssize_t HEADER_WORDS, RECORD_WORDS, STEPS_AT, MAX_STEPS, FREE_STEPS
cdef Py_ssize_t SLOWEST_PERIODS
cdef Py_ssize_t RUNNING, HUB, FREE, IN_FLIGHT, FINISHED
cdef Py_ssize_t CHANGES, STATE, STARTED, WALL, KIND, SINCE, NSTEPS, STATUS
cdef Py_ssize_t SECONDS, PARTITION, ENDED, TEXT_AT, TEXT_BYTES, TXN_BYTES

cdef inline void _barrier() noexcept nogil

@cython.locals(base=cython.p_char, i=Py_ssize_t, kind=cython.longlong,
               seconds=double, steps=list)
cpdef list _steps(bytes data, Py_ssize_t nsteps)

@cython.final
cdef class RequestRecords:
    cdef readonly object path
    cdef readonly Py_ssize_t slots
    cdef readonly Py_ssize_t slowest_count
    cdef readonly double window
    cdef object _map
    cdef object _raw
    cdef long long[::1] _words
    cdef double[::1] _floats
    cdef list _free
    cdef list _period_of
    cdef list _filled
    cdef public long long untracked
    cdef public double wall_offset

    cdef inline void _enter(self, Py_ssize_t at) noexcept
    cdef inline void _leave(self, Py_ssize_t at) noexcept
    @cython.locals(slot=Py_ssize_t, at=Py_ssize_t, txn=bytes, txn_text=str,
                   text=cython.p_char)
    cpdef Py_ssize_t claim(self, double started, txn_id, bytes identity,
                           long long partition) except? -2
    @cython.locals(n=Py_ssize_t, step=Py_ssize_t, i=Py_ssize_t)
    cdef void _append(self, Py_ssize_t at, Py_ssize_t kind,
                      double seconds) noexcept
    @cython.locals(at=Py_ssize_t, before=Py_ssize_t, seconds=double,
                   words='long long[::1]', floats='double[::1]')
    cpdef Py_ssize_t transition(self, Py_ssize_t slot, Py_ssize_t kind,
                               double now) except? -1
    @cython.locals(at=Py_ssize_t, since=double,
                   words='long long[::1]', floats='double[::1]')
    cpdef wait_ended(self, Py_ssize_t slot, Py_ssize_t part_kind,
                     double part_end, double now, Py_ssize_t then)
    @cython.locals(at=Py_ssize_t, seconds=double, period=Py_ssize_t,
                   index=Py_ssize_t, first=Py_ssize_t, target=Py_ssize_t,
                   fastest=double, i=Py_ssize_t, kept=Py_ssize_t)
    @cython.locals(wall=double)
    cpdef release(self, Py_ssize_t slot, long long status, double now)
