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

"""The per-request context and the registry that finds it.

The context is what the filter knows about one request while Swift
serves it.  Its hot path only adds numbers: labels and live series come
with the request's RequestKind, and what only a log line needs is read
from the WSGI environment when one is written.  Compiled (see
``context.pxd``), it is a C struct; the part of it that Swift calls, its
``start_response``, is requestpath's ``StartResponse``, interpreted.

The registry maps a greenthread to the context of the request it serves,
and to the container update it runs (see server_hooks).  The diskfile
hooks and the switch trace use it to attribute time to a request.  A
keep-alive connection reuses its greenthread, so entries are overwritten,
and the size stays bounded by the number of connections.
"""

import time
import types
import weakref

from swiftinst.activity import KIND_OF
from swiftinst.hub import getcurrent
from swiftinst.recorder import note_exemplar

try:
    import cython
except ImportError:  # interpreted, and Cython is not installed
    from swiftinst import _nocython as cython

_monotonic = time.monotonic


def monotonic():
    """``time.monotonic()``: compiled, a ``clock_gettime(CLOCK_MONOTONIC)``
    (the clock CPython reads there too), with no float object made.
    """
    if cython.compiled:
        # clock_gettime, CLOCK_MONOTONIC and the timespec ts: context.pxd
        clock_gettime(CLOCK_MONOTONIC, cython.address(ts))  # noqa: F821
        return ts.tv_sec + ts.tv_nsec * 1e-9  # noqa: F821
    return _monotonic()


def append_own(ops, op, mark, seconds):
    """Append ``op``, which took ``seconds``, to ``ops``, less the seconds
    of the ops appended since index ``mark`` while it ran: an op that
    nests others (a rename that fsyncs its directory, an open that
    quarantines) is charged only its own time, so a request's ops add up
    to the time spent, never more.  (Bookkeeping that no Swift call passes
    through: compiled, the diskfile hooks call it without a frame.)
    """
    if len(ops) > mark:
        for inner in ops[mark:]:
            seconds -= inner[1]
    ops.append((op, seconds))


# Disk ops a request can be inside at once (see RequestContext.op_begin);
# deeper ones are timed as part of the one that holds them.
OP_DEPTH = 8

# A finished context's environment: see RequestContext.finish.
_NO_ENV = types.MappingProxyType({})

BODY_METHODS = frozenset(('PUT', 'POST', 'SSYNC', 'REPLICATE'))
NO_BODY_METHODS = frozenset(('GET', 'HEAD'))

# What a request's greenthread waits for when it is switched out, outside
# a tpool call (``RequestContext.awaiting``; see switchtrace):
# its client's socket (the idle part of the wait is client_wait)...
AWAIT_CLIENT = 0
# ... a container server's socket, in delete_at_update (container_wait)...
AWAIT_CONTAINER = 1
# ... the container updates it spawned, in container_update: until the
# last of them ends, container_wait...
AWAIT_UPDATES = 2
# ... the proxy's EC commit message (commit_wait).
AWAIT_COMMIT = 3

# greenlet -> RequestContext
active = {}
active_get = active.get
# greenlet -> the container update it runs (server_hooks.ContainerUpdate):
# a spawned update's greenthread stays here until it is gone, so that a
# hub block seen as it ends can still name it.
_updates = weakref.WeakKeyDictionary()


def current():
    """The RequestContext of the running greenthread, or None."""
    return active_get(getcurrent())


def register(ctx, green):
    active[green] = ctx


def unregister(ctx, green):
    if active_get(green) is ctx:
        del active[green]


def update_of(green):
    """The container update ``green`` runs, or None."""
    return _updates.get(green)


def start_update(green, update):
    _updates[green] = update


def end_update(green):
    _updates.pop(green, None)


def device_of(path):
    """'/sda/123/a/c/o' -> 'sda'; '' when there is none."""
    parts = path.split('/', 2)
    return parts[1] if len(parts) > 1 else ''


def partition_of(path):
    """'/sda/123/a/c/o' -> '123'; '' when there is none."""
    parts = path.split('/', 3)
    return parts[2] if len(parts) > 2 else ''


def partition_number(path):
    """'/sda/123/a/c/o' -> 123; -1 when there is none (or it is not a
    number below 10**12).  Compiled, a loop over the characters.
    """
    if cython.compiled:
        number = -1
        slashes = 0
        for ch in path:
            if ch == '/':
                slashes += 1
                if slashes == 3:
                    break
            elif slashes == 2:
                if ch < '0' or ch > '9' or number >= 100000000000:
                    return -1
                number = (number if number > 0 else 0) * 10 + \
                    (ord(ch) - 48)
        return number
    partition = partition_of(path)
    return int(partition) if partition.isdigit() and \
        len(partition) <= 12 else -1


def status_code(status):
    """'201 Created' -> 201; 0 when there is none.  Compiled, a loop
    over the first three characters.
    """
    if not isinstance(status, str):
        return 0
    text = status
    if cython.compiled:
        code = 0
        i = 0
        for ch in text:
            if i == 3:
                break
            if ch < '0' or ch > '9':
                return 0
            code = code * 10 + (ord(ch) - 48)
            i += 1
        return code if i == 3 else 0
    code = text[:3]
    return int(code) if len(code) == 3 and code.isdigit() else 0


