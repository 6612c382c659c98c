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

# Declarations that compile series.py (Cython pure-Python mode).
cimport cython

cdef class Series:
    cdef readonly tuple bounds
    cdef public list counts
    cdef public double total
    cdef public dict exemplars

    @cython.locals(bounds=tuple, lo=Py_ssize_t, hi=Py_ssize_t,
                   mid=Py_ssize_t, bound=double)
    cpdef Py_ssize_t bucket(self, double seconds) except -1
    cpdef observe(self, double seconds)
    cpdef exemplar(self, double seconds, txn_id, double timestamp)
    @cython.locals(exemplars=dict)
    cpdef offer(self, Py_ssize_t bucket, tuple exemplar)
    cpdef inc(self, amount=*)
