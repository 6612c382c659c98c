# Declarations that compile recorder.py (Cython pure-Python mode).
from swiftinst.series cimport Series

cdef class DiskTarget:
    cdef readonly object device
    cdef readonly object policy
    cdef readonly object histograms
    cdef readonly dict statsd_names

cdef class RequestKind:
    cdef readonly object method
    cdef readonly object device
    cdef readonly object policy
    cdef readonly tuple labels
    cdef readonly Series read
    cdef readonly object read_statsd
    cdef readonly object by_status
    cdef public Series input_bytes
    cdef readonly DiskTarget disk
    cdef readonly tuple phases

cdef class Recorder:
    cdef readonly object store
    cdef readonly tuple bounds
    cdef readonly object labels
    cdef public object statsd
    cdef public object logger
    cdef public double slow_read_threshold
    cdef readonly bint phases
    cdef public double slow_request_threshold
    cdef set _logged_components
    cdef dict _disk_targets
    cdef dict _targets_by_path
    cdef readonly dict _kinds
    cdef readonly dict _kinds_by_raw

    cpdef kind(self, method, device, policy)
    cpdef finish_request(self, ctx, double seconds)
