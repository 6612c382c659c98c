"""Timing hooks in ``swift.obj.diskfile``, installed once per process.

Two kinds of code run a PUT's disk work:

* the greenthread, on the eventlet hub: ``DiskFileWriter.open()`` (temp
  file, makedirs, fallocate), ``write()`` and ``DiskFile.open()`` (listdir
  plus getxattr).  These are timed directly; the timings go to the
  request, which records them in one batch when it ends.
* a native tpool thread: ``_finalize_put`` (write_metadata, fsync, rename
  or linkat, fsync_dir), ``_finalize_durable`` for EC, and the periodic
  ``fdatasync``.  A native thread must never touch a metric, statsd or
  anything that may take a green lock: that hangs the worker.  So the
  module-level helpers append ``(op, seconds)`` to a plain list found
  through a native thread-local, and the ``tpool`` shim below hands that
  list to the greenthread after ``tpool.execute`` returns.

Hooks replace attributes of ``swift.obj.diskfile`` and its classes;
``uninstall()`` puts the originals back.  A hook point missing in some Swift
release is reported by ``install()`` and skipped.
"""

import functools
import time

import greenlet
from eventlet import patcher

from swiftinst import context

_monotonic = time.monotonic
_native_ident = patcher.original('_thread').get_ident

# The installed recorder; None disables recording but keeps the hooks.
_recorder = None
# .scope: the _NativeScope a tpool thread is filling.  A real (not green)
# thread-local: the threads are native.
_native_local = patcher.original('_thread')._local()
# greenlet -> [writer, seconds spent in tpool] while DiskFileWriter.write
# runs, so that write time excludes its periodic fdatasync.
_writing = {}
# (owner, attribute name) -> original value, for uninstall().
_originals = {}
# The hub thread's ident: helpers called there outside tpool are timed too.
_hub_ident = None


def _note(timings, owner, current=None):
    """Hand ``[(op, seconds)]`` done on behalf of ``owner`` (a writer or
    diskfile, or None for "the request's device") to the running request,
    which records all of them in one batch when it ends; outside any
    request, record them now."""
    ctx = context.active_get(current or greenlet.getcurrent())
    if ctx is not None:
        ctx.disk_batches.append((owner, timings))
        return
    recorder = _recorder
    if recorder is not None and owner is not None:
        try:
            target = recorder.target_of(owner)
            if target is not None:
                recorder.disk_ops(timings, target)
        except Exception:
            recorder.error('diskfile')


# -- helpers called inside swift.obj.diskfile ----------------------------

def _timed_helper(op, func):
    """Wrap a module-level helper that may run in a native thread.

    Helpers nest (``renamer`` and ``link_fd_to_path`` call ``fsync_dir``):
    an outer op is charged only its own time, so the ops of one PUT add up
    to the time spent, never more.
    """

    @functools.wraps(func)
    def timed(*args, **kwargs):
        scope = getattr(_native_local, 'scope', None)
        if scope is not None:
            scope.nested.append(0.0)
        started = _monotonic()
        try:
            return func(*args, **kwargs)
        finally:
            seconds = _monotonic() - started
            if scope is not None:
                own = seconds - scope.nested.pop()
                scope.timings.append((op, own))
                if scope.nested:
                    scope.nested[-1] += seconds
            elif _recorder is not None and _native_ident() == _hub_ident:
                _note(((op, seconds),), None)
    return timed


class _NativeScope(object):
    """What one tpool call collects: plain lists, no locks."""

    __slots__ = ('timings', 'nested')

    def __init__(self):
        self.timings = []
        self.nested = []


class TimedTpool(object):
    """Stands in for ``tpool`` inside swift.obj.diskfile.

    Measures the queueing delay (``tpool_wait``) and carries the buffered
    timings from the native thread back to the greenthread.
    """

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def execute(self, func, *args, **kwargs):
        if _recorder is None:
            return self._real.execute(func, *args, **kwargs)
        scope = _NativeScope()
        called = _monotonic()

        def in_native_thread():
            scope.timings.append(('tpool_wait', _monotonic() - called))
            _native_local.scope = scope
            try:
                return func(*args, **kwargs)
            finally:
                _native_local.scope = None

        try:
            return self._real.execute(in_native_thread)
        finally:
            current = greenlet.getcurrent()
            writing = _writing.get(current)
            if writing is not None:
                # a periodic fdatasync inside DiskFileWriter.write()
                writing[1] += _monotonic() - called
                owner = writing[0]
            else:
                owner = getattr(func, '__self__', None)
                if not hasattr(owner, '_diskfile'):
                    owner = None      # a manager: the request's device
            _note(scope.timings, owner, current)


