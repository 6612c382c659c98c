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

"""A series' values, and the one layout of the files that hold them live.

A series is a row of integer counts and a float sum.  A histogram has one
count per bucket, the last being +Inf (``len(bounds) + 1``); a counter, or
a gauge, has a single count.  Every observation on the request path and
every merged value a scrape renders go through ``Series``, so nothing
else indexes into the row.

Live values: a file per worker, shared memory
==============================================

Each worker's series live in one file of ``metrics_dir``, mapped
``MAP_SHARED`` into the worker (``SeriesFile``), and read by any process
that maps it (``SeriesFileReader``): the scraping worker, ``swiftinst``'s
tools, the compaction that folds a dead worker's values into the archive.
An observation is a store into the mapping (a C increment compiled, a
memoryview item assignment interpreted, from the source below), so a
count is in the kernel's page cache the moment it is made: a worker killed
with ``kill -9`` loses nothing, and a scrape sees every observation made
before it started.

The file is a sequence of regions of ``REGION_BYTES``; it only ever grows
by whole regions, each reserved with ``posix_fallocate`` (a write into a
mapped page of a full filesystem would kill the worker with SIGBUS; a
reserved one cannot fail) and mapped once for the life of the worker.
Nothing a worker has mapped is ever unmapped or moved, so the request path
keeps plain pointers into it.  A region::

    0   magic b'SWIM'                 4 bytes
    4   FORMAT_VERSION                uint32
    8   region index                  uint32
    12  (zero)                        uint32
    16  published: records complete   uint64   <- the publishing word
    24  blake2b-128 of the bounds     16 bytes
    64  records, each 8-aligned:
          record bytes (uint32), counts (uint16), key bytes (uint16),
          crc32 of those three fields' bytes and the key (uint32),
          zero (uint32), marshal(key) padded to 8,
          int64 counts[counts], float64 sum

All integers little-endian (the file never leaves its host).

The publish protocol
--------------------
Only the worker that owns a file writes it, from its one hub thread (the
GIL orders its own stores).  Readers never lock it.

* **Adding a series.**  The writer fills in the record past the last
  published one (its header and key; its counts and sum are zero, as
  every byte of a fresh region is), then stores the region's new record
  count into ``published`` with one aligned 8-byte store.  That store is
  what publishes the series.  A reader loads ``published`` first and walks
  only the records it covers.  On x86-64, stores become visible to other
  cores in program order, so a reader that sees the count sees the whole
  record.  Where they may not (a weakly ordered CPU), the record's crc32
  catches a record that is not yet all visible: when the last published
  record fails its check, the reader leaves it for a later scrape; a record
  before it that fails is damage (below).  A record, once published, is
  never written again: only its counts and sum change.
* **Values.**  Every count and sum is one aligned 8-byte word, written by
  a single store (the only writer's read-modify-write) and read with a
  single 8-byte load: a typed ``int64``/``double`` loop compiled, a
  memoryview of format ``q``/``d`` interpreted, never a byte-wise copy.
  So a reader sees each word's old value or its new one, never a mix.  It
  may see one bucket of a histogram incremented and its sum not yet: the
  same as a scrape a moment earlier or later, as with every Prometheus
  client.
* **Growing.**  A new region is reserved and mapped on the hub when a
  record does not fit: an ``fallocate`` and an ``mmap`` of a file on a
  local filesystem, no data written and nothing waited for.  Until its
  header is written, a reader sees its magic as zeros and takes it for the
  end of the file.

A reader that finds anything else (a file not a multiple of the region
size, another magic, another format version, other bounds, a record that
does not check out) raises ``LayoutError``: the store skips that file for
that scrape and counts it as ``store_layout``.  It never adds part of a
damaged file.

Exemplars, rare by design and variable in size (a txn id of up to 122
characters, a value and a time, which no single store can publish), stay
in the worker's memory and go to a side file once a second (see store).

Compiled (see ``series.pxd``), a Series is a C struct whose counts, sum
and bounds are typed memoryviews: ``observe`` is a C function that finds
the bucket in a C array of doubles and increments an ``int64`` in the
mapping, allocating nothing.
"""

import marshal
import mmap
import os
import struct
import zlib
from array import array
from bisect import bisect_left
from hashlib import blake2b

try:
    import cython
except ImportError:  # interpreted, and Cython is not installed
    from swiftinst import _nocython as cython

