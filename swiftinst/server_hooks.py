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

"""Timing hooks in ``swift.obj.server``: container updates, the expirer
queue and EC's commit wait, installed once per process.

After a PUT, POST or DELETE has written its object, Swift tells the
container servers:

* ``container_update`` spawns one greenthread per container replica,
  each running ``async_update``, and waits for them up to
  ``container_update_timeout`` (1 s).  An update that takes longer goes
  on after the request has returned, up to ``node_timeout``;
* ``delete_at_update`` (an object with ``X-Delete-At``) calls
  ``async_update`` itself, in the request's own greenthread, once per
  ``X-Delete-At-Host``: no timeout caps that wait but each update's own;
* an update that fails is saved by ``pickle_async_update`` for the
  object-updater (see diskfile_hooks: the op ``async_pending``).

The request's wait is its phase ``container_wait``: the hooks here only
tell the switch trace what the request waits for
(``RequestContext.awaiting``) and, for spawned updates, when the last one
ended.  Each ``async_update`` is a ``ContainerUpdate``: its target, its
outcome (``ok``, ``error`` or ``timeout``, told by the connection it
makes through ``http_connect``) and seconds, recorded when it ends, even
after its request.

An EC PUT, once its fragment is written, reads the proxy's commit message
(``_read_put_commit_message``).  The proxy sends it once enough of the
other fragments' servers have written theirs: a wait for peers
(``commit_wait``), not for the client, and not a body read.

Swift's calls pass through every wrapper here, so this module is never
compiled (see transparent).
"""

import functools
import time
import weakref

from swiftinst import context, hub
from swiftinst.context import AWAIT_COMMIT, AWAIT_CONTAINER, AWAIT_UPDATES
from swiftinst.patching import Patches
from swiftinst.transparent import drop_own_frame

_monotonic = time.monotonic
_getcurrent = hub.getcurrent
_active_get = context.active_get

# The installed recorder; None disables recording but keeps the hooks.
_recorder = None
# spawned update greenthread -> the RequestContext that spawned it, until
# the update starts
_spawned_by = weakref.WeakKeyDictionary()
# what install() replaced, for uninstall()
_patches = Patches()


class ContainerUpdate(object):
    """One ``async_update``: what a log line, a hub block and the
    container-update histogram say of it.
    """

    __slots__ = ('parent', 'target', 'method', 'device', 'txn_id',
                 'started', 'seconds', 'failure', 'connected', 'pickled',
                 'pickle_seconds', '__weakref__')

    def __init__(self, parent, host, contdevice):
        # the request that started it, while the update runs
        self.parent = parent
        self.target = '%s/%s' % (host, contdevice) if host else None
        # captured now: the request may be gone when the update ends
        if parent is not None:
            self.method = parent.method
            self.device = parent.device
            self.txn_id = parent.txn_id
        else:
            self.method = self.device = self.txn_id = None
        self.started = _monotonic()
        self.seconds = None
        # 'timeout' or 'error', from the connection's exception
        self.failure = None
        # whether it reached http_connect, and wrote an async pending
        self.connected = self.pickled = False
        self.pickle_seconds = 0.0

    @property
    def outcome(self):
        """ok, error or timeout; None if it never tried a container server
        (a DELETE's expirer-queue entry goes straight to async pending).
        """
        if not self.connected:
            return None
        if self.pickled:
            return self.failure or 'error'
        return 'ok'

    def describe(self):
        """'127.0.0.1:6201/sdb timeout 3.002s', or 'pending 1.001s'."""
        if self.seconds is None:
            return '%s pending %.3fs' % (self.target or '-',
                                         _monotonic() - self.started)
        return '%s %s %.3fs' % (self.target or '-',
                                self.outcome or 'async_pending',
                                self.seconds)


def _failure(exc):
    return 'timeout' if isinstance(exc, hub.Timeout) else 'error'


class _WatchedConnection(object):
    """The connection ``http_connect`` made for an update: its
    ``getresponse`` tells the update's failure, if any.
    """

    __slots__ = ('_conn', '_update')

    def __init__(self, conn, update):
        self._conn = conn
        self._update = update

    def getresponse(self):
        try:
            return self._conn.getresponse()
        except BaseException as exc:
            self._update.failure = _failure(exc)
            drop_own_frame(exc)
            raise

    def __getattr__(self, name):
        return getattr(self._conn, name)


