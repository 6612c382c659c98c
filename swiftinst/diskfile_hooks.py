"""Timing hooks in ``swift.obj.diskfile``, installed once per process.

Two kinds of code run a PUT's disk work:

* the greenthread, on the eventlet hub: ``DiskFileWriter.open()`` (temp
  file, makedirs, fallocate), ``write()`` and ``DiskFile.open()`` (listdir
  plus getxattr).  These are timed directly and recorded at once.
* a native tpool thread: ``_finalize_put`` (write_metadata, fsync, rename
  or linkat, fsync_dir), ``_finalize_durable`` for EC, and the periodic
  ``fdatasync``.  A native thread must never touch a metric, statsd or
  anything that may take a green lock: that hangs the worker.  So the
  module-level helpers append ``(op, seconds)`` to a plain list keyed by the
  native thread, and the ``tpool`` shim below hands that list back to the
  greenthread after ``tpool.execute`` returns, where it is recorded.

Hooks replace attributes of ``swift.obj.diskfile`` and its classes;
``uninstall()`` puts the originals back.  A hook point missing in some Swift
release is reported by ``install()`` and skipped.
"""

import functools
import os
import time

import greenlet
from eventlet import patcher

from swiftinst import context

_monotonic = time.monotonic
_native_ident = patcher.original('_thread').get_ident

# The installed recorder; None disables recording but keeps the hooks.
_recorder = None
# native thread ident -> list of (op, seconds) filled inside tpool.
_native_buffers = {}
# greenlet -> [writer, seconds spent in tpool] while DiskFileWriter.write
# runs, so that write time excludes its periodic fdatasync.
_writing = {}
# (owner, attribute name) -> original value, for uninstall().
_originals = {}


def labels_of(obj):
    """(device, policy) labels for a diskfile, a writer or a manager's
    bound method owner; None when the object does not say."""
    diskfile = getattr(obj, '_diskfile', obj)
    device_path = getattr(diskfile, '_device_path', None)
    policy = getattr(diskfile, 'policy', None)
    if device_path is None or policy is None:
        return None
    recorder = _recorder
    label_policy = getattr(recorder, 'labels', None)
    device = os.path.basename(device_path)
    policy = str(int(policy))
    if label_policy is not None:
        device = label_policy.device(device)
        policy = label_policy.policy(policy)
    return device, policy


def _record(op, labels, seconds):
    """Record one disk op on the hub, through the request if there is one."""
    recorder = _recorder
    if recorder is None:
        return
    try:
        ctx = context.current()
        if labels is None:
            if ctx is None:
                return
            labels = (ctx.device, ctx.policy)
        if ctx is not None:
            ctx.on_disk_op(op, labels[0], labels[1], seconds)
        else:
            recorder.disk_op(op, labels[0], labels[1], seconds)
    except Exception:
        recorder.error('diskfile')


# -- helpers called inside swift.obj.diskfile ----------------------------

def _timed_helper(op, func):
    """Wrap a module-level helper that may run in a native thread."""

    @functools.wraps(func)
    def timed(*args, **kwargs):
        buffer = _native_buffers.get(_native_ident())
        started = _monotonic()
        try:
            return func(*args, **kwargs)
        finally:
            seconds = _monotonic() - started
            if buffer is not None:
                buffer.append((op, seconds))
            elif _recorder is not None and _native_ident() == _hub_ident:
                _record(op, None, seconds)
    return timed


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
        timings = []
        called = _monotonic()

        def in_native_thread():
            ident = _native_ident()
            timings.append(('tpool_wait', _monotonic() - called))
            _native_buffers[ident] = timings
            try:
                return func(*args, **kwargs)
            finally:
                _native_buffers.pop(ident, None)

        try:
            return self._real.execute(in_native_thread)
        finally:
            self._flush(func, timings, _monotonic() - called)

    @staticmethod
    def _flush(func, timings, elapsed):
        scope = _writing.get(greenlet.getcurrent())
        if scope is not None:
            scope[1] += elapsed
        owner = getattr(func, '__self__', None)
        labels = labels_of(owner) if owner is not None else None
        if labels is None and scope is not None:
            labels = labels_of(scope[0])
        for op, seconds in timings:
            _record(op, labels, seconds)


# -- methods that run on the hub -----------------------------------------

def _timed_method(op, method):
    @functools.wraps(method)
    def timed(self, *args, **kwargs):
        started = _monotonic()
        try:
            return method(self, *args, **kwargs)
        finally:
            if _recorder is not None:
                _record(op, labels_of(self), _monotonic() - started)
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
            _record('write', labels_of(self),
                    _monotonic() - started - scope[1])
    return timed


_hub_ident = None

# (module attribute or class method, op name, wrapper factory)
_HELPERS = (
    ('write_metadata', 'xattr_write'),
    ('fsync', 'fsync'),
    ('fdatasync', 'fdatasync'),
    ('renamer', 'rename'),
    ('link_fd_to_path', 'linkat'),
    ('fsync_dir', 'dir_fsync'),
)
_METHODS = (
    ('BaseDiskFileWriter', 'open', lambda m: _timed_method('open', m)),
    ('BaseDiskFileWriter', 'write', _timed_write),
    ('BaseDiskFile', 'open', lambda m: _timed_method('metadata_read', m)),
)


def _replace(owner, name, new):
    _originals[(owner, name)] = owner.__dict__[name] \
        if isinstance(owner, type) else getattr(owner, name)
    setattr(owner, name, new)


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
        _replace(diskfile, name, _timed_helper(op, getattr(diskfile, name)))
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
    _native_buffers.clear()
    _writing.clear()


def installed():
    return bool(_originals)
