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

import io
import logging

import pytest

from swiftinst import context, labels as labels_module, metrics
from swiftinst.context import RequestContext, device_of, partition_of
from swiftinst.labels import LabelPolicy
from swiftinst.input import TimedInput
from swiftinst.recorder import Recorder, RequestKind
from swiftinst.store import MetricStore


class Clock(object):
    now = 0.0

    def __call__(self):
        return self.now


def test_device_labels_only_for_existing_devices(tmp_path):
    (tmp_path / 'sda').mkdir()
    clock = Clock()
    labels = LabelPolicy(str(tmp_path), 60.0, clock=clock)
    assert labels.device('sda') == 'sda'
    assert labels.device('sdz') == 'other'
    (tmp_path / 'sdz').mkdir()
    # the listing is cached: a new disk shows up after the refresh interval
    assert labels.device('sdz') == 'other'
    clock.now = 61.0
    assert labels.device('sdz') == 'sdz'


def test_unknown_names_do_not_relist_every_time(tmp_path, monkeypatch):
    calls = []
    real = labels_module.os.listdir
    monkeypatch.setattr(labels_module.os, 'listdir',
                        lambda p: calls.append(p) or real(p))
    labels = LabelPolicy(str(tmp_path), 60.0, clock=Clock())
    for i in range(1000):
        labels.device('spray-%d' % i)
    assert len(calls) == 1


def test_methods_and_policies_are_bounded(tmp_path):
    labels = LabelPolicy(str(tmp_path), 60.0, clock=Clock())
    assert labels.method('PUT') == 'PUT'
    assert labels.method('put') == metrics.OTHER_METHOD
    assert labels.method('BREW') == metrics.OTHER_METHOD
    assert labels.policy(None) == '0'
    assert labels.policy('0') == '0'
    assert labels.policy('12345') == metrics.OTHER_POLICY
    assert labels.policy('a' * 100) == metrics.OTHER_POLICY
    assert labels.policy('00') == labels.policy(' 0 ') == '0'   # as Swift
    assert labels.policy('-0') == '0'
    assert labels.policy('0x1') == metrics.OTHER_POLICY


def test_device_and_partition_of_a_path():
    for path, parts in (('/sda/12/a/c/o/with/slashes', ('sda', '12')),
                        ('/sda', ('sda', '')), ('', ('', '')),
                        ('sda/1', ('1', ''))):
        assert (device_of(path), partition_of(path)) == parts


def test_request_kinds_are_shared_and_bounded(tmp_path):
    (tmp_path / 'sda').mkdir()
    store = MetricStore(str(tmp_path / 'm'), metrics.DEFAULT_LATENCY_BUCKETS)
    recorder = Recorder(store, None, logging.getLogger('t'), 1.0,
                        LabelPolicy(str(tmp_path), 60, clock=Clock()))
    kind = recorder.kind('PUT', 'sda', None)
    # a device's own series carry no policy (series_profile default)
    assert kind.labels == ('PUT', 'sda', '') and kind.policy == '0'
    assert recorder.kind('PUT', 'sda', '0') is kind
    # what a client sprays maps onto the same few kinds, and is not
    # remembered as such
    for i in range(1000):
        assert recorder.kind('PUT', 'sda', '0' * (i + 2)) is kind
        assert recorder.kind('PUT', 'spray-%d' % i, None).labels == \
            ('PUT', metrics.OTHER_DEVICE, '')
        assert recorder.kind('BREW%d' % i, 'sda', None).labels == \
            (metrics.OTHER_METHOD, 'sda', '')
    assert len(recorder._kinds) == 3
    assert len(recorder._kinds_by_raw) == 2


class FakeEventletInput(object):
    """Stands in for eventlet.wsgi.Input: attributes and extra methods."""

    def __init__(self, data):
        self._io = io.BytesIO(data)
        self.hundred_continue_headers = None
        self.sent_continue = False

    def read(self, n=-1):
        return self._io.read(n)

    def readline(self, n=-1):
        return self._io.readline(n)

    def readlines(self, hint=-1):
        return self._io.readlines(hint)

    def get_socket(self):
        return 'the socket'

    def send_hundred_continue_response(self):
        self.sent_continue = True


@pytest.fixture
def ctx(tmp_path):
    store = MetricStore(str(tmp_path), metrics.DEFAULT_LATENCY_BUCKETS)
    recorder = Recorder(store, None, logging.getLogger('t'), 1.0,
                        LabelPolicy(str(tmp_path), 60, clock=Clock()))
    env = {'HTTP_X_TRANS_ID': 'tx1', 'REMOTE_ADDR': '1.2.3.4',
           'REMOTE_PORT': '5', 'CONTENT_LENGTH': '20',
           'PATH_INFO': '/sda/9/a/c/o'}
    c = RequestContext(recorder, RequestKind(recorder, 'PUT', 'sda', '0'),
                       env)
    yield c
    c.status = '201 Created'
    c.finish()


def test_timed_input_counts_reads_and_bytes(ctx):
    wrapped = FakeEventletInput(b'line1\nline2\nrest of it')
    timed = TimedInput(wrapped, ctx)
    assert timed.readline() == b'line1\n'
    assert timed.read(3) == b'lin'
    assert timed.readlines() == [b'e2\n', b'rest of it']
    assert timed.read() == b''
    assert ctx.bytes_read == len(b'line1\nline2\nrest of it')
    values = ctx.recorder.store.series[
        (metrics.INPUT_READ.name, ('PUT', 'sda', ''))]
    assert values.count == 4


def test_timed_input_delegates_everything_else(ctx):
    wrapped = FakeEventletInput(b'')
    timed = TimedInput(wrapped, ctx)
    assert timed.get_socket() == 'the socket'
    timed.send_hundred_continue_response()
    assert wrapped.sent_continue
    timed.hundred_continue_headers = [('X', 'y')]
    assert wrapped.hundred_continue_headers == [('X', 'y')]


class BrokenLogger(object):
    def warning(self, *args):
        raise RuntimeError('the log is gone')

    exception = error = warning


def test_failure_in_observation_is_counted_not_raised(ctx, monkeypatch):
    # every read is slow, and its warning fails
    monkeypatch.setattr(ctx.recorder, 'slow_read_threshold', 1e-12)
    monkeypatch.setattr(ctx.recorder, 'logger', BrokenLogger())
    timed = TimedInput(FakeEventletInput(b'abc'), ctx)
    assert timed.read() == b'abc'
    monkeypatch.undo()
    assert ctx.recorder.store.series[
        (metrics.INSTRUMENTATION_ERRORS.name, ('input',))].value == 1


def test_context_registry_follows_the_greenthread(ctx):
    assert context.current() is ctx
    ctx.status = '200 OK'
    ctx.finish()
    assert context.current() is None


def test_disk_ops_is_the_live_list_its_ops_are_added_to(ctx):
    ops = ctx.disk_ops
    ctx.add_disk_op('open', 0.25)
    ops.append(('fsync', 0.5))          # as a tpool thread appends
    assert ctx.disk_ops is ops
    assert ops == [('open', 0.25), ('fsync', 0.5)]
