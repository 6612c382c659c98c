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

"""Pieces of the filter that need no server: access rules and routing."""

import gc
import io
import time

import pytest
from swift.common import swob

from swiftinst import diskfile_hooks
from swiftinst.context import RequestContext
from swiftinst.input import TimedInput
from swiftinst.middleware import filter_factory


@pytest.fixture
def make_filter(tmp_path):
    def make(app=None, **conf):
        conf.setdefault('metrics_dir', str(tmp_path / 'm'))
        conf.setdefault('devices', str(tmp_path))
        return filter_factory({}, **conf)(app or swob.HTTPCreated())
    yield make
    diskfile_hooks.uninstall()


@pytest.mark.parametrize('allowed,addr,ok', [
    ('', '203.0.113.9', True),
    ('127.0.0.1', '127.0.0.1', True),
    ('127.0.0.1', '127.0.0.2', False),
    ('10.0.0.0/8', '10.20.30.40', True),
    ('10.0.0.0/8', '::ffff:10.1.1.1', True),      # v4-mapped v6 peer
    ('10.0.0.0/8', '::ffff:11.1.1.1', False),
    ('::1', '::1', True),
    ('::1', '127.0.0.1', False),
    ('2001:db8::/32', '2001:db8::5', True),
    ('2001:db8::/32', 'fe80::1%eth0', False),
    ('10.0.0.0/8', 'garbage', False),
    ('10.0.0.0/8', None, False),
])
def test_metrics_allowed_ips(make_filter, allowed, addr, ok):
    f = make_filter(metrics_allowed_ips=allowed)
    assert f._allowed(addr) is ok


def test_forwarded_for_is_never_trusted(make_filter):
    f = make_filter(metrics_allowed_ips='10.0.0.0/8')
    req = swob.Request.blank('/metrics', environ={'REMOTE_ADDR': '1.2.3.4'},
                             headers={'X-Forwarded-For': '10.0.0.1'})
    assert req.get_response(f).status_int == 403


def test_only_the_exact_path_is_the_endpoint(make_filter):
    f = make_filter()
    for path in ('/metrics/', '/metrics/0/a/c/o', '/sda/0/metrics'):
        resp = swob.Request.blank(path, method='PUT', body=b'x') \
            .get_response(f)
        assert resp.status_int == 201, path


def test_a_failing_app_still_finishes_the_request(make_filter):
    def broken(env, start_response):
        raise ValueError('swift bug')
    f = make_filter(app=broken)
    with pytest.raises(ValueError):
        f(swob.Request.blank('/sda/0/a/c/o').environ, lambda *a: None)
    # the node's histogram, and the device's totals
    key = ('swift_object_request_seconds', ('GET', '', '0', '5xx'))
    assert f.store.series[key].count == 1
    key = ('swift_object_device_request_seconds', ('GET', 'other', '',
                                                   '5xx'))
    assert f.store.series[key].count == 1


def test_a_finished_request_is_freed_without_the_cyclic_gc(make_filter):
    # env -> TimedInput -> context -> env is a cycle: unless finish()
    # breaks it, every request's objects live until the next collection.
    def reading(env, start_response):
        env['wsgi.input'].read()
        start_response('201 Created', [('Content-Length', '0')])
        return [b'']

    def ours():
        return sum(isinstance(o, (RequestContext, TimedInput))
                   for o in gc.get_objects())
    f = make_filter(app=reading)
    gc.collect()
    gc.disable()
    try:
        before = ours()
        f(swob.Request.blank('/sda/0/a/c/o', method='PUT', body=b'x').environ,
          lambda *args: None)
        assert ours() == before
    finally:
        gc.enable()


