"""The C timers keep every promise of the Python wrappers they replace.

The rest of the unit suite runs against whichever kind is in use (``make
test`` runs it twice, once with ``SWIFTINST_PURE_PYTHON=1``); these tests
pin down what only the C objects could get wrong: argument passing,
exceptions, reference counts, thread-locality and method binding.
"""

import bisect
import gc
import math
import random
import sys
import threading
import traceback
import types
import weakref

import pytest

from swiftinst import metrics, speedups, store
from swiftinst.context import RequestContext
from swiftinst.input import TimedInput
from tests.unit.helpers import make_recorder

native = speedups.native
pytestmark = pytest.mark.skipif(
    native is None, reason='the C timers are not built here, or '
    'SWIFTINST_PURE_PYTHON is set')


class Failure(Exception):
    pass


def echo(*args, **kwargs):
    return args, kwargs


def fail(*args, **kwargs):
    raise Failure(args)


def outside_calls():
    calls = []

    def outside(*args, **kwargs):
        calls.append((args, kwargs))
        return 'outside'
    return calls, outside


# -- HelperTimer and run_with_native_ops ---------------------------------

def test_helper_outside_tpool_calls_outside_with_the_same_arguments():
    calls, outside = outside_calls()
    timer = native.HelperTimer('fsync', echo, outside)
    assert timer(1, 2, x=3) == 'outside'
    assert calls == [((1, 2), {'x': 3})]


def test_helper_in_native_ops_appends_its_time_and_passes_everything():
    ops = []
    timer = native.HelperTimer('fsync', echo, outside_calls()[1])
    result = native.run_with_native_ops(
        ops, 0.0, lambda: timer(1, 2, x=3), (), {})
    assert result == ((1, 2), {'x': 3})
    assert [op for op, _ in ops] == ['tpool_wait', 'fsync']
    assert all(isinstance(seconds, float) for _, seconds in ops)
    assert ops[0][1] > 0   # called at monotonic 0.0: long ago


def test_run_with_native_ops_passes_arguments_and_restores_the_slot():
    outer, inner = [], []
    timer = native.HelperTimer('fsync', echo, outside_calls()[1])

    def nested():
        native.run_with_native_ops(inner, 0.0, timer, (), {})
        return timer()
    native.run_with_native_ops(outer, 0.0, nested, (), {})
    assert [op for op, _ in inner] == ['tpool_wait', 'fsync']
    assert [op for op, _ in outer] == ['tpool_wait', 'fsync']
    assert native.run_with_native_ops([], 0.0, echo, (1,), {'y': 2}) == \
        ((1,), {'y': 2})
    calls, outside = outside_calls()
    native.HelperTimer('fsync', echo, outside)()
    assert len(calls) == 1   # the slot is empty again


def test_run_with_native_ops_rejects_bad_arguments():
    with pytest.raises(TypeError):
        native.run_with_native_ops([], 'now', echo, (), {})
    with pytest.raises(TypeError):
        native.run_with_native_ops([], 0.0, echo, [], {})


def test_helper_exceptions_pass_unchanged_and_are_timed():
    ops = []
    timer = native.HelperTimer('fsync', fail, outside_calls()[1])
    with pytest.raises(Failure) as excinfo:
        native.run_with_native_ops(ops, 0.0, timer, (7,), {})
    assert excinfo.value.args == ((7,),)
    assert [op for op, _ in ops] == ['tpool_wait', 'fsync']
    assert not [f for f in traceback.extract_tb(excinfo.tb)
                if '/swiftinst/' in f.filename]


def test_a_nesting_helper_is_charged_only_its_own_time():
    def inner_sleep():
        ops.append(('dir_fsync', 1000.0))   # as a nested helper would
    ops = []
    outer = native.HelperTimer('rename', inner_sleep, outside_calls()[1],
                               nesting=True)
    native.run_with_native_ops(ops, 0.0, outer, (), {})
    assert ops[1] == ('dir_fsync', 1000.0)
    assert ops[2][0] == 'rename' and ops[2][1] < -999


