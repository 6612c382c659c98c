"""Prometheus exposition of the merged values.

prometheus_client renders the text (or OpenMetrics, by Accept negotiation),
fed by a custom collector over the store's merged series.  Rendering runs
in a native thread together with the merge, so it must not touch a
CollectorRegistry (whose lock would be green): the encoders only need an
object with ``collect()``.
"""

import gzip
from itertools import accumulate

from prometheus_client.core import (
    CounterMetricFamily, HistogramMetricFamily)
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.utils import floatToGoString

from swiftinst import metrics


class SeriesCollector(object):
    """Yields metric families for one merged ``{(name, labels): values}``."""

    def __init__(self, series, bounds):
        self.series = series
        self.bounds = [floatToGoString(b) for b in bounds] + ['+Inf']

    def collect(self):
        by_metric = {}
        for (name, labels), values in self.series.items():
            by_metric.setdefault(name, []).append((labels, values))
        for definition in metrics.ALL_METRICS:
            rows = by_metric.get(definition.name)
            if definition.kind == metrics.HISTOGRAM:
                family = HistogramMetricFamily(
                    definition.name, definition.help,
                    labels=definition.labels)
                for labels, values in sorted(rows or ()):
                    family.add_metric(
                        labels,
                        list(zip(self.bounds, accumulate(values[:-1]))),
                        values[-1])
            else:
                family = CounterMetricFamily(
                    definition.name, definition.help,
                    labels=definition.labels)
                for labels, values in sorted(rows or ()):
                    family.add_metric(labels, values[0])
            yield family


def render(series, bounds, accept='', accept_encoding=''):
    """(headers, body) of one scrape, as prometheus_client would serve it."""
    encoder, content_type = choose_encoder(accept or '')
    body = encoder(SeriesCollector(series, bounds))
    headers = [('Content-Type', content_type)]
    if gzip_accepted(accept_encoding or ''):
        body = gzip.compress(body)
        headers.append(('Content-Encoding', 'gzip'))
    return headers, body
