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

"""Per-worker metric values, the archive of dead workers, and the merge.

Why not prometheus_client's multiprocess mode: it JSON-parses every pid's
file on every scrape, never compacts the files of dead workers, and costs
two to three times more per observe().  Instead:

* each worker's values live in its own shared-memory file,
  ``live-<pid>-<starttime>`` (``series.SeriesFile``: the layout and its
  lock-free publish protocol are series.py's).  An observation is a store
  into the mapping, so nothing is ever flushed, a ``kill -9`` loses
  nothing, and a scrape sees every observation made before it;
* exemplars, which no single store can publish, go once every
  ``flush_interval`` to ``exemplars-<pid>-<starttime>``, written to a
  temp name and renamed: up to that old, and never torn;
* a scrape maps every live worker's file, read as it is, plus one
  ``archive`` that holds everything dead workers counted.  Reading only
  files (the answering worker's own as well) is what keeps counters
  monotonic whichever worker answers;
* the files of dead workers are folded into the archive under an
  exclusive ``flock``; scrapes read under a shared one, so a worker is
  never seen both folded and unfolded.  The archive lists the workers it
  folded, so a crash between writing it and unlinking their files cannot
  count one twice.

A worker is its pid *and* its kernel start time, so a reused pid is a
different worker.

The archive's format is made for a fast merge in pure Python: its bucket
counts are one block of little-endian uint64s in sorted-series order,
read as one big integer.  The layout (bounds and series keys) is stored
once per file.  Exemplars follow as one marshalled tuple of ``(series
index, bucket, txn_id, value, timestamp)``; the merge keeps the freshest
per bucket (``Series.offer``).  Snapshots of this format from swiftinst
0.3 (``snap-*``) are still read, and folded in once their worker is gone.

Everything that touches files runs in a native thread, except creating
and repairing the worker's own file (on the hub, where its values are
written); it must not log or call anything green.
"""

import errno
import fcntl
import hashlib
import marshal
import os
import struct
import time
from array import array

from swiftinst import activity, metrics
from swiftinst.hub import native_lock
from swiftinst.offhub import pause
from swiftinst.series import LayoutError, Series, SeriesFile, \
    SeriesFileReader

# 3: exemplars.  A file of another version is not read: after an upgrade
# the counts of the old workers are dropped, a counter reset to Prometheus.
FORMAT_VERSION = 3
MAGIC = b'SWIN'
# magic, version, layout length, counts length, sums length, exemplars
# length, folded length, layout digest
HEADER = struct.Struct('<4sHIIIII16s')
SNAPSHOT_PREFIX = 'snap-'
LIVE_PREFIX = 'live-'
EXEMPLARS_PREFIX = 'exemplars-'
# (a worker's request records, activity's, go with its other files)
WORKER_PREFIXES = (LIVE_PREFIX, EXEMPLARS_PREFIX, SNAPSHOT_PREFIX,
                   activity.PREFIX)
TMP_SUFFIX = '.tmp'
ARCHIVE = 'archive'
LOCK = 'archive.lock'
# What a read-only or full metrics_dir answers a write with.
_CANNOT_WRITE = frozenset((errno.EROFS, errno.EACCES, errno.EPERM,
                           errno.ENOSPC, errno.EDQUOT))
_LITTLE = array('Q', [1]).tobytes()[0] == 1


# This process's pid, refreshed in every forked child: os.getpid() is a
# system call, and adopt_current_process runs on every request.  (The C
# request path sees a new worker by the identity of the item.)
current_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: current_pid.__setitem__(
    0, os.getpid()))


def process_start_time(pid):
    """Kernel start time of ``pid`` in clock ticks, or None if it is gone.

    A zombie counts as gone: it will never write again.
    """
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b')') + 2:].split()
    if fields[0] in (b'Z', b'X'):
        return None
    return fields[19].decode('ascii')


def worker_id(pid):
    return '%d-%s' % (pid, process_start_time(pid) or '0')


def worker_alive(wid):
    pid, _, start = wid.partition('-')
    try:
        return process_start_time(int(pid)) == start
    except ValueError:
        return False


def _wid_of(name):
    """The worker of a ``live-``, ``exemplars-`` or ``snap-`` file."""
    return name.partition('-')[2].split('.')[0]


