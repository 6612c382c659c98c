/*
 * C versions of swiftinst's per-operation timers and request context.
 *
 * Why C: a 4 KiB PUT passes through about ten timed calls (two body reads,
 * the diskfile open, write and metadata read on the hub, four helpers in a
 * tpool thread and the tpool hand-off).  As Python functions, their frames
 * and argument forwarding were more than half of the filter's cost, and
 * the request context's own frames (begin, start_response, finish) most
 * of the rest.  These objects do the same work without a frame of their
 * own, which also keeps them out of Swift's tracebacks with no extra work.
 *
 * swiftinst/speedups.py decides whether they are used.  The Python versions
 * in context.py, diskfile_hooks.py and input.py remain the reference and
 * the fallback; every rule they follow holds here too:
 *   - the wrapped call's result or exception passes through untouched;
 *   - recording never raises into Swift: a timing that cannot be recorded
 *     (only a failed allocation can cause that) is dropped;
 *   - code that may run in a tpool thread only appends to a plain list.
 * All of it runs with the GIL held.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <string.h>
#include <structmember.h>
#include <time.h>

/* What the current native thread's helpers record into, a request
 * context or a list (see run_with_native_ops); unset outside a tpool
 * call. */
static Py_tss_t native_ops_key = Py_tss_NEEDS_INIT;
/* False while no recorder is installed: the hub timers record nothing. */
static int recording = 0;

static PyObject *one;
/* attribute and method names, interned at import */
static PyObject *str_histograms, *str_input_bytes,
    *str_finish_extras, *str_execute, *str_kind, *str_lower, *str_chunked,
    *str_empty, *str_get, *str_head, *str_request_method, *str_path_info,
    *str_policy_index, *str_content_length, *str_transfer_encoding,
    *str_wsgi_input, *str_serve_metrics, *str_adopt_process, *str_handle,
    *str_error, *str_request, *str_status, *str_500, *str_finish,
    *str_len;

static const struct {
    PyObject **name;
    const char *text;
} interned[] = {
    {&str_histograms, "histograms"},
    {&str_input_bytes, "input_bytes"},
    {&str_finish_extras, "finish_extras"},
    {&str_execute, "execute"},
    {&str_kind, "kind"},
    {&str_lower, "lower"},
    {&str_chunked, "chunked"},
    {&str_empty, ""},
    {&str_get, "GET"},
    {&str_head, "HEAD"},
    {&str_request_method, "REQUEST_METHOD"},
    {&str_path_info, "PATH_INFO"},
    {&str_policy_index, "HTTP_X_BACKEND_STORAGE_POLICY_INDEX"},
    {&str_content_length, "CONTENT_LENGTH"},
    {&str_transfer_encoding, "HTTP_TRANSFER_ENCODING"},
    {&str_wsgi_input, "wsgi.input"},
    {&str_serve_metrics, "serve_metrics"},
    {&str_adopt_process, "_adopt_process"},
    {&str_handle, "handle"},
    {&str_error, "error"},
    {&str_request, "request"},
    {&str_status, "status"},
    {&str_500, "500"},
    {&str_finish, "finish"},
    {&str_len, "__len__"},
};

/* The clock of time.monotonic(), which the Python side compares with. */
static inline double
monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* metrics.DISK_OPS, read at import: a request keeps its disk ops as
 * (code, seconds) records, a code being a position in this tuple, rather
 * than as (name, seconds) tuples in a list. */
static PyObject *disk_op_names;
static int tpool_wait_code;

/* The code of disk op ``name``; -1 with ValueError if it is none. */
static int
disk_op_code(PyObject *name)
{
    Py_ssize_t i;
    int differs;

    for (i = 0; i < PyTuple_GET_SIZE(disk_op_names); i++) {
        differs = PyUnicode_Compare(PyTuple_GET_ITEM(disk_op_names, i),
                                    name);
        if (differs == 0)
            return (int)i;
        if (differs == -1 && PyErr_Occurred())
            return -1;
    }
    PyErr_Format(PyExc_ValueError, "%R is not one of metrics.DISK_OPS",
                 name);
    return -1;
}

/* The tuple (op, seconds), as Python code sees a disk op; NULL with an
 * exception set if it cannot be made. */
static PyObject *
op_pair(PyObject *op, double seconds)
{
    PyObject *number = PyFloat_FromDouble(seconds), *pair;

    if (number == NULL)
        return NULL;
    pair = PyTuple_Pack(2, op, number);
    Py_DECREF(number);
    return pair;
}

/* Append (op, seconds) to ``ops``; a failure here is dropped.  The caller
 * keeps the wrapped call's exception aside (PyErr_Fetch) meanwhile. */
static void
append_op(PyObject *ops, PyObject *op, double seconds)
{
    PyObject *pair = op_pair(op, seconds);

    if (pair == NULL || PyList_Append(ops, pair) < 0)
        PyErr_Clear();
    Py_XDECREF(pair);
}

/* 0, or -1 with a TypeError if a constructor got keyword arguments. */
static int
no_keywords(const char *name, PyObject *kwargs)
{
    if (kwargs == NULL || PyDict_GET_SIZE(kwargs) == 0)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes no keyword arguments", name);
    return -1;
}

/* -- Series: a histogram's live values ------------------------------------ */

/* A histogram series as the store's Python code sees it: a fixed-length
 * sequence of its bucket counts (ints) and then its sum (a float).  As a
 * list, every observation read a cold int and a cold float and allocated a
 * new one of each; here it is two stores into one small block of memory,
 * which matters more than the instructions once Swift's own work between
 * two requests has evicted it from the caches. */
typedef struct {
    PyObject_VAR_HEAD           /* ob_size: the bucket counts */
    double sum;
    unsigned long long counts[1];
} Series;

static PyTypeObject Series_Type;

static PyObject *
Series_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t width;
    Series *self;

    if (no_keywords("Series", kwargs) < 0 ||
            !PyArg_ParseTuple(args, "n:Series", &width))
        return NULL;
    if (width < 2) {
        PyErr_SetString(PyExc_ValueError, "a Series has a count and a sum");
        return NULL;
    }
    /* tp_alloc zeroes the block: every count 0, the sum 0.0 */
    self = (Series *)type->tp_alloc(type, width - 1);
    return (PyObject *)self;
}

static Py_ssize_t
Series_length(Series *self)
{
    return Py_SIZE(self) + 1;
}

static PyObject *
Series_item(Series *self, Py_ssize_t i)
{
    if (i < 0 || i > Py_SIZE(self)) {
        PyErr_SetString(PyExc_IndexError, "Series index out of range");
        return NULL;
    }
    return i == Py_SIZE(self) ? PyFloat_FromDouble(self->sum) :
        PyLong_FromUnsignedLongLong(self->counts[i]);
}

/* An integer key as a position (negative ones count from the end); -1
 * with IndexError if out of range. */
static Py_ssize_t
series_index(Series *self, PyObject *key)
{
    Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);

    if (i == -1 && PyErr_Occurred())
        return -1;
    if (i < 0)
        i += Series_length(self);
    if (i < 0 || i > Py_SIZE(self)) {
        PyErr_SetString(PyExc_IndexError, "Series index out of range");
        return -1;
    }
    return i;
}

