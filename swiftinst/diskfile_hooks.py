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

"""Timing hooks in ``swift.obj.diskfile``, installed once per process.

Two kinds of code run a request's disk work:

* the greenthread, on the eventlet hub: ``DiskFileWriter.open()`` (temp
  file, makedirs, fallocate), ``write()``, ``DiskFile.open()`` (listdir
  plus getxattr), each chunk a ``DiskFileReader`` reads, the async
  pending a failed container update writes, an SSYNC's wait for the
  replication lock.  These are timed directly.
* a native tpool thread: ``_finalize_put`` (write_metadata, fsync, the
  cache drop, ``invalidate_hash`` under the partition lock, rename or
  linkat, fsync_dir, the cleanup of older files), ``_finalize_durable``
  for EC, and the periodic ``fdatasync``.  A native thread must never
  touch a metric, statsd or anything that may take a green lock: that
  hangs the worker.  So the helpers only append to the request's list of
  disk ops, found through a native thread-local.

Either way a timing is one ``(op, seconds)`` added to the running
request's disk ops (from a tpool thread while the greenthread waits for
it); the request records them on the hub when it ends, under its own
device and policy.  Work done outside any request is recorded as soon as
it is done, under the device of the diskfile it was done for.

Hooks replace attributes of ``swift.obj.diskfile`` and its classes (see
patching); ``uninstall()`` puts the originals back.  A hook point missing
in some Swift release is reported by ``install()`` and skipped.
"""

import functools
import time

from swiftinst import context, hub
from swiftinst.context import append_own
from swiftinst.patching import Globals, Patches
from swiftinst.transparent import drop_own_frame

_monotonic = time.monotonic
_getcurrent = hub.getcurrent
_active_get = context.active_get

# The installed recorder; None disables recording but keeps the hooks.
_recorder = None
# .ops: the list a tpool thread appends its timings to.  A real (not
# green) thread-local: the threads are native.
_native_local = hub.native_local()
# greenlet -> _Detached, while a DiskFileWriter.write outside any request
# runs: what TimedTpool needs of a request context.
_detached = {}
# what install() replaced, for uninstall()
_patches = Patches()


def _record_detached(ops, diskfile):
    """Record ``[(op, seconds)]`` done outside any request: the diskfile
    names the device, if there is one.
    """
    recorder = _recorder
    if recorder is not None and diskfile is not None:
        try:
            recorder.detached_disk_ops(ops, diskfile)
        except Exception:
            recorder.error('diskfile')


# -- helpers called inside swift.obj.diskfile ----------------------------

def _timed_helper(op, func, nesting=False, on_hub=True):
    """Wrap a module-level helper (or a method) that may run in a native
    thread.

    A ``nesting`` op is charged only its own time (see append_own).  One
    that is not timed ``on_hub`` is, there, part of the op that called it
    (``drop_buffer_cache`` in a write or a read).
    """
    @functools.wraps(func)
    def timed(*args, **kwargs):
        # first: the wrapper's own cost is part of the op it times
        started = _monotonic()
        try:
            ops = _native_local.ops
        except AttributeError:
            ops = None
        if ops is None:
            try:
                if not on_hub:
                    return func(*args, **kwargs)
                return _timed_outside_tpool(op, func, nesting, *args,
                                            **kwargs)
            except BaseException as exc:
                drop_own_frame(exc)
                raise
        ctx = _native_local.ctx
        if ctx is None:
            # a writer's _finalize_put outside any request
            mark = len(ops)
            try:
                return func(*args, **kwargs)
            except BaseException as exc:
                drop_own_frame(exc)
                raise
            finally:
                if nesting:
                    append_own(ops, op, mark, _monotonic() - started)
                else:
                    ops.append((op, _monotonic() - started))
        ctx.op_begin(op)
        try:
            return func(*args, **kwargs)
        except BaseException as exc:
            drop_own_frame(exc)
            raise
        finally:
            ctx.op_end(op, nesting, 0.0)
    return timed


