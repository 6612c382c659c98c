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

"""The switch trace's bookkeeping, driven by hand with real contexts."""

import greenlet
import pytest

from swiftinst import context, metrics, switchtrace
from swiftinst.context import RequestContext
from swiftinst.recorder import RequestKind
from swiftinst.store import MetricStore
from tests.unit.helpers import make_recorder


@pytest.fixture
def ctx(tmp_path):
    recorder = make_recorder(MetricStore(str(tmp_path),
                                         metrics.DEFAULT_LATENCY_BUCKETS),
                             phases=True)
    c = RequestContext(recorder, RequestKind(recorder, 'PUT', 'sda', '0'),
                       {'HTTP_X_TRANS_ID': 'tx9', 'PATH_INFO': '/sda/1/a/c/o'})
    yield c
    context.unregister(c, c.greenlet)


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(switchtrace.state, 'clock', lambda: now[0])
    monkeypatch.setattr(switchtrace.state, 'last_switch', 100.0)
    monkeypatch.setattr(switchtrace.state, 'idle_total', 0.0)
    monkeypatch.setattr(switchtrace.state, 'block_threshold', 0.05)
    monkeypatch.setattr(switchtrace.state, 'hub_greenlet', object())
    yield now
    del switchtrace._pending_blocks[:]
    switchtrace._recent_blocks.clear()


def switch(origin, target):
    switchtrace.on_switch('switch', (origin, target))


def test_wait_splits_into_client_and_hub_wait(ctx, clock):
    me, hub = ctx.greenlet, switchtrace.state.hub_greenlet
    ctx.started = ctx.switched_at = 100.0
    clock[0] = 100.010
    switch(me, hub)                       # ran 10 ms, then waits on a socket
    switchtrace.state.idle_total += 0.300   # the hub sat idle 300 ms
    clock[0] = 100.510                    # and others ran 200 ms
    switch(hub, me)
    assert ctx.running == pytest.approx(0.010)
    assert ctx.client_wait == pytest.approx(0.300)
    assert ctx.hub_wait == pytest.approx(0.200)
    clock[0] = 100.600
    switch(me, hub)
    assert sum(ctx.phases()) == pytest.approx(0.600)


def test_tpool_wait_ends_when_the_native_thread_finished(ctx, clock):
    me, hub = ctx.greenlet, switchtrace.state.hub_greenlet
    ctx.switched_at = 100.0
    ctx.tpool_called = 100.0
    switch(me, hub)
    ctx.tpool_done = 100.040              # the fsync took 40 ms
    clock[0] = 100.100                    # resumed 60 ms later
    switch(hub, me)
    assert ctx.tpool_wait == pytest.approx(0.040)
    assert ctx.hub_wait == pytest.approx(0.060)
    assert ctx.client_wait == 0


def test_a_long_slice_is_a_block_with_its_culprit(ctx, clock):
    me, hub = ctx.greenlet, switchtrace.state.hub_greenlet
    ctx.add_disk_op('open', 0.45)       # made during this slice
    clock[0] = 100.5
    switch(me, hub)
    ended, held, culprit = switchtrace._pending_blocks[-1]
    assert (ended, held) == (100.5, 0.5)
    assert (culprit.method, culprit.device, culprit.where,
            culprit.txn_id) == ('PUT', 'sda', 'open', 'tx9')
    assert switchtrace.culprit_between(100.0, 101.0)[2] is culprit
    assert switchtrace.culprit_between(100.6, 101.0) is None
    # the hub's own time (epoll, dispatch) is never a block
    clock[0] = 101.5
    switch(hub, me)
    assert len(switchtrace._pending_blocks) == 1


def test_a_block_outside_a_request_or_disk_op(ctx, clock):
    other = greenlet.greenlet(lambda: None)
    clock[0] = 100.2
    switch(other, switchtrace.state.hub_greenlet)
    assert switchtrace._pending_blocks[-1][2].where == metrics.WHERE_OTHER
    ctx.add_disk_op('open', 0.01)       # too short to explain
    ctx.slice_mark = 0
    clock[0] = 100.4
    switch(ctx.greenlet, switchtrace.state.hub_greenlet)
    assert switchtrace._pending_blocks[-1][2].where == metrics.WHERE_REQUEST