def test_the_ops_list_belongs_to_one_native_thread():
    ops, seen = [], []
    calls, outside = outside_calls()
    timer = native.HelperTimer('fsync', echo, outside)
    started, release = threading.Event(), threading.Event()

    def in_tpool():
        started.set()
        release.wait(10)
        timer()
    worker = threading.Thread(target=native.run_with_native_ops,
                              args=(ops, 0.0, in_tpool, (), {}))
    worker.start()
    started.wait(10)
    seen.append(timer())      # this thread has no ops list
    release.set()
    worker.join(10)
    assert seen == ['outside'] and len(calls) == 1
    assert [op for op, _ in ops] == ['tpool_wait', 'fsync']


def test_helper_keeps_the_wrapped_name():
    timer = native.HelperTimer('fsync', echo, outside_calls()[1])
    assert timer.__wrapped__ is echo and timer.__name__ == 'echo'


# -- MethodTimer ------------------------------------------------------------

class Writer(object):
    def open(self, *args, **kwargs):
        return self, args, kwargs

    def broken(self):
        raise Failure('open')


@pytest.fixture
def recording():
    native.set_recording(True)
    yield
    native.set_recording(False)


def method_timer(method, active=None, detached=None):
    return native.MethodTimer('open', method, {} if active is None
                              else active, threading.get_ident,
                              detached or (lambda *a: None))


def test_method_timer_binds_like_a_function(recording):
    Writer.timed = method_timer(Writer.open)
    try:
        writer = Writer()
        assert writer.timed(1, k=2) == (writer, (1,), {'k': 2})
        bound = writer.timed
        assert bound(3) == (writer, (3,), {})
        assert Writer.timed(writer, 4) == (writer, (4,), {})
        assert Writer.__dict__['timed'].__wrapped__ is Writer.open
        assert Writer.timed.__name__ == 'open'
    finally:
        del Writer.timed


def test_method_timer_charges_the_running_request(recording, request_ctx):
    ctx = request_ctx
    timer = method_timer(Writer.open, {threading.get_ident(): ctx})
    timer(Writer())
    assert [op for op, _ in ctx.disk_ops] == ['open']


def test_method_timer_outside_a_request_calls_detached(recording):
    seen = []
    writer = Writer()
    timer = method_timer(Writer.open,
                         detached=lambda *args: seen.append(args))
    timer(writer)
    assert len(seen) == 1 and seen[0][0] == 'open' and \
        seen[0][2] is writer and isinstance(seen[0][1], float)


def test_method_timer_records_nothing_without_a_recorder(request_ctx):
    native.set_recording(False)
    ctx = request_ctx
    timer = method_timer(Writer.open, {threading.get_ident(): ctx},
                         detached=fail)
    timer(Writer())
    assert ctx.disk_ops == []


def test_method_timer_passes_exceptions_and_survives_its_own(
        recording, request_ctx):
    ctx = request_ctx
    timer = method_timer(Writer.broken, {threading.get_ident(): ctx})
    with pytest.raises(Failure) as excinfo:
        timer(Writer())
    assert excinfo.value.args == ('open',)
    assert [op for op, _ in ctx.disk_ops] == ['open']
    # a failing detached() is dropped; Swift's result still comes back
    timer = method_timer(Writer.open, detached=fail)
    writer = Writer()
    assert timer(writer) == (writer, (), {})
    assert sys.exc_info() == (None, None, None)


# -- ReadTimer ----------------------------------------------------------------

class Input(TimedInput):
    """TimedInput, whose read methods each test replaces."""
    __slots__ = ()


class Body(object):
    def read(self, *args, **kwargs):
        return b'x' * args[0] if args else b''

    def readline(self):
        raise Failure('readline')


@pytest.fixture
def request_ctx(tmp_path):
    recorder = make_recorder(store.MetricStore(str(tmp_path), (0.5, 1.0)),
                             slow=0.0)
    ctx = RequestContext(recorder, recorder.kind('PUT', 'sda', '0'), {})
    yield ctx
    ctx.finish()


def read_timer(name='read', size=len, extras=None, failed=None):
    return native.ReadTimer(name, size, extras or fail, failed or fail)


def test_read_timer_records_the_read(request_ctx):
    Input.read = read_timer()
    try:
        stream = Input(Body(), request_ctx)
        assert stream.read(3) == b'xxx'
        assert list(iter(lambda: stream.read(), b'')) == []
        assert stream.read(size_unused=1) == b''
        assert request_ctx.bytes_read == 3
        values = request_ctx.kind.read_values
        assert sum(values[:-1]) == 3 and values[-1] >= 0
    finally:
        del Input.read