def test_missing_hook_points_are_named_once_and_requests_served(
        make_filter, monkeypatch, caplog):
    # An older or newer Swift may lack a hook point: the filter says once
    # which timings it cannot take, and serves.
    import logging
    from swift.obj import diskfile
    from swiftinst import middleware
    monkeypatch.delattr(diskfile, 'link_fd_to_path')
    monkeypatch.delattr(diskfile.BaseDiskFile, 'open')
    monkeypatch.setattr(middleware, 'get_logger',
                        lambda conf, log_route: logging.getLogger(log_route))
    with caplog.at_level(logging.WARNING, logger='swiftinst'):
        f = make_filter()
        make_filter()                     # a second filter in the process
    unavailable = [r.getMessage() for r in caplog.records
                   if 'unavailable' in r.getMessage()]
    assert len(unavailable) == 1, unavailable
    assert 'link_fd_to_path' in unavailable[0]
    assert 'BaseDiskFile.open' in unavailable[0]
    resp = swob.Request.blank('/sda/0/a/c/o', method='PUT', body=b'x') \
        .get_response(f)
    assert resp.status_int == 201


# -- the request path, compiled or interpreted ----------------------------

def put_env(body=b'x'):
    return swob.Request.blank('/sda/0/a/c/o', method='PUT',
                              body=body).environ


def requests_counted(f, status_class='2xx'):
    key = ('swift_object_device_request_seconds', ('PUT', 'other', '',
                                                   status_class))
    values = f.store.series.get(key)
    return values.count if values is not None else 0


@pytest.mark.parametrize('streamed', [False, True])
def test_a_request_is_counted_once_when_swift_is_done(make_filter, streamed):
    def app(env, start_response):
        env['wsgi.input'].read()
        start_response('201 Created', [('Content-Length', '2')])
        return iter([b'ok']) if streamed else [b'ok']
    f = make_filter(app=app)
    for _ in range(2):
        statuses = []
        body = f(put_env(), lambda status, headers: statuses.append(status))
        assert statuses == ['201 Created']
        if streamed:
            assert type(body).__name__ == 'FinishOnClose'
            assert list(body) == [b'ok']
            counted = requests_counted(f)
            body.close()
            assert requests_counted(f) == counted + 1
        else:
            assert body == [b'ok']
    assert requests_counted(f) == 2


def test_each_new_process_is_adopted_once(make_filter, monkeypatch):
    from swiftinst import store
    f = make_filter()
    started = []
    monkeypatch.setattr(f.worker, 'start', lambda: started.append(1))
    f(put_env(), lambda *args: None)
    f(put_env(), lambda *args: None)
    assert started == [1]
    # a forked child sees another pid in current_pid
    pid = store.current_pid[0]
    f.store.pid = f.worker.pid = -1
    try:
        f(put_env(), lambda *args: None)
    finally:
        store.current_pid[0] = pid
    assert started == [1, 1]