def _timed_outside_tpool(op, func, nesting, *args, **kwargs):
    """A helper called without tpool: timed if on the hub inside a
    request, else untouched (some other native thread of ours or Swift's;
    without a diskfile, work outside a request has no device).
    """
    try:
        ctx = None if _recorder is None or not hub.on_hub_thread() \
            else _active_get(_getcurrent())
        if ctx is None:
            return func(*args, **kwargs)
        ctx.op_begin(op)
        try:
            return func(*args, **kwargs)
        finally:
            ctx.op_end(op, nesting, 0.0)
    except BaseException as exc:
        drop_own_frame(exc)
        raise


def _in_native_thread(ops, ctx, called, func, args, kwargs):
    """What a tpool thread runs: ``func``, with the helpers it calls
    appending to ``ops`` and moving the record of the request ``ctx``
    (None outside a request) from step to step: its greenthread is
    parked until this returns, so nothing else writes it meanwhile.
    """
    ops.append(('tpool_wait', _monotonic() - called))
    _native_local.ops = ops
    _native_local.ctx = ctx
    try:
        return func(*args, **kwargs)
    except BaseException as exc:
        drop_own_frame(exc)
        raise
    finally:
        _native_local.ops = _native_local.ctx = None


class TimedTpool(object):
    """Stands in for ``tpool`` inside swift.obj.diskfile.

    Measures the queueing delay (``tpool_wait``) and lets the helpers
    called in the native thread record into the request's disk ops.
    """

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def execute(self, func, *args, **kwargs):
        try:
            if _recorder is None:
                return self._real.execute(func, *args, **kwargs)
            current = _getcurrent()
            ctx = _active_get(current)
            holder = ctx or _detached.get(current)
            ops = [] if holder is None else holder.disk_ops
            called = _monotonic()
            try:
                return self._real.execute(_in_native_thread, ops, ctx,
                                          called, func, args, kwargs)
            finally:
                if holder is None:
                    # a writer's _finalize_put outside any request
                    _record_detached(ops, getattr(
                        getattr(func, '__self__', None), '_diskfile', None))
                else:
                    holder.tpool_seconds += _monotonic() - called
        except BaseException as exc:
            drop_own_frame(exc)
            raise


# -- methods that run on the hub -----------------------------------------

def _record_method_detached(of_writer, op, seconds, instance):
    """A hub method's timing outside any request: the DiskFile, or the
    DiskFileWriter's ``_diskfile``, names the device.
    """
    _record_detached([(op, seconds)], getattr(
        instance, '_diskfile', None) if of_writer else instance)


def _timed_method(op, method, of_writer):
    """Time ``method`` of a DiskFile, or of a DiskFileWriter (``of_writer``)
    whose ops are then charged to its ``_diskfile``; less the ops it
    nests (see append_own).
    """
    @functools.wraps(method)
    def timed(self, *args, **kwargs):
        ctx = None if _recorder is None else _active_get(_getcurrent())
        if ctx is None:
            started = _monotonic()
            try:
                return method(self, *args, **kwargs)
            except BaseException as exc:
                drop_own_frame(exc)
                raise
            finally:
                if _recorder is not None:
                    _record_method_detached(of_writer, op,
                                            _monotonic() - started, self)
        ctx.op_begin(op)
        try:
            return method(self, *args, **kwargs)
        except BaseException as exc:
            drop_own_frame(exc)
            raise
        finally:
            ctx.op_end(op, True, 0.0)
    return timed


def _read_detached(started, reader):
    """A read that began at ``started`` outside any request has ended:
    recorded for ``reader``'s device.
    """
    if _recorder is not None:
        _record_method_detached(True, 'read', _monotonic() - started, reader)


def _timed_reads(method):
    """BaseDiskFileReader's generator of chunks (``_inner_iter``, or
    ``__iter__`` where that is the generator): each chunk it reads from
    the data file is a ``read``, from the moment it is asked for to the
    moment it is yielded; the time the caller spends sending it is not.
    """
    @functools.wraps(method)
    def chunks_read(self):
        chunks = method(self)
        if _recorder is None:
            return chunks
        return _timed_chunks(chunks, self)
    return chunks_read


def _timed_chunks(chunks, reader):
    # a reader is iterated by its request's greenthread: one look-up
    ctx = _active_get(_getcurrent())
    try:
        while True:
            if ctx is None:
                started = _monotonic()
                try:
                    chunk = next(chunks)
                except StopIteration:
                    # the read that found the end of the file
                    _read_detached(started, reader)
                    return
                _read_detached(started, reader)
            else:
                ctx.op_begin('read')
                try:
                    chunk = next(chunks)
                except StopIteration:
                    return
                finally:
                    # (the end of the file too)
                    ctx.op_end('read', True, 0.0)
            yield chunk
    except BaseException as exc:
        drop_own_frame(exc)
        raise
    finally:
        chunks.close()


