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

@cython.final
cdef class Series:
    cdef readonly tuple bounds
    cdef double[::1] _bounds
    cdef long long[::1] _counts
    cdef double[::1] _sum
    cdef public dict exemplars

    @cython.locals(i=Py_ssize_t)
    cpdef bind(self, long long[::1] counts, double[::1] total)
    @cython.locals(lo=Py_ssize_t, hi=Py_ssize_t, mid=Py_ssize_t)
    cpdef Py_ssize_t bucket(self, double seconds) except -1
    cpdef observe(self, double seconds)
    cpdef exemplar(self, double seconds, txn_id, double timestamp)
    @cython.locals(exemplars=dict)
    cpdef offer(self, Py_ssize_t bucket, tuple exemplar)
    cpdef inc(self, long long amount=*)
    @cython.locals(i=Py_ssize_t)
    cpdef add(self, Series other)
    @cython.locals(i=Py_ssize_t, width=Py_ssize_t)
    cpdef add_words(self, const long long[::1] words,
                    const double[::1] floats, Py_ssize_t at)


cdef class SeriesFileReader:
    cdef readonly object path
    cdef readonly tuple bounds
    cdef bytes _digest
    cdef object _width_of
    cdef public list records
    cdef object _map
    cdef object _identity
    cdef list _regions

    @cython.locals(series=Series, at=Py_ssize_t)
    cpdef add_to(self, dict totals, new_series)