static PyObject *
Series_subscript(Series *self, PyObject *key)
{
    Py_ssize_t i, start, stop, step, length;
    PyObject *list, *item;

    if (PyIndex_Check(key))
        return (i = series_index(self, key)) < 0 ? NULL :
            Series_item(self, i);
    if (!PySlice_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "Series indices are integers or "
                        "slices");
        return NULL;
    }
    if (PySlice_Unpack(key, &start, &stop, &step) < 0)
        return NULL;
    length = PySlice_AdjustIndices(Series_length(self), &start, &stop,
                                   step);
    /* a slice is a plain list: a copy, as a list's would be */
    if ((list = PyList_New(length)) == NULL)
        return NULL;
    for (i = 0; i < length; i++, start += step) {
        if ((item = Series_item(self, start)) == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

static int
Series_ass_subscript(Series *self, PyObject *key, PyObject *value)
{
    Py_ssize_t i;
    unsigned long long count;
    double sum;

    if (value == NULL || !PyIndex_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "a Series item can be set, by "
                        "index; its length is fixed");
        return -1;
    }
    if ((i = series_index(self, key)) < 0)
        return -1;
    if (i == Py_SIZE(self)) {
        if ((sum = PyFloat_AsDouble(value)) == -1.0 && PyErr_Occurred())
            return -1;
        self->sum = sum;
        return 0;
    }
    count = PyLong_AsUnsignedLongLong(value);
    if (count == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    self->counts[i] = count;
    return 0;
}

static PyObject *
Series_repr(Series *self)
{
    PyObject *all = PySlice_New(NULL, NULL, NULL), *items, *repr;

    items = all == NULL ? NULL : Series_subscript(self, all);
    repr = items == NULL ? NULL : PyUnicode_FromFormat("Series(%R)", items);
    Py_XDECREF(items);
    Py_XDECREF(all);
    return repr;
}

static PySequenceMethods Series_as_sequence = {
    .sq_length = (lenfunc)Series_length,
    .sq_item = (ssizeargfunc)Series_item,
};

static PyMappingMethods Series_as_mapping = {
    .mp_length = (lenfunc)Series_length,
    .mp_subscript = (binaryfunc)Series_subscript,
    .mp_ass_subscript = (objobjargproc)Series_ass_subscript,
};

static PyTypeObject Series_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "swiftinst._speedups.Series",
    .tp_doc = "Series(width)\n\n"
              "A histogram's live values: width - 1 bucket counts, then the "
              "sum; a fixed-length sequence whose slices are lists.",
    .tp_basicsize = offsetof(Series, counts),
    .tp_itemsize = sizeof(unsigned long long),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Series_new,
    .tp_repr = (reprfunc)Series_repr,
    .tp_as_sequence = &Series_as_sequence,
    .tp_as_mapping = &Series_as_mapping,
};

/* The bucket bounds as C doubles, for the last bounds tuple seen (a
 * process has one): the bisection then reads two or three cache lines,
 * not a tuple and a float object per step scattered over the heap. */
#define MAX_BOUNDS 64
static struct {
    PyObject *tuple;            /* strong reference */
    Py_ssize_t count;
    double at[MAX_BOUNDS];
} bounds_cache;

static int
cache_bounds(PyObject *bounds)
{
    Py_ssize_t i, count;

    if (!PyTuple_CheckExact(bounds)) {
        PyErr_SetString(PyExc_TypeError, "bounds are a tuple");
        return -1;
    }
    count = PyTuple_GET_SIZE(bounds);
    if (count > MAX_BOUNDS) {
        PyErr_SetString(PyExc_ValueError, "at most 64 bucket bounds");
        return -1;
    }
    for (i = 0; i < count; i++) {
        bounds_cache.at[i] = PyFloat_AsDouble(PyTuple_GET_ITEM(bounds, i));
        if (bounds_cache.at[i] == -1.0 && PyErr_Occurred()) {
            Py_CLEAR(bounds_cache.tuple);
            return -1;
        }
    }
    Py_INCREF(bounds);
    Py_XSETREF(bounds_cache.tuple, bounds);
    bounds_cache.count = count;
    return 0;
}

/* MetricStore.observe, on a series' live values: len(bounds) + 1 bucket
 * counts (the last is +Inf), then the sum, in a Series or (the pure-Python
 * store's) a list.  -1 with an exception set if ``values`` is neither. */
static int
observe_seconds(PyObject *values, PyObject *bounds, double seconds)
{
    Py_ssize_t lo = 0, hi, mid, width;
    PyObject *sum, *count, *number;
    int series = Py_IS_TYPE(values, &Series_Type);

    if (bounds != bounds_cache.tuple && cache_bounds(bounds) < 0)
        return -1;
    width = bounds_cache.count + 2;
    if (series ? Py_SIZE(values) != width - 1 :
            !PyList_CheckExact(values) || PyList_GET_SIZE(values) != width) {
        PyErr_SetString(PyExc_TypeError, "a histogram's values are a Series "
                        "or a list of len(bounds) + 2");
        return -1;
    }
    /* bisect_left(bounds, seconds) */
    hi = width - 2;
    while (lo < hi) {
        mid = (lo + hi) / 2;
        if (bounds_cache.at[mid] < seconds)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (series) {
        ((Series *)values)->counts[lo]++;
        ((Series *)values)->sum += seconds;
        return 0;
    }
    count = PyNumber_Add(PyList_GET_ITEM(values, lo), one);
    if (count == NULL)
        return -1;
    PyList_SetItem(values, lo, count);
    if ((number = PyFloat_FromDouble(seconds)) == NULL)
        return -1;
    sum = PyNumber_Add(PyList_GET_ITEM(values, width - 1), number);
    Py_DECREF(number);
    if (sum == NULL)
        return -1;
    PyList_SetItem(values, width - 1, sum);
    return 0;
}

/* observe_seconds, for a number object */
static int
observe(PyObject *values, PyObject *bounds, PyObject *number)
{
    double seconds = PyFloat_AsDouble(number);

    if (seconds == -1.0 && PyErr_Occurred())
        return -1;
    return observe_seconds(values, bounds, seconds);
}

/* -- Slot bases: per-process state the hot path reads as C fields -------- */

/* Every request reads a few attributes of its Recorder and RequestKind.
 * Through PyObject_GetAttr each costs a type-cache entry, the instance
 * dict's table and the value: cache lines on as many pages, cold again by
 * the next request once Swift has run in between.  As C fields of these
 * bases (Python subclasses set them as usual) each is one load from the
 * object itself.  A base's object fields are the T_OBJECT* entries of its
 * member table, which one traverse, clear and dealloc serve for all. */

static int
visit_members(PyObject *self, PyMemberDef *member, visitproc visit,
              void *arg)
{
    for (; member->name != NULL; member++)
        if (member->type == T_OBJECT || member->type == T_OBJECT_EX)
            Py_VISIT(*(PyObject **)((char *)self + member->offset));
    return 0;
}

static void
clear_members(PyObject *self, PyMemberDef *member)
{
    for (; member->name != NULL; member++)
        if (member->type == T_OBJECT || member->type == T_OBJECT_EX)
            Py_CLEAR(*(PyObject **)((char *)self + member->offset));
}

#define SLOTS_FUNCTIONS(Name)                                             \
    static int                                                            \
    Name##_traverse(PyObject *self, visitproc visit, void *arg)           \
    {                                                                     \
        return visit_members(self, Name##_members, visit, arg);           \
    }                                                                     \
    static int                                                            \
    Name##_clear(PyObject *self)                                          \
    {                                                                     \
        clear_members(self, Name##_members);                              \
        return 0;                                                         \
    }                                                                     \
    static void                                                           \
    Name##_dealloc(PyObject *self)                                        \
    {                                                                     \
        PyObject_GC_UnTrack(self);                                        \
        clear_members(self, Name##_members);                              \
        Py_TYPE(self)->tp_free(self);                                     \
    }

#define SLOTS_TYPE(Name, doc, new, call)                                  \
    SLOTS_FUNCTIONS(Name)                                                 \
    static PyTypeObject Name##_Type = {                                   \
        PyVarObject_HEAD_INIT(NULL, 0)                                    \
        .tp_name = "swiftinst._speedups." #Name,                          \
        .tp_doc = doc,                                                    \
        .tp_basicsize = sizeof(Name),                                     \
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE |            \
                    Py_TPFLAGS_HAVE_GC,                                   \
        .tp_new = new,                                                    \
        .tp_call = call,                                                  \
        .tp_traverse = Name##_traverse,                                   \
        .tp_clear = Name##_clear,                                         \
        .tp_dealloc = Name##_dealloc,                                     \
        .tp_members = Name##_members,                                     \
    };

/* What a request reads of its recorder.Recorder. */
typedef struct {
    PyObject_HEAD
    PyObject *bounds, *statsd, *phases, *kinds_by_raw;
    double slow_read_threshold, slow_request_threshold;
} RecorderSlots;

static PyMemberDef RecorderSlots_members[] = {
    {"bounds", T_OBJECT_EX, offsetof(RecorderSlots, bounds), 0, NULL},
    {"statsd", T_OBJECT_EX, offsetof(RecorderSlots, statsd), 0, NULL},
    {"phases", T_OBJECT_EX, offsetof(RecorderSlots, phases), 0, NULL},
    /* (method, device, policy) as a request sent them -> RequestKind */
    {"_kinds_by_raw", T_OBJECT_EX, offsetof(RecorderSlots, kinds_by_raw), 0,
     NULL},
    {"slow_read_threshold", T_DOUBLE,
     offsetof(RecorderSlots, slow_read_threshold), 0, NULL},
    {"slow_request_threshold", T_DOUBLE,
     offsetof(RecorderSlots, slow_request_threshold), 0, NULL},
    {NULL}
};

SLOTS_TYPE(RecorderSlots, "The fields of recorder.Recorder that every "
           "request reads, as C fields.", PyType_GenericNew, NULL)
#define RecorderSlots_Check(op) PyObject_TypeCheck(op, &RecorderSlots_Type)

/* What a request reads of its recorder.RequestKind.  The last two are
 * the C code's own caches of series found through by_status and
 * disk.histograms: a list by status class and one by disk-op code, so a
 * finished request reaches each series it observes with no dict lookup
 * and no key object. */
typedef struct {
    PyObject_HEAD
    PyObject *read_values, *by_status, *disk, *input_bytes, *status_series,
        *op_series;
} KindSlots;

static PyMemberDef KindSlots_members[] = {
    {"read_values", T_OBJECT_EX, offsetof(KindSlots, read_values), 0,
     NULL},
    {"by_status", T_OBJECT_EX, offsetof(KindSlots, by_status), 0, NULL},
    {"disk", T_OBJECT_EX, offsetof(KindSlots, disk), 0, NULL},
    /* None until the first request of the kind that read a body */
    {"input_bytes", T_OBJECT, offsetof(KindSlots, input_bytes), 0, NULL},
    {"_status_series", T_OBJECT, offsetof(KindSlots, status_series),
     READONLY, NULL},
    {"_op_series", T_OBJECT, offsetof(KindSlots, op_series), READONLY,
     NULL},
    {NULL}
};

SLOTS_TYPE(KindSlots, "The fields of recorder.RequestKind that every "
           "request reads, as C fields.", PyType_GenericNew, NULL)
#define KindSlots_Check(op) PyObject_TypeCheck(op, &KindSlots_Type)

/* A T_OBJECT_EX field, or NULL with the AttributeError getattr raises. */
static PyObject *
field(PyObject *value, PyObject *owner, const char *name)
{
    if (value == NULL)
        PyErr_Format(PyExc_AttributeError, "'%.100s' object has no "
                     "attribute '%s'", Py_TYPE(owner)->tp_name, name);
    return value;
}

/* -- Context: the C base of context.RequestContext --------------------- */

/* Set once by configure_context(): the greenlet -> context registry, its
 * greenlet.getcurrent, the empty environment a finished context keeps,
 * and failed(ctx, exception), which counts and logs what finish() could
 * not record. */
static PyObject *registry, *get_current, *no_env, *finish_failed;

/* The object fields of a Context, for one macro X to expand each. */
#define CONTEXT_OBJECTS(X) X(recorder) X(kind) X(env) X(start_response) \
    X(status) X(statsd_samples) X(greenlet) X(tpool_called) X(tpool_done)
#define DECLARE_OBJECT(name) PyObject *name;
#define VISIT_OBJECT(name) Py_VISIT(self->name);
#define CLEAR_OBJECT(name) Py_CLEAR(self->name);

/* One disk op of a request: its code (see disk_op_code) and seconds. */
typedef struct {
    double seconds;
    int code;
} OpRecord;

/* Records held in the context itself: a small PUT makes about eight. */
#define INLINE_OPS 12

/* The fields of context.PyRequestContext, by the same names, but for
 * disk_ops: a request's disk ops are records in ``ops``, which starts as
 * ``inline_ops`` and grows on the heap (a large PUT writes many chunks).
 * Python code reads them as a new list of (op, seconds) through the
 * ``disk_ops`` getter and adds one with add_disk_op(). */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    CONTEXT_OBJECTS(DECLARE_OBJECT)
    double started, hub_wait, tpool_seconds, running, client_wait,
        tpool_wait, switched_at, idle_mark;
    long long bytes_read;
    Py_ssize_t slice_mark, ops_len, ops_cap;
    OpRecord *ops;
    char finished, phases;
    OpRecord inline_ops[INLINE_OPS];
} Context;

static PyTypeObject Context_Type;
#define Context_Check(op) PyObject_TypeCheck(op, &Context_Type)

/* Record one disk op of the request; one that finds no memory is dropped,
 * as a timing that cannot be recorded always is. */
static void
context_add_op(Context *self, int code, double seconds)
{
    OpRecord *grown;
    Py_ssize_t capacity;

    if (self->ops_len == self->ops_cap) {
        capacity = self->ops_cap * 2;
        if (self->ops == self->inline_ops) {
            grown = PyMem_New(OpRecord, capacity);
            if (grown != NULL)
                memcpy(grown, self->ops, self->ops_len * sizeof(OpRecord));
        }
        else
            grown = PyMem_Realloc(self->ops, capacity * sizeof(OpRecord));
        if (grown == NULL)
            return;
        self->ops = grown;
        self->ops_cap = capacity;
    }
    self->ops[self->ops_len].code = code;
    self->ops[self->ops_len].seconds = seconds;
    self->ops_len++;
}

/* Where the helpers a tpool thread runs record their ops: a request's
 * Context, or the list of a call outside any request (see
 * run_with_native_ops). */
static Py_ssize_t
sink_length(PyObject *sink)
{
    return Context_Check(sink) ? ((Context *)sink)->ops_len :
        PyList_GET_SIZE(sink);
}

/* The seconds of the ops recorded in ``sink`` from position ``mark`` on. */
static double
sink_seconds_since(PyObject *sink, Py_ssize_t mark)
{
    Context *ctx = (Context *)sink;
    PyObject *inner;
    double seconds = 0.0;
    Py_ssize_t i;

    if (Context_Check(sink)) {
        for (i = mark; i < ctx->ops_len; i++)
            seconds += ctx->ops[i].seconds;
        return seconds;
    }
    for (i = mark; i < PyList_GET_SIZE(sink); i++) {
        inner = PyList_GET_ITEM(sink, i);
        if (PyTuple_CheckExact(inner) && PyTuple_GET_SIZE(inner) == 2 &&
                PyFloat_CheckExact(PyTuple_GET_ITEM(inner, 1)))
            seconds += PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(inner, 1));
    }
    return seconds;
}

static void
sink_add(PyObject *sink, int code, double seconds)
{
    if (Context_Check(sink))
        context_add_op((Context *)sink, code, seconds);
    else
        append_op(sink, PyTuple_GET_ITEM(disk_op_names, code), seconds);
}

/* The context as Swift's start_response: note the status, pass the call
 * on as it came. */
static PyObject *
Context_vectorcall(PyObject *self_, PyObject *const *args, size_t nargsf,
                   PyObject *kwnames)
{
    Context *self = (Context *)self_;

    if (PyVectorcall_NARGS(nargsf) >= 1) {
        Py_INCREF(args[0]);
        Py_XSETREF(self->status, args[0]);
    }
    if (self->start_response == NULL) {
        PyErr_SetString(PyExc_TypeError, "this context has no "
                        "start_response");
        return NULL;
    }
    return PyObject_Vectorcall(self->start_response, args, nargsf, kwnames);
}

/* The truth of recorder.<name>; -1 with an exception set. */
static int
recorder_flag(PyObject *recorder, PyObject *value, const char *name)
{
    return field(value, recorder, name) == NULL ? -1 :
        PyObject_IsTrue(value);
}

/* A new context of ``type``: as PyRequestContext.__init__, registered
 * under the running greenlet. */
static PyObject *
context_create(PyTypeObject *type, PyObject *recorder, PyObject *kind,
               PyObject *env, PyObject *start_response)
{
    Context *self;
    int statsd, phases;

    if (registry == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure_context() first");
        return NULL;
    }
    if (!RecorderSlots_Check(recorder) || !KindSlots_Check(kind)) {
        PyErr_SetString(PyExc_TypeError, "RequestContext() takes a "
                        "Recorder and a RequestKind");
        return NULL;
    }
    if ((statsd = recorder_flag(
             recorder, ((RecorderSlots *)recorder)->statsd, "statsd")) < 0 ||
            (phases = recorder_flag(
                 recorder, ((RecorderSlots *)recorder)->phases, "phases")) < 0)
        return NULL;
    self = (Context *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->vectorcall = Context_vectorcall;
    self->ops = self->inline_ops;
    self->ops_cap = INLINE_OPS;
    self->started = self->switched_at = monotonic();
    self->phases = (char)phases;
    Py_INCREF(recorder);
    self->recorder = recorder;
    Py_INCREF(kind);
    self->kind = kind;
    Py_INCREF(env);
    self->env = env;
    Py_INCREF(start_response);
    self->start_response = start_response;
    Py_INCREF(Py_None);
    self->status = Py_None;
    Py_INCREF(Py_None);
    self->tpool_called = Py_None;
    Py_INCREF(Py_None);
    self->tpool_done = Py_None;
    if (statsd)
        self->statsd_samples = PyList_New(0);
    else {
        Py_INCREF(Py_None);
        self->statsd_samples = Py_None;
    }
    if (self->statsd_samples == NULL ||
            (self->greenlet = PyObject_CallNoArgs(get_current)) == NULL ||
            PyDict_SetItem(registry, self->greenlet, (PyObject *)self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* RequestContext(recorder, kind, env, start_response=None) */
static PyObject *
Context_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *recorder, *kind, *env, *start_response = Py_None;

    if (no_keywords("RequestContext", kwargs) < 0 ||
            !PyArg_UnpackTuple(args, "RequestContext", 3, 4, &recorder,
                               &kind, &env, &start_response))
        return NULL;
    return context_create(type, recorder, kind, env, start_response);
}

/* context.unregister */
static int
unregister(Context *self)
{
    PyObject *found = PyDict_GetItemWithError(registry, self->greenlet);

    if (found == (PyObject *)self)
        return PyDict_DelItem(registry, self->greenlet);
    return PyErr_Occurred() ? -1 : 0;
}

/* A list of ``size`` Nones: an empty cache of series. */
static PyObject *
empty_cache(Py_ssize_t size)
{
    PyObject *list = PyList_New(size);
    Py_ssize_t i;

    for (i = 0; list != NULL && i < size; i++)
        PyList_SET_ITEM(list, i, Py_NewRef(Py_None));
    return list;
}

/* cache[index], a series a kind has cached (a new reference), or NULL
 * with no exception set if it has not. */
static PyObject *
cache_hit(PyObject *cache, Py_ssize_t index)
{
    if (cache == NULL || cache == Py_None ||
            PyList_GET_ITEM(cache, index) == Py_None)
        return NULL;
    return Py_NewRef(PyList_GET_ITEM(cache, index));
}

/* A series a kind has not cached yet: mapping[key], kept at index in the
 * cache (a list of ``size``, created in *cache when missing).  A new
 * reference, or NULL with an exception set (as when mapping or key is
 * NULL: its lookup failed). */
static PyObject *
cache_miss(PyObject **cache, Py_ssize_t size, Py_ssize_t index,
           PyObject *mapping, PyObject *key)
{
    PyObject *list = *cache, *values;

    if (mapping == NULL || key == NULL)
        return NULL;
    if (list == NULL || list == Py_None) {
        if ((list = empty_cache(size)) == NULL)
            return NULL;
        Py_XSETREF(*cache, list);
    }
    /* held: a Histograms' __missing__ runs Python code */
    Py_INCREF(list);
    values = PyObject_GetItem(mapping, key);
    if (values != NULL)
        PyList_SetItem(list, index, Py_NewRef(values));
    Py_DECREF(list);
    return values;
}

/* kind.disk.histograms[op], by the op's code. */
static PyObject *
op_series(PyObject *kind_, int code)
{
    KindSlots *kind = (KindSlots *)kind_;
    PyObject *disk, *histograms, *values = cache_hit(kind->op_series, code);

    if (values != NULL)
        return values;
    if ((disk = field(kind->disk, kind_, "disk")) == NULL)
        return NULL;
    Py_INCREF(disk);
    histograms = PyObject_GetAttr(disk, str_histograms);
    values = cache_miss(&kind->op_series, PyTuple_GET_SIZE(disk_op_names),
                        code, histograms,
                        PyTuple_GET_ITEM(disk_op_names, code));
    Py_XDECREF(histograms);
    Py_DECREF(disk);
    return values;
}

/* Status classes a kind caches a series for: 1xx to 5xx at their digit,
 * any other status at 0, under the key ''. */
#define STATUS_CLASSES 6

/* kind.by_status[status[0]]: the request-duration series of the status
 * class. */
static PyObject *
status_series(PyObject *kind_, PyObject *status)
{
    KindSlots *kind = (KindSlots *)kind_;
    Py_UCS4 first = 0;
    Py_ssize_t index = 0;
    PyObject *key, *by_status, *values;

    if (status != NULL && PyUnicode_Check(status) &&
            PyUnicode_GET_LENGTH(status))
        first = PyUnicode_READ_CHAR(status, 0);
    if (first >= '1' && first <= '5')
        index = first - '0';
    if ((values = cache_hit(kind->status_series, index)) != NULL)
        return values;
    if ((by_status = field(kind->by_status, kind_, "by_status")) == NULL)
        return NULL;
    Py_INCREF(by_status);
    key = index ? PyUnicode_FromOrdinal(first) : Py_NewRef(str_empty);
    values = cache_miss(&kind->status_series, STATUS_CLASSES, index,
                        by_status, key);
    Py_XDECREF(key);
    Py_DECREF(by_status);
    return values;
}

/* Recorder.finish_request, for a request that took ``seconds``. */
static int
record_request(Context *self, double seconds)
{
    RecorderSlots *recorder = (RecorderSlots *)self->recorder;
    KindSlots *kind = (KindSlots *)self->kind;
    PyObject *bounds, *values = NULL, *number = NULL, *counter = NULL;
    PyObject *count = NULL, *outcome = NULL, *total;
    double slow = recorder->slow_request_threshold;
    Py_ssize_t i;
    int status = -1;

    /* Each field is held while in use: Python code that runs meanwhile
     * (a Histograms' __missing__, finish_extras) may replace it. */
    if ((bounds = field(recorder->bounds, self->recorder, "bounds")) == NULL)
        return -1;
    Py_INCREF(bounds);
    /* (ops_len is read at every step: __missing__ runs Python code) */
    for (i = 0; i < self->ops_len; i++) {
        values = op_series(self->kind, self->ops[i].code);
        if (values == NULL ||
                observe_seconds(values, bounds, self->ops[i].seconds) < 0)
            goto done;
        Py_CLEAR(values);
    }
    if ((values = status_series(self->kind, self->status)) == NULL ||
            observe_seconds(values, bounds, seconds) < 0)
        goto done;
    if (self->bytes_read) {
        /* Recorder.input_bytes(kind), called only to create the counter */
        counter = kind->input_bytes;
        if (counter == NULL || counter == Py_None)
            counter = PyObject_CallMethodOneArg(
                self->recorder, str_input_bytes, self->kind);
        else
            Py_INCREF(counter);
        if (counter == NULL || !PyList_CheckExact(counter) ||
                PyList_GET_SIZE(counter) < 1) {
            if (counter != NULL)
                PyErr_SetString(PyExc_TypeError, "a counter is a list");
            goto done;
        }
        if ((count = PyLong_FromLongLong(self->bytes_read)) == NULL ||
                (total = PyNumber_Add(PyList_GET_ITEM(counter, 0),
                                      count)) == NULL)
            goto done;
        PyList_SetItem(counter, 0, total);
    }
    if (self->phases || (self->statsd_samples != NULL &&
                         self->statsd_samples != Py_None) ||
            (slow > 0 && seconds >= slow)) {
        if ((number = PyFloat_FromDouble(seconds)) == NULL)
            goto done;
        outcome = PyObject_CallMethodObjArgs(
            self->recorder, str_finish_extras, (PyObject *)self, number,
            NULL);
        if (outcome == NULL)
            goto done;
    }
    status = 0;
done:
    Py_XDECREF(outcome);
    Py_XDECREF(count);
    Py_XDECREF(counter);
    Py_XDECREF(number);
    Py_XDECREF(values);
    Py_DECREF(bounds);
    return status;
}

/* Hand the pending exception to finish_failed(ctx, exception). */
static void
report_failure(PyObject *failed, PyObject *ctx)
{
    PyObject *type, *value, *tb, *outcome;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    outcome = PyObject_CallFunctionObjArgs(failed, ctx,
                                           value ? value : Py_None, NULL);
    Py_XDECREF(outcome);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    PyErr_Clear();
}

static PyObject *
Context_finish(Context *self, PyObject *unused)
{
    double now;

    /* (no recorder: the cyclic GC cleared this context) */
    if (self->finished || self->recorder == NULL)
        Py_RETURN_NONE;
    self->finished = 1;
    now = monotonic();
    if (self->phases)
        self->running += now - self->switched_at;
    if (unregister(self) < 0 || record_request(self, now - self->started) < 0)
        report_failure(finish_failed, (PyObject *)self);
    /* see PyRequestContext.finish */
    Py_INCREF(no_env);
    Py_XSETREF(self->env, no_env);
    Py_INCREF(Py_None);
    Py_XSETREF(self->start_response, Py_None);
    Py_RETURN_NONE;
}

static int
Context_traverse(Context *self, visitproc visit, void *arg)
{
    CONTEXT_OBJECTS(VISIT_OBJECT)
    return 0;
}

static int
Context_clear(Context *self)
{
    CONTEXT_OBJECTS(CLEAR_OBJECT)
    return 0;
}

static void
Context_dealloc(Context *self)
{
    PyObject_GC_UnTrack(self);
    Context_clear(self);
    if (self->ops != self->inline_ops)
        PyMem_Free(self->ops);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ctx.disk_ops: the request's disk ops as a new list of (op, seconds), for
 * the rare readers (statsd, a slow-request line, a hub block's culprit). */
static PyObject *
Context_get_disk_ops(Context *self, void *closure)
{
    PyObject *ops = PyList_New(self->ops_len), *pair;
    Py_ssize_t i;

    for (i = 0; ops != NULL && i < self->ops_len; i++) {
        pair = op_pair(PyTuple_GET_ITEM(disk_op_names, self->ops[i].code),
                       self->ops[i].seconds);
        if (pair == NULL)
            Py_CLEAR(ops);
        else
            PyList_SET_ITEM(ops, i, pair);
    }
    return ops;
}

static PyObject *
Context_get_disk_op_count(Context *self, void *closure)
{
    return PyLong_FromSsize_t(self->ops_len);
}

/* What a tpool call of the request passes to run_with_native_ops. */
static PyObject *
Context_get_op_sink(Context *self, void *closure)
{
    return Py_NewRef(self);
}

static PyGetSetDef Context_getset[] = {
    {"disk_ops", (getter)Context_get_disk_ops, NULL,
     "The request's disk ops, a new list of (op, seconds).", NULL},
    {"disk_op_count", (getter)Context_get_disk_op_count, NULL,
     "len(disk_ops), without making the list.", NULL},
    {"op_sink", (getter)Context_get_op_sink, NULL,
     "Where a tpool thread's helpers record: the context itself.", NULL},
    {NULL}
};

/* ctx.add_disk_op(op, seconds) */
static PyObject *
Context_add_disk_op(Context *self, PyObject *const *args, Py_ssize_t nargs)
{
    int code;
    double seconds;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "add_disk_op() takes (op, "
                        "seconds)");
        return NULL;
    }
    if ((code = disk_op_code(args[0])) < 0 ||
            ((seconds = PyFloat_AsDouble(args[1])) == -1.0 &&
             PyErr_Occurred()))
        return NULL;
    context_add_op(self, code, seconds);
    Py_RETURN_NONE;
}

/* Python code may set only what PyRequestContext's users set: the
 * status, statsd_samples, and the numbers and marks of the event-loop
 * accounting.  The rest is the C code's to keep valid. */
#define OBJECT_FIELD(name, flags) \
    {#name, T_OBJECT, offsetof(Context, name), flags, NULL}
#define FIELD(name, kind) {#name, kind, offsetof(Context, name), 0, NULL}

static PyMemberDef Context_members[] = {
    OBJECT_FIELD(recorder, READONLY), OBJECT_FIELD(kind, READONLY),
    OBJECT_FIELD(env, READONLY), OBJECT_FIELD(start_response, READONLY),
    OBJECT_FIELD(greenlet, READONLY),
    OBJECT_FIELD(status, 0), OBJECT_FIELD(statsd_samples, 0),
    OBJECT_FIELD(tpool_called, 0), OBJECT_FIELD(tpool_done, 0),
    FIELD(started, T_DOUBLE), FIELD(hub_wait, T_DOUBLE),
    FIELD(tpool_seconds, T_DOUBLE), FIELD(running, T_DOUBLE),
    FIELD(client_wait, T_DOUBLE), FIELD(tpool_wait, T_DOUBLE),
    FIELD(switched_at, T_DOUBLE), FIELD(idle_mark, T_DOUBLE),
    FIELD(bytes_read, T_LONGLONG), FIELD(slice_mark, T_PYSSIZET),
    FIELD(finished, T_BOOL),
    {NULL}
};

static PyMethodDef Context_methods[] = {
    {"finish", (PyCFunction)Context_finish, METH_NOARGS,
     "finish(): record the request once; never raises."},
    {"add_disk_op", (PyCFunction)(void (*)(void))Context_add_disk_op,
     METH_FASTCALL, "add_disk_op(op, seconds): record one disk op."},
    {NULL}
};

static PyTypeObject Context_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "swiftinst._speedups.Context",
    .tp_doc = "Context(recorder, kind, env, start_response=None)\n\n"
              "context.PyRequestContext without a Python frame.",
    .tp_basicsize = sizeof(Context),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE |
                Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(Context, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = Context_new,
    .tp_traverse = (traverseproc)Context_traverse,
    .tp_clear = (inquiry)Context_clear,
    .tp_dealloc = (destructor)Context_dealloc,
    .tp_members = Context_members,
    .tp_methods = Context_methods,
    .tp_getset = Context_getset,
};

/* -- what the timer types share ----------------------------------- */

/* Every timer holds up to TIMER_FIELDS objects, by the indices below;
 * fields[WRAPPED] is the callable it times (__wrapped__). */
#define TIMER_FIELDS 5
enum { OP, WRAPPED, EXTRA1, EXTRA2, EXTRA3 };

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *fields[TIMER_FIELDS];
    int nesting;        /* HelperTimer: charge only own time */
    int op_code;        /* a disk-op timer's fields[OP], as a code */
} Timer;

/* A new timer of ``type`` holding ``fields`` (``count`` of them). */
static PyObject *
new_timer(PyTypeObject *type, vectorcallfunc call, PyObject **fields,
             int count)
{
    Timer *self = (Timer *)type->tp_alloc(type, 0);
    int i;

    if (self == NULL)
        return NULL;
    for (i = 0; i < count; i++) {
        Py_INCREF(fields[i]);
        self->fields[i] = fields[i];
    }
    self->vectorcall = call;
    return (PyObject *)self;
}

/* new_timer, for a timer of the disk op named fields[OP]. */
static PyObject *
new_op_timer(PyTypeObject *type, vectorcallfunc call, PyObject **fields,
             int count)
{
    int code = disk_op_code(fields[OP]);
    PyObject *self = code < 0 ? NULL : new_timer(type, call, fields, count);

    if (self != NULL)
        ((Timer *)self)->op_code = code;
    return self;
}

static int
timer_traverse(Timer *self, visitproc visit, void *arg)
{
    int i;

    for (i = 0; i < TIMER_FIELDS; i++)
        Py_VISIT(self->fields[i]);
    return 0;
}

static int
timer_clear(Timer *self)
{
    int i;

    for (i = 0; i < TIMER_FIELDS; i++)
        Py_CLEAR(self->fields[i]);
    return 0;
}

static void
timer_dealloc(Timer *self)
{
    PyObject_GC_UnTrack(self);
    timer_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
timer_get_wrapped(Timer *self, void *closure)
{
    Py_INCREF(self->fields[WRAPPED]);
    return self->fields[WRAPPED];
}

static PyObject *
timer_get_name(Timer *self, void *closure)
{
    return PyObject_GetAttrString(self->fields[WRAPPED], "__name__");
}

static PyGetSetDef timer_getset[] = {
    {"__wrapped__", (getter)timer_get_wrapped, NULL, NULL, NULL},
    {"__name__", (getter)timer_get_name, NULL, NULL, NULL},
    {NULL}
};

/* A method timer binds like a function: looked up on an instance, it
 * becomes a bound method (Py_TPFLAGS_METHOD_DESCRIPTOR lets the
 * interpreter skip even that for obj.method(...) calls). */
static PyObject *
bind_method(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) {
        Py_INCREF(self);
        return self;
    }
    return PyMethod_New(self, obj);
}

#define TIMER_TYPE(Name, doc, flags, getset)                              \
    static PyTypeObject Name##_Type = {                                   \
        PyVarObject_HEAD_INIT(NULL, 0)                                    \
        .tp_name = "swiftinst._speedups." #Name,                          \
        .tp_doc = doc,                                                    \
        .tp_basicsize = sizeof(Timer),                                    \
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |             \
                    Py_TPFLAGS_HAVE_VECTORCALL | (flags),                 \
        .tp_vectorcall_offset = offsetof(Timer, vectorcall),              \
        .tp_call = PyVectorcall_Call,                                     \
        .tp_descr_get = (flags) ? bind_method : NULL,                     \
        .tp_new = Name##_new,                                             \
        .tp_traverse = (traverseproc)timer_traverse,                      \
        .tp_clear = (inquiry)timer_clear,                                 \
        .tp_dealloc = (destructor)timer_dealloc,                          \
        .tp_getset = getset,                                              \
    };

/* -- HelperTimer: a diskfile module-level helper ------------------------ */

enum { OUTSIDE = EXTRA1 };    /* called instead when not in a tpool call */

static PyObject *
HelperTimer_vectorcall(PyObject *self_, PyObject *const *args,
                       size_t nargsf, PyObject *kwnames)
{
    Timer *self = (Timer *)self_;
    PyObject *sink = PyThread_tss_get(&native_ops_key);
    PyObject *result, *type, *value, *tb;
    Py_ssize_t mark;
    double started, seconds;

    if (sink == NULL)
        return PyObject_Vectorcall(self->fields[OUTSIDE], args, nargsf,
                                   kwnames);
    /* The sink lives while run_with_native_ops holds it; keep our own
     * reference anyway, in case the helper clears the thread's slot. */
    Py_INCREF(sink);
    mark = sink_length(sink);
    started = monotonic();
    result = PyObject_Vectorcall(self->fields[WRAPPED], args, nargsf,
                                 kwnames);
    seconds = monotonic() - started;
    if (self->nesting)
        seconds -= sink_seconds_since(sink, mark);
    PyErr_Fetch(&type, &value, &tb);
    sink_add(sink, self->op_code, seconds);
    PyErr_Restore(type, value, tb);
    Py_DECREF(sink);
    return result;
}

static PyObject *
HelperTimer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"op", "func", "outside", "nesting", NULL};
    PyObject *fields[3];
    int nesting = 0;
    PyObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "UOO|p:HelperTimer",
                                     keywords, &fields[OP], &fields[WRAPPED],
                                     &fields[OUTSIDE], &nesting))
        return NULL;
    self = new_op_timer(type, HelperTimer_vectorcall, fields, 3);
    if (self != NULL)
        ((Timer *)self)->nesting = nesting;
    return self;
}

