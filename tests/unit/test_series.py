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

"""The Series type, the one owner of a series' layout, in either mode."""

import bisect

import pytest
from hypothesis import given, strategies as st

from swiftinst.series import Series


BOUNDS = (0.001, 0.01, 0.1)


def test_observe_puts_a_value_in_its_le_bucket_and_the_sum():
    s = Series(BOUNDS)
    for value in (0.0005, 0.001, 0.002, 0.1, 7.0, float('inf')):
        s.observe(value)
    # le semantics: a value equal to a bound is in that bound's bucket
    assert s.counts == [2, 1, 1, 2]
    assert s.count == 6
    assert s.total == float('inf')
    assert [s.bucket(v) for v in (0.0, 0.001, 0.0011, 99.0)] == [0, 0, 1, 3]


def test_any_number_of_bounds():
    bounds = tuple(0.0001 * 1.2 ** i for i in range(200))
    s = Series(bounds)
    for i, bound in enumerate(bounds):
        s.observe(bound)
    s.observe(float("inf"))
    assert s.counts == [1] * 201
    assert s.count == 201


def test_a_counter_and_a_gauge_have_one_count():
    counter = Series()
    counter.inc()
    counter.inc(41)
    assert counter.value == 42 and counter.counts == [42]
    gauge = Series()
    gauge.set(7)
    assert gauge.value == 7


def test_bind_carries_the_values_over_and_zero_starts_afresh():
    from array import array
    s = Series(BOUNDS)
    s.observe(0.05)
    s.offer(2, ('tx', 0.05, 1.0))
    counts, total = memoryview(array('q', [0] * 4)), \
        memoryview(array('d', [0.0]))
    s.bind(counts, total)
    assert counts.tolist() == [0, 0, 1, 0] and total.tolist() == [0.05]
    s.observe(0.5)                      # into the bound memory
    assert counts.tolist() == [0, 0, 1, 1] and s.count == 2
    s.zero()
    assert s.counts == [0, 0, 0, 0] and s.total == 0.0
    assert s.exemplars is None
    assert counts.tolist() == [0, 0, 1, 1]      # no longer its memory


def test_load_and_add_merge_series_of_one_layout():
    a = Series(BOUNDS).load([1, 2, 3, 4], 1.5)
    b = Series(BOUNDS).load([1, 0, 0, 1], 0.5)
    assert a.add(b) == Series(BOUNDS).load([2, 2, 3, 5], 2.0)
    with pytest.raises(ValueError):
        Series(BOUNDS).load([1, 2], 0.0)
    assert a != b and a != 'a list'


@given(st.lists(st.floats(0.0001, 100.0), min_size=1, max_size=70,
                unique=True),
       st.floats(allow_nan=False))
def test_bucket_is_bisect_left_in_either_mode(bounds, value):
    bounds = sorted(bounds)
    assert Series(bounds).bucket(value) == bisect.bisect_left(bounds, value)


def test_an_exemplar_is_kept_per_bucket_and_the_fresher_wins():
    s = Series((0.1, 1.0))
    s.observe(0.5)
    s.exemplar(0.5, 'tx-old', 100.0)
    s.observe(0.7)
    s.exemplar(0.7, 'tx-new', 101.0)
    s.exemplar(2.0, 'tx-inf', 99.0)
    assert s.exemplar_items() == [(1, ('tx-new', 0.7, 101.0)),
                                  (2, ('tx-inf', 2.0, 99.0))]
    s.offer(1, ('tx-stale', 0.6, 50.0))          # older: ignored
    assert s.exemplars[1][0] == 'tx-new'


def test_add_merges_exemplars_freshest_first_and_zero_drops_them():
    a, b = Series((0.1, 1.0)), Series((0.1, 1.0))
    a.exemplar(0.5, 'tx-a', 200.0)
    a.exemplar(5.0, 'tx-a-inf', 1.0)
    b.exemplar(0.6, 'tx-b', 300.0)
    b.exemplar(5.0, 'tx-b-inf', 0.5)
    a.add(b)
    assert dict(a.exemplar_items()) == {1: ('tx-b', 0.6, 300.0),
                                        2: ('tx-a-inf', 5.0, 1.0)}
    a.zero()
    assert a.exemplars is None and a.exemplar_items() == []