def _timed_connect(real):
    @functools.wraps(real)
    def http_connect(*args, **kwargs):
        update = context.update_of(_getcurrent())
        if update is None:
            try:
                return real(*args, **kwargs)
            except BaseException as exc:
                drop_own_frame(exc)
                raise
        update.connected = True
        try:
            conn = real(*args, **kwargs)
        except BaseException as exc:
            update.failure = _failure(exc)
            drop_own_frame(exc)
            raise
        return _WatchedConnection(conn, update)
    return http_connect


def _counting_spawn(real):
    """swift.obj.server's ``spawn``: an update spawned by a request is
    one more that the request waits for.
    """
    @functools.wraps(real)
    def spawn(func, *args, **kwargs):
        gt = real(func, *args, **kwargs)
        try:
            ctx = _active_get(_getcurrent()) if _recorder is not None \
                else None
            if ctx is not None:
                _spawned_by[gt] = ctx
                ctx.updates_pending += 1
        except Exception:
            _recorder.error('server')
        return gt
    return spawn


def _timed_update(method):
    """ObjectController.async_update: one ContainerUpdate."""
    @functools.wraps(method)
    def async_update(self, op, account, container, obj, host, partition,
                     contdevice, *args, **kwargs):
        recorder = _recorder
        if recorder is None:
            try:
                return method(self, op, account, container, obj, host,
                              partition, contdevice, *args, **kwargs)
            except BaseException as exc:
                drop_own_frame(exc)
                raise
        current = _getcurrent()
        inline = _active_get(current)
        parent = inline if inline is not None else _spawned_by.pop(
            current, None)
        update = ContainerUpdate(parent, host, contdevice)
        context.start_update(current, update)
        if parent is not None:
            if parent.updates is None:
                parent.updates = []
            parent.updates.append(update)
        try:
            return method(self, op, account, container, obj, host,
                          partition, contdevice, *args, **kwargs)
        except BaseException as exc:
            drop_own_frame(exc)
            raise
        finally:
            now = _monotonic()
            update.seconds = now - update.started
            update.parent = None
            if inline is not None:
                # the request's own greenthread goes on
                context.end_update(current)
            elif parent is not None:
                parent.updates_pending -= 1
                parent.updates_done = now
            try:
                recorder.container_update(update)
            except Exception:
                recorder.error('server')
    return async_update


def _awaiting(what, method):
    """A method of the ObjectController during which the request's
    greenthread waits for ``what`` (a context.AWAIT_*).
    """
    @functools.wraps(method)
    def waiting(self, *args, **kwargs):
        ctx = _active_get(_getcurrent()) if _recorder is not None else None
        if ctx is None:
            try:
                return method(self, *args, **kwargs)
            except BaseException as exc:
                drop_own_frame(exc)
                raise
        before = ctx.awaiting
        ctx.awaiting = what
        try:
            return method(self, *args, **kwargs)
        except BaseException as exc:
            drop_own_frame(exc)
            raise
        finally:
            ctx.awaiting = before
    return waiting


# ObjectController's methods and their wrappers.
_METHODS = (
    ('ObjectController', 'async_update', _timed_update),
    ('ObjectController', 'container_update',
     functools.partial(_awaiting, AWAIT_UPDATES)),
    ('ObjectController', 'delete_at_update',
     functools.partial(_awaiting, AWAIT_CONTAINER)),
    ('ObjectController', '_read_put_commit_message',
     functools.partial(_awaiting, AWAIT_COMMIT)),
)
# swift.obj.server's module globals and their wrappers.
_GLOBALS = (
    ('spawn', _counting_spawn),
    ('http_connect', _timed_connect),
)


def install(recorder):
    """Point the hooks at ``recorder``; patch swift.obj.server the first
    time.  Returns the names of hook points this Swift does not have.
    """
    global _recorder
    _recorder = recorder
    if _patches:
        return []
    from swift.obj import server
    missing = []
    for name, wrap in _GLOBALS:
        real = getattr(server, name, None)
        if not callable(real):
            missing.append('swift.obj.server.%s' % name)
            continue
        _patches.replace(server, name, wrap(real))
    return missing + _patches.wrap_methods(server, _METHODS)


def uninstall():
    """Restore swift.obj.server exactly as it was (for tests)."""
    global _recorder
    _recorder = None
    _patches.restore()