TIMER_TYPE(HelperTimer,
           "HelperTimer(op, func, outside, nesting=False)\n\n"
           "Times ``func`` into what the calling tpool thread records into "
           "(see run_with_native_ops); outside a tpool call, ``outside`` is "
           "called instead.", 0, timer_getset)

/* -- MethodTimer: a DiskFile or DiskFileWriter method on the hub -------- */

enum {
    ACTIVE = EXTRA1,       /* greenlet -> request context (a dict) */
    GETCURRENT = EXTRA2,   /* greenlet.getcurrent */
    DETACHED = EXTRA3,     /* detached(op, seconds, instance) */
};

/* The running greenthread's request context (a new reference), or NULL
 * with no exception set.  Only a Context counts: in C mode every request
 * context is one, so the timers read its fields directly. */
static Context *
current_request(Timer *self)
{
    PyObject *current = PyObject_CallNoArgs(self->fields[GETCURRENT]);
    PyObject *ctx = current == NULL ? NULL :
        PyDict_GetItemWithError(self->fields[ACTIVE], current);

    Py_XDECREF(current);
    PyErr_Clear();
    if (ctx == NULL || !Context_Check(ctx))
        return NULL;
    Py_INCREF(ctx);
    return (Context *)ctx;
}

/* MethodTimer and WriteTimer take the same arguments; only the meaning
 * of the last one differs. */