def test_read_timer_calls_extras_for_statsd_or_a_slow_read(request_ctx):
    seen = []
    Input.read = read_timer(extras=lambda *args: seen.append(args))
    try:
        stream = Input(Body(), request_ctx)
        stream.read(2)
        assert seen == []
        request_ctx.statsd_samples = []
        stream.read(4)
        ctx, started, seconds, offset, nbytes, hub_before = seen[0]
        assert ctx is request_ctx and (offset, nbytes) == (2, 4)
        assert hub_before == request_ctx.hub_wait and seconds >= 0
        request_ctx.statsd_samples = None
        request_ctx.recorder.slow_read_threshold = 1e-12
        stream.read(1)
        assert len(seen) == 2
    finally:
        del Input.read


def test_read_timer_reports_what_it_cannot_record(request_ctx):
    failures = []
    Input.read = read_timer(size=lambda result: 'not a number',
                            failed=lambda *args: failures.append(args))
    try:
        assert Input(Body(), request_ctx).read(2) == b'xx'
        assert failures[0][0] is request_ctx
        assert isinstance(failures[0][1], TypeError)
        assert sys.exc_info() == (None, None, None)
        Input.read = read_timer(extras=fail)
        request_ctx.statsd_samples = []
        assert Input(Body(), request_ctx).read(1) == b'x'   # extras failed
    finally:
        del Input.read


def test_timedinput_methods_keep_their_names():
    assert [TimedInput.read.__name__, TimedInput.readline.__name__,
            TimedInput.readlines.__name__] == ['read', 'readline',
                                               'readlines']


def test_timedinput_slots_are_filled_in_c_and_fixed(request_ctx):
    body = Body()
    stream = TimedInput(body, request_ctx)
    assert isinstance(stream, native.InputSlots)
    assert stream._wrapped is body and stream._ctx is request_ctx
    stream.anything = 'set on the wrapped input'
    assert body.anything == 'set on the wrapped input'
    with pytest.raises(AttributeError):
        native.InputSlots.__dict__['_ctx'].__set__(stream, None)


def test_read_timer_times_only_a_timedinput_s_reads(request_ctx):
    Input.read = read_timer()
    try:
        with pytest.raises(TypeError):
            Input.read(Body(), 3)
        # a context of another kind: the read passes, untimed
        assert Input(Body(), object()).read(3) == b'xxx'
        assert request_ctx.bytes_read == 0
    finally:
        del Input.read


def test_read_timer_passes_exceptions_without_recording(request_ctx):
    Input.readline = read_timer('readline')
    try:
        with pytest.raises(Failure):
            Input(Body(), request_ctx).readline()
        assert request_ctx.bytes_read == 0
    finally:
        del Input.readline


class EchoBody(object):
    def read(self, *args, **kwargs):
        return args, kwargs


def test_read_timer_passes_any_arguments_on_as_they_came(request_ctx):
    Input.read = read_timer(size=lambda result: len(result[0]))
    try:
        stream = Input(EchoBody(), request_ctx)
        assert stream.read() == ((), {})
        assert stream.read(5, hint=1) == ((5,), {'hint': 1})
        many = tuple(range(12))
        assert stream.read(*many, a=1, b=2) == (many, {'a': 1, 'b': 2})
        assert request_ctx.bytes_read == 13
        with pytest.raises(AttributeError):
            Input(object(), request_ctx).read(1)
    finally:
        del Input.read


# -- WriteTimer ---------------------------------------------------------------

def test_write_timer_charges_a_request_less_its_tpool_time(
        recording, request_ctx):
    ctx = request_ctx
    ctx.tpool_seconds = 0.0

    def write(writer, chunk):
        ctx.tpool_seconds += 1000.0     # as an fdatasync through tpool
        return len(chunk)
    outside = []
    Writer.timed_write = native.WriteTimer(
        'write', write, {threading.get_ident(): ctx}, threading.get_ident,
        lambda *args: outside.append(args))
    try:
        assert Writer().timed_write(b'abc') == 3
        assert ctx.disk_ops[0][0] == 'write' and ctx.disk_ops[0][1] < -999
        assert outside == []
    finally:
        del Writer.timed_write


