"""Per-request context and the bounded label values it carries.

A client chooses the request path, method and headers, so none of them may
reach a label unchecked: a device label exists only for a directory under
``devices``, a method only if Swift serves it, a policy only if swift.conf
defines it.  Everything else collapses into one ``other`` value, so the
number of series is fixed by the node, never by its clients.
"""

import os
import time
import types

import greenlet

from swiftinst import metrics
from swiftinst.speedups import native

_monotonic = time.monotonic
# A finished context's environment: see RequestContext.finish.
_NO_ENV = types.MappingProxyType({})

# greenlet -> RequestContext.  The diskfile hooks use it to attribute an
# operation to the request whose greenthread made it.  A keep-alive
# connection reuses its greenthread, so entries are overwritten, and the
# size stays bounded by the number of connections.
active = {}


active_get = active.get


_getcurrent = greenlet.getcurrent


def current():
    """The RequestContext of the running greenthread, or None."""
    return active_get(_getcurrent())


def register(ctx, green):
    active[green] = ctx


def unregister(ctx, green):
    if active_get(green) is ctx:
        del active[green]


class LabelPolicy(object):
    """Turns client-supplied values into a bounded set of label values."""

    def __init__(self, devices_dir, refresh_interval, clock=_monotonic):
        self.devices_dir = devices_dir
        self.refresh_interval = refresh_interval
        self._clock = clock
        self._devices = frozenset()
        self._policies = frozenset()
        self._next_refresh = 0.0

    def _refresh(self):
        # Throttled: a client spraying unknown device names must not turn
        # every request into a listdir.
        now = self._clock()
        if now < self._next_refresh:
            return
        self._next_refresh = now + self.refresh_interval
        try:
            self._devices = frozenset(os.listdir(self.devices_dir))
        except OSError:
            self._devices = frozenset()
        try:
            from swift.common.storage_policy import POLICIES
            self._policies = frozenset(str(int(p)) for p in POLICIES)
        except Exception:
            self._policies = frozenset(('0',))

    def device(self, name):
        if name not in self._devices:
            self._refresh()
            if name not in self._devices:
                return metrics.OTHER_DEVICE
        return name

    def policy(self, index):
        index = (index or '0').strip()
        if index not in self._policies:
            # Swift reads the index with int(): '01' is policy 1.
            try:
                index = str(int(index))
            except ValueError:
                return metrics.OTHER_POLICY
            if index not in self._policies:
                self._refresh()
                if index not in self._policies:
                    return metrics.OTHER_POLICY
        return index

    @staticmethod
    def method(name):
        return name if name in metrics.METHODS else metrics.OTHER_METHOD


def device_of(path):
    """'/sda/123/a/c/o' -> 'sda'; '' when there is none."""
    parts = path.split('/', 2)
    return parts[1] if len(parts) > 1 else ''


def partition_of(path):
    """'/sda/123/a/c/o' -> '123'; '' when there is none."""
    parts = path.split('/', 3)
    return parts[2] if len(parts) > 2 else ''


class RequestFacts(object):
    """What log lines say about a request, read only when one is written:
    the labels from its RequestKind, the rest from its WSGI environment.
    Shared by both RequestContext implementations."""

    __slots__ = ()

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
                self.tpool_wait)


class DiskOpList(object):
    """Disk ops kept as a ``disk_ops`` list of ``(op, seconds)``: by the
    Python context, and for work outside any request.  (The C context
    offers the same three names over its own array.)"""

    __slots__ = ()

    def add_disk_op(self, op, seconds):
        self.disk_ops.append((op, seconds))

    @property
    def disk_op_count(self):
        return len(self.disk_ops)

    @property
    def op_sink(self):
        """What a tpool call records its ops into."""
        return self.disk_ops


class PyRequestContext(RequestFacts, DiskOpList):
    """What the filter knows about one request while Swift serves it.

    The hot path only adds numbers: labels and live series come with the
    request's RequestKind, and everything only a log line needs comes from
    RequestFacts.  The context is also the ``start_response`` Swift is
    given, so it sees the status without a closure per request.  Statsd
    samples are buffered and sent as one packet by finish().

    This is the reference implementation; ``_speedups.Context`` does the
    same without a Python frame (see speedups).
    """

    __slots__ = ('recorder', 'kind', 'env', 'start_response', 'started',
                 'bytes_read', 'statsd_samples', 'finished', 'greenlet',
                 'status', 'disk_ops', 'tpool_seconds',
                 # event-loop accounting (see eventloop)
                 'running', 'client_wait', 'hub_wait', 'tpool_wait',
                 'switched_at', 'idle_mark', 'tpool_called', 'tpool_done',
                 'slice_mark')

    def __init__(self, recorder, kind, env, start_response=None):
        self.recorder = recorder
        self.kind = kind
        self.env = env
        self.start_response = start_response
        self.started = _monotonic()
        self.bytes_read = 0
        # hub_wait is read around every body read, for the slow-read line
        self.hub_wait = self.tpool_seconds = 0.0
        self.statsd_samples = [] if recorder.statsd else None
        self.finished = False
        self.status = None
        # [(op, seconds)], recorded when it ends; see diskfile_hooks
        self.disk_ops = []
        self.greenlet = _getcurrent()
        register(self, self.greenlet)
        if recorder.phases:
            # The rest of the event-loop accounting state exists only
            # when the accounting runs: nothing else reads it.
            self.switched_at = self.started
            self.running = self.client_wait = self.tpool_wait = \
                self.idle_mark = 0.0
            self.tpool_called = self.tpool_done = None
            self.slice_mark = 0

    def __call__(self, status, *headers_and_exc_info):
        """Swift's start_response: note the status, pass the call on."""
        self.status = status
        return self.start_response(status, *headers_and_exc_info)

    def finish(self):
        """Called when Swift is done with the request; counts it once, with
        the status Swift started its response with.  Never raises."""
        if self.finished:
            return
        self.finished = True
        try:
            unregister(self, self.greenlet)
            now = _monotonic()
            recorder = self.recorder
            if recorder.phases:
                self.running += now - self.switched_at
            recorder.finish_request(self, now - self.started)
        except Exception:
            self.recorder.error('request')
        finally:
            # The environment holds our TimedInput, which holds this
            # context: without this, every request's objects (its
            # DiskFile, buffers, environment) would wait for the cyclic GC
            # instead of going the moment Swift drops them.
            self.env = _NO_ENV
            self.start_response = None


def _finish_failed(ctx, exc):
    """The C Context could not record its request."""
    ctx.recorder.error('request', 'cannot record a request: %r' % (exc,))


if native is None:
    RequestContext = PyRequestContext
else:
    native.configure_context(active, _getcurrent, _NO_ENV, _finish_failed)

    class RequestContext(RequestFacts, native.Context):
        __slots__ = ()
        __doc__ = PyRequestContext.__doc__
