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

"""Per-worker metric values, their snapshots, and the merge across workers.

Why not prometheus_client's multiprocess mode: it JSON-parses every pid's
file on every scrape, never compacts the files of dead workers, and costs
two to three times more per observe().  Instead:

* each worker keeps plain lists in a dict (no locks: one hub thread);
* every ``flush_interval`` a native thread snapshots them into
  ``snap-<pid>-<starttime>``, written to a temp name and renamed;
* a scrape first flushes the answering worker's own values, then merges
  every snapshot and one ``archive`` that holds everything dead workers
  counted.  Reading only files (never one worker's live values beside
  the others' files) is what keeps counters monotonic whichever worker
  answers: a file only ever grows;
* snapshots of dead workers are folded into the archive under an exclusive
  ``flock``; scrapes read under a shared one, so a snapshot is never seen
  both folded and unfolded.  The archive lists the snapshots it folded, so
  a crash between writing it and unlinking them cannot count one twice.

A worker is its pid *and* its kernel start time, so a reused pid is a
different worker.

The file format is made for a fast merge in pure Python: a file's bucket
counts are one block of little-endian uint64s in sorted-series order, so
the counts of every file with the same series layout are summed as one
big integer (``int.from_bytes``), a single C-level addition per file.
The layout (bounds and series keys) is stored once per file and parsed
once per distinct layout.  Exemplars, rare by design, follow as one
marshalled tuple of ``(series index, bucket, txn_id, value, timestamp)``;
the merge keeps the freshest per bucket (``Series.offer``).

Everything that touches files runs in a native thread; it must not log
or call anything green.
"""

import errno
import fcntl
import hashlib
import marshal
import os
import struct
import time
from array import array

from swiftinst import metrics
from swiftinst.hub import native_lock
from swiftinst.offhub import pause
from swiftinst.series import Series

# 3: exemplars.  A file of another version is not read: after an upgrade
# the counts of the old workers are dropped, a counter reset to Prometheus.
FORMAT_VERSION = 3
MAGIC = b'SWIN'
# magic, version, layout length, counts length, sums length, exemplars
# length, folded length, layout digest
HEADER = struct.Struct('<4sHIIIII16s')
SNAPSHOT_PREFIX = 'snap-'
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
    return name[len(SNAPSHOT_PREFIX):].split('.')[0]


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
        values.dump(counts, sums)
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