MAGIC = b'SWIM'
# A file of another version is skipped (counted as store_layout): after an
# upgrade the counts of old workers are dropped, a counter reset.
FORMAT_VERSION = 1
# 64 KiB: a region holds about 200 histograms of 20 buckets, and
# mmap offsets must be multiples of the page size.
REGION_BYTES = 65536
REGION_HEADER = struct.Struct('<4sIII')
PUBLISHED_WORD = 2                  # published, as an index of int64 words
DIGEST_AT = 24
RECORDS_AT = 64
RECORD_HEADER = struct.Struct('<IHHII')
_FIELDS = struct.Struct('<IHH')
_MAX_KEY = 65535

# One bounds array per distinct bounds, shared by every Series.
_BOUNDS = {}


def _bounds_array(bounds):
    shared = _BOUNDS.get(bounds)
    if shared is None:
        shared = _BOUNDS[bounds] = array('d', bounds)
    return shared


def bounds_digest(bounds):
    return blake2b(array('d', bounds).tobytes(), digest_size=16).digest()


class LayoutError(ValueError):
    """A file that is not a series file of this format and these bounds."""


class Series(object):
    """One series' values: in a worker's file once it has one, in this
    process's memory before that (and for merged values).

    ``exemplars`` is None or a dict: bucket index -> (txn_id, value,
    timestamp).
    """

    __slots__ = ('bounds', '_bounds', '_counts', '_sum', 'exemplars')

    def __init__(self, bounds=()):
        self.bounds = bounds = tuple(float(bound) for bound in bounds)
        self._bounds = memoryview(_bounds_array(bounds))
        self._counts = memoryview(array('q', bytes(8 * (len(bounds) + 1))))
        self._sum = memoryview(array('d', [0.0]))
        self.exemplars = None

    @property
    def width(self):
        """How many counts this series holds."""
        return len(self._counts)

    def bind(self, counts, total):
        """Keep the values in ``counts`` (int64 words) and ``total`` (one
        double) from now on, the series' record in a worker's file, with
        what they held so far copied there first.  On the hub, between two
        observations, so none is lost.
        """
        for i in range(len(self._counts)):
            counts[i] = self._counts[i]
        total[0] = self._sum[0]
        self._counts = counts
        self._sum = total

    def zero(self):
        """Back to nothing, in this process's own memory (a forked
        worker's inherited values belong to its parent).
        """
        self._counts = memoryview(array('q', bytes(8 * len(self._counts))))
        self._sum = memoryview(array('d', [0.0]))
        self.exemplars = None

    def bucket(self, seconds):
        """Index of the bucket that ``seconds`` falls in (le semantics:
        a value equal to a bound belongs to that bound's bucket): the
        binary search of ``bisect_left``, which is C already where this
        runs interpreted, and over C doubles where it is compiled.
        """
        if not cython.compiled:
            return bisect_left(self.bounds, seconds)
        bounds = self._bounds
        lo = 0
        hi = len(bounds)
        while lo < hi:
            mid = (lo + hi) >> 1
            if bounds[mid] < seconds:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def observe(self, seconds):
        """One observation of a histogram."""
        self._counts[self.bucket(seconds)] += 1
        self._sum[0] += seconds

    def exemplar(self, seconds, txn_id, timestamp):
        """Make an observation of ``seconds`` already counted, by the
        request ``txn_id`` at Unix time ``timestamp``, its bucket's
        exemplar.
        """
        self.offer(self.bucket(seconds), (txn_id, seconds, timestamp))

    def offer(self, bucket, exemplar):
        """Keep ``exemplar`` for ``bucket`` unless the one there is
        fresher: the one rule by which exemplars are kept and merged.
        """
        exemplars = self.exemplars
        if exemplars is None:
            exemplars = self.exemplars = {}
        current = exemplars.get(bucket)
        if current is None or current[2] <= exemplar[2]:
            exemplars[bucket] = exemplar

    def exemplar_items(self):
        """``[(bucket, (txn_id, value, timestamp))]``, bucket order.  Safe
        from a native thread: the dict is copied in one C call.
        """
        exemplars = self.exemplars
        if not exemplars:
            return []
        return sorted(exemplars.copy().items())

    def inc(self, amount=1):
        """A counter's increment."""
        self._counts[0] += amount

    def set(self, value):
        """A gauge's value."""
        self._counts[0] = int(value)

    @property
    def value(self):
        """A counter's or gauge's value."""
        return self._counts[0]

    @property
    def counts(self):
        """The counts, as a list (a copy)."""
        return list(self._counts)

    @property
    def total(self):
        """The sum of the observations."""
        return self._sum[0]

    @property
    def count(self):
        """Observations so far (a histogram's count)."""
        return sum(self._counts)

    def load(self, counts, total):
        """Take ``counts`` (as many as this series has) and ``total``."""
        if len(counts) != len(self._counts):
            raise ValueError('%d counts for a series of %d'
                             % (len(counts), len(self._counts)))
        self._counts = memoryview(array('q', counts))
        self._sum = memoryview(array('d', [total]))
        return self

    def add(self, other):
        """Add ``other``, a series of the same layout, to this one; of
        two exemplars for one bucket, the fresher stays.
        """
        counts = self._counts
        theirs = other._counts
        for i in range(len(counts)):
            counts[i] += theirs[i]
        self._sum[0] += other._sum[0]
        for bucket, exemplar in other.exemplar_items():
            self.offer(bucket, exemplar)
        return self

    def add_words(self, words, floats, at):
        """Add the counts at ``words[at:]`` and the sum after them
        (``floats``: the same memory as doubles), one aligned 8-byte load
        each: another worker's live record.
        """
        counts = self._counts
        width = len(counts)
        for i in range(width):
            counts[i] += words[at + i]
        self._sum[0] += floats[at + width]

    def __eq__(self, other):
        if not isinstance(other, Series):
            return NotImplemented
        return self.counts == other.counts and self.total == other.total

    def __repr__(self):
        return 'Series(%r, %r)' % (self.counts, self.total)