def test_the_trace_never_raises_and_chains(clock, monkeypatch):
    seen = []
    monkeypatch.setattr(switchtrace.state, 'previous_trace',
                        lambda event, args: seen.append(event))
    errors = switchtrace.state.errors
    switchtrace.on_switch('switch', 'not a pair')
    switchtrace.on_switch('throw', (None, None))
    assert switchtrace.state.errors == errors + 1
    assert seen == ['switch', 'throw']


def test_waiting_for_spawned_updates_is_container_wait_until_the_last(
        ctx, clock):
    me, hub = ctx.greenlet, switchtrace.state.hub_greenlet
    ctx.switched_at = 100.0
    ctx.awaiting = context.AWAIT_UPDATES
    ctx.updates_pending = 2
    switch(me, hub)
    switchtrace.state.idle_total += 0.5   # the hub sat idle throughout...
    clock[0] = 100.5
    switch(hub, me)                       # ... woken by the first update
    assert ctx.container_wait == pytest.approx(0.5)
    assert ctx.client_wait == 0 and ctx.hub_wait == 0
    switch(me, hub)
    ctx.updates_pending = 0
    ctx.updates_done = 100.7              # the last ended at 100.7...
    clock[0] = 100.8                      # ... and others ran till 100.8
    switch(hub, me)
    assert ctx.container_wait == pytest.approx(0.7)
    assert ctx.hub_wait == pytest.approx(0.1)


@pytest.mark.parametrize('awaiting, phase', [
    (context.AWAIT_CLIENT, 'client_wait'),
    (context.AWAIT_CONTAINER, 'container_wait'),
    (context.AWAIT_COMMIT, 'commit_wait')])
def test_a_socket_wait_goes_to_what_the_request_waits_for(
        ctx, clock, awaiting, phase):
    me, hub = ctx.greenlet, switchtrace.state.hub_greenlet
    ctx.switched_at = 100.0
    ctx.awaiting = awaiting
    switch(me, hub)
    switchtrace.state.idle_total += 0.3
    clock[0] = 100.4
    switch(hub, me)
    spent = dict(zip(metrics.PHASES, ctx.phases()))
    assert spent.pop(phase) == pytest.approx(0.3)
    assert spent.pop('hub_wait') == pytest.approx(0.1)
    assert not any(spent.values()), spent


def test_a_get_blocked_in_its_read_names_read(tmp_path, clock):
    recorder = make_recorder(MetricStore(str(tmp_path),
                                         metrics.DEFAULT_LATENCY_BUCKETS),
                             phases=True)
    get = RequestContext(recorder, RequestKind(recorder, 'GET', 'sdb', '0'),
                         {'HTTP_X_TRANS_ID': 'txget'})
    try:
        get.add_disk_op('read', 0.3)
        clock[0] = 100.31
        switch(get.greenlet, switchtrace.state.hub_greenlet)
        culprit = switchtrace._pending_blocks[-1][2]
        assert (culprit.method, culprit.device, culprit.where) == \
            ('GET', 'sdb', 'read')
    finally:
        context.unregister(get, get.greenlet)


def test_a_block_in_a_container_update_names_its_request(ctx, clock):
    from swiftinst.server_hooks import ContainerUpdate
    green = greenlet.greenlet(lambda: None)
    update = ContainerUpdate(ctx, '127.0.0.1:6201', 'sdc')
    update.pickle_seconds = 0.4
    context.start_update(green, update)
    clock[0] = 100.45
    switch(green, switchtrace.state.hub_greenlet)
    culprit = switchtrace._pending_blocks[-1][2]
    assert (culprit.method, culprit.device, culprit.where, culprit.txn_id) \
        == ('PUT', 'sda', 'async_pending', 'tx9')
    assert culprit.describe() == ('txn tx9 (PUT sda, updating container '
                                  '127.0.0.1:6201/sdc, in async_pending)')