def test_write_timer_hands_other_calls_to_the_python_wrapper():
    outside = []
    timer = native.WriteTimer('write', fail, {}, threading.get_ident,
                              lambda *args: outside.append(args))
    native.set_recording(True)
    try:
        timer('writer', b'outside a request')
    finally:
        native.set_recording(False)
    timer('writer', b'no recorder')
    assert outside == [('writer', b'outside a request'),
                       ('writer', b'no recorder')]


# -- TpoolTimer --------------------------------------------------------------

class FakeTpool(object):
    """eventlet.tpool, run in the calling thread."""

    def __init__(self):
        self.calls = []

    def execute(self, func, *args, **kwargs):
        self.calls.append((func, args, kwargs))
        return func(*args, **kwargs)


def tpool_timer(tpool, active, outside=fail):
    return native.TpoolTimer(native.run_with_native_ops, tpool, active,
                             threading.get_ident, outside)


def test_tpool_timer_runs_a_request_s_call_with_its_ops(
        recording, request_ctx):
    tpool = FakeTpool()
    helper = native.HelperTimer('fsync', echo, fail)
    timer = tpool_timer(tpool, {threading.get_ident(): request_ctx})
    assert timer(helper, 1, x=2) == ((1,), {'x': 2})
    runner, (ops, called, func, args, kwargs) = tpool.calls[0][:2]
    assert runner is native.run_with_native_ops and ops is request_ctx \
        and func is helper
    assert (args, kwargs) == ((1,), {'x': 2})
    assert [op for op, _ in request_ctx.disk_ops] == ['tpool_wait', 'fsync']
    assert request_ctx.tpool_seconds > 0
    with pytest.raises(Failure) as caught:
        timer(fail, 3)
    assert caught.value.args == ((3,),)
    assert request_ctx.tpool_seconds > 0


def test_tpool_timer_hands_other_calls_to_the_python_wrapper(request_ctx):
    calls, outside = outside_calls()
    timer = tpool_timer(FakeTpool(), {'another greenthread': request_ctx},
                        outside)
    timer(echo, 1, x=2)                         # no recorder
    native.set_recording(True)
    try:
        timer(echo, 3)                          # outside a request
    finally:
        native.set_recording(False)
    assert calls == [((echo, 1), {'x': 2}), ((echo, 3), {})]


# -- observe_ops --------------------------------------------------------------

def test_observe_ops_matches_the_python_loop():
    bounds = (0.001, 0.01, 0.1, 1.0)
    rng = random.Random(3)
    ops = [(rng.choice('abc'), rng.choice(
        [0.0, -0.5, 0.001, 0.01, 1.0, 5.0, math.inf, rng.random()]))
        for _ in range(500)]

    def fresh():
        return {op: [0] * (len(bounds) + 1) + [0.0] for op in 'abc'}
    ours, reference = fresh(), fresh()
    native.observe_ops(ours, bounds, ops)
    store.observe_ops(reference, bounds, ops)
    assert ours == reference
    native.observe_ops(ours, bounds, tuple(ops[:1]))
    store.observe_ops(reference, bounds, tuple(ops[:1]))
    assert ours == reference


def test_observe_ops_creates_series_through_missing(tmp_path):
    metric_store = store.MetricStore(str(tmp_path), (0.1, 1.0))
    histograms = store.Histograms(metric_store, 'swift_object_disk_op_'
                                  'duration_seconds',
                                  lambda op: (op, 'sda', '0'))
    native.observe_ops(histograms, metric_store.bounds, [('fsync', 0.5)])
    assert metric_store.series[(
        'swift_object_disk_op_duration_seconds', ('fsync', 'sda', '0'))][:] \
        == [0, 1, 0, 0.5]


@pytest.mark.parametrize('bad', [
    [('fsync',)], [('fsync', 'slow')], [['fsync', 0.1]]])
def test_observe_ops_rejects_what_is_not_an_op(bad):
    with pytest.raises(TypeError):
        native.observe_ops({'fsync': [0, 0, 0.0]}, (1.0,), bad)


# -- Series ----------------------------------------------------------------