static PyObject *
new_hub_timer(PyTypeObject *type, PyObject *args, PyObject *kwargs,
              vectorcallfunc call, char *last)
{
    char *keywords[] = {"op", "method", "active", "getcurrent", last, NULL};
    PyObject *fields[5];

    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "UOO!OO", keywords, &fields[OP], &fields[WRAPPED],
            &PyDict_Type, &fields[ACTIVE], &fields[GETCURRENT],
            &fields[EXTRA3]))
        return NULL;
    return new_op_timer(type, call, fields, 5);
}

static PyObject *
MethodTimer_vectorcall(PyObject *self_, PyObject *const *args,
                       size_t nargsf, PyObject *kwnames)
{
    Timer *self = (Timer *)self_;
    PyObject *result, *type, *value, *tb, *outcome;
    Context *ctx;
    double started, seconds;

    started = monotonic();
    result = PyObject_Vectorcall(self->fields[WRAPPED], args, nargsf,
                                 kwnames);
    seconds = monotonic() - started;
    if (!recording || PyVectorcall_NARGS(nargsf) < 1)
        return result;
    PyErr_Fetch(&type, &value, &tb);
    ctx = current_request(self);
    if (ctx != NULL) {
        context_add_op(ctx, self->op_code, seconds);
        Py_DECREF(ctx);
    }
    else {
        /* outside any request: the Python side finds the device */
        outcome = PyObject_CallFunction(self->fields[DETACHED], "OdO",
                                        self->fields[OP], seconds, args[0]);
        Py_XDECREF(outcome);
    }
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    return result;
}

