# cython: boundscheck=False, wraparound=False, initializedcheck=False
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

"""What every request is doing right now: one record per request in
flight, and the slowest recent ones, in shared memory.

Like PostgreSQL's backend status array (``pg_stat_activity``), each worker
owns a file of ``metrics_dir``, ``requests-<pid>-<starttime>``, mapped
``MAP_SHARED``, that only it writes, without locks, and that any process
reads: the worker answering ``/debug/requests``, ``swiftinst requests``.
A worker whose hub is blocked cannot answer, but its records are still
there for another worker to read, down to the op it is stuck in.

A record is the request's identity (txn id, method, device, policy,
partition, when it started), what it is waiting on right now and since
when, and its timeline so far: steps of ``(kind, seconds)``, in order,
written as each ends.  The kinds are the phases (``running``, ``client``,
``hub``, ``tpool``, ``container``, ``commit``) and the disk ops.  The
switch trace moves a request from one kind to the next at every switch
(see switchtrace), the diskfile hooks at the start and end of each op
(see diskfile_hooks), in a tpool thread as well: there the request's
greenthread is parked, so the thread is the record's only writer until
it hands the result back.  So the steps add up to the request's age.

Layout: little-endian 8-byte words (the file never leaves its host)::

    header, HEADER_WORDS words:
      0  magic b'SWIR' and FORMAT_VERSION (uint32)
      1  in-flight slots        2  slowest records
      3  steps per record       4  owner pid
    then (slots + slowest) records of RECORD_WORDS words:
      0 CHANGES   1 STATE (0 free, 1 in flight, 2 finished)
      2 STARTED (monotonic, float64)   3 WALL (unix time, float64)
      4 KIND (what it waits on)        5 SINCE (monotonic, float64)
      6 NSTEPS    7 STATUS    8 SECONDS (float64)    9 PARTITION
      10 ENDED (unix time, float64)
      TEXT_AT..: txn id (64 bytes), method (8), device (16), policy (8)
      STEPS_AT..: MAX_STEPS pairs (kind, seconds as float64)

The publish protocol (PostgreSQL's ``st_changecount``)
-------------------------------------------------------
Only one thread writes a record at a time: the worker's hub thread, or
the tpool thread that runs the request's disk work while its greenthread
waits for it.  Every change is bracketed: the writer increments
``CHANGES`` (odd: a write is under way), makes its stores, and increments
it again (even).  Compiled, a full memory barrier stands after the first
increment and before the second, so no store moves out of the bracket on
any CPU; interpreted, each store is a separate call into the
interpreter, which the C compiler cannot move either.  A reader loads
``CHANGES``, copies the whole record with one ``memcpy``, and loads
``CHANGES`` again: only an even value, the same both times, proves that
no write overlapped the copy.  Otherwise it retries, a bounded number of
times (a write is a few stores, never a wait), then leaves the record out
of that answer.  A record is never half-shown.

A worker killed in the middle of a write leaves an odd count, but a dead
worker's file is never read for requests in flight, and it is removed
when the store folds the worker's values into the archive.

The slowest requests: each worker keeps, per tenth of ``slowest_window``,
its ``slowest_count`` slowest finished requests (a finished record is the
in-flight one copied whole, with its status and duration).  A reader takes
the slowest ``slowest_count`` of every worker's records that ended within
the window: exact to a tenth of the window.
"""

import errno
import mmap
import os
import struct
import time

from swiftinst import metrics

try:
    import cython
except ImportError:  # interpreted, and Cython is not installed
    from swiftinst import _nocython as cython

MAGIC = b'SWIR'
FORMAT_VERSION = 1
PREFIX = 'requests-'

# What a request can be waiting on, or have spent a step on: the phases,
# then the disk ops (a tpool thread's queueing is the tpool step).
PHASE_KINDS = ('running', 'client', 'hub', 'tpool', 'container', 'commit')
KINDS = PHASE_KINDS + tuple(op for op in metrics.DISK_OPS
                            if op != 'tpool_wait')