def test_series_is_a_fixed_length_list_of_counts_then_the_sum():
    values = native.Series(4)
    assert len(values) == 4 and values[:] == [0, 0, 0, 0.0]
    assert type(values[0]) is int and type(values[-1]) is float
    values[1] += 2
    values[-1] += 0.25
    assert values[:-1] == [0, 2, 0] and values[-1] == 0.25
    assert list(values) == [0, 2, 0, 0.25]
    assert values[::-1] == [0.25, 0, 2, 0]
    assert repr(values) == 'Series([0, 2, 0, 0.25])'
    for index in (4, -5):
        with pytest.raises(IndexError):
            values[index]
        with pytest.raises(IndexError):
            values[index] = 1
    with pytest.raises(TypeError):
        values[:2] = [1, 1]
    with pytest.raises(TypeError):
        del values[0]
    with pytest.raises(TypeError):
        values['0']
    with pytest.raises(OverflowError):
        values[0] = -1
    with pytest.raises(ValueError):
        native.Series(1)
    with pytest.raises(TypeError, match='Series'):
        native.Series(width=3)


def test_observing_into_series_matches_the_python_loop_on_lists():
    bounds = (0.001, 0.01, 0.1, 1.0)
    rng = random.Random(5)
    ops = [(rng.choice('abc'), rng.choice(
        [0.0, 0.001, 0.01, 1.0, 5.0, math.inf, rng.random()]))
        for _ in range(500)]
    ours = {op: native.Series(len(bounds) + 2) for op in 'abc'}
    reference = {op: [0] * (len(bounds) + 1) + [0.0] for op in 'abc'}
    native.observe_ops(ours, bounds, ops)
    store.observe_ops(reference, bounds, ops)
    assert {op: values[:] for op, values in ours.items()} == reference
    # Python code observes into a Series as into a list
    store.observe_ops(ours, bounds, ops)
    store.observe_ops(reference, bounds, ops)
    assert {op: values[:] for op, values in ours.items()} == reference
    with pytest.raises(TypeError):
        native.observe_ops({'a': native.Series(3)}, bounds, [('a', 0.5)])


def test_the_store_keeps_histograms_in_series_zeroed_in_place(tmp_path):
    metric_store = store.MetricStore(str(tmp_path), (1.0,))
    values = metric_store.histogram(('h', ()))
    assert type(values) is native.Series
    metric_store.observe(('h', ()), 0.5)
    assert values[:] == [1, 0, 0.5]
    # as a forked worker does with the values it inherited
    assert metric_store.adopt_current_process()
    assert metric_store.histogram(('h', ())) is values
    assert values[:] == [0, 0, 0.0]


# -- RecorderSlots, KindSlots --------------------------------------------------

def test_the_context_reads_the_recorder_s_fields_as_they_are_now(
        request_ctx):
    recorder, kind = request_ctx.recorder, request_ctx.kind
    assert isinstance(recorder, native.RecorderSlots)
    assert isinstance(kind, native.KindSlots)
    seen = []
    recorder.finish_extras = lambda *args: seen.append(args)
    RequestContext(recorder, kind, {}).finish()
    recorder.slow_request_threshold = 1e-12     # every request is slow
    RequestContext(recorder, kind, {}).finish()
    assert len(seen) == 1


def test_the_context_needs_a_recorder_and_a_kind(request_ctx):
    with pytest.raises(TypeError, match='Recorder'):
        RequestContext(object(), request_ctx.kind, {})
    with pytest.raises(TypeError, match='RequestKind'):
        RequestContext(request_ctx.recorder, object(), {})


def test_slot_fields_are_seen_by_the_cyclic_gc(request_ctx):
    assert request_ctx.kind.read_values in gc.get_referents(request_ctx.kind)
    assert request_ctx.recorder.bounds in \
        gc.get_referents(request_ctx.recorder)

    class Kind(native.KindSlots):
        pass
    kind = Kind()
    kind.disk = kind
    gone = weakref.ref(kind)
    del kind
    gc.collect()
    assert gone() is None


# -- Context ---------------------------------------------------------------

def test_request_context_is_the_c_context_with_the_python_facts():
    assert issubclass(RequestContext, native.Context)
    assert 'txn_id' in dir(RequestContext)