static PyObject *
MethodTimer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    return new_hub_timer(type, args, kwargs, MethodTimer_vectorcall,
                         "detached");
}

TIMER_TYPE(MethodTimer,
           "MethodTimer(op, method, active, getcurrent, detached)\n\n"
           "Times ``method`` into the running request's disk_ops; outside "
           "a request, calls detached(op, seconds, instance).",
           Py_TPFLAGS_METHOD_DESCRIPTOR, timer_getset)

/* -- WriteTimer: DiskFileWriter.write inside a request ------------------ */

/* fields[OP], WRAPPED, ACTIVE and GETCURRENT as for a MethodTimer;
 * fields[OUTSIDE_REQUEST] is the Python wrapper of the same method, which
 * takes every call outside a request or without a recorder. */
enum { OUTSIDE_REQUEST = EXTRA3 };

static PyObject *
WriteTimer_vectorcall(PyObject *self_, PyObject *const *args,
                      size_t nargsf, PyObject *kwnames)
{
    Timer *self = (Timer *)self_;
    PyObject *result, *type, *value, *tb;
    Context *ctx = recording ? current_request(self) : NULL;
    double in_tpool_before, started, seconds;

    if (ctx == NULL)
        return PyObject_Vectorcall(self->fields[OUTSIDE_REQUEST], args,
                                   nargsf, kwnames);
    /* the write's own time, less the fdatasync it may do through tpool */
    in_tpool_before = ctx->tpool_seconds;
    started = monotonic();
    result = PyObject_Vectorcall(self->fields[WRAPPED], args, nargsf,
                                 kwnames);
    seconds = monotonic() - started;
    PyErr_Fetch(&type, &value, &tb);
    context_add_op(ctx, self->op_code,
                   seconds - (ctx->tpool_seconds - in_tpool_before));
    Py_DECREF(ctx);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    return result;
}

static PyObject *
WriteTimer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    return new_hub_timer(type, args, kwargs, WriteTimer_vectorcall,
                         "outside_request");
}

TIMER_TYPE(WriteTimer,
           "WriteTimer(op, method, active, getcurrent, outside_request)\n\n"
           "Times ``method`` less the tpool time it waits for, into the "
           "running request's disk_ops; any other call goes to "
           "``outside_request``.",
           Py_TPFLAGS_METHOD_DESCRIPTOR, timer_getset)

/* -- TpoolTimer: the execute of diskfile's tpool, inside a request ------ */

/* fields[ACTIVE] and fields[GETCURRENT] as for a MethodTimer;
 * fields[OUTSIDE_REQUEST] is the Python TimedTpool.execute, which takes
 * every call outside a request or without a recorder. */
enum {
    RUNNER = OP,        /* run_with_native_ops */
    REAL_TPOOL = WRAPPED,   /* eventlet's tpool module */
};

/* TimedTpool.execute for a call inside a request: the request's ops go
 * to the native thread with func, and the wait to its tpool_seconds. */
static PyObject *
TpoolTimer_vectorcall(PyObject *self_, PyObject *const *args,
                      size_t nargsf, PyObject *kwnames)
{
    Timer *self = (Timer *)self_;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf), i;
    Context *ctx = recording && nargs >= 1 ? current_request(self) : NULL;
    PyObject *call_args = NULL, *call_kwargs = NULL, *execute = NULL;
    PyObject *called_number = NULL, *result = NULL;
    double called;

    if (ctx == NULL)
        return PyObject_Vectorcall(self->fields[OUTSIDE_REQUEST], args,
                                   nargsf, kwnames);
    if ((call_args = PyTuple_New(nargs - 1)) == NULL ||
            (call_kwargs = PyDict_New()) == NULL)
        goto done;
    for (i = 0; i < PyTuple_GET_SIZE(call_args); i++) {
        Py_INCREF(args[1 + i]);
        PyTuple_SET_ITEM(call_args, i, args[1 + i]);
    }
    for (i = 0; kwnames != NULL && i < PyTuple_GET_SIZE(kwnames); i++)
        if (PyDict_SetItem(call_kwargs, PyTuple_GET_ITEM(kwnames, i),
                           args[nargs + i]) < 0)
            goto done;
    if ((execute = PyObject_GetAttr(self->fields[REAL_TPOOL],
                                    str_execute)) == NULL)
        goto done;
    called = monotonic();
    if ((called_number = PyFloat_FromDouble(called)) == NULL)
        goto done;
    result = PyObject_CallFunctionObjArgs(
        execute, self->fields[RUNNER], (PyObject *)ctx,
        called_number, args[0], call_args, call_kwargs, NULL);
    ctx->tpool_seconds += monotonic() - called;
done:
    Py_XDECREF(called_number);
    Py_XDECREF(execute);
    Py_XDECREF(call_kwargs);
    Py_XDECREF(call_args);
    Py_DECREF(ctx);
    return result;
}

static PyObject *
TpoolTimer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"runner", "tpool", "active", "getcurrent",
                               "outside_request", NULL};
    PyObject *fields[5];

    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "OOO!OO:TpoolTimer", keywords, &fields[RUNNER],
            &fields[REAL_TPOOL], &PyDict_Type, &fields[ACTIVE],
            &fields[GETCURRENT], &fields[OUTSIDE_REQUEST]))
        return NULL;
    return new_timer(type, TpoolTimer_vectorcall, fields, 5);
}

