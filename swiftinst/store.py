"""Per-worker metric values, their snapshots, and the merge across workers.

Why not prometheus_client's multiprocess mode: it JSON-parses every pid's
file on every scrape, never compacts the files of dead workers, and costs
two to three times more per observe().  Instead:

* each worker keeps plain lists in a dict (no locks: one hub thread);
* a greenthread snapshots them every ``flush_interval`` to
  ``snap-<pid>-<starttime>`` (marshal, written to a temp name and renamed);
* a scrape merges the live snapshots, the scraping worker's own in-memory
  values and one ``archive`` that holds everything dead workers counted;
* snapshots of dead workers are folded into the archive under an exclusive
  ``flock``; scrapes read under a shared one, so a snapshot is never seen
  both folded and unfolded.  The archive also lists the snapshots it has
  folded, so a crash between writing the archive and unlinking the
  snapshot cannot count it twice.

A worker is identified by pid *and* kernel start time, so a reused pid is a
different worker.  Everything that touches files runs in a native thread
(see ``run_off_hub``); it must not log or call anything green.
"""

import errno
import fcntl
import marshal
import os
import time
from bisect import bisect_left
from operator import add

FORMAT_VERSION = 1
SNAPSHOT_PREFIX = 'snap-'
TMP_SUFFIX = '.tmp'
ARCHIVE = 'archive'
LOCK = 'archive.lock'


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


def merge_into(total, series):
    """Add ``series`` into ``total``.  Never mutates a list it was given, so
    cached archive lists can be shared between scrapes."""
    get = total.get
    for key, values in series.items():
        current = get(key)
        if current is None:
            total[key] = values
        else:
            total[key] = list(map(add, current, values))
    return total


class StoreError(Exception):
    """A problem with one file; ``component`` says which kind."""

    def __init__(self, component, message):
        super().__init__(message)
        self.component = component


class MetricStore(object):
    """The values of one object server, seen from one of its workers.

    ``observe`` and ``inc`` are the hot path: a dict lookup, a bisect and
    two list increments.  Histogram series are lists of per-bucket counts
    (the last bucket is +Inf) followed by the sum; counter series are a
    one-element list.
    """

    def __init__(self, directory, bounds):
        self.directory = directory
        self.bounds = tuple(bounds)
        self.series = {}
        self.pid = None
        self.wid = None
        self._archive_cache = (None, {}, frozenset())
        self._histogram_width = len(self.bounds) + 2

    # -- hot path, on the hub ------------------------------------------
    def observe(self, key, value):
        values = self.series.get(key)
        if values is None:
            values = self.series[key] = [0] * (self._histogram_width - 1)
            values.append(0.0)
        values[bisect_left(self.bounds, value)] += 1
        values[-1] += value

    def inc(self, key, amount=1):
        values = self.series.get(key)
        if values is None:
            self.series[key] = [amount]
        else:
            values[0] += amount

    # -- worker lifecycle -----------------------------------------------
    def adopt_current_process(self):
        """Make this process the owner of the in-memory values.

        True the first time it is called in a new process (a fresh worker),
        so the caller can start its flusher; anything inherited through
        fork() belongs to the parent's own snapshot and is dropped.
        """
        pid = os.getpid()
        if pid == self.pid:
            return False
        self.pid = pid
        self.wid = worker_id(pid)
        self.series = {}
        return True

    def snapshot_blob(self):
        """The in-memory values as bytes: one consistent view, taken on the
        hub, so the native thread that writes or merges it never races
        with observe()."""
        return marshal.dumps((FORMAT_VERSION, self.bounds, self.series))

    # -- file side: native thread only ----------------------------------
    def _path(self, name):
        return os.path.join(self.directory, name)

    def write_snapshot(self, blob):
        """Publish this worker's values atomically (temp name + rename)."""
        if self.wid is None:
            return
        name = SNAPSHOT_PREFIX + self.wid
        tmp = self._path(name + TMP_SUFFIX)
        try:
            self._write_file(tmp, blob)
        except FileNotFoundError:
            # metrics_dir was removed under us; recreate it and carry on.
            os.makedirs(self.directory, exist_ok=True)
            self._write_file(tmp, blob)
        os.rename(tmp, self._path(name))

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
        fd = os.open(self._path(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
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

    def _load(self, path):
        """(bounds, series, folded) of a snapshot or archive file."""
        with open(path, 'rb') as f:
            data = f.read()
        try:
            record = marshal.loads(data)
            version, bounds, series = record[:3]
            folded = record[3] if len(record) > 3 else ()
        except (EOFError, ValueError, TypeError):
            raise StoreError('store_corrupt', 'unreadable %s' % path)
        if version != FORMAT_VERSION or tuple(bounds) != self.bounds:
            raise StoreError('store_layout',
                             '%s has another bucket layout' % path)
        return series, frozenset(folded)

    def _archive(self):
        """The archive, parsed once per version of the file."""
        path = self._path(ARCHIVE)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return {}, frozenset()
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached_sig, series, folded = self._archive_cache
        if cached_sig != signature:
            series, folded = self._load(path)
            self._archive_cache = (signature, series, folded)
        return series, folded

    def _snapshot_names(self):
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return [n for n in names if n.startswith(SNAPSHOT_PREFIX)]

    def merged(self, own_blob=None):
        """Sum over every worker this server ever had.

        ``own_blob`` is the caller's fresh snapshot_blob(), used instead of
        its (up to flush_interval old) file.  Returns (series, problems);
        problems are StoreErrors for the caller to count on the hub.
        """
        problems = []
        problems.extend(self.compact())
        fd = self._lock(fcntl.LOCK_SH)
        try:
            archive, folded = self._archive()
            total = merge_into({}, archive)
            for name in self._snapshot_names():
                if name.endswith(TMP_SUFFIX):
                    continue
                wid = name[len(SNAPSHOT_PREFIX):]
                if wid in folded or (own_blob is not None and wid == self.wid):
                    continue
                try:
                    series, _ = self._load(self._path(name))
                except FileNotFoundError:
                    continue
                except StoreError as err:
                    problems.append(err)
                    continue
                merge_into(total, series)
        finally:
            self._unlock(fd)
        if own_blob is not None:
            merge_into(total, marshal.loads(own_blob)[2])
        return total, problems

    def compact(self):
        """Fold the snapshots of dead workers into the archive.

        Skipped (not waited for) when another worker is compacting.
        Returns a list of StoreErrors.
        """
        names = self._snapshot_names()
        dead = [n for n in names
                if not worker_alive(n[len(SNAPSHOT_PREFIX):].split('.')[0])]
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
            try:
                archive, folded = self._archive()
            except StoreError as err:
                # An unreadable archive cannot be merged into; start a new
                # one (a counter reset) rather than mixing partial data.
                problems.append(err)
                os.rename(self._path(ARCHIVE),
                          self._path('%s.bad-%d' % (ARCHIVE, time.time())))
                archive, folded = {}, frozenset()
            total = merge_into({}, archive)
            newly_folded = []
            for name in dead:
                path = self._path(name)
                if name.endswith(TMP_SUFFIX):
                    self._unlink(path)
                    continue
                wid = name[len(SNAPSHOT_PREFIX):]
                if wid not in folded:
                    try:
                        series, _ = self._load(path)
                    except FileNotFoundError:
                        continue
                    except StoreError as err:
                        problems.append(err)
                        self._unlink(path)
                        continue
                    merge_into(total, series)
                newly_folded.append(wid)
            # Keep only ids whose files might still exist: this round's.
            blob = marshal.dumps((FORMAT_VERSION, self.bounds, total,
                                  newly_folded))
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