# -- methods that run on the hub -----------------------------------------

def _timed_method(op, method):
    @functools.wraps(method)
    def timed(self, *args, **kwargs):
        started = _monotonic()
        try:
            return method(self, *args, **kwargs)
        finally:
            if _recorder is not None:
                _note(((op, _monotonic() - started),), self)
    return timed


def _timed_write(method):
    @functools.wraps(method)
    def timed(self, *args, **kwargs):
        if _recorder is None:
            return method(self, *args, **kwargs)
        current = greenlet.getcurrent()
        scope = _writing[current] = [self, 0.0]
        started = _monotonic()
        try:
            return method(self, *args, **kwargs)
        finally:
            _writing.pop(current, None)
            _note((('write', _monotonic() - started - scope[1]),), self,
                  current)
    return timed


# swift.obj.diskfile's module-level helpers and the op each one is.
_HELPERS = (
    ('write_metadata', 'xattr_write'),
    ('fsync', 'fsync'),
    ('fdatasync', 'fdatasync'),
    ('renamer', 'rename'),
    ('link_fd_to_path', 'linkat'),
    ('fsync_dir', 'dir_fsync'),
)
# Helpers that fsync directories themselves, through their own module's
# fsync_dir.
_FSYNCING_DIRS = ('renamer', 'link_fd_to_path')
_METHODS = (
    ('BaseDiskFileWriter', 'open', lambda m: _timed_method('open', m)),
    ('BaseDiskFileWriter', 'write', _timed_write),
    ('BaseDiskFile', 'open', lambda m: _timed_method('metadata_read', m)),
)


def _replace(owner, name, new):
    _originals[(owner, name)] = owner.__dict__[name] \
        if isinstance(owner, type) else getattr(owner, name)
    setattr(owner, name, new)


class _Globals(object):
    """A function's module globals, as something _replace can patch."""

    def __init__(self, namespace):
        self.namespace = namespace

    def __getattr__(self, name):
        try:
            return self.namespace[name]
        except KeyError:
            raise AttributeError(name)

    def __setattr__(self, name, value):
        if name == 'namespace':
            object.__setattr__(self, name, value)
        else:
            self.namespace[name] = value


def _hook_nested_fsync_dir(helper, diskfile):
    """renamer and link_fd_to_path fsync directories through the
    ``fsync_dir`` of the module they are defined in; time those calls as
    dir_fsync too."""
    namespace = getattr(helper, '__globals__', None)
    if namespace is None or namespace is vars(diskfile) or \
            not callable(namespace.get('fsync_dir')):
        return
    owner = _Globals(namespace)
    if any(isinstance(o, _Globals) and o.namespace is namespace
           for o, _ in _originals):
        return
    _replace(owner, 'fsync_dir',
             _timed_helper('dir_fsync', namespace['fsync_dir']))


def install(recorder):
    """Point the hooks at ``recorder``; patch diskfile the first time.

    Returns the names of hook points this Swift does not have, so the
    caller can say once which timings are unavailable.
    """
    global _recorder, _hub_ident
    _hub_ident = _native_ident()
    _recorder = recorder
    if _originals:
        return []
    from swift.obj import diskfile
    missing = []
    for name, op in _HELPERS:
        if not callable(getattr(diskfile, name, None)):
            missing.append(name)
            continue
        helper = getattr(diskfile, name)
        _replace(diskfile, name, _timed_helper(op, helper))
        if name in _FSYNCING_DIRS:
            _hook_nested_fsync_dir(helper, diskfile)
    if hasattr(getattr(diskfile, 'tpool', None), 'execute'):
        _replace(diskfile, 'tpool', TimedTpool(diskfile.tpool))
    else:
        missing.append('tpool')
    for class_name, method_name, factory in _METHODS:
        cls = getattr(diskfile, class_name, None)
        if cls is None or method_name not in cls.__dict__:
            missing.append('%s.%s' % (class_name, method_name))
            continue
        _replace(cls, method_name, factory(cls.__dict__[method_name]))
    return missing


def uninstall():
    """Restore swift.obj.diskfile exactly as it was (for tests)."""
    global _recorder
    _recorder = None
    for (owner, name), original in _originals.items():
        setattr(owner, name, original)
    _originals.clear()
    _writing.clear()
