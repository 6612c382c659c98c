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

"""Reading a /metrics scrape back: samples, bucket deltas and quantiles.

Shared by ``swiftinst demo``, ``swiftinst report`` and the tests, so that
every number a person sees is computed one way: quantiles by linear
interpolation inside the bucket, exactly as PromQL's histogram_quantile.
"""

import math

from prometheus_client.parser import text_string_to_metric_families


class Scrape(object):
    """All samples of one exposition, indexed by name and labels."""

    def __init__(self, text):
        self.samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                self.samples[key] = sample.value

    @classmethod
    def combined(cls, scrapes):
        """One Scrape whose samples are the sums of ``scrapes``' (several
        object servers of one node).
        """
        total = cls('')
        for scrape in scrapes:
            for key, value in scrape.samples.items():
                total.samples[key] = total.samples.get(key, 0.0) + value
        return total

    def select(self, name, **match):
        """{labels dict as tuple: value} for samples of ``name`` whose
        labels include ``match``.
        """
        found = {}
        for (sample_name, labels), value in self.samples.items():
            if sample_name != name:
                continue
            as_dict = dict(labels)
            if all(as_dict.get(k) == v for k, v in match.items()):
                found[labels] = value
        return found

    def total(self, name, **match):
        return sum(self.select(name, **match).values())

    def label_values(self, name, label):
        return {dict(labels).get(label) for labels in self.select(name)}

    def buckets(self, name, **match):
        """Cumulative buckets [(le, count)] summed over matching series."""
        summed = {}
        for labels, value in self.select(name + '_bucket', **match).items():
            le = float(dict(labels)['le'])
            summed[le] = summed.get(le, 0.0) + value
        return sorted(summed.items())


def bucket_delta(after, before):
    """Bucket counts accrued between two scrapes (a reset counts as new)."""
    previous = dict(before)
    delta = [(le, count - previous.get(le, 0.0)) for le, count in after]
    if any(count < 0 for _, count in delta):
        return list(after)
    return delta


def histogram_quantile(q, buckets):
    """PromQL's histogram_quantile over cumulative [(le, count)].

    NaN when there are no observations.  The answer lies inside the bucket
    holding the q-th observation, interpolated linearly; the +Inf bucket
    answers with the highest finite bound.
    """
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lower_bound
            if count == lower_count:
                return le
            return lower_bound + (le - lower_bound) * (
                (rank - lower_count) / (count - lower_count))
        lower_bound, lower_count = le, count
    return lower_bound