SERVER_LOCK = 'server.lock'
# metrics_dir (real path) -> the descriptor of its held SERVER_LOCK
_claimed = {}
# the metrics_dirs a parent of this process held when it forked it: a
# worker (which loads the filter again) belongs to the server that holds
_inherited = set()


class MetricsDirInUse(Exception):
    """Another object server holds this metrics_dir."""

    def __init__(self, directory, pid):
        super().__init__('%s is held by pid %s' % (directory, pid))
        self.pid = pid


def claim(directory):
    """Hold ``directory`` for this object server, in its parent process.

    Two servers in one metrics_dir would each answer with the other's
    counts added in.  The lock is an ``flock`` on ``server.lock``, which
    names its holder's pid.  It is this process's alone: forked workers
    close their copy (so a draining worker never keeps a restarted server
    out), and it is closed on exec (Swift's seamless reload re-executes
    the parent, which then takes it again).  Raises MetricsDirInUse.
    """
    real = os.path.realpath(directory)
    if real in _claimed or real in _inherited:
        return
    fd = os.open(os.path.join(real, SERVER_LOCK),
                 os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        holder = os.read(fd, 64).decode('ascii', 'replace').strip() or '?'
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise MetricsDirInUse(directory, holder)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, b'%d\n' % os.getpid())
    _claimed[real] = fd


def held_by_parent(directory):
    """Whether this process is a worker of the server that holds
    ``directory`` (Swift's workers load the filter again after fork).
    """
    return os.path.realpath(directory) in _inherited


def _close_claims_in_child():
    _inherited.update(_claimed)
    for fd in _claimed.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _claimed.clear()


os.register_at_fork(after_in_child=_close_claims_in_child)


class StoreError(Exception):
    """A problem with one file; ``component`` says which kind."""

    def __init__(self, component, message):
        super().__init__(message)
        self.component = component


def count_width(key, bounds):
    """Number of counts a series holds: buckets (+Inf included) or 1."""
    if metrics.BY_NAME[key[0]].kind == metrics.HISTOGRAM:
        return len(bounds) + 1
    return 1


class Layout(object):
    """The series keys of a file, in order, and where their counts lie."""

    __slots__ = ('keys', 'offsets', 'total_counts')

    def __init__(self, keys, bounds):
        self.keys = keys
        self.offsets = []
        offset = 0
        for key in keys:
            width = count_width(key, bounds)
            self.offsets.append((offset, offset + width))
            offset += width
        self.total_counts = offset


def encode(series, bounds, folded=()):
    """Serialize ``{key: Series}`` (safe to call from a native thread
    while the hub keeps observing).
    """
    items = sorted(list(series.items()))
    keys = tuple(key for key, _ in items)
    counts = array('Q')
    sums = array('d')
    exemplars = []
    for index, (_, values) in enumerate(items):
        pause()
        counts.extend(values.counts)
        sums.append(values.total)
        if values.exemplars:
            exemplars.extend((index, bucket) + exemplar for bucket, exemplar
                             in values.exemplar_items())
    if not _LITTLE:
        counts.byteswap()
        sums.byteswap()
    layout = marshal.dumps((tuple(bounds), keys))
    exemplars_blob = marshal.dumps(tuple(exemplars)) if exemplars else b''
    folded_blob = marshal.dumps(tuple(folded)) if folded else b''
    counts_blob = counts.tobytes()
    sums_blob = sums.tobytes()
    header = HEADER.pack(MAGIC, FORMAT_VERSION, len(layout),
                         len(counts_blob), len(sums_blob), len(exemplars_blob),
                         len(folded_blob),
                         hashlib.blake2b(layout, digest_size=16).digest())
    return b''.join((header, layout, counts_blob, sums_blob, exemplars_blob,
                     folded_blob))