def _timed_pickle(method):
    """BaseDiskFileManager.pickle_async_update: the op ``async_pending``,
    its fsyncs included, on the hub: in the request's own greenthread
    (delete_at_update) or in a container update's.
    """
    @functools.wraps(method)
    def pickle_async_update(self, device, account, container, obj, data,
                            timestamp, policy, *args, **kwargs):
        recorder = _recorder
        if recorder is None or not hub.on_hub_thread():
            try:
                return method(self, device, account, container, obj, data,
                              timestamp, policy, *args, **kwargs)
            except BaseException as exc:
                drop_own_frame(exc)
                raise
        current = _getcurrent()
        ctx = _active_get(current)
        mark = 0 if ctx is None else len(ctx.disk_ops)
        started = _monotonic()
        try:
            return method(self, device, account, container, obj, data,
                          timestamp, policy, *args, **kwargs)
        except BaseException as exc:
            drop_own_frame(exc)
            raise
        finally:
            seconds = _monotonic() - started
            if ctx is not None:
                # its own fsyncs are part of it
                del ctx.disk_ops[mark:]
            update = context.update_of(current)
            if update is not None:
                update.pickled = True
                update.pickle_seconds += seconds
            try:
                recorder.async_pending(device, policy, seconds, ctx)
            except Exception:
                recorder.error('diskfile')
    return pickle_async_update


class _TimedLock(object):
    """A lock's context manager whose ``__enter__`` (the wait for the
    lock) is the request's op ``op``.
    """

    __slots__ = ('_lock', '_op')

    def __init__(self, lock, op):
        self._lock = lock
        self._op = op

    def __enter__(self):
        ctx = _active_get(_getcurrent()) if _recorder is not None else None
        if ctx is not None:
            ctx.op_begin(self._op)
        try:
            return self._lock.__enter__()
        except BaseException as exc:
            drop_own_frame(exc)
            raise
        finally:
            if ctx is not None:
                ctx.op_end(self._op, True, 0.0)

    def __exit__(self, *exc_info):
        try:
            return self._lock.__exit__(*exc_info)
        except BaseException as exc:
            drop_own_frame(exc)
            raise


def _timed_lock(op):
    def wrap(method):
        @functools.wraps(method)
        def locking(self, *args, **kwargs):
            try:
                return _TimedLock(method(self, *args, **kwargs), op)
            except BaseException as exc:
                drop_own_frame(exc)
                raise
        return locking
    return wrap


def _timed_write(method):
    """DiskFileWriter.write, less the fdatasync it may do through tpool."""
    @functools.wraps(method)
    def timed(self, *args, **kwargs):
        if _recorder is None:
            try:
                return method(self, *args, **kwargs)
            except BaseException as exc:
                drop_own_frame(exc)
                raise
        current = _getcurrent()
        ctx = _active_get(current)
        if ctx is None:
            try:
                return _write_detached(method, current, self, *args,
                                       **kwargs)
            except BaseException as exc:
                drop_own_frame(exc)
                raise
        in_tpool_before = ctx.tpool_seconds
        ctx.op_begin('write')
        try:
            return method(self, *args, **kwargs)
        except BaseException as exc:
            drop_own_frame(exc)
            raise
        finally:
            ctx.op_end('write', False, ctx.tpool_seconds - in_tpool_before)
    return timed


def _write_detached(method, current, writer, *args, **kwargs):
    """A DiskFileWriter.write outside any request (replication): its
    greenthread is a _Detached holder while it runs, for TimedTpool.
    """
    holder = _detached[current] = _Detached()
    started = _monotonic()
    try:
        return method(writer, *args, **kwargs)
    except BaseException as exc:
        drop_own_frame(exc)
        raise
    finally:
        holder.disk_ops.append(('write', _monotonic() - started -
                                holder.tpool_seconds))
        del _detached[current]
        _record_detached(holder.disk_ops,
                         getattr(writer, '_diskfile', None))