def test_context_is_a_start_response_that_notes_the_status(request_ctx):
    calls = []

    def start_response(*args, **kwargs):
        calls.append((args, kwargs))
        return 'write'
    ctx = RequestContext(request_ctx.recorder, request_ctx.kind, {},
                         start_response)
    assert ctx('201 Created', [('A', 'b')]) == 'write'
    assert ctx('500 Oops', [], exc_info=(None, None, None)) == 'write'
    assert calls == [(('201 Created', [('A', 'b')]), {}),
                     (('500 Oops', []), {'exc_info': (None, None, None)})]
    assert ctx.status == '500 Oops'
    failing = RequestContext(request_ctx.recorder, request_ctx.kind, {},
                             fail)
    with pytest.raises(Failure):
        failing('404 Not Found', [])
    assert failing.status == '404 Not Found'
    ctx.finish()
    failing.finish()


def finished_series(context_class, tmp_path, status, disk_ops, nbytes,
                    seconds):
    recorder = make_recorder(
        store.MetricStore(str(tmp_path / context_class.__name__),
                          (0.5, 1.0)))
    env = {'PATH_INFO': '/sda/1/a/c/o'}
    ctx = context_class(recorder, recorder.kind('PUT', 'sda', '0'), env)
    ctx.status = status
    for op, op_seconds in disk_ops:
        ctx.add_disk_op(op, op_seconds)
    ctx.bytes_read = nbytes
    ctx.started -= seconds
    ctx.finish()
    ctx.finish()    # counted once
    assert ctx.finished and ctx.env == {} and ctx.start_response is None
    assert ctx.env is not env
    return {key: values[:-1] + [round(values[-1], 2)]
            for key, values in recorder.store.series.items()}


@pytest.mark.parametrize('status, disk_ops, nbytes, seconds', [
    ('201 Created', [('open', 0.01), ('fsync', 0.7)], 4096, 0.25),
    ('503 Service Unavailable', [], 0, 0.75),
    (None, [('open', 2.0)], 10, 3.0),
    ('', [], 1, 0.0),
    ('999 Odd', [('write', 0.1)] * 20, 0, 0.1)])
def test_c_context_records_what_the_python_one_does(
        tmp_path, status, disk_ops, nbytes, seconds):
    from swiftinst.context import PyRequestContext
    assert finished_series(RequestContext, tmp_path, status, disk_ops,
                           nbytes, seconds) == \
        finished_series(PyRequestContext, tmp_path, status, disk_ops,
                        nbytes, seconds)


def test_context_keeps_any_number_of_disk_ops(request_ctx):
    ctx = RequestContext(request_ctx.recorder, request_ctx.kind, {})
    assert ctx.op_sink is ctx and ctx.disk_ops == [] and \
        ctx.disk_op_count == 0
    ops = [(metrics.DISK_OPS[i % len(metrics.DISK_OPS)], i / 8.0)
           for i in range(100)]
    for op, seconds in ops:
        ctx.add_disk_op(op, seconds)
    assert ctx.disk_ops == ops and ctx.disk_op_count == 100
    with pytest.raises(ValueError):
        ctx.add_disk_op('unlink', 1.0)
    with pytest.raises(TypeError):
        ctx.add_disk_op('open', 'slow')
    assert ctx.disk_op_count == 100
    ctx.finish()
    opens = [seconds for op, seconds in ops if op == 'open']
    counts = [0, 0, 0]
    for seconds in opens:
        counts[bisect.bisect_left((0.5, 1.0), seconds)] += 1
    assert request_ctx.kind.disk.histograms['open'][:] == \
        counts + [sum(opens)]


def test_context_registers_under_its_greenthread_until_finished(
        request_ctx):
    from swiftinst import context
    ctx = RequestContext(request_ctx.recorder, request_ctx.kind, {})
    assert context.current() is ctx
    ctx.finish()
    assert context.current() is None


def test_context_hands_extras_to_the_recorder(request_ctx):
    seen = []
    recorder = request_ctx.recorder
    recorder.finish_extras = lambda *args: seen.append(args)
    ctx = RequestContext(recorder, request_ctx.kind, {})
    ctx.finish()
    assert seen == []
    ctx = RequestContext(recorder, request_ctx.kind, {})
    ctx.statsd_samples = []
    ctx.finish()
    assert seen[0][0] is ctx and seen[0][1] >= 0


