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

"""Prometheus exposition of the merged values: text 0.0.4 and OpenMetrics.

Written here rather than through prometheus_client's collectors because a
node's full series set (12 devices, 2 policies, every op, method and
status) is ~40,000 sample lines, which prometheus_client takes ~230 ms to
render; this takes a tenth of that.  Content negotiation and gzip follow
prometheus_client's exposition helpers, and the tests parse both formats
with prometheus_client's parsers and compare them with its own rendering.

Runs in a native thread (with the merge): it must not touch anything
green.
"""

import gzip
from itertools import accumulate

from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.utils import floatToGoString

from swiftinst import metrics
from swiftinst.offhub import pause


def _escape_label(value):
    return value.replace('\\', r'\\').replace('\n', r'\n').replace('"', r'\"')


def _escape_help(text):
    return text.replace('\\', r'\\').replace('\n', r'\n')


def _label_text(names, values):
    return ','.join('%s="%s"' % (n, _escape_label(v))
                    for n, v in zip(names, values))


def _braced(label_text):
    return '{%s}' % label_text if label_text else ''


def _exemplar_suffix(exemplar):
    """`` # {txn_id="..."} value timestamp`` (OpenMetrics)."""
    txn_id, value, timestamp = exemplar
    return ' # {txn_id="%s"} %s %.3f' % (_escape_label(txn_id),
                                         floatToGoString(value), timestamp)


def _bucket_lines(prefix, les, cumulative, exemplars):
    """A histogram series' bucket lines; with ``exemplars`` (bucket index
    -> exemplar), OpenMetrics only, those buckets carry theirs.
    """
    if not exemplars:
        return ''.join([prefix + le + '%d\n' % count
                        for le, count in zip(les, cumulative)])
    return ''.join([
        prefix + le + '%d%s\n' % (count, _exemplar_suffix(exemplars[i])
                                  if i in exemplars else '')
        for i, (le, count) in enumerate(zip(les, cumulative))])


def render_chunks(series, bounds, openmetrics=False):
    """The exposition of ``{(name, labels): Series}`` as a list
    of byte strings, one per metric family: never one big string, whose
    joining and encoding would hold the GIL for milliseconds.  Exemplars
    are OpenMetrics' alone: the text format 0.0.4 has no place for them.
    """
    les = ['"%s"} ' % floatToGoString(b) for b in bounds] + ['"+Inf"} ']
    by_metric = {}
    for (name, labels), values in series.items():
        by_metric.setdefault(name, []).append((labels, values))
    chunks = []
    for definition in metrics.ALL_METRICS:
        out = []
        append = out.append
        name = definition.name
        rows = by_metric.get(name)
        help_text = _escape_help(definition.help)
        if definition.kind in (metrics.HISTOGRAM, metrics.TOTALS):
            append('# HELP %s %s\n# TYPE %s histogram\n'
                   % (name, help_text, name))
            bucket_les = les if definition.kind == metrics.HISTOGRAM \
                else les[-1:]
            for labels, values in sorted(rows or ()):
                pause()
                label_text = _label_text(definition.labels, labels)
                prefix = '%s_bucket{%sle=' % (
                    name, label_text + ',' if label_text else '')
                braced = _braced(label_text)
                cumulative = list(accumulate(values.counts))
                append(_bucket_lines(prefix, bucket_les, cumulative,
                                     openmetrics and values.exemplars))
                append('%s_count%s %d\n%s_sum%s %s\n' % (
                    name, braced, cumulative[-1], name, braced,
                    floatToGoString(values.total)))
        elif definition.kind == metrics.GAUGE:
            append('# HELP %s %s\n# TYPE %s gauge\n'
                   % (name, help_text, name))
            for labels, values in sorted(rows or ()):
                append('%s%s %s\n' % (
                    name, _braced(_label_text(definition.labels, labels)),
                    floatToGoString(values.value)))
        else:
            family = name if openmetrics else name + '_total'
            append('# HELP %s %s\n# TYPE %s counter\n'
                   % (family, help_text, family))
            for labels, values in sorted(rows or ()):
                append('%s_total%s %d\n' % (
                    name, _braced(_label_text(definition.labels, labels)),
                    values.value))
        chunks.append(''.join(out).encode('utf-8'))
    if openmetrics:
        chunks.append(b'# EOF\n')
    return chunks


def render_text(series, bounds, openmetrics=False):
    """The whole exposition as one byte string (for tests and tools)."""
    return b''.join(render_chunks(series, bounds, openmetrics))


def render(series, bounds, accept='', accept_encoding=''):
    """(headers, body chunks) of one scrape, negotiated as
    prometheus_client's exposition helpers do.
    """
    _, content_type = choose_encoder(accept or '')
    openmetrics = content_type.startswith('application/openmetrics-text')
    chunks = render_chunks(series, bounds, openmetrics)
    headers = [('Content-Type', content_type)]
    if gzip_accepted(accept_encoding or ''):
        # zlib releases the GIL while it compresses
        chunks = [gzip.compress(b''.join(chunks), compresslevel=6)]
        headers.append(('Content-Encoding', 'gzip'))
    return headers, chunks
