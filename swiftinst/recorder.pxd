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

# Declarations that compile recorder.py (Cython pure-Python mode).
cimport cython
from swiftinst.series cimport Series

cdef class DiskTarget:
    cdef readonly object device
    cdef readonly object policy
    cdef readonly dict histograms
    cdef readonly dict statsd_names
    cdef readonly double exemplar_min
    cdef readonly tuple phases
    cdef object _store
    cdef object _profile

    @cython.locals(histograms=dict, series=Series, seconds=double)
    cpdef observe(self, list ops, ctx=*)

cdef class RequestKind:
    cdef readonly object method
    cdef readonly object device
    cdef readonly object policy
    cdef readonly tuple labels
    cdef readonly Series read
    cdef readonly object read_statsd
    cdef readonly dict by_status
    cdef readonly Series input_bytes
    cdef readonly DiskTarget disk
    cdef readonly tuple phases
    cdef readonly double exemplar_min
    cdef readonly tuple _histogram_labels
    cdef readonly tuple _read_labels
    cdef readonly bytes identity
    cdef bint _device_totals
    cdef object _store

    @cython.locals(series=Series)
    cpdef Series observe_read(self, double seconds)
    @cython.locals(series=Series, pair=tuple)
    cpdef observe_request(self, status, double seconds, long long bytes_read,
                          ctx=*)
    cpdef tuple _status_series(self, first)
    cpdef observe_phases(self, tuple seconds)

cdef class Recorder:
    cdef readonly object store
    cdef readonly object labels
    cdef public object statsd
    cdef public object logger
    cdef public double slow_read_threshold
    cdef readonly bint phases
    cdef public double slow_request_threshold
    cdef readonly double exemplar_min
    cdef readonly object profile
    cdef readonly dict limiters
    cdef set _logged_components
    cdef dict _disk_targets
    cdef dict _targets_by_path
    cdef readonly dict _kinds
    cdef readonly dict _kinds_by_raw
    cdef dict _updates
    cdef public object records

    cpdef RequestKind kind(self, method, device, policy)

@cython.locals(i=Py_ssize_t, one=Series)
cpdef observe_each(tuple series, tuple seconds)