def _record_crc(size, width, key):
    return zlib.crc32(key, zlib.crc32(_FIELDS.pack(size, width, len(key))))


def _padded(n):
    return (n + 7) & ~7


class SeriesFile(object):
    """A worker's live values: the writer of one file (see the module's
    docstring).  Hub only.
    """

    def __init__(self, path, bounds):
        """Create the file under a temporary name (``path`` + ``.tmp``):
        readers see it once ``publish`` has renamed it.  A file is never
        truncated once mapped (its pages would be gone under the mapping).
        """
        self.path = path + '.tmp'
        self._final = path
        self.bounds = tuple(bounds)
        self._digest = bounds_digest(self.bounds)
        self._regions = []         # mmap of each region, never unmapped
        self._published = None     # the current region's publishing word
        self._count = 0            # records in the current region
        self._used = 0             # bytes used in the current region
        try:
            os.unlink(self.path)   # a leftover of this worker's, unmapped
        except FileNotFoundError:
            pass
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL,
                          0o644)
        try:
            self._new_region()
        except BaseException:
            os.close(self.fd)
            raise

    def _new_region(self):
        index = len(self._regions)
        os.posix_fallocate(self.fd, index * REGION_BYTES, REGION_BYTES)
        region = mmap.mmap(self.fd, REGION_BYTES, offset=index * REGION_BYTES)
        region[DIGEST_AT:DIGEST_AT + 16] = self._digest
        REGION_HEADER.pack_into(region, 0, MAGIC, FORMAT_VERSION, index, 0)
        self._regions.append(region)
        self._published = memoryview(region).cast('q')[
            PUBLISHED_WORD:PUBLISHED_WORD + 1]
        self._count = 0
        self._used = RECORDS_AT

    def add(self, key, width):
        """A zeroed record for ``key`` with ``width`` counts, published:
        returns its (counts, sum) as int64 and double memoryviews.  Raises
        OSError when the file cannot grow (a full metrics_dir).
        """
        blob = marshal.dumps(key)
        if len(blob) > _MAX_KEY:
            raise ValueError('series key of %d bytes' % len(blob))
        values_at = RECORD_HEADER.size + _padded(len(blob))
        size = values_at + 8 * width + 8
        if self._used + size > REGION_BYTES:
            if RECORDS_AT + size > REGION_BYTES:
                raise ValueError('series of %d bytes' % size)
            self._new_region()
        region = self._regions[len(self._regions) - 1]
        at = self._used
        start = at + RECORD_HEADER.size
        region[start:start + len(blob)] = blob
        RECORD_HEADER.pack_into(region, at, size, width, len(blob),
                                _record_crc(size, width, blob), 0)
        view = memoryview(region)
        values_at += at
        counts = view[values_at:values_at + 8 * width].cast('q')
        total = view[values_at + 8 * width:at + size].cast('d')
        self._used = at + size
        self._count += 1
        self._published[0] = self._count       # publishes the record
        return counts, total

    def publish(self):
        """Give the file its name: readers see it from now on."""
        os.rename(self.path, self._final)
        self.path = self._final

    def exists(self):
        """Whether ``path`` is still this file (not removed or replaced)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        own = os.fstat(self.fd)
        return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


class SeriesFileReader(object):
    """Any process's view of one worker's file, parsed incrementally: a
    record once read is never read again, only its values.

    ``width_of(key)`` says how many counts a key's series has (or raises
    KeyError for a key it does not know).
    """

    def __init__(self, path, bounds, width_of):
        self.path = path
        self.bounds = tuple(bounds)
        self._digest = bounds_digest(self.bounds)
        self._width_of = width_of
        self.records = []          # (key, word offset of its counts, width)
        self._map = None
        self._identity = None
        self._regions = []         # (records parsed, byte offset of next)

    def close(self):
        if self._map is not None:
            self._map.close()
            self._map = None

    def refresh(self):
        """Map what the file holds now and parse the records published
        since the last call.  Raises LayoutError on damage, OSError when
        the file is gone.
        """
        fd = os.open(self.path, os.O_RDONLY)
        try:
            st = os.fstat(fd)
            identity = (st.st_dev, st.st_ino)
            if identity != self._identity:
                self.close()
                self.records = []
                self._regions = []
                self._identity = identity
            size = st.st_size
            if size == 0 or size % REGION_BYTES:
                raise LayoutError('%s: %d bytes, not whole regions'
                                  % (self.path, size))
            if self._map is None or len(self._map) != size:
                self.close()
                self._map = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        region_words = REGION_BYTES // 8
        words = memoryview(self._map).cast('q')
        try:
            for index in range(size // REGION_BYTES):
                if index == len(self._regions):
                    if not self._check_region(index):
                        break
                    self._regions.append((0, RECORDS_AT))
                parsed, offset = self._regions[index]
                published = words[index * region_words + PUBLISHED_WORD]
                if published > parsed:
                    self._regions[index] = self._parse(
                        index, parsed, offset, published)
        finally:
            words.release()

    def _check_region(self, index):
        """Whether region ``index`` is ready to be read (False: not yet
        initialised, the end of the file for now).
        """
        base = index * REGION_BYTES
        magic, version, number, _ = REGION_HEADER.unpack_from(
            self._map, base)
        if magic == b'\0\0\0\0':
            return False
        if magic != MAGIC or version != FORMAT_VERSION or number != index:
            raise LayoutError('%s: not a series file of format %d'
                              % (self.path, FORMAT_VERSION))
        if self._map[base + DIGEST_AT:base + DIGEST_AT + 16] != self._digest:
            raise LayoutError('%s has other bucket bounds' % self.path)
        return True

    def _parse(self, index, parsed, offset, published):
        base = index * REGION_BYTES
        region = self._map
        while parsed < published:
            if offset + RECORD_HEADER.size > REGION_BYTES:
                raise LayoutError('%s: records past the region' % self.path)
            size, width, key_len, crc, _ = RECORD_HEADER.unpack_from(
                region, base + offset)
            start = base + offset + RECORD_HEADER.size
            blob = region[start:start + key_len]
            if size & 7 or offset + size > REGION_BYTES or \
                    size != RECORD_HEADER.size + _padded(key_len) + \
                    8 * width + 8 or crc != _record_crc(size, width, blob):
                if parsed == published - 1:
                    break          # not all visible yet: a later scrape
                raise LayoutError('%s: a damaged record' % self.path)
            try:
                key = marshal.loads(blob)
                known = self._width_of(key)
            except (EOFError, ValueError, TypeError, KeyError, IndexError):
                raise LayoutError('%s: an unknown series' % self.path)
            if known != width:
                raise LayoutError('%s: a series of %d counts, not %d'
                                  % (self.path, width, known))
            values_at = base + offset + RECORD_HEADER.size + \
                _padded(key_len)
            self.records.append((key, values_at // 8, width))
            offset += size
            parsed += 1
        return parsed, offset

    def add_to(self, totals, new_series):
        """Add every parsed record's values to ``totals`` ({key: Series});
        ``new_series(key)`` makes the Series for a key not there yet.
        """
        words = memoryview(self._map).cast('q')
        floats = memoryview(self._map).cast('d')
        try:
            for key, at, width in self.records:
                series = totals.get(key)
                if series is None:
                    series = totals[key] = new_series(key)
                series.add_words(words, floats, at)
        finally:
            words.release()
            floats.release()