def test_a_request_is_served_untouched_when_begin_fails(make_filter,
                                                        monkeypatch, caplog):
    import logging
    from swiftinst import middleware
    monkeypatch.setattr(middleware, 'get_logger',
                        lambda conf, log_route: logging.getLogger(log_route))
    seen = []

    def app(env, start_response):
        seen.append((type(env['wsgi.input']), start_response))
        return [b'']
    f = make_filter(app=app)

    def broken(*args):
        raise RuntimeError('no kind')
    monkeypatch.setattr(f.labels, 'method', broken)
    start_response = lambda *args: None     # noqa: E731
    with caplog.at_level(logging.ERROR, logger='swiftinst'):
        assert f(put_env(), start_response) == [b'']
    assert seen[0][0] is not TimedInput and seen[0][1] is start_response
    errors = ('swift_object_instrumentation_errors', ('request',))
    assert f.store.series[errors].value == 1
    # logged once, with the traceback, from the except block of begin()
    logged = [r for r in caplog.records if 'request error' in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info[0] is RuntimeError

    def interrupted(*args):
        raise KeyboardInterrupt()
    monkeypatch.setattr(f.labels, 'method', interrupted)
    with pytest.raises(KeyboardInterrupt):
        f(put_env(), start_response)


def test_unusual_calls_are_served_alike(make_filter):
    f = make_filter()
    env = put_env()
    assert f(env, start_response=lambda *args: None) == [b'']
    assert f(type('Env', (dict,), {})(put_env()), lambda *args: None) == \
        [b'']
    assert requests_counted(f) == 2


@pytest.fixture
def node(tmp_path):
    """A devices directory with one device, sda."""
    (tmp_path / 'node' / 'sda').mkdir(parents=True)
    return str(tmp_path / 'node')


# How long each read of a _put body takes at least: the thresholds in the
# tests below sit under it, so a read is slow by construction, not by luck.
READ_SECONDS = 0.002


class SlowInput(io.BytesIO):
    """A request body whose every read takes READ_SECONDS."""

    def read(self, *args):
        time.sleep(READ_SECONDS)
        return super(SlowInput, self).read(*args)


def _put(f, txn_id='tx-unit-1', body=b'x' * 10):
    req = swob.Request.blank('/sda/0/a/c/o', method='PUT', body=body,
                             headers={'X-Trans-Id': txn_id})
    req.environ['wsgi.input'] = SlowInput(body)
    return req.get_response(f)


def _reading_app(env, start_response):
    env['wsgi.input'].read()
    start_response('201 Created', [('Content-Length', '0')])
    return [b'']


@pytest.mark.parametrize('exemplar_min,kept', [
    ('0.001', True), ('1000', False), ('0', False)])
def test_slow_observations_become_exemplars(make_filter, node, exemplar_min,
                                            kept):
    f = make_filter(app=_reading_app, devices=node,
                    exemplar_min_seconds=exemplar_min)
    assert _put(f).status_int == 201
    for key in (('swift_object_request_seconds', ('PUT', '', '0', '2xx')),
                ('swift_object_input_read_seconds', ('PUT', 'sda', ''))):
        exemplars = [exemplar for _, exemplar
                     in f.store.series[key].exemplar_items()]
        if kept:
            assert [txn for txn, _, _ in exemplars] == ['tx-unit-1'], key
        else:
            assert exemplars == [], key


def test_a_txn_id_too_long_for_openmetrics_has_no_exemplar(
        make_filter, node):
    f = make_filter(app=_reading_app, devices=node,
                    exemplar_min_seconds='0.001')
    _put(f, txn_id='tx' + 'f' * 200)
    key = ('swift_object_request_seconds', ('PUT', '', '0', '2xx'))
    assert f.store.series[key].count == 1
    assert f.store.series[key].exemplars is None


class Lines(object):
    """A logger that keeps its WARNING lines."""

    def __init__(self):
        self.lines = []

    def warning(self, message, *args):
        self.lines.append(message % args)


def test_slow_read_warnings_are_limited_but_every_read_is_counted(
        make_filter, node):
    f = make_filter(app=_reading_app, devices=node,
                    slow_read_threshold='0.001',
                    slow_request_threshold='0.001')
    f.recorder.logger = logger = Lines()
    for limiter in f.recorder.limiters.values():
        limiter.interval = 3600.0   # the whole loop falls in one interval
    for i in range(100):
        _put(f, 'tx-flood-%d' % i)
    reads = [line for line in logger.lines if line.startswith('Slow read')]
    requests = [line for line in logger.lines
                if line.startswith('Slow request')]
    # one line of each kind per interval
    assert len(reads) == 1 and len(requests) == 1
    series = f.store.series
    assert series[('swift_object_slow_reads', ('PUT', 'sda', ''))].value \
        == 100
    suppressed = {kind: series[('swift_object_suppressed_warnings',
                                (kind,))].value
                  for kind in ('slow_read', 'slow_request')}
    assert suppressed == {'slow_read': 100 - len(reads),
                          'slow_request': 100 - len(requests)}
    assert series[('swift_object_suppressed_warnings',
                   ('hub_blocked',))].value == 0


def test_request_records_without_room_are_tried_again_now_and_then(
        make_filter, monkeypatch):
    from swiftinst import worker
    attempts = []

    def no_room(*args):
        attempts.append(args)
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(worker, 'RequestRecords', no_room)
    mw = make_filter(event_loop_accounting='true')
    mw.store.adopt_current_process()
    lifecycle = mw.worker
    lifecycle.start_request_records()
    assert len(attempts) == 1 and mw.recorder.records is None
    for _ in range(worker.RECORDS_RETRY_FLUSHES - 1):
        lifecycle.flush()
    assert len(attempts) == 1
    lifecycle.flush()
    assert len(attempts) == 2
    # counted once for the fault, however often it is tried
    errors = mw.store.counter(('swift_object_instrumentation_errors',
                               ('requests',))).value
    assert errors == 1