TIMER_TYPE(TpoolTimer,
           "TpoolTimer(runner, tpool, active, getcurrent, outside_request)"
           "\n\nThe execute of diskfile's tpool inside a request: "
           "tpool.execute(runner, ctx, called, func, args, kwargs), with "
           "the wait added to the request's tpool_seconds; any other call "
           "goes to ``outside_request``.", 0, NULL)

/* -- InputSlots: the C base of input.TimedInput --------------------------- */

/* The wrapped wsgi.input and the request's context, set once at creation
 * (TimedInput's own __setattr__ passes every attribute on to the wrapped
 * input), so a ReadTimer reads them without a lookup. */
typedef struct {
    PyObject_HEAD
    PyObject *wrapped, *ctx;
} InputSlots;

static PyTypeObject InputSlots_Type;

static PyObject *
InputSlots_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *wrapped, *ctx;
    InputSlots *self;

    if (no_keywords("TimedInput", kwargs) < 0 ||
            !PyArg_UnpackTuple(args, "TimedInput", 2, 2, &wrapped, &ctx))
        return NULL;
    self = (InputSlots *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    Py_INCREF(wrapped);
    self->wrapped = wrapped;
    Py_INCREF(ctx);
    self->ctx = ctx;
    return (PyObject *)self;
}

static PyMemberDef InputSlots_members[] = {
    {"_wrapped", T_OBJECT, offsetof(InputSlots, wrapped), READONLY, NULL},
    {"_ctx", T_OBJECT, offsetof(InputSlots, ctx), READONLY, NULL},
    {NULL}
};

SLOTS_TYPE(InputSlots, "InputSlots(wrapped, ctx)\n\n"
           "TimedInput's two slots, filled without a Python frame.",
           InputSlots_new, NULL)

/* -- ContextStarter: the per-request part of InstrumentMiddleware.begin --- */

/* middleware.begin_request without a Python frame: the request's kind (a
 * dict lookup on what the request sent), its context and its timed
 * wsgi.input.  An environment whose values are not the plain strings
 * eventlet gives goes to the Python function, ``fallback``. */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *context_type, *timed_input, *body_methods, *fallback;
} ContextStarter;

static PyMemberDef ContextStarter_members[] = {
    {"context_type", T_OBJECT, offsetof(ContextStarter, context_type),
     READONLY, NULL},
    {"timed_input", T_OBJECT, offsetof(ContextStarter, timed_input),
     READONLY, NULL},
    {"body_methods", T_OBJECT, offsetof(ContextStarter, body_methods),
     READONLY, NULL},
    {"fallback", T_OBJECT, offsetof(ContextStarter, fallback), READONLY,
     NULL},
    {NULL}
};

SLOTS_FUNCTIONS(ContextStarter)

/* context.device_of: '/sda/123/a/c/o' -> 'sda'; '' when there is none. */
static PyObject *
device_of(PyObject *path)
{
    Py_ssize_t length = PyUnicode_GET_LENGTH(path), first, second;

    first = PyUnicode_FindChar(path, '/', 0, length, 1);
    if (first < 0)
        return first == -1 ? Py_NewRef(str_empty) : NULL;
    second = PyUnicode_FindChar(path, '/', first + 1, length, 1);
    if (second == -2)
        return NULL;
    return PyUnicode_Substring(path, first + 1,
                               second == -1 ? length : second);
}

/* middleware.has_body: 1, 0, or -1 with an exception set. */
static int
has_body(ContextStarter *self, PyObject *env, PyObject *method)
{
    PyObject *length, *encoding, *lowered;
    int found = PySet_Contains(self->body_methods, method);

    if (found != 0)
        return found;
    if (PyUnicode_Compare(method, str_get) == 0 ||
            PyUnicode_Compare(method, str_head) == 0)
        return 0;
    /* CONTENT_LENGTH not in (None, '', '0') */
    length = PyDict_GetItemWithError(env, str_content_length);
    if (length != NULL && length != Py_None &&
            !(PyUnicode_CheckExact(length) &&
              (PyUnicode_GET_LENGTH(length) == 0 ||
               PyUnicode_CompareWithASCIIString(length, "0") == 0)))
        return 1;
    if (PyErr_Occurred())
        return -1;
    encoding = PyDict_GetItemWithError(env, str_transfer_encoding);
    if (encoding == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if ((lowered = PyObject_CallMethodNoArgs(encoding, str_lower)) == NULL)
        return -1;
    found = PySequence_Contains(lowered, str_chunked);
    Py_DECREF(lowered);
    return found;
}

/* env.get(name, default), borrowed; NULL only with an exception set. */
static PyObject *
env_get(PyObject *env, PyObject *name, PyObject *default_value)
{
    PyObject *value = PyDict_GetItemWithError(env, name);

    return value != NULL || PyErr_Occurred() ? value : default_value;
}

/* The RequestKind of what the request sent, from the recorder's cache of
 * them, or Recorder.kind() the first time. */
static PyObject *
request_kind(PyObject *recorder, PyObject *method, PyObject *path,
             PyObject *policy)
{
    PyObject *kinds = ((RecorderSlots *)recorder)->kinds_by_raw;
    PyObject *device, *key, *kind = NULL;

    if (field(kinds, recorder, "_kinds_by_raw") == NULL)
        return NULL;
    if (!PyDict_Check(kinds)) {
        PyErr_SetString(PyExc_TypeError, "a recorder's _kinds_by_raw is a "
                        "dict");
        return NULL;
    }
    if ((device = device_of(path)) == NULL)
        return NULL;
    key = PyTuple_Pack(3, method, device, policy);
    if (key != NULL) {
        kind = PyDict_GetItemWithError(kinds, key);
        if (kind != NULL)
            Py_INCREF(kind);
        else if (!PyErr_Occurred())
            kind = PyObject_CallMethodObjArgs(recorder, str_kind, method,
                                              device, policy, NULL);
    }
    Py_XDECREF(key);
    Py_DECREF(device);
    return kind;
}

static PyObject *
ContextStarter_vectorcall(PyObject *self_, PyObject *const *args,
                          size_t nargsf, PyObject *kwnames)
{
    ContextStarter *self = (ContextStarter *)self_;
    PyObject *recorder, *env, *method, *path, *policy, *kind, *ctx;
    PyObject *wrapped, *timed = NULL;
    int body;

    if (PyVectorcall_NARGS(nargsf) != 3 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "begin_request() takes (recorder, "
                        "env, start_response)");
        return NULL;
    }
    recorder = args[0];
    env = args[1];
    if (!RecorderSlots_Check(recorder) || !PyDict_CheckExact(env))
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    if ((method = env_get(env, str_request_method, str_empty)) == NULL ||
            (path = env_get(env, str_path_info, str_empty)) == NULL ||
            (policy = env_get(env, str_policy_index, Py_None)) == NULL)
        return NULL;
    if (!PyUnicode_CheckExact(method) || !PyUnicode_CheckExact(path) ||
            !(policy == Py_None || PyUnicode_CheckExact(policy)))
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    /* held: Recorder.kind() runs Python code, which may change env */
    Py_INCREF(method);
    kind = request_kind(recorder, method, path, policy);
    ctx = kind == NULL ? NULL : context_create(
        (PyTypeObject *)self->context_type, recorder, kind, env, args[2]);
    Py_XDECREF(kind);
    if (ctx != NULL && (body = has_body(self, env, method)) != 0) {
        wrapped = body < 0 ? NULL : env_get(env, str_wsgi_input, Py_None);
        if (wrapped != NULL && wrapped != Py_None)
            timed = PyObject_CallFunctionObjArgs(self->timed_input, wrapped,
                                                 ctx, NULL);
        if (body < 0 || wrapped == NULL ||
                (wrapped != Py_None && (timed == NULL || PyDict_SetItem(
                     env, str_wsgi_input, timed) < 0))) {
            /* a context that cannot start leaves the registry at once */
            if (unregister((Context *)ctx) < 0)
                PyErr_WriteUnraisable(ctx);
            Py_CLEAR(ctx);
        }
        Py_XDECREF(timed);
    }
    Py_DECREF(method);
    return ctx;
}

static PyObject *
ContextStarter_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *context_type, *timed_input, *body_methods, *fallback;
    ContextStarter *self;

    if (no_keywords("ContextStarter", kwargs) < 0 ||
            !PyArg_ParseTuple(args, "O!OO!O:ContextStarter", &PyType_Type,
                              &context_type, &timed_input,
                              &PyFrozenSet_Type, &body_methods, &fallback))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)context_type, &Context_Type)) {
        PyErr_SetString(PyExc_TypeError, "ContextStarter() needs a "
                        "subclass of Context");
        return NULL;
    }
    if ((self = (ContextStarter *)type->tp_alloc(type, 0)) == NULL)
        return NULL;
    self->vectorcall = ContextStarter_vectorcall;
    self->context_type = Py_NewRef(context_type);
    self->timed_input = Py_NewRef(timed_input);
    self->body_methods = Py_NewRef(body_methods);
    self->fallback = Py_NewRef(fallback);
    return (PyObject *)self;
}

static PyTypeObject ContextStarter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "swiftinst._speedups.ContextStarter",
    .tp_doc = "ContextStarter(context_type, timed_input, body_methods, "
              "fallback)\n\n"
              "middleware.begin_request in C: starter(recorder, env, "
              "start_response) -> a context, with env['wsgi.input'] timed "
              "when the request has a body.",
    .tp_basicsize = sizeof(ContextStarter),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
                Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(ContextStarter, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = ContextStarter_new,
    .tp_traverse = ContextStarter_traverse,
    .tp_clear = ContextStarter_clear,
    .tp_dealloc = ContextStarter_dealloc,
    .tp_members = ContextStarter_members,
};

/* -- RequestPath: the C base of middleware.InstrumentMiddleware -------- */

/* InstrumentMiddleware.handle without a Python frame, as the middleware's
 * __call__: route /metrics, start the request's context, call Swift, and
 * finish the context or hand back Swift's app_iter in a _FinishOnClose.
 * Every request passes here, so it reads its middleware's app, recorder
 * and metrics path as C fields, and sees whether the worker has been
 * adopted by comparing one pointer.  A call it does not expect (keyword
 * arguments, an environment that is not a dict) goes to handle(). */

/* Set once by configure_request_path(): middleware._begin_request, the
 * _FinishOnClose class, and store.current_pid (this process's pid in a
 * one-item list whose item is a new int in every forked child). */
static PyObject *path_begin, *path_finish_on_close, *path_current_pid;

typedef struct {
    PyObject_HEAD
    PyObject *app, *recorder, *metrics_path, *adopted;
} RequestPath;