class Accumulator(object):
    """Sums encoded files; groups of one layout are summed as big ints."""

    def __init__(self, bounds, layouts):
        self.bounds = tuple(bounds)
        self._layouts = layouts       # digest -> Layout, shared cache
        self._counts = {}             # digest -> int
        self._sums = {}               # digest -> list of floats
        # digest -> series index -> [(bucket, (txn_id, value, timestamp))]
        self._exemplars = {}

    def add(self, blob, source='snapshot'):
        """Add one file's values; returns its folded list (archives)."""
        pause()
        try:
            magic, version, layout_len, counts_len, sums_len, \
                exemplars_len, folded_len, digest = HEADER.unpack_from(blob)
        except struct.error:
            raise StoreError('store_corrupt', 'truncated %s' % source)
        if magic != MAGIC or version != FORMAT_VERSION:
            raise StoreError('store_layout', '%s has another format'
                             % source)
        start = HEADER.size
        end = start + layout_len + counts_len + sums_len + exemplars_len + \
            folded_len
        if len(blob) != end:
            raise StoreError('store_corrupt', 'truncated %s' % source)
        layout = self._layouts.get(digest)
        if layout is None:
            try:
                bounds, keys = marshal.loads(blob[start:start + layout_len])
            except (EOFError, ValueError, TypeError):
                raise StoreError('store_corrupt', 'unreadable %s' % source)
            if tuple(bounds) != self.bounds:
                raise StoreError('store_layout',
                                 '%s has another bucket layout' % source)
            try:
                layout = Layout(keys, bounds)
            except (KeyError, TypeError, IndexError):
                raise StoreError('store_corrupt', 'unknown series in %s'
                                 % source)
            if layout.total_counts * 8 != counts_len or \
                    len(keys) * 8 != sums_len:
                raise StoreError('store_corrupt', 'inconsistent %s' % source)
            self._layouts[digest] = layout
        start += layout_len
        counts = int.from_bytes(blob[start:start + counts_len], 'little')
        self._counts[digest] = self._counts.get(digest, 0) + counts
        start += counts_len
        sums = array('d')
        sums.frombytes(blob[start:start + sums_len])
        if not _LITTLE:
            sums.byteswap()
        current = self._sums.get(digest)
        self._sums[digest] = sums.tolist() if current is None \
            else [a + b for a, b in zip(current, sums)]
        start += sums_len
        if exemplars_len:
            try:
                exemplars = marshal.loads(blob[start:start + exemplars_len])
            except (EOFError, ValueError, TypeError):
                raise StoreError('store_corrupt', 'unreadable exemplars in '
                                 '%s' % source)
            by_index = self._exemplars.setdefault(digest, {})
            for exemplar in exemplars:
                try:
                    index, bucket, txn_id, value, timestamp = exemplar
                    by_index.setdefault(index, []).append((int(bucket), (
                        str(txn_id), float(value), float(timestamp))))
                except (ValueError, TypeError):
                    pass  # a damaged exemplar is dropped, never the counts
        start += exemplars_len
        if folded_len:
            return marshal.loads(blob[start:start + folded_len])
        return ()

    def result(self):
        """``{key: Series}`` over everything added."""
        total = {}
        for digest, big in self._counts.items():
            layout = self._layouts[digest]
            counts = array('Q')
            counts.frombytes(big.to_bytes(layout.total_counts * 8, 'little'))
            if not _LITTLE:
                counts.byteswap()
            counts = counts.tolist()
            sums = self._sums[digest]
            exemplars = self._exemplars.get(digest, {})
            get = total.get
            for index, (key, (lo, hi), total_sum) in enumerate(zip(
                    layout.keys, layout.offsets, sums)):
                pause()
                series = Series(self.bounds if hi - lo > 1 else ()).load(
                    counts[lo:hi], total_sum)
                for bucket, exemplar in exemplars.get(index, ()):
                    series.offer(bucket, exemplar)
                current = get(key)
                total[key] = series if current is None \
                    else current.add(series)
        return total


def new_merged_series(key, bounds):
    """An empty Series for ``key``'s merged values."""
    return Series(bounds if count_width(key, bounds) > 1 else ())