def test_context_reports_what_it_cannot_record(request_ctx, monkeypatch):
    from swiftinst import context
    failures = []
    monkeypatch.setattr(context, '_finish_failed',
                        lambda *args: failures.append(args))
    native.configure_context(context.active, context._getcurrent,
                             context._NO_ENV, context._finish_failed)
    try:
        kind = request_ctx.recorder.kind('POST', 'sda', '0')
        kind.disk = types.SimpleNamespace(histograms=None)
        ctx = RequestContext(request_ctx.recorder, kind, {})
        ctx.add_disk_op('open', 0.5)
        assert ctx.finish() is None
        assert failures[0][0] is ctx
        assert isinstance(failures[0][1], TypeError)
        assert sys.exc_info() == (None, None, None)
        assert ctx.env == {} and context.current() is None
        # a field the C code reads, missing: as getattr would say
        kind = request_ctx.recorder.kind('HEAD', 'sda', '0')
        del kind.by_status
        RequestContext(request_ctx.recorder, kind, {}).finish()
        assert isinstance(failures[1][1], AttributeError)
        assert 'by_status' in str(failures[1][1])
    finally:
        monkeypatch.undo()
        native.configure_context(context.active, context._getcurrent,
                                 context._NO_ENV, context._finish_failed)


def test_c_constructors_name_what_they_reject(request_ctx):
    with pytest.raises(TypeError, match='RequestContext'):
        RequestContext(request_ctx.recorder, request_ctx.kind, env={})
    with pytest.raises(TypeError, match='TimedInput'):
        TimedInput(Body(), ctx=request_ctx)
    with pytest.raises(TypeError):
        RequestContext(request_ctx.recorder, request_ctx.kind)


def test_context_fields_c_code_relies_on_are_read_only(request_ctx):
    for name in ('recorder', 'kind', 'env', 'start_response', 'disk_ops',
                 'greenlet'):
        with pytest.raises(AttributeError):
            setattr(request_ctx, name, None)


# -- ContextStarter --------------------------------------------------------

def _env(**values):
    env = {'wsgi.input': Body()}
    env.update(values)
    return env


STARTER_CASES = [
    _env(REQUEST_METHOD='PUT', PATH_INFO='/sda/0/a/c/o'),
    _env(REQUEST_METHOD='GET', PATH_INFO='/sda/0/a/c/o'),
    _env(REQUEST_METHOD='HEAD', PATH_INFO='/sdb/1/a/c/o',
         CONTENT_LENGTH='5'),
    _env(REQUEST_METHOD='DELETE', PATH_INFO='/sda/0/a/c/o',
         CONTENT_LENGTH='0'),
    _env(REQUEST_METHOD='DELETE', PATH_INFO='/sda/0/a/c/o',
         CONTENT_LENGTH='10'),
    _env(REQUEST_METHOD='DELETE', PATH_INFO='sda', CONTENT_LENGTH='',
         HTTP_TRANSFER_ENCODING='gzip, Chunked'),
    _env(REQUEST_METHOD='REPLICATE', PATH_INFO='/sdc/7',
         HTTP_X_BACKEND_STORAGE_POLICY_INDEX='1'),
    {'REQUEST_METHOD': 'POST', 'PATH_INFO': '/sda/0/a/c/o'},
    _env(REQUEST_METHOD='OPTIONS', CONTENT_LENGTH=0),
    _env(),
    # not the plain strings eventlet gives: the Python function's job
    _env(REQUEST_METHOD=b'PUT', PATH_INFO='/sda/0/a/c/o'),
    _env(REQUEST_METHOD='PUT', PATH_INFO='/sda//',
         HTTP_X_BACKEND_STORAGE_POLICY_INDEX=' 01'),
]


def _started(begin, recorder, env):
    from swiftinst import context
    original_input = env.get('wsgi.input')
    ctx = begin(recorder, env, echo)
    try:
        assert context.current() is ctx
        assert ctx.env is env and ctx.start_response is echo
        timed = env.get('wsgi.input') is not original_input
        if timed:
            assert type(env['wsgi.input']) is TimedInput
            assert env['wsgi.input']._wrapped is original_input
            assert env['wsgi.input']._ctx is ctx
        return ctx.kind.labels, timed
    finally:
        ctx.finish()