static PyMemberDef RequestPath_members[] = {
    {"app", T_OBJECT_EX, offsetof(RequestPath, app), 0, NULL},
    {"recorder", T_OBJECT_EX, offsetof(RequestPath, recorder), 0, NULL},
    {"metrics_path", T_OBJECT_EX, offsetof(RequestPath, metrics_path), 0,
     NULL},
    /* current_pid's item when this middleware last adopted the process */
    {"_adopted", T_OBJECT, offsetof(RequestPath, adopted), READONLY, NULL},
    {NULL}
};

/* recorder.error(component) as if called in an ``except`` block for the
 * pending exception, so its log line carries the traceback; the
 * exception is then dropped, as that block drops it. */
static void
report_handled(PyObject *recorder, PyObject *component)
{
    PyObject *type, *value, *tb, *old_type, *old_value, *old_tb, *outcome;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && tb != NULL)
        PyException_SetTraceback(value, tb);
    PyErr_GetExcInfo(&old_type, &old_value, &old_tb);
    PyErr_SetExcInfo(type, value, tb);
    outcome = PyObject_CallMethodOneArg(recorder, str_error, component);
    Py_XDECREF(outcome);
    PyErr_Clear();
    PyErr_SetExcInfo(old_type, old_value, old_tb);
}

/* store.current_pid's item (borrowed), or NULL with TypeError. */
static PyObject *
current_pid_item(void)
{
    if (PyList_CheckExact(path_current_pid) &&
            PyList_GET_SIZE(path_current_pid) == 1)
        return PyList_GET_ITEM(path_current_pid, 0);
    PyErr_SetString(PyExc_TypeError, "store.current_pid is a list of one "
                    "pid");
    return NULL;
}

/* InstrumentMiddleware.begin: the request's context (a new reference),
 * or NULL: with no exception set if instrumentation failed (counted, and
 * the request goes to Swift untouched), else with a BaseException that
 * is not an Exception, which passes. */
static PyObject *
begin_request(RequestPath *self, PyObject *recorder, PyObject *env,
              PyObject *start_response)
{
    PyObject *marker, *outcome, *ctx = NULL, *call[3];

    if ((marker = current_pid_item()) == NULL)
        goto failed;
    if (marker != self->adopted) {
        /* the first request of this process: a new worker */
        outcome = PyObject_CallMethodNoArgs((PyObject *)self,
                                            str_adopt_process);
        if (outcome == NULL)
            goto failed;
        Py_DECREF(outcome);
        /* read again: adopting may store a new int there */
        if ((marker = current_pid_item()) == NULL)
            goto failed;
        Py_XSETREF(self->adopted, Py_NewRef(marker));
    }
    call[0] = recorder;
    call[1] = env;
    call[2] = start_response;
    if ((ctx = PyObject_Vectorcall(path_begin, call, 3, NULL)) != NULL)
        return ctx;
failed:
    if (PyErr_ExceptionMatches(PyExc_Exception))
        report_handled(recorder, str_request);
    return NULL;
}

/* ctx.finish(), for a context of either kind. */
static void
finish_context(PyObject *ctx)
{
    PyObject *outcome = Context_Check(ctx) ?
        Context_finish((Context *)ctx, NULL) :
        PyObject_CallMethodNoArgs(ctx, str_finish);

    Py_XDECREF(outcome);
}

/* Swift raised: ctx.status = ctx.status or '500'; ctx.finish().  The
 * exception stays pending. */
static void
finish_raised(PyObject *ctx)
{
    PyObject *type, *value, *tb, *status;
    int truth;

    PyErr_Fetch(&type, &value, &tb);
    status = PyObject_GetAttr(ctx, str_status);
    truth = status == NULL ? -1 : PyObject_IsTrue(status);
    Py_XDECREF(status);
    if (truth == 0)
        PyObject_SetAttr(ctx, str_status, str_500);
    PyErr_Clear();
    finish_context(ctx);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
}

static PyObject *
RequestPath_call(RequestPath *self, PyObject *args, PyObject *kwargs)
{
    PyObject *env, *start_response, *path, *app, *recorder, *ctx;
    PyObject *app_iter, *call[2];
    int matches, complete;

    if ((kwargs != NULL && PyDict_GET_SIZE(kwargs)) ||
            PyTuple_GET_SIZE(args) != 2 ||
            !PyDict_CheckExact(PyTuple_GET_ITEM(args, 0)) ||
            self->app == NULL || self->recorder == NULL ||
            self->metrics_path == NULL || path_begin == NULL) {
        PyObject *handle = PyObject_GetAttr((PyObject *)self, str_handle);
        PyObject *result = handle == NULL ? NULL :
            PyObject_Call(handle, args, kwargs);
        Py_XDECREF(handle);
        return result;
    }
    env = PyTuple_GET_ITEM(args, 0);
    start_response = PyTuple_GET_ITEM(args, 1);
    path = PyDict_GetItemWithError(env, str_path_info);
    if (path != NULL) {
        if ((matches = PyObject_RichCompareBool(path, self->metrics_path,
                                                Py_EQ)) < 0)
            return NULL;
        if (matches)
            return PyObject_CallMethodObjArgs(
                (PyObject *)self, str_serve_metrics, env, start_response,
                NULL);
    }
    else if (PyErr_Occurred())
        return NULL;
    /* held: the Python code called below may replace them */
    app = Py_NewRef(self->app);
    recorder = Py_NewRef(self->recorder);
    ctx = begin_request(self, recorder, env, start_response);
    Py_DECREF(recorder);
    if (ctx == NULL) {
        app_iter = PyErr_Occurred() ? NULL : PyObject_Call(app, args, NULL);
        Py_DECREF(app);
        return app_iter;
    }
    /* the context passes start_response on, noting the status */
    call[0] = env;
    call[1] = ctx;
    app_iter = PyObject_Vectorcall(app, call, 2, NULL);
    Py_DECREF(app);
    if (app_iter == NULL) {
        finish_raised(ctx);
        Py_DECREF(ctx);
        return NULL;
    }
    /* A complete body (a list): the server sizes it with len(), so hand
     * it back untouched; the request is done as of now. */
    complete = PyList_CheckExact(app_iter) ||
        PyObject_HasAttr(app_iter, str_len);
    if (complete)
        finish_context(ctx);
    else
        Py_SETREF(app_iter, PyObject_CallFunctionObjArgs(
            path_finish_on_close, app_iter, ctx, NULL));
    Py_DECREF(ctx);
    return app_iter;
}

SLOTS_TYPE(RequestPath, "The C base of middleware.InstrumentMiddleware: "
           "its __call__ is handle() without a Python frame.",
           PyType_GenericNew, (ternaryfunc)RequestPath_call)

/* -- ReadTimer: a read method of TimedInput ----------------------------- */

/* fields[OP] is the wrapped input's method name, e.g. 'read'. */
enum {
    EXTRAS = WRAPPED,  /* extras(ctx, started, seconds, offset, nbytes,
                          hub_wait_before): statsd and slow-read warning */
    SIZE = EXTRA1,     /* result -> bytes read */
    FAILED = EXTRA2,   /* failed(ctx, exception): count and log it */
};

/* input._observe_read: the bytes, the input-read histogram and, when
 * statsd is on or the read was slow, fields[EXTRAS]. */
static void
record_read(Timer *self, Context *ctx, PyObject *result, double started,
            double seconds, double hub_before)
{
    RecorderSlots *recorder = (RecorderSlots *)ctx->recorder;
    PyObject *nbytes = NULL, *values = NULL, *bounds = NULL;
    PyObject *outcome = NULL;
    long long offset = ctx->bytes_read, count;
    double slow = recorder->slow_read_threshold;

    if ((nbytes = PyObject_CallOneArg(self->fields[SIZE], result)) &&
            ((count = PyLong_AsLongLong(nbytes)) != -1 ||
             !PyErr_Occurred()) &&
            (values = field(((KindSlots *)ctx->kind)->read_values, ctx->kind,
                            "read_values")) &&
            (bounds = field(recorder->bounds, ctx->recorder, "bounds"))) {
        /* held: the observation and extras may run Python code */
        Py_INCREF(values);
        Py_INCREF(bounds);
        if (observe_seconds(values, bounds, seconds) == 0) {
            ctx->bytes_read = offset + count;
            if ((ctx->statsd_samples != NULL &&
                    ctx->statsd_samples != Py_None) ||
                    (slow > 0 && seconds >= slow))
                outcome = PyObject_CallFunction(
                    self->fields[EXTRAS], "OddLOd", (PyObject *)ctx,
                    started, seconds, offset, nbytes, hub_before);
            else {
                Py_INCREF(Py_None);
                outcome = Py_None;
            }
        }
    }
    else
        values = bounds = NULL;     /* borrowed, or not found */
    if (outcome == NULL)
        report_failure(self->fields[FAILED], (PyObject *)ctx);
    Py_XDECREF(outcome);
    Py_XDECREF(bounds);
    Py_XDECREF(values);
    Py_XDECREF(nbytes);
}

/* Arguments a read passes on without a bound method (more: with one). */
#define READ_STACK 8

static PyObject *
ReadTimer_vectorcall(PyObject *self_, PyObject *const *args,
                     size_t nargsf, PyObject *kwnames)
{
    Timer *self = (Timer *)self_;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *wrapped, *method, *ctx, *stack[READ_STACK];
    PyObject *result;
    Py_ssize_t total;
    double started, seconds, hub_before = 0.0;

    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "a TimedInput method needs self");
        return NULL;
    }
    if (!PyObject_TypeCheck(args[0], &InputSlots_Type)) {
        PyErr_SetString(PyExc_TypeError, "a ReadTimer is a TimedInput "
                        "method");
        return NULL;
    }
    wrapped = ((InputSlots *)args[0])->wrapped;
    total = nargs + (kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames));
    if (total <= READ_STACK) {
        /* called as wrapped.<name>(...) with no bound method per read */
        stack[0] = wrapped;
        memcpy(stack + 1, args + 1, (total - 1) * sizeof(PyObject *));
        method = NULL;
    }
    else if ((method = PyObject_GetAttr(wrapped, self->fields[OP])) == NULL)
        return NULL;
    /* without a context, the read goes untimed */
    ctx = ((InputSlots *)args[0])->ctx;
    /* (a context the cyclic GC cleared has no recorder) */
    if (!Context_Check(ctx) || ((Context *)ctx)->recorder == NULL)
        ctx = NULL;
    else {
        Py_INCREF(ctx);
        hub_before = ((Context *)ctx)->hub_wait;
    }
    started = monotonic();
    result = method == NULL ?
        PyObject_VectorcallMethod(self->fields[OP], stack, nargs, kwnames) :
        PyObject_Vectorcall(method, args + 1, nargs - 1, kwnames);
    seconds = monotonic() - started;
    Py_XDECREF(method);
    if (result != NULL && ctx != NULL)
        record_read(self, (Context *)ctx, result, started, seconds,
                    hub_before);
    Py_XDECREF(ctx);
    return result;
}

