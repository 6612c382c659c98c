# cython: boundscheck=False, wraparound=False
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

"""The one type that knows how a series' values are laid out.

A series is a row of integer counts and a float sum.  A histogram has one
count per bucket, the last being +Inf (``len(bounds) + 1``); a counter, or
a gauge, has a single count.  Every observation on the request path, the
snapshot a worker writes and the merged values a scrape renders go through
this module, so nothing else indexes into the row.

The live values a worker observes into on the hub keep their identity for
the life of the process (the request path holds references to them), so
a new worker zeroes them in place.  Merged values, on their way from the
store to the exposition, are Series too.

A histogram series may also hold exemplars: for some of its buckets,
one recent observation with the txn id of the request behind it
(``Series.exemplar``).  Only slow observations are offered (see
``exemplar_min_seconds``), so the common request never touches them;
merging keeps the freshest per bucket.

Compiled (see ``series.pxd``), a Series is a C struct whose ``observe``
is a C function that callers of a known type call directly.
"""

from bisect import bisect_left

try:
    import cython
except ImportError:  # interpreted, and Cython is not installed
    from swiftinst import _nocython as cython


class Series(object):
    """Live values: ``counts`` (a list of ints), ``total`` (a float) and
    ``exemplars`` (None, or a dict: bucket index -> (txn_id, value,
    timestamp)).
    """

    __slots__ = ('bounds', 'counts', 'total', 'exemplars')

    def __init__(self, bounds=()):
        self.bounds = tuple(float(bound) for bound in bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self.exemplars = None

    def bucket(self, seconds):
        """Index of the bucket that ``seconds`` falls in (le semantics:
        a value equal to a bound belongs to that bound's bucket): the
        binary search of ``bisect_left``, which is C already where this
        runs interpreted, and over C doubles where it is compiled.
        """
        if not cython.compiled:
            return bisect_left(self.bounds, seconds)
        bounds = self.bounds
        lo = 0
        hi = len(bounds)
        while lo < hi:
            mid = (lo + hi) >> 1
            bound = bounds[mid]
            if bound < seconds:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def observe(self, seconds):
        """One observation of a histogram."""
        self.counts[self.bucket(seconds)] += 1
        self.total += seconds

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
        self.counts[0] += amount

    def set(self, value):
        """A gauge's value."""
        self.counts[0] = value

    @property
    def value(self):
        """A counter's or gauge's value."""
        return self.counts[0]

    @property
    def count(self):
        """Observations so far (a histogram's count)."""
        return sum(self.counts)

    def zero(self):
        """Back to nothing, in place (a forked worker's inherited values
        belong to its parent).
        """
        counts = self.counts
        for i in range(len(counts)):
            counts[i] = 0
        self.total = 0.0
        self.exemplars = None

    def dump(self, counts, sums):
        """Append this series to a snapshot's ``counts`` and ``sums``
        arrays.  Safe from a native thread while the hub observes: the
        list is copied in one C call, under the GIL.
        """
        counts.extend(self.counts)
        sums.append(self.total)

    def load(self, counts, total):
        """Take ``counts`` (as many as this series has) and ``total``."""
        if len(counts) != len(self.counts):
            raise ValueError('%d counts for a series of %d'
                             % (len(counts), len(self.counts)))
        self.counts = list(counts)
        self.total = total
        return self

    def add(self, other):
        """Add ``other``, a series of the same layout, to this one; of
        two exemplars for one bucket, the fresher stays.
        """
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]
        self.total += other.total
        for bucket, exemplar in other.exemplar_items():
            self.offer(bucket, exemplar)
        return self

    def __eq__(self, other):
        if not isinstance(other, Series):
            return NotImplemented
        return self.counts == other.counts and self.total == other.total

    def __repr__(self):
        return 'Series(%r, %r)' % (self.counts, self.total)