class MetricStore(object):
    """The values of one object server, seen from one of its workers.

    Each series is a ``Series``: a histogram's has the store's bounds, a
    counter's none.  The request path keeps the ones it observes into;
    ``observe`` and ``inc`` are for the rarer callers.
    """

    def __init__(self, directory, bounds):
        self.directory = directory
        self.bounds = tuple(bounds)
        self.series = {}
        self.pid = None
        self.wid = None
        self._layouts = {}
        self._archive_cache = (None, None)
        # A native lock: only ever taken in native threads (or at exit).
        self._flush_lock = native_lock()

    # -- hot path, on the hub ------------------------------------------
    def histogram(self, key):
        """The live values of histogram ``key``, created empty.

        The sequence stays this series' values for the life of the
        process, so a caller may keep it and observe into it directly;
        that is what the per-read and per-disk-op paths do (see
        ``Histograms``).
        """
        values = self.series.get(key)
        if values is None:
            values = self.series[key] = Series(self.bounds)
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
            values = self.series[key] = Series()
        return values

    def inc(self, key, amount=1):
        self.counter(key).inc(amount)

    # -- worker lifecycle -----------------------------------------------
    def adopt_current_process(self):
        """Make this process the owner of the in-memory values.

        True the first time it is called in a new process (a fresh worker),
        so the caller can start its flusher.  Values inherited through
        fork() belong to the parent's own snapshot: they are zeroed in
        place, so the values handed out by ``histogram`` stay valid.
        """
        if current_pid[0] == self.pid:
            return False
        pid = self.pid = current_pid[0] = os.getpid()
        self.wid = worker_id(pid)
        for values in self.series.values():
            values.zero()
        return True

    def snapshot(self):
        """This worker's values, encoded.  Safe from a native thread."""
        return encode(self.series, self.bounds)

    # -- file side: native thread only ----------------------------------
    def _path(self, name):
        return os.path.join(self.directory, name)

    def flush(self):
        """Publish this worker's values atomically (temp name + rename).

        The periodic flusher and a scrape may flush at once, from two
        native threads: the lock keeps a later snapshot from being replaced
        by an earlier one.  Returns a list of StoreErrors; raises OSError
        when the snapshot cannot be written.
        """
        if self.wid is None or self.pid != os.getpid():
            return []
        problems = []
        name = SNAPSHOT_PREFIX + self.wid
        tmp = self._path(name + TMP_SUFFIX)
        with self._flush_lock:
            blob = self.snapshot()
            try:
                self._write_file(tmp, blob)
            except FileNotFoundError:
                # metrics_dir was removed under us: recreate it, carry on.
                # Live workers republish their whole counts; those of
                # workers that have exited are gone.
                os.makedirs(self.directory, exist_ok=True)
                problems.append(StoreError(
                    'store', 'metrics_dir %s was removed; recreated it, '
                    'without the counts of exited workers' % self.directory))
                self._write_file(tmp, blob)
            os.rename(tmp, self._path(name))
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

    def _archive(self):
        """(archive blob or None, folded ids), re-read only when changed."""
        path = self._path(ARCHIVE)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None, frozenset()
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached_sig, cached = self._archive_cache
        if cached_sig != signature:
            blob = self._read(path)
            probe = self._accumulator()
            folded = frozenset(probe.add(blob, 'archive'))
            cached = (blob, folded)
            self._archive_cache = (signature, cached)
        return cached

    def _snapshot_names(self):
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return [n for n in names if n.startswith(SNAPSHOT_PREFIX)]

    def merged(self):
        """Sum over every worker this server ever had.

        A worker calling this publishes its own values first, so they are
        current; the others' are at most flush_interval old.  Returns
        (series, problems); problems are StoreErrors (and OSErrors of the
        own flush) for the caller to count on the hub.
        """
        problems = list(self.compact())
        try:
            problems.extend(self.flush())
        except OSError as err:
            problems.append(StoreError('store', 'cannot flush: %s' % err))
        acc = self._accumulator()
        fd = self._lock(fcntl.LOCK_SH)
        try:
            try:
                archive, folded = self._archive()
            except StoreError as err:
                problems.append(err)
                archive, folded = None, frozenset()
            if archive is not None:
                acc.add(archive, 'archive')
            for name in self._snapshot_names():
                if name.endswith(TMP_SUFFIX) or _wid_of(name) in folded:
                    continue
                try:
                    acc.add(self._read(self._path(name)), name)
                except FileNotFoundError:
                    continue
                except StoreError as err:
                    problems.append(err)
        finally:
            self._unlock(fd)
        return acc.result(), problems

    def compact(self):
        """Fold the snapshots of dead workers into the archive.

        Skipped (not waited for) when another worker is compacting.
        Returns a list of StoreErrors.
        """
        dead = [n for n in self._snapshot_names()
                if not worker_alive(_wid_of(n))]
        if not dead:
            return []
        try:
            fd = self._lock(fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return []
            raise
        problems = []
        try:
            acc = self._accumulator()
            try:
                archive, folded = self._archive()
            except StoreError as err:
                # An unreadable archive cannot be merged into; start a new
                # one (a counter reset) rather than mixing partial data.
                problems.append(err)
                os.rename(self._path(ARCHIVE),
                          self._path('%s.bad-%d' % (ARCHIVE, time.time())))
                archive, folded = None, frozenset()
            if archive is not None:
                acc.add(archive, 'archive')
            newly_folded = []
            for name in dead:
                path = self._path(name)
                wid = _wid_of(name)
                if name.endswith(TMP_SUFFIX):
                    self._unlink(path)
                    continue
                if wid not in folded:
                    try:
                        acc.add(self._read(path), name)
                    except FileNotFoundError:
                        continue
                    except StoreError as err:
                        problems.append(err)
                        self._unlink(path)
                        continue
                newly_folded.append(wid)
            # Only this round's ids can still have files to unlink.
            blob = encode(acc.result(), self.bounds, newly_folded)
            tmp = self._path(ARCHIVE + TMP_SUFFIX)
            self._write_file(tmp, blob, sync=True)
            os.rename(tmp, self._path(ARCHIVE))
            for wid in newly_folded:
                self._unlink(self._path(SNAPSHOT_PREFIX + wid))
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