class _Detached(object):
    """What TimedTpool needs of a RequestContext, for a write outside any
    request.
    """

    __slots__ = ('disk_ops', 'tpool_seconds')

    def __init__(self):
        self.disk_ops = []
        self.tpool_seconds = 0.0


# swift.obj.diskfile's module-level helpers and the op each one is.
_HELPERS = (
    ('write_metadata', 'xattr_write'),
    ('fsync', 'fsync'),
    ('fdatasync', 'fdatasync'),
    ('drop_buffer_cache', 'drop_cache'),
    ('invalidate_hash', 'partition_lock'),
    ('renamer', 'rename'),
    ('link_fd_to_path', 'linkat'),
    # a partition power increase links each new object into its next
    # partition too
    ('relink_paths', 'linkat'),
    ('fsync_dir', 'dir_fsync'),
)
# Helpers that fsync directories themselves, through their own module's
# fsync_dir.
_FSYNCING_DIRS = ('renamer', 'link_fd_to_path', 'relink_paths')
# Helpers timed only in tpool threads: on the hub, part of their caller.
_TPOOL_ONLY = ('drop_buffer_cache',)


def _timed_static(op):
    def wrap(function):
        return staticmethod(_timed_helper(op, function.__func__))
    return wrap


def _timed_in_thread(op, nesting=False):
    return lambda method: _timed_helper(op, method, nesting)


# (class, method, wrapper factory)
_METHODS = (
    ('BaseDiskFileWriter', 'open',
     lambda m: _timed_method('open', m, of_writer=True)),
    ('BaseDiskFileWriter', 'write', _timed_write),
    ('BaseDiskFile', 'open',
     lambda m: _timed_method('metadata_read', m, of_writer=False)),
    # Swift 2.29's reader is its own __iter__; later ones wrap
    # _inner_iter in a CooperativeIterator, whose sleeps are no read
    ('BaseDiskFileReader', ('_inner_iter', '__iter__'), _timed_reads),
    ('BaseDiskFileManager', 'pickle_async_update', _timed_pickle),
    # _finalize_put's call, through the manager
    ('BaseDiskFileManager', 'invalidate_hash',
     _timed_static('partition_lock')),
    ('BaseDiskFileManager', 'cleanup_ondisk_files',
     _timed_in_thread('cleanup')),
    ('BaseDiskFileManager', 'replication_lock',
     _timed_lock('replication_lock')),
    # EC's durable rename: its own time, less the fsync_dir and cleanup
    ('ECDiskFileWriter', '_finalize_durable',
     _timed_in_thread('rename', nesting=True)),
)


def _hook_nested_fsync_dir(helper, diskfile):
    """renamer and link_fd_to_path fsync directories through the
    ``fsync_dir`` of the module they are defined in; time those calls as
    dir_fsync too.
    """
    namespace = getattr(helper, '__globals__', None)
    if namespace is None or namespace is vars(diskfile) or \
            not callable(namespace.get('fsync_dir')):
        return
    if _patches.has_globals(namespace):
        return
    _patches.replace(Globals(namespace), 'fsync_dir',
                     _timed_helper('dir_fsync', namespace['fsync_dir']))


def install(recorder):
    """Point the hooks at ``recorder``; patch diskfile the first time.

    Returns the names of hook points this Swift does not have, so the
    caller can say once which timings are unavailable.
    """
    global _recorder
    hub.mark_hub_thread()
    _recorder = recorder
    if _patches:
        return []
    from swift.obj import diskfile
    missing = []
    for name, op in _HELPERS:
        if not callable(getattr(diskfile, name, None)):
            missing.append(name)
            continue
        helper = getattr(diskfile, name)
        nesting = name in _FSYNCING_DIRS
        _patches.replace(diskfile, name, _timed_helper(
            op, helper, nesting, on_hub=name not in _TPOOL_ONLY))
        if nesting:
            _hook_nested_fsync_dir(helper, diskfile)
    if hasattr(getattr(diskfile, 'tpool', None), 'execute'):
        _patches.replace(diskfile, 'tpool', TimedTpool(diskfile.tpool))
    else:
        missing.append('tpool')
    return missing + _patches.wrap_methods(diskfile, _METHODS)


def uninstall():
    """Restore swift.obj.diskfile exactly as it was (for tests)."""
    global _recorder
    _recorder = None
    _patches.restore()
