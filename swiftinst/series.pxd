# Declarations that compile series.py (Cython pure-Python mode).
cimport cython

cdef class Series:
    cdef readonly tuple bounds
    cdef public list counts
    cdef public double total

    @cython.locals(bounds=tuple, lo=Py_ssize_t, hi=Py_ssize_t,
                   mid=Py_ssize_t, bound=double)
    cpdef Py_ssize_t bucket(self, double seconds) except -1
    cpdef observe(self, double seconds)
    cpdef inc(self, amount=*)