KIND_OF = dict((name, i) for i, name in enumerate(KINDS))
KIND_OF['tpool_wait'] = KINDS.index('tpool')
RUNNING, CLIENT, HUB, TPOOL, CONTAINER, COMMIT = range(6)

HEADER_WORDS = 8
HEADER = struct.Struct('<4sIqqqq')
CHANGES, STATE, STARTED, WALL, KIND, SINCE, NSTEPS, STATUS, SECONDS, \
    PARTITION, ENDED = range(11)
FREE, IN_FLIGHT, FINISHED = 0, 1, 2
TEXT_AT = 16
TEXT_FIELDS = (('txn_id', 64), ('method', 8), ('device', 16),
               ('policy', 8))
TXN_BYTES = TEXT_FIELDS[0][1]
TEXT_BYTES = sum(size for _, size in TEXT_FIELDS)
STEPS_AT = TEXT_AT + TEXT_BYTES // 8
MAX_STEPS = 48
RECORD_WORDS = STEPS_AT + 2 * MAX_STEPS
RECORD_BYTES = RECORD_WORDS * 8
# Once a timeline holds this many steps, a step of a kind it already has
# is added to the latest of that kind: every kind still fits.
FREE_STEPS = MAX_STEPS - len(KINDS)
# tenths of slowest_window, each with its own slowest requests
SLOWEST_PERIODS = 10
_FIXED = struct.Struct('<qqddqdqqdqd')
# the steps of a record that has n of them, by n
_STEPS = [struct.Struct('<' + 'qd' * n) for n in range(MAX_STEPS + 1)]


def file_bytes(slots, slowest):
    return (HEADER_WORDS + (slots + slowest) * RECORD_WORDS) * 8


def _text(value, size):
    data = str(value or '').encode('utf-8', 'replace')
    return data[:size].ljust(size, b'\0')


def identity(method, device, policy):
    """What a record says of a request besides its txn id: the bytes of
    its method, device and policy (the same for every request of one
    kind, so made once per kind; see recorder.RequestKind).
    """
    return _text(method, 8) + _text(device, 16) + _text(policy, 8)


def _barrier():
    """A full memory barrier compiled (GCC's builtin, declared in
    activity.pxd); interpreted, the interpreter's own calls order the
    stores (see the module docstring).
    """
    if cython.compiled:
        full_memory_barrier()  # noqa: F821