def begin_request(context_class, recorder, env, start_response):
    """A ``context_class`` (a RequestContext) for the request of ``env``,
    its ``wsgi.input`` timed by a ``context_class.input_class`` if the
    request has a body.
    """
    method = env.get('REQUEST_METHOD', '')
    kind = recorder.kind(method, device_of(env.get('PATH_INFO', '')),
                         env.get('HTTP_X_BACKEND_STORAGE_POLICY_INDEX'))
    ctx = context_class.__new__(context_class)
    ctx.start(recorder, kind, env, start_response)
    try:
        if method in BODY_METHODS or method not in NO_BODY_METHODS \
                and has_body(env):
            wsgi_input = env.get('wsgi.input')
            if wsgi_input is not None:
                env['wsgi.input'] = context_class.input_class(wsgi_input,
                                                              ctx)
    except BaseException:
        # a context that cannot start leaves the registry at once
        unregister(ctx, ctx.greenlet)
        raise
    return ctx


def has_body(env):
    if env.get('CONTENT_LENGTH') not in (None, '', '0'):
        return True
    return 'chunked' in env.get('HTTP_TRANSFER_ENCODING', '').lower()


class RequestContext(object):
    """One request's numbers, from its start to its ``finish()``.

    ``disk_ops`` is the list of ``(op, seconds)`` the diskfile hooks
    append to as each op ends (from a tpool thread while the request's
    greenthread waits for it); the request records them on the hub when
    it finishes.  ``updates`` lists the container updates it started
    (see server_hooks), which may end after it.  Statsd samples are
    buffered and sent as one packet.
    The event-loop accounting fields are kept up to date by the switch
    trace (see eventloop) only when it runs.
    """

    __slots__ = ('recorder', 'kind', 'env', 'start_response', 'started',
                 'bytes_read', 'statsd_samples', 'finished', 'greenlet',
                 'status', 'disk_ops', 'tpool_seconds', 'updates',
                 # event-loop accounting (see eventloop)
                 'running', 'client_wait', 'hub_wait', 'tpool_wait',
                 'container_wait', 'commit_wait', 'awaiting',
                 'updates_pending', 'updates_done',
                 'switched_at', 'idle_mark', 'tpool_called', 'tpool_done',
                 'slice_mark',
                 # its record among the worker's (see activity): the
                 # records, its slot (-1: none), and the kind a wait
                 # interrupted (see switchtrace)
                 'records', 'slot', 'resume_kind',
                 # the disk ops under way (see op_begin)
                 'op_depth', 'op_started', 'op_mark', 'op_before')

    def __init__(self, recorder, kind, env, start_response=None):
        self.start(recorder, kind, env, start_response)

    def start(self, recorder, kind, env, start_response):
        """The request begins now, on this greenthread."""
        self.recorder = recorder
        self.kind = kind
        self.env = env
        self.start_response = start_response
        self.started = self.switched_at = monotonic()
        self.bytes_read = 0
        self.running = self.client_wait = self.hub_wait = \
            self.tpool_wait = self.container_wait = self.commit_wait = \
            self.idle_mark = self.tpool_seconds = self.updates_done = 0.0
        self.awaiting = AWAIT_CLIENT
        self.updates_pending = 0
        # the container updates it started (server_hooks.ContainerUpdate),
        # created by the first
        self.updates = None
        self.tpool_called = self.tpool_done = None
        self.slice_mark = 0
        self.statsd_samples = [] if recorder.statsd is not None else None
        self.finished = False
        self.status = None
        self.disk_ops = []
        self.greenlet = getcurrent()
        self.records = records = recorder.records
        self.slot = -1
        self.resume_kind = 0
        self.op_depth = 0
        if not cython.compiled:
            # compiled, C arrays (context.pxd)
            self.op_started = [0.0] * OP_DEPTH
            self.op_mark = [0] * OP_DEPTH
            self.op_before = [0] * OP_DEPTH
        if records is not None:
            self.slot = records.claim(
                self.started, env.get('HTTP_X_TRANS_ID'), kind.identity,
                partition_number(env.get('PATH_INFO', '')))
            if self.slot < 0:
                recorder.error('requests', 'more than requests_max_in_flight'
                               ' = %d requests in flight at once: the others '
                               'are not listed' % records.slots)
        register(self, self.greenlet)

    def op_begin(self, op):
        """Disk op ``op`` of this request begins now, on the hub or in the
        tpool thread that runs the request's disk work (its greenthread is
        parked meanwhile, so the two never overlap): its record now waits
        on it.  Ops nest (a rename fsyncs its directory): each one's start,
        the disk ops before it and the kind its record was in are kept on
        a stack of OP_DEPTH, C arrays compiled, until ``op_end``.  Never
        raises.
        """
        now = monotonic()
        depth = self.op_depth
        self.op_depth = depth + 1
        if depth >= OP_DEPTH:
            return
        self.op_started[depth] = now
        self.op_mark[depth] = len(self.disk_ops)
        self.op_before[depth] = -1
        if self.slot >= 0:
            kind = KIND_OF.get(op, -1)
            if kind >= 0:
                self.op_before[depth] = self.records.transition(
                    self.slot, kind, now)

    def op_end(self, op, nesting, excluded):
        """The op ``op_begin`` began last has ended now: into the request's
        disk ops, less ``excluded`` seconds (a write's fdatasync, timed on
        its own) and, if it is ``nesting``, less the ops appended while it
        ran (see append_own); its record goes back to what it was in.
        Never raises.
        """
        now = monotonic()
        depth = self.op_depth - 1
        if depth < 0:
            return
        self.op_depth = depth
        if depth >= OP_DEPTH:
            return
        seconds = now - self.op_started[depth] - excluded
        if nesting:
            append_own(self.disk_ops, op, self.op_mark[depth], seconds)
        else:
            self.disk_ops.append((op, seconds))
        before = self.op_before[depth]
        if before >= 0 and self.slot >= 0:
            self.records.transition(self.slot, before, now)

    def add_disk_op(self, op, seconds):
        self.disk_ops.append((op, seconds))

    def read_done(self, nbytes, started, hub_before):
        """Record one read of the body that began at ``started`` and has
        just returned ``nbytes``: its bytes, the input-read histogram and,
        when statsd is on or the read was slow, the rest.  Never raises.
        """
        seconds = monotonic() - started
        try:
            offset = self.bytes_read
            self.bytes_read = offset + nbytes
            if self.awaiting:   # not AWAIT_CLIENT
                # the EC commit message: a wait for the other fragments'
                # servers, not for the client (commit_wait)
                return
            series = self.kind.observe_read(seconds)
            if seconds >= self.recorder.exemplar_min > 0:
                note_exemplar(series, seconds, self)
            if self.statsd_samples is not None:
                self.statsd_samples.append((self.kind.read_statsd, seconds))
            if seconds >= self.recorder.slow_read_threshold > 0:
                self.recorder.slow_read(self, started, seconds, offset,
                                        nbytes, self.hub_wait - hub_before)
        except Exception:
            self.recorder.error('input')

    def finish(self):
        """Called when Swift is done with the request; counts it once, with
        the status Swift started its response with.  Never raises.
        """
        if self.finished:
            return
        self.finished = True
        now = monotonic()
        try:
            unregister(self, self.greenlet)
            seconds = now - self.started
            recorder = self.recorder
            kind = self.kind
            if self.disk_ops:
                kind.disk.observe(self.disk_ops, self)
            kind.observe_request(self.status, seconds, self.bytes_read, self)
            if recorder.phases:
                self.running += now - self.switched_at
                kind.observe_phases(self.phases())
            if self.statsd_samples is not None or \
                    seconds >= recorder.slow_request_threshold > 0:
                recorder.finish_extras(self, seconds)
        except Exception:
            self.recorder.error('request')
        finally:
            if self.slot >= 0:
                # its record, kept among the slowest if it is one, and its
                # slot free again, whatever happened above
                slot, self.slot = self.slot, -1
                try:
                    self.records.release(slot, status_code(self.status), now)
                except Exception:
                    self.recorder.error('requests')
            # The environment holds our TimedInput, which holds this
            # context: without this, every request's objects (its
            # DiskFile, buffers, environment) would wait for the cyclic GC
            # instead of going the moment Swift drops them.
            self.env = _NO_ENV
            self.start_response = None

    # -- what log lines say about the request -------------------------
    @property
    def method(self):
        return self.kind.method

    @property
    def device(self):
        return self.kind.device

    @property
    def policy(self):
        return self.kind.policy

    @property
    def txn_id(self):
        return self.env.get('HTTP_X_TRANS_ID')

    @property
    def partition(self):
        return partition_of(self.env.get('PATH_INFO', ''))

    @property
    def client(self):
        return '%s:%s' % (self.env.get('REMOTE_ADDR', '-'),
                          self.env.get('REMOTE_PORT', '-'))

    @property
    def content_length(self):
        try:
            return int(self.env['CONTENT_LENGTH'])
        except (KeyError, TypeError, ValueError):
            return None

    def phases(self):
        return (self.running, self.client_wait, self.hub_wait,
                self.tpool_wait, self.container_wait, self.commit_wait)


class TimedInputFields(object):
    """What a TimedInput holds, and everything it does but read: the
    reads are input.py's, interpreted, since Swift's read errors pass
    through them.  Attribute reads and writes go to the wrapped input.
    """

    __slots__ = ('_wrapped', '_ctx')

    def __init__(self, wrapped, ctx):
        if cython.compiled:
            self._wrapped = wrapped
            self._ctx = ctx
        else:
            # past this class's own __setattr__, which forwards
            object.__setattr__(self, '_wrapped', wrapped)
            object.__setattr__(self, '_ctx', ctx)

    def __iter__(self):
        return iter(self.read, b'')

    def __getattr__(self, name):
        return getattr(self._wrapped, name)

    def __setattr__(self, name, value):
        setattr(self._wrapped, name, value)
