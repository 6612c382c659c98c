# Declarations that compile series.py (Cython pure-Python mode).

cdef class Series:
    cdef readonly tuple bounds
    cdef public list counts
    cdef public double total

    cpdef Py_ssize_t bucket(self, double seconds) except -1
    cpdef observe(self, double seconds)
    cpdef inc(self, amount=*)