@pytest.mark.parametrize('env', STARTER_CASES)
def test_context_starter_starts_what_begin_request_starts(tmp_path, env):
    from swiftinst import middleware
    recorder = make_recorder(store.MetricStore(str(tmp_path), (1.0,)))
    assert type(middleware._begin_request) is native.ContextStarter
    ours = _started(middleware._begin_request, recorder, dict(env))
    # twice: the second finds the kind in the recorder's cache
    assert _started(middleware._begin_request, recorder, dict(env)) == ours
    assert _started(middleware.begin_request, recorder, dict(env)) == ours


def test_a_context_that_cannot_start_leaves_the_registry(tmp_path):
    from swiftinst import context, middleware
    recorder = make_recorder(store.MetricStore(str(tmp_path), (1.0,)))
    env = _env(REQUEST_METHOD='DELETE', HTTP_TRANSFER_ENCODING=None)
    for begin in (middleware._begin_request, middleware.begin_request):
        with pytest.raises(AttributeError):
            begin(recorder, dict(env), echo)
        assert context.current() is None


def test_context_starter_rejects_what_it_cannot_use(request_ctx):
    from swiftinst import middleware
    with pytest.raises(TypeError, match='Context'):
        native.ContextStarter(dict, TimedInput, frozenset(), echo)
    with pytest.raises(TypeError):
        native.ContextStarter(RequestContext, TimedInput, {'PUT'}, echo)
    with pytest.raises(TypeError, match='begin_request'):
        middleware._begin_request(request_ctx.recorder, {})


# -- reference counts ------------------------------------------------------

def test_no_references_leak(recording, request_ctx):
    from swiftinst import middleware
    ctx = request_ctx
    active = {threading.get_ident(): ctx}
    helper = native.HelperTimer('fsync', echo, echo)
    failing_helper = native.HelperTimer('fsync', fail, fail)
    method = native.MethodTimer('open', Writer.open, active,
                                threading.get_ident, fail)
    Input.read = read_timer()
    histograms = {'fsync': [0, 0, 0.0]}
    series = {'fsync': native.Series(3)}
    writer, stream, payload = Writer(), Input(Body(), request_ctx), object()
    ctx.tpool_seconds = 0.0
    write = native.WriteTimer('write', Writer.open, active,
                              threading.get_ident, fail)
    fake_tpool = FakeTpool()
    tpool = tpool_timer(fake_tpool, {threading.get_ident(): request_ctx})

    def work():
        ops = []
        native.run_with_native_ops(ops, 0.0, helper, (payload,), {})
        try:
            native.run_with_native_ops(ops, 0.0, failing_helper,
                                       (payload,), {})
        except Failure:
            pass
        helper(payload)
        method(writer, payload)
        write(writer, payload)
        stream.read(4)
        native.observe_ops(histograms, (1.0,), [('fsync', 0.5)])
        native.observe_ops(series, (1.0,), [('fsync', 0.5)])
        repr(series['fsync'][:])
        native.Series(3)[-1] += 1.0
        request = RequestContext(request_ctx.recorder, request_ctx.kind,
                                 {'payload': payload}, echo)
        request('201 Created', payload)
        request.disk_ops.append(('open', 0.1))
        request.bytes_read = 10
        request.finish()
        tpool(echo, payload, key=payload)
        started = middleware._begin_request(
            request_ctx.recorder, {'REQUEST_METHOD': 'PUT', 'PATH_INFO':
                                   '/sda/0', 'wsgi.input': payload}, echo)
        started.finish()
        del fake_tpool.calls[:], ctx.disk_ops[:]
    try:
        for _ in range(100):
            work()
        gc.collect()
        before = sys.getrefcount(payload), sys.getrefcount(writer), \
            len(gc.get_objects())
        for _ in range(1000):
            work()
        gc.collect()
        after = sys.getrefcount(payload), sys.getrefcount(writer), \
            len(gc.get_objects())
        assert after[:2] == before[:2]
        assert after[2] - before[2] < 50
    finally:
        del Input.read