class RequestRecords(object):
    """A worker's records, written by that worker alone (see the module
    docstring).  ``slots`` bounds the requests it shows in flight at once
    (Swift's ``max_clients`` bounds what it serves); a request beyond
    them has no record and is counted in ``untracked``.
    """

    __slots__ = ('path', 'slots', 'slowest_count', 'window', '_map',
                 '_raw', '_words', '_floats', '_free', '_period_of',
                 '_filled', 'untracked', 'wall_offset')

    def __init__(self, path, slots, slowest_count, window):
        self.path = path
        self.slots = slots
        self.slowest_count = slowest_count
        self.window = window
        self.untracked = 0
        # unix time less monotonic time: a record's wall-clock times
        # without a clock call of their own
        self.wall_offset = time.time() - time.monotonic()
        size = file_bytes(slots, SLOWEST_PERIODS * slowest_count)
        # Where there is no room, fail without reserving what there is:
        # the worker's values file may need it.
        room = os.statvfs(os.path.dirname(path) or '.')
        if room.f_bavail * room.f_frsize < size:
            raise OSError(errno.ENOSPC, 'no room for %d bytes of request '
                          'records in %s' % (size, os.path.dirname(path)))
        tmp = path + '.tmp'
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            # reserved, not sparse: a store into a mapped page of a full
            # filesystem would kill the worker with SIGBUS
            os.posix_fallocate(fd, 0, size)
            self._map = mmap.mmap(fd, size, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE)
            HEADER.pack_into(self._map, 0, MAGIC, FORMAT_VERSION, slots,
                             SLOWEST_PERIODS * slowest_count, MAX_STEPS,
                             os.getpid())
            os.rename(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        finally:
            # the mapping keeps the file
            os.close(fd)
        self._raw = memoryview(self._map)
        self._words = self._raw.cast('q')
        self._floats = self._raw.cast('d')
        self._free = list(range(slots - 1, -1, -1))
        # per period of the window: which one it holds, how many records
        self._period_of = [-1] * SLOWEST_PERIODS
        self._filled = [0] * SLOWEST_PERIODS

    def close(self):
        """Unmap (tests; a worker keeps its records until it exits)."""
        self._words = self._floats = None
        self._raw.release()
        self._map.close()

    # -- the writer: the request path ------------------------------------
    # (transition and wait_ended, which run at every switch and disk op,
    # bracket their writes themselves: interpreted, a call less each)
    def _enter(self, at):
        self._words[at + CHANGES] += 1
        _barrier()

    def _leave(self, at):
        _barrier()
        self._words[at + CHANGES] += 1

    def claim(self, started, txn_id, identity, partition):
        """A record for a request that started at ``started`` (monotonic),
        of ``identity`` (see identity()); -1 when every slot is taken.
        """
        if len(identity) != TEXT_BYTES - TXN_BYTES:
            raise ValueError('not an identity() of the records')
        if not self._free:
            self.untracked += 1
            return -1
        slot = self._free.pop()
        at = HEADER_WORDS + slot * RECORD_WORDS
        self._enter(at)
        words = self._words
        floats = self._floats
        words[at + STATE] = IN_FLIGHT
        floats[at + STARTED] = started
        floats[at + WALL] = started + self.wall_offset
        words[at + KIND] = RUNNING
        floats[at + SINCE] = started
        words[at + NSTEPS] = 0
        words[at + STATUS] = 0
        words[at + PARTITION] = partition
        txn = b''
        if isinstance(txn_id, str):
            txn_text = txn_id
            txn = txn_text.encode('utf-8', 'replace')
        if cython.compiled:
            # memset, memcpy: activity.pxd
            text = cython.cast(cython.p_char,
                               cython.address(self._words[at + TEXT_AT]))
            memset(text, 0, TXN_BYTES)  # noqa: F821
            memcpy(text, cython.cast(cython.p_char, txn),  # noqa: F821
                   min(len(txn), TXN_BYTES))
            memcpy(text + TXN_BYTES,  # noqa: F821
                   cython.cast(cython.p_char, identity),
                   TEXT_BYTES - TXN_BYTES)
        else:
            start = (at + TEXT_AT) * 8
            self._raw[start:start + TEXT_BYTES] = \
                txn[:TXN_BYTES].ljust(TXN_BYTES, b'\0') + identity
        self._leave(at)
        return slot

    def _append(self, at, kind, seconds):
        """Add a step to the record at word ``at`` (inside a write)."""
        words = self._words
        floats = self._floats
        n = words[at + NSTEPS]
        step = at + STEPS_AT
        if n > 0 and words[step + 2 * n - 2] == kind:
            floats[step + 2 * n - 1] += seconds
            return
        if n >= FREE_STEPS:
            i = n - 1
            while i >= 0:
                if words[step + 2 * i] == kind:
                    floats[step + 2 * i + 1] += seconds
                    return
                i -= 1
        if n < MAX_STEPS:
            words[step + 2 * n] = kind
            floats[step + 2 * n + 1] = seconds
            words[at + NSTEPS] = n + 1
        else:
            floats[step + 2 * n - 1] += seconds     # unreachable: kinds fit

    def transition(self, slot, kind, now):
        """The request of ``slot`` waits on ``kind`` as of ``now``: the
        step it was in ends there.  Returns the kind it was in.
        """
        at = HEADER_WORDS + slot * RECORD_WORDS
        words = self._words
        floats = self._floats
        words[at + CHANGES] += 1
        if cython.compiled:
            full_memory_barrier()  # noqa: F821
        before = words[at + KIND]
        seconds = now - floats[at + SINCE]
        if seconds > 0.0:
            self._append(at, before, seconds)
            floats[at + SINCE] = now
        words[at + KIND] = kind
        if cython.compiled:
            full_memory_barrier()  # noqa: F821
        words[at + CHANGES] += 1
        return before

    def wait_ended(self, slot, part_kind, part_end, now, then):
        """A wait that began at the record's SINCE ended at ``now``: the
        part up to ``part_end`` was ``part_kind`` (its socket, its tpool
        thread, its container updates), the rest ``hub``; it is in kind
        ``then`` again (running, or the op the wait interrupted).
        """
        at = HEADER_WORDS + slot * RECORD_WORDS
        words = self._words
        floats = self._floats
        words[at + CHANGES] += 1
        if cython.compiled:
            full_memory_barrier()  # noqa: F821
        since = floats[at + SINCE]
        if part_end > since:
            self._append(at, part_kind, part_end - since)
            since = part_end
        if now > since:
            self._append(at, HUB, now - since)
        floats[at + SINCE] = now
        words[at + KIND] = then
        if cython.compiled:
            full_memory_barrier()  # noqa: F821
        words[at + CHANGES] += 1

    def release(self, slot, status, now):
        """The request of ``slot`` ended at ``now`` with ``status``: its
        last step ends, and it is kept among the slowest if it is one; the
        slot is free again.
        """
        at = HEADER_WORDS + slot * RECORD_WORDS
        wall = now + self.wall_offset
        self.transition(slot, RUNNING, now)
        seconds = now - self._floats[at + STARTED]
        period = int(wall * SLOWEST_PERIODS / self.window)
        index = period % SLOWEST_PERIODS
        if self._period_of[index] != period:
            self._period_of[index] = period
            self._filled[index] = 0
        first = HEADER_WORDS + (self.slots + index * self.slowest_count) * \
            RECORD_WORDS
        target = -1
        if self._filled[index] < self.slowest_count:
            target = first + self._filled[index] * RECORD_WORDS
            self._filled[index] += 1
        else:
            fastest = seconds
            i = 0
            while i < self.slowest_count:
                kept = first + i * RECORD_WORDS
                if self._floats[kept + SECONDS] < fastest:
                    fastest = self._floats[kept + SECONDS]
                    target = kept
                i += 1
        if target >= 0:
            self._enter(target)
            self._words[target + 1:target + RECORD_WORDS] = \
                self._words[at + 1:at + RECORD_WORDS]
            self._words[target + STATE] = FINISHED
            self._words[target + STATUS] = status
            self._floats[target + SECONDS] = seconds
            self._floats[target + ENDED] = wall
            self._leave(target)
        self._enter(at)
        self._words[at + STATE] = FREE
        self._leave(at)
        self._free.append(slot)


# -- the reader: any process ----------------------------------------------

class LayoutError(ValueError):
    """Not a requests file of this format: skipped, counted as
    store_layout.
    """


# A write is a few stores; a copy that overlaps one this many times in a
# row is left out of the answer.
READ_TRIES = 100


def _stable_copy(raw, words, at):
    """The bytes of the record at word ``at``, or None (see the module
    docstring).
    """
    for _ in range(READ_TRIES):
        before = words[at + CHANGES]
        if before & 1:
            continue
        data = raw[at * 8:(at + RECORD_WORDS) * 8].tobytes()
        if words[at + CHANGES] == before:
            return data
    return None


def _steps(data, nsteps):
    """The ``[[kind, seconds], ...]`` of a record's bytes, in whole
    microseconds (JSON then writes short numbers).  Compiled, a loop over
    the words themselves.
    """
    if cython.compiled:
        base = cython.cast(cython.p_char, data) + STEPS_AT * 8
        steps = []
        for i in range(nsteps):
            kind = cython.cast(cython.p_longlong, base + 16 * i)[0]
            seconds = cython.cast(cython.p_double, base + 16 * i + 8)[0]
            if kind < 0 or kind >= len(KINDS):
                raise LayoutError('a step out of range')
            steps.append([KINDS[kind], round(seconds * 1e6) / 1e6])
        return steps
    flat = _STEPS[nsteps].unpack_from(data, STEPS_AT * 8)
    kinds = flat[0::2]
    if kinds and (min(kinds) < 0 or max(kinds) >= len(KINDS)):
        raise LayoutError('a step out of range')
    return [[KINDS[k], round(v * 1e6) / 1e6]
            for k, v in zip(kinds, flat[1::2])]


def _decode(data, now, wall_now, pid):
    (_, state, started, wall, kind, since, nsteps, status, seconds,
     partition, ended) = _FIXED.unpack_from(data, 0)
    text = {}
    offset = TEXT_AT * 8
    for name, size in TEXT_FIELDS:
        text[name] = data[offset:offset + size].rstrip(b'\0').decode(
            'utf-8', 'replace')
        offset += size
    if not 0 <= nsteps <= MAX_STEPS or not 0 <= kind < len(KINDS):
        raise LayoutError('a record out of range')
    steps = _steps(data, nsteps)
    request = {
        'txn_id': text['txn_id'] or None,
        'method': text['method'],
        'device': text['device'],
        'policy': text['policy'],
        'partition': None if partition < 0 else partition,
        'worker': pid,
        'started': wall,
    }
    if state == IN_FLIGHT:
        current = max(now - since, 0.0)
        request['seconds'] = max(now - started, 0.0)
        request['waiting_on'] = KINDS[kind]
        request['waiting_since'] = wall + (since - started)
        # the step it is in, so far (no negative index: see line 1)
        if steps and steps[len(steps) - 1][0] == KINDS[kind]:
            steps[len(steps) - 1][1] += current
        else:
            steps.append([KINDS[kind], current])
    else:
        request['seconds'] = seconds
        request['status'] = status
        request['ended'] = ended
    request['steps'] = steps
    return state, request


class _Mapped(object):
    """One worker's requests file, mapped read-only and checked."""

    def __init__(self, path, pid):
        self.path = path
        self.pid = pid
        with open(path, 'rb') as f:
            size = os.fstat(f.fileno()).st_size
            if size < HEADER_WORDS * 8:
                raise LayoutError('%s: too short' % path)
            self.map = mmap.mmap(f.fileno(), size, mmap.MAP_SHARED,
                                 mmap.PROT_READ)
        self.raw = memoryview(self.map)
        self.words = self.raw.cast('q')
        self.floats = self.raw.cast('d')
        magic, version, slots, slowest, steps, _ = HEADER.unpack_from(
            self.raw, 0)
        if magic != MAGIC or version != FORMAT_VERSION or \
                steps != MAX_STEPS or slots < 0 or slowest < 0 or \
                size != file_bytes(slots, slowest):
            self.close()
            raise LayoutError('%s: not a requests file of format %d'
                              % (path, FORMAT_VERSION))
        self.slots = slots
        self.records = slots + slowest

    def at(self, record):
        return HEADER_WORDS + record * RECORD_WORDS

    def decode(self, record, now, wall_now):
        """(state, request) of ``record``, or None when it is free or was
        being written at every try.
        """
        at = self.at(record)
        if self.words[at + STATE] == FREE:
            return None
        data = _stable_copy(self.raw, self.words, at)
        if data is None:
            return None
        return _decode(data, now, wall_now, self.pid)

    def _column(self, view, word, first, last):
        """Word ``word`` of records ``first`` to ``last``, as a list: one
        strided copy, not a Python loop over the records.
        """
        return view[HEADER_WORDS + first * RECORD_WORDS + word:
                    HEADER_WORDS + last * RECORD_WORDS:
                    RECORD_WORDS].tolist()

    def in_flight(self):
        """The slots that hold a request in flight, by their STATE words
        alone (a hint: each is decoded, and checked).
        """
        states = self._column(self.words, STATE, 0, self.slots)
        return [record for record, state in enumerate(states)
                if state == IN_FLIGHT]

    def finished_since(self, oldest):
        """[(seconds, record)] of the finished requests that ended at
        ``oldest`` or later, from their words alone (a hint: the record is
        decoded, and checked, only if it is among the slowest).
        """
        first = self.slots
        states = self._column(self.words, STATE, first, self.records)
        ended = self._column(self.floats, ENDED, first, self.records)
        seconds = self._column(self.floats, SECONDS, first, self.records)
        return [(seconds[i], first + i) for i in range(len(states))
                if states[i] == FINISHED and ended[i] >= oldest]

    def close(self):
        self.words.release()
        self.floats.release()
        self.raw.release()
        self.map.close()


def read_records(path, pid, in_flight=True, now=None, wall_now=None):
    """([request in flight], [finished request]) of one worker's file,
    every one decoded.

    Raises LayoutError for a file of another format or a damaged one,
    FileNotFoundError when it is gone.
    """
    if now is None:
        now = time.monotonic()
    if wall_now is None:
        wall_now = time.time()
    mapped = _Mapped(path, pid)
    try:
        live, done = [], []
        first = 0 if in_flight else mapped.slots
        for record in range(first, mapped.records):
            found = mapped.decode(record, now, wall_now)
            if found is None:
                continue
            state, request = found
            if state == IN_FLIGHT and record < mapped.slots:
                live.append(request)
            elif state == FINISHED and record >= mapped.slots:
                done.append(request)
        return live, done
    finally:
        mapped.close()


def answer(files, slowest_count, window, now=None, wall_now=None):
    """The JSON-able answer of ``/debug/requests``.

    ``files`` is ``[(path, pid, alive)]``: a dead worker's requests are
    not in flight, though its slowest still count.  Only the records that
    are shown are decoded.  Returns (answer, problems), problems being
    (path, LayoutError) of files left out.
    """
    if now is None:
        now = time.monotonic()
    if wall_now is None:
        wall_now = time.time()
    oldest = wall_now - window
    in_flight, candidates, problems, mapped = [], [], [], []
    try:
        for path, pid, alive in files:
            try:
                one = _Mapped(path, pid)
            except FileNotFoundError:
                continue
            except LayoutError as err:
                problems.append((path, err))
                continue
            mapped.append(one)
            live = []
            try:
                if alive:
                    for record in one.in_flight():
                        found = one.decode(record, now, wall_now)
                        if found is not None and found[0] == IN_FLIGHT:
                            live.append(found[1])
            except LayoutError as err:
                # a damaged record: nothing of that file is shown
                problems.append((path, err))
                continue
            in_flight.extend(live)
            for seconds, record in one.finished_since(oldest):
                candidates.append((seconds, len(mapped) - 1, record))
        candidates.sort(reverse=True)
        slowest = []
        damaged = set()
        for _, index, record in candidates:
            if len(slowest) >= slowest_count:
                break
            if index in damaged:
                continue
            try:
                found = mapped[index].decode(record, now, wall_now)
            except LayoutError as err:
                damaged.add(index)
                problems.append((mapped[index].path, err))
                continue
            if found is not None and found[0] == FINISHED and \
                    found[1]['ended'] >= oldest:
                slowest.append(found[1])
    finally:
        for one in mapped:
            one.close()
    in_flight.sort(key=lambda r: r['started'])
    slowest.sort(key=lambda r: -r['seconds'])
    return {'time': wall_now, 'in_flight': in_flight,
            'slowest': slowest}, problems