/* A ReadTimer's __name__ is the method it stands for. */
static PyObject *
read_timer_get_name(Timer *self, void *closure)
{
    Py_INCREF(self->fields[OP]);
    return self->fields[OP];
}

static PyGetSetDef read_timer_getset[] = {
    {"__name__", (getter)read_timer_get_name, NULL, NULL, NULL},
    {NULL}
};

static PyObject *
ReadTimer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"name", "size", "extras", "failed", NULL};
    PyObject *fields[4];

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "UOOO:ReadTimer",
                                     keywords, &fields[OP], &fields[SIZE],
                                     &fields[EXTRAS], &fields[FAILED]))
        return NULL;
    return new_timer(type, ReadTimer_vectorcall, fields, 4);
}

TIMER_TYPE(ReadTimer,
           "ReadTimer(name, size, extras, failed)\n\n"
           "A TimedInput method: calls the wrapped input's ``name`` and "
           "records the read as input._observe_read does.",
           Py_TPFLAGS_METHOD_DESCRIPTOR, read_timer_getset)

/* -- module functions ---------------------------------------------------- */

/* store.observe_ops: the same loop, without an opcode per step.  -1 with
 * an exception set if an op is not (name, seconds). */
static int
observe_ops_into(PyObject *histograms, PyObject *bounds, PyObject *ops)
{
    PyObject *pair, *values;
    Py_ssize_t i;
    int failed;

    /* the size is read at every step: __missing__ runs Python code */
    for (i = 0; i < PySequence_Fast_GET_SIZE(ops); i++) {
        pair = PySequence_Fast_GET_ITEM(ops, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "an op is (name, seconds)");
            return -1;
        }
        Py_INCREF(pair);
        /* PyObject_GetItem: a Histograms creates a missing series */
        values = PyObject_GetItem(histograms, PyTuple_GET_ITEM(pair, 0));
        failed = values == NULL ||
            observe(values, bounds, PyTuple_GET_ITEM(pair, 1)) < 0;
        Py_XDECREF(values);
        Py_DECREF(pair);
        if (failed)
            return -1;
    }
    return 0;
}

static PyObject *
observe_ops(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 ||
            !(PyList_CheckExact(args[2]) || PyTuple_CheckExact(args[2]))) {
        PyErr_SetString(PyExc_TypeError, "observe_ops() takes "
                        "(histograms, bounds, list of ops)");
        return NULL;
    }
    if (observe_ops_into(args[0], args[1], args[2]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
configure_context(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "configure_context() takes "
                        "(registry dict, getcurrent, no_env, failed)");
        return NULL;
    }
    Py_INCREF(args[0]);
    Py_XSETREF(registry, args[0]);
    Py_INCREF(args[1]);
    Py_XSETREF(get_current, args[1]);
    Py_INCREF(args[2]);
    Py_XSETREF(no_env, args[2]);
    Py_INCREF(args[3]);
    Py_XSETREF(finish_failed, args[3]);
    Py_RETURN_NONE;
}

static PyObject *
configure_request_path(PyObject *module, PyObject *const *args,
                       Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "configure_request_path() takes "
                        "(begin_request, finish_on_close, current_pid list)");
        return NULL;
    }
    Py_XSETREF(path_begin, Py_NewRef(args[0]));
    Py_XSETREF(path_finish_on_close, Py_NewRef(args[1]));
    Py_XSETREF(path_current_pid, Py_NewRef(args[2]));
    Py_RETURN_NONE;
}

static PyObject *
run_with_native_ops(PyObject *module, PyObject *const *args,
                    Py_ssize_t nargs)
{
    PyObject *ops, *func, *call_args, *call_kwargs, *previous, *result;
    double called;

    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "run_with_native_ops() takes "
                        "(ops, called, func, args, kwargs)");
        return NULL;
    }
    ops = args[0];
    func = args[2];
    call_args = args[3];
    call_kwargs = args[4];
    called = PyFloat_AsDouble(args[1]);
    if ((called == -1.0 && PyErr_Occurred()) ||
            !(PyList_Check(ops) || Context_Check(ops)) ||
            !PyTuple_Check(call_args) || !PyDict_Check(call_kwargs)) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "run_with_native_ops() takes "
                        "(list or context, float, callable, tuple, dict)");
        return NULL;
    }
    sink_add(ops, tpool_wait_code, monotonic() - called);
    previous = PyThread_tss_get(&native_ops_key);
    if (PyThread_tss_set(&native_ops_key, ops) != 0)
        /* cannot happen once the key exists; run the work untimed */
        return PyObject_Call(func, call_args, call_kwargs);
    Py_INCREF(ops);
    result = PyObject_Call(func, call_args,
                           PyDict_GET_SIZE(call_kwargs) ? call_kwargs : NULL);
    PyThread_tss_set(&native_ops_key, previous);
    Py_DECREF(ops);
    return result;
}

static PyObject *
set_recording(PyObject *module, PyObject *flag)
{
    int on = PyObject_IsTrue(flag);
    if (on < 0)
        return NULL;
    recording = on;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"observe_ops", (PyCFunction)(void (*)(void))observe_ops, METH_FASTCALL,
     "observe_ops(histograms, bounds, ops): store.observe_ops in C."},
    {"run_with_native_ops", (PyCFunction)(void (*)(void))run_with_native_ops,
     METH_FASTCALL,
     "run_with_native_ops(ops, called, func, args, kwargs)\n\n"
     "What a tpool thread runs: records ('tpool_wait', now - called) in "
     "ops (a request context, or a list it appends (op, seconds) to), "
     "then calls func(*args, **kwargs) with the HelperTimers it reaches "
     "recording in ops too."},
    {"configure_context", (PyCFunction)(void (*)(void))configure_context,
     METH_FASTCALL,
     "configure_context(registry, getcurrent, no_env, failed)\n\n"
     "What every Context shares: see context.py."},
    {"configure_request_path",
     (PyCFunction)(void (*)(void))configure_request_path, METH_FASTCALL,
     "configure_request_path(begin_request, finish_on_close, current_pid)"
     "\n\nWhat every RequestPath shares: see middleware.py."},
    {"set_recording", set_recording, METH_O,
     "set_recording(flag): whether MethodTimers record (a recorder is "
     "installed)."},
    {NULL}
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "swiftinst._speedups",
    .m_doc = "C versions of swiftinst's per-operation timers; see "
             "swiftinst/speedups.py.",
    .m_size = -1,
    .m_methods = module_methods,
};

/* PyModule_AddObjectRef, which Python 3.9 lacks. */
static int
add_type(PyObject *module, const char *name, PyTypeObject *type)
{
    Py_INCREF(type);
    if (PyModule_AddObject(module, name, (PyObject *)type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

/* disk_op_names and tpool_wait_code, from swiftinst.metrics. */
static int
import_disk_ops(void)
{
    PyObject *metrics = PyImport_ImportModule("swiftinst.metrics"), *tpool;
    Py_ssize_t i;

    disk_op_names = metrics == NULL ? NULL :
        PyObject_GetAttrString(metrics, "DISK_OPS");
    Py_XDECREF(metrics);
    if (disk_op_names == NULL)
        return -1;
    if (!PyTuple_CheckExact(disk_op_names)) {
        PyErr_SetString(PyExc_TypeError, "metrics.DISK_OPS is a tuple");
        return -1;
    }
    for (i = 0; i < PyTuple_GET_SIZE(disk_op_names); i++)
        if (!PyUnicode_Check(PyTuple_GET_ITEM(disk_op_names, i))) {
            PyErr_SetString(PyExc_TypeError, "a disk op is a str");
            return -1;
        }
    if ((tpool = PyUnicode_FromString("tpool_wait")) == NULL)
        return -1;
    tpool_wait_code = disk_op_code(tpool);
    Py_DECREF(tpool);
    return tpool_wait_code < 0 ? -1 : 0;
}

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *module;
    size_t i;

    if (PyThread_tss_create(&native_ops_key) != 0)
        return PyErr_NoMemory();
    if ((one = PyLong_FromLong(1)) == NULL)
        return NULL;
    for (i = 0; i < sizeof(interned) / sizeof(interned[0]); i++)
        if ((*interned[i].name =
                 PyUnicode_InternFromString(interned[i].text)) == NULL)
            return NULL;
    if (import_disk_ops() < 0)
        return NULL;
    if (PyType_Ready(&HelperTimer_Type) < 0 ||
            PyType_Ready(&MethodTimer_Type) < 0 ||
            PyType_Ready(&WriteTimer_Type) < 0 ||
            PyType_Ready(&ReadTimer_Type) < 0 ||
            PyType_Ready(&TpoolTimer_Type) < 0 ||
            PyType_Ready(&InputSlots_Type) < 0 ||
            PyType_Ready(&Series_Type) < 0 ||
            PyType_Ready(&ContextStarter_Type) < 0 ||
            PyType_Ready(&RecorderSlots_Type) < 0 ||
            PyType_Ready(&KindSlots_Type) < 0 ||
            PyType_Ready(&RequestPath_Type) < 0 ||
            PyType_Ready(&Context_Type) < 0)
        return NULL;
    module = PyModule_Create(&speedups_module);
    if (module == NULL)
        return NULL;
    if (add_type(module, "HelperTimer", &HelperTimer_Type) < 0 ||
            add_type(module, "MethodTimer", &MethodTimer_Type) < 0 ||
            add_type(module, "WriteTimer", &WriteTimer_Type) < 0 ||
            add_type(module, "ReadTimer", &ReadTimer_Type) < 0 ||
            add_type(module, "TpoolTimer", &TpoolTimer_Type) < 0 ||
            add_type(module, "InputSlots", &InputSlots_Type) < 0 ||
            add_type(module, "Series", &Series_Type) < 0 ||
            add_type(module, "ContextStarter", &ContextStarter_Type) < 0 ||
            add_type(module, "RecorderSlots", &RecorderSlots_Type) < 0 ||
            add_type(module, "KindSlots", &KindSlots_Type) < 0 ||
            add_type(module, "RequestPath", &RequestPath_Type) < 0 ||
            add_type(module, "Context", &Context_Type) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
