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

import math

import pytest

from swiftinst.analysis import Scrape, bucket_delta, histogram_quantile

BUCKETS = [(0.1, 10.0), (0.5, 60.0), (1.0, 90.0), (float('inf'), 100.0)]


@pytest.mark.parametrize('q,expected', [
    (0.05, 0.05),     # inside the first bucket, from 0
    (0.5, 0.42),      # 50th of 100: 40/50 of the way through (0.1, 0.5]
    (0.9, 1.0),
    (0.99, 1.0),      # in +Inf: the highest finite bound, as PromQL
])
def test_histogram_quantile_matches_promql(q, expected):
    assert histogram_quantile(q, BUCKETS) == pytest.approx(expected)


def test_empty_histogram_is_nan():
    assert math.isnan(histogram_quantile(0.5, []))
    assert math.isnan(histogram_quantile(0.5, [(1.0, 0), (math.inf, 0)]))


def test_bucket_delta_and_reset():
    before = [(0.1, 5.0), (float('inf'), 6.0)]
    after = [(0.1, 7.0), (float('inf'), 9.0)]
    assert bucket_delta(after, before) == [(0.1, 2.0), (float('inf'), 3.0)]
    assert bucket_delta(before, after) == before


def test_scrape_selects_and_sums():
    text = '''# TYPE x histogram
x_bucket{device="sda",le="0.1"} 1
x_bucket{device="sda",le="+Inf"} 2
x_bucket{device="sdb",le="0.1"} 3
x_bucket{device="sdb",le="+Inf"} 3
x_count{device="sda"} 2
x_count{device="sdb"} 3
x_sum{device="sda"} 0.5
x_sum{device="sdb"} 0.1
'''
    s = Scrape(text)
    assert s.total('x_count') == 5
    assert s.total('x_count', device='sda') == 2
    assert s.buckets('x') == [(0.1, 4.0), (float('inf'), 5.0)]
    assert s.label_values('x_count', 'device') == {'sda', 'sdb'}