class MetricStore(object):
    """The values of one object server, seen from one of its workers.

    Each series is a ``Series``: a histogram's has the store's bounds, a
    counter's none.  The request path keeps the ones it observes into;
    ``observe`` and ``inc`` are for the rarer callers.  Until a worker
    adopts the store (its first request), and whenever its file cannot be
    written, the values live in the process's own memory; ``repair``
    moves them into a file again.
    """

    def __init__(self, directory, bounds):
        self.directory = directory
        self.bounds = tuple(bounds)
        self.series = {}
        self.pid = None
        self.wid = None
        # this worker's SeriesFile, once it has one
        self.file = None
        # keys whose values are not in the file (it could not grow)
        self.unbound = set()
        # StoreErrors met on the hub, for the lifecycle to count
        self.hub_problems = []
        self.needs_repair = False
        self._last_exemplars = None
        self._readers = {}          # file name -> SeriesFileReader
        self._layouts = {}
        self._archive_cache = (None, None)
        # A native lock: only ever taken in native threads (or at exit).
        self._flush_lock = native_lock()

    # -- hot path, on the hub ------------------------------------------
    def _new(self, key, bounds):
        values = self.series[key] = Series(bounds)
        self._bind(key, values)
        return values

    def _bind(self, key, values):
        if self.file is None:
            if self.pid is not None:
                self.unbound.add(key)
            return
        try:
            values.bind(*self.file.add(key, values.width))
            self.unbound.discard(key)
        except (OSError, ValueError) as err:
            self.unbound.add(key)
            self.needs_repair = True
            self.hub_problems.append(StoreError(
                'store', 'cannot grow %s: %s' % (self.file.path, err)))

    def histogram(self, key):
        """The live values of histogram ``key``, created empty.

        The Series stays this series' values for the life of the
        process, so a caller may keep it and observe into it directly;
        that is what the per-read and per-disk-op paths do (see
        ``Histograms``).
        """
        values = self.series.get(key)
        if values is None:
            values = self._new(key, self.bounds)
        return values

    def totals(self, key):
        """The live Series of a TOTALS metric's ``key`` (a count and a
        sum: laid out as a counter), created empty.
        """
        return self.counter(key)

    def observe(self, key, value):
        self.histogram(key).observe(value)

    def counter(self, key):
        """The live Series of counter ``key``, created at zero; a caller
        may keep it, as with ``histogram``.
        """
        values = self.series.get(key)
        if values is None:
            values = self._new(key, ())
        return values

    def inc(self, key, amount=1):
        self.counter(key).inc(amount)

    # -- worker lifecycle, on the hub ----------------------------------
    def adopt_current_process(self):
        """Make this process the owner of the values, in a file of its own.

        True the first time it is called in a new process (a fresh worker),
        so the caller can start its flusher.  Values inherited through
        fork() belong to the parent: they are zeroed, in place, so the
        Series handed out by ``histogram`` stay valid.
        """
        if current_pid[0] == self.pid:
            return False
        pid = self.pid = current_pid[0] = os.getpid()
        self.wid = worker_id(pid)
        self.file = None
        self._last_exemplars = None
        self._readers = {}
        for values in self.series.values():
            values.zero()
        self.repair()
        return True

    def repair(self):
        """Give this worker's values a file again, carried over: at
        adoption, after metrics_dir was removed or read-only, and for the
        series a full metrics_dir left out.  Returns True when every
        series is in the file.
        """
        if self.file is not None and self.file.exists():
            for key in list(self.unbound):
                self._bind(key, self.series[key])
            self.needs_repair = bool(self.unbound)
            return not self.needs_repair
        path = self._path(LIVE_PREFIX + self.wid)
        try:
            os.makedirs(self.directory, exist_ok=True)
            new = SeriesFile(path, self.bounds)
        except OSError as err:
            if not self.needs_repair:
                self.hub_problems.append(StoreError(
                    'store', 'cannot create a file in metrics_dir %s: %s; '
                    'this worker counts in its own memory until it can'
                    % (self.directory, err)))
            self.needs_repair = True
            return False
        old, self.file = self.file, new
        self.unbound = set()
        self.needs_repair = False
        # Every value is copied into the new file before readers see it.
        for key, values in self.series.items():
            self._bind(key, values)
        try:
            new.publish()
        except OSError as err:
            self.hub_problems.append(StoreError(
                'store', 'cannot rename %s: %s' % (new.path, err)))
            self.needs_repair = True
        if old is not None:
            os.close(old.fd)
        return not self.needs_repair

    # -- file side: native thread only ----------------------------------
    def _path(self, name):
        return os.path.join(self.directory, name)

    def flush(self):
        """Publish this worker's exemplars (temp name + rename), and see
        whether its file is still there (``needs_repair``, for the hub).
        Returns a list of StoreErrors; raises OSError when the file cannot
        be written.
        """
        if self.wid is None or self.pid != os.getpid():
            return []
        problems = []
        if self.file is not None and not self.needs_repair and \
                not self.file.exists():
            self.needs_repair = True
            problems.append(StoreError(
                'store', 'the values file %s was removed; making a new one '
                '(the counts of exited workers are gone)' % self.file.path))
        with self._flush_lock:
            exemplars = []
            for key, values in list(self.series.items()):
                if values.exemplars:
                    exemplars.extend((key, bucket) + exemplar for
                                     bucket, exemplar in
                                     values.exemplar_items())
            if not exemplars:
                return problems
            blob = marshal.dumps(tuple(exemplars))
            if blob == self._last_exemplars:
                return problems
            name = EXEMPLARS_PREFIX + self.wid
            tmp = self._path(name + TMP_SUFFIX)
            self._write_file(tmp, blob)
            os.rename(tmp, self._path(name))
            self._last_exemplars = blob
        return problems

    @staticmethod
    def _write_file(path, blob, sync=False):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(blob)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def _lock(self, mode):
        try:
            fd = os.open(self._path(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            if err.errno not in _CANNOT_WRITE:
                raise
            # A read-only or full metrics_dir: a scrape still reads what is
            # there, and flock works on a read-only descriptor too.
            fd = os.open(self._path(LOCK), os.O_RDONLY)
        try:
            fcntl.flock(fd, mode)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @staticmethod
    def _unlock(fd):
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    @staticmethod
    def _read(path):
        with open(path, 'rb') as f:
            return f.read()

    def _accumulator(self):
        return Accumulator(self.bounds, self._layouts)

    def _width_of(self, key):
        if type(key) is not tuple or len(key) != 2 or \
                type(key[1]) is not tuple:
            raise KeyError(key)
        return count_width(key, self.bounds)

    def _new_series(self, key):
        return new_merged_series(key, self.bounds)

    def _archive(self):
        """(archive's {key: Series}, folded ids), re-read only when it
        changed.
        """
        path = self._path(ARCHIVE)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return {}, frozenset()
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached_sig, cached = self._archive_cache
        if cached_sig != signature:
            acc = self._accumulator()
            folded = frozenset(acc.add(self._read(path), 'archive'))
            cached = (acc.result(), folded)
            self._archive_cache = (signature, cached)
        return cached

    def _worker_files(self):
        """{wid: {prefix: name}} of the workers' files in metrics_dir."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return {}
        workers = {}
        for name in names:
            if name.endswith(TMP_SUFFIX):
                continue
            for prefix in WORKER_PREFIXES:
                if name.startswith(prefix):
                    workers.setdefault(_wid_of(name), {})[prefix] = name
        return workers

    def requests_path(self):
        """Where this worker's request records live (see activity)."""
        return self._path(activity.PREFIX + self.wid)

    def request_files(self):
        """[(path, pid, alive)] of every worker's request records."""
        found = []
        for wid, files in self._worker_files().items():
            name = files.get(activity.PREFIX)
            if name is not None:
                found.append((self._path(name), int(wid.partition('-')[0]),
                              worker_alive(wid)))
        return found

    def _add_worker(self, totals, files, readers, problems):
        """Add one worker's files to ``totals``: its live file, its
        exemplars (and a 0.3 snapshot).  A damaged file is left out whole
        and counted.
        """
        name = files.get(LIVE_PREFIX)
        if name is not None:
            reader = self._readers.get(name)
            if reader is None:
                reader = SeriesFileReader(self._path(name), self.bounds,
                                          self._width_of)
            try:
                reader.refresh()
            except FileNotFoundError:
                reader.close()
                return
            except LayoutError as err:
                reader.close()
                problems.append(StoreError('store_layout', str(err)))
                return
            readers[name] = reader
            reader.add_to(totals, self._new_series)
        name = files.get(SNAPSHOT_PREFIX)
        if name is not None:
            acc = self._accumulator()
            try:
                acc.add(self._read(self._path(name)), name)
            except FileNotFoundError:
                pass
            except StoreError as err:
                problems.append(err)
            else:
                for key, series in acc.result().items():
                    current = totals.get(key)
                    totals[key] = series if current is None \
                        else current.add(series)
        name = files.get(EXEMPLARS_PREFIX)
        if name is not None:
            try:
                exemplars = marshal.loads(self._read(self._path(name)))
            except FileNotFoundError:
                return
            except (EOFError, ValueError, TypeError):
                problems.append(StoreError('store_corrupt', 'unreadable %s'
                                           % name))
                return
            for exemplar in exemplars:
                try:
                    key, bucket, txn_id, value, timestamp = exemplar
                    series = totals.get(key)
                    if series is not None:
                        series.offer(int(bucket), (
                            str(txn_id), float(value), float(timestamp)))
                except (ValueError, TypeError):
                    pass  # a damaged exemplar is dropped, never the counts

    def merged(self):
        """Sum over every worker this server ever had, as of now.

        Returns (series, problems); problems are StoreErrors for the
        caller to count on the hub.
        """
        try:
            problems = list(self.compact())
        except OSError as err:
            # a read-only or full metrics_dir: the dead workers' files stay
            # and are read as they are
            problems = [StoreError('store', 'cannot fold the files of '
                                   'exited workers: %s' % err)]
        totals = {}
        readers = {}
        fd = self._lock(fcntl.LOCK_SH)
        try:
            try:
                archive, folded = self._archive()
            except StoreError as err:
                problems.append(err)
                archive, folded = {}, frozenset()
            for key, series in archive.items():
                pause()
                totals[key] = self._new_series(key).add(series)
            for wid, files in self._worker_files().items():
                pause()
                if wid not in folded:
                    self._add_worker(totals, files, readers, problems)
        finally:
            self._unlock(fd)
        for name, reader in self._readers.items():
            if name not in readers:
                reader.close()
        self._readers = readers
        if self.pid == os.getpid():
            # what this worker counts where its file could not take it
            for key in list(self.file is None and self.series or
                            self.unbound):
                current = totals.get(key)
                if current is None:
                    current = totals[key] = self._new_series(key)
                current.add(self.series[key])
        return totals, problems

    def compact(self):
        """Fold the files of dead workers into the archive.

        Skipped (not waited for) when another worker is compacting.
        Returns a list of StoreErrors.
        """
        dead = {wid: files for wid, files in self._worker_files().items()
                if not worker_alive(wid)}
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            names = []
        stale = [n for n in names if n.endswith(TMP_SUFFIX) and
                 n.startswith(WORKER_PREFIXES) and
                 not worker_alive(_wid_of(n))]
        if not dead and not stale:
            return []
        try:
            fd = self._lock(fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return []
            raise
        problems = []
        try:
            for name in stale:
                self._unlink(self._path(name))
            if not dead:
                return []
            try:
                archive, folded = self._archive()
            except StoreError as err:
                # An unreadable archive cannot be merged into; start a new
                # one (a counter reset) rather than mixing partial data.
                problems.append(err)
                os.rename(self._path(ARCHIVE),
                          self._path('%s.bad-%d' % (ARCHIVE, time.time())))
                archive, folded = {}, frozenset()
            totals = {key: self._new_series(key).add(series)
                      for key, series in archive.items()}
            newly_folded = []
            for wid, files in dead.items():
                if wid not in folded:
                    self._add_worker(totals, files, {}, problems)
                newly_folded.append(wid)
            # Only this round's ids can still have files to unlink.
            blob = encode(totals, self.bounds, newly_folded)
            tmp = self._path(ARCHIVE + TMP_SUFFIX)
            self._write_file(tmp, blob, sync=True)
            os.rename(tmp, self._path(ARCHIVE))
            for wid in newly_folded:
                for name in dead[wid].values():
                    self._unlink(self._path(name))
        finally:
            self._unlock(fd)
        return problems

    @staticmethod
    def _unlink(path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


class Histograms(dict):
    """Live values of one histogram's series, by a caller's own key.

    ``labels_of(key)`` turns the key into the series' label values; the
    series is created at first use.  A hit is a plain dict lookup: no
    key tuple is built and hashed per observation.
    """

    def __init__(self, store, name, labels_of=None):
        super().__init__()
        self.store = store
        self.name = name
        self.labels_of = labels_of

    def __missing__(self, key):
        labels = self.labels_of(key) if self.labels_of else key
        values = self[key] = self.store.histogram((self.name, labels))
        return values
