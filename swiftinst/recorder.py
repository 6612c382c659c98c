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

"""Turns what the hooks saw into metric values, statsd samples and logs.

The recorder is the one place that knows which metric an event belongs to.
It also owns the rule that instrumentation never hurts a request: every
failure inside swiftinst is counted in
``swift_object_instrumentation_errors_total{component}`` and logged once per
component, and the caller carries on.
"""

import collections
import os
import time

from swiftinst import activity, metrics
from swiftinst.labels import PROFILES, device_policy, op_device

_monotonic = time.monotonic
# The kinds of WARNING line that an incident can multiply, each limited
# to one line per WARNING_INTERVAL per worker (see WarningLimiter).
WARNING_KINDS = ('slow_read', 'slow_request', 'hub_blocked')
WARNING_INTERVAL = 1.0


# The OpenMetrics limit on an exemplar's labels (128 characters, names
# included): a longer txn id has no exemplar rather than a broken scrape.
MAX_EXEMPLAR_TXN_ID = 128 - len('txn_id')


def note_exemplar(series, seconds, ctx):
    """Make an observation of ``seconds`` in ``series``, by the request of
    ``ctx``, its bucket's exemplar: the slow path, taken only for
    observations at or above ``exemplar_min_seconds``.
    """
    txn_id = ctx.txn_id
    if txn_id and len(txn_id) <= MAX_EXEMPLAR_TXN_ID:
        series.exemplar(seconds, txn_id, time.time())


def _identify(ctx):
    """The request, as every WARNING line about one names it."""
    return 'txn: %s, device: %s, partition: %s, client: %s' % (
        ctx.txn_id or '-', ctx.device, ctx.partition or '-', ctx.client)


class WarningLimiter(object):
    """At most one WARNING line of one kind per ``interval`` seconds.

    A network incident can make thousands of reads slow per second in
    every worker; a line for each, through Swift's logger and syslog,
    would become a second incident.  The lines held back are counted in
    ``swift_object_suppressed_warnings_total{kind}``, and the next line
    written says how many there were.  The metrics behind a line (slow
    reads, hub blocks) still count every event.
    """

    __slots__ = ('interval', 'next_at', 'suppressed', 'counter')

    def __init__(self, store, kind, interval=WARNING_INTERVAL):
        self.interval = interval
        self.next_at = 0.0
        self.suppressed = 0
        # created at 0 in every worker, so an alert has a series to watch
        self.counter = store.counter((metrics.SUPPRESSED_WARNINGS.name,
                                      (kind,)))

    def allow(self):
        """Whether a line may be written now; counts it if not."""
        now = _monotonic()
        if now < self.next_at:
            self.suppressed += 1
            self.counter.inc()
            return False
        self.next_at = now + self.interval
        return True

    def note(self):
        """What the line allowed now adds about those held back before."""
        suppressed, self.suppressed = self.suppressed, 0
        return ' (%d similar lines suppressed)' % suppressed \
            if suppressed else ''


class DiskTarget(object):
    """One (device, policy) pair: its disk-op histograms and statsd names.

    A histogram is created at the first observation of its op, so a node
    exposes only the ops it has seen.
    """

    __slots__ = ('device', 'policy', 'histograms', 'statsd_names',
                 'exemplar_min', 'phases', '_store', '_profile')

    def __init__(self, store, device, policy, exemplar_min=0.0,
                 profile=PROFILES['default'], phases=False):
        self.device = device
        self.policy = policy
        self.exemplar_min = exemplar_min
        self._store = store
        self._profile = profile
        # the device's phase totals, where the profile keeps them and
        # event-loop accounting (``phases``) measures them
        self.phases = tuple(
            store.totals((metrics.DEVICE_PHASE.name, (device, policy, phase)))
            for phase in metrics.PHASES) \
            if phases and profile.device_totals else ()
        # op -> Series
        self.histograms = {}
        self.statsd_names = {op: 'disk.%s.%s' % (op, device)
                             for op in metrics.DISK_OPS}

    def observe(self, ops, ctx=None):
        """Observe each ``(op, seconds)`` of ``ops``, done for the request
        of ``ctx`` if there was one.
        """
        histograms = self.histograms
        for op, seconds in ops:
            series = histograms.get(op)
            if series is None:
                series = histograms[op] = self._store.histogram(
                    (metrics.DISK_OP.name, (op, op_device(
                        self._profile, op, self.device), self.policy)))
            series.observe(seconds)
            if seconds >= self.exemplar_min > 0 and ctx is not None:
                note_exemplar(series, seconds, ctx)


class RequestKind(object):
    """What every request of one (method, device, policy) shares: its
    labels, live series and statsd names, looked up once for all.  The
    series profile decides, once, which series are the device's own and
    which the whole node's (see labels).
    """

    __slots__ = ('method', 'device', 'policy', 'labels', 'read',
                 'read_statsd', 'by_status', 'input_bytes', 'disk', 'phases',
                 'exemplar_min', '_histogram_labels', '_read_labels',
                 '_device_totals', '_store', 'identity')

    def __init__(self, recorder, method, device, policy):
        store = self._store = recorder.store
        profile = recorder.profile
        self.method = method
        self.device = device
        self.policy = policy
        # what a request's record says of it besides its txn id
        self.identity = activity.identity(method, device, policy)
        # the labels of the device's own series
        own_policy = device_policy(profile, policy)
        self.labels = labels = (method, device, own_policy)
        # the labels of the request and phase histograms
        self._histogram_labels = histogram_labels = labels \
            if profile.requests_by_device \
            else (method, metrics.NODE, policy)
        # the body-read histogram, created by the first read: a GET never
        # has one
        self.read = None
        self._read_labels = labels if profile.reads_by_device \
            else histogram_labels
        self.read_statsd = '%s.%s.input_read' % (method, device)
        # the status line's first character -> (live request-duration
        # histogram of its class ('2' -> '2xx'), the device's totals of
        # that class or None where the profile keeps none), created at
        # first use
        self.by_status = {}
        self._device_totals = profile.device_totals
        # the input-bytes counter, created by the first request of this
        # kind that read a body
        self.input_bytes = None
        self.disk = recorder.disk_target(device, own_policy)
        self.exemplar_min = recorder.exemplar_min
        # the four phase histograms, when event-loop accounting is on
        self.phases = tuple(
            store.histogram((metrics.REQUEST_PHASE.name,
                             histogram_labels + (phase,)))
            for phase in metrics.PHASES) if recorder.phases else ()

    def observe_read(self, seconds):
        """One read of a request body; returns its histogram."""
        series = self.read
        if series is None:
            series = self.read = self._store.histogram(
                (metrics.INPUT_READ.name, self._read_labels))
        series.observe(seconds)
        return series

    def observe_request(self, status, seconds, bytes_read, ctx=None):
        """A request of this kind, ``ctx``'s, ended with ``status`` (the
        status line it started its response with, or None) after
        ``seconds``, having read ``bytes_read`` bytes of its body.
        """
        first = status[0] if status else ''
        pair = self.by_status.get(first)
        if pair is None:
            pair = self.by_status[first] = self._status_series(first)
        series = pair[0]
        series.observe(seconds)
        if seconds >= self.exemplar_min > 0 and ctx is not None:
            note_exemplar(series, seconds, ctx)
        if pair[1] is not None:
            series = pair[1]
            series.observe(seconds)
        if bytes_read:
            series = self.input_bytes
            if series is None:
                series = self.input_bytes = self._store.counter(
                    (metrics.INPUT_BYTES.name, self.labels))
            series.inc(bytes_read)

    def _status_series(self, first):
        """(request histogram, device totals or None) of the status class
        of a status line starting with ``first``.
        """
        status = (metrics.status_class(first),)
        return (self._store.histogram((metrics.REQUEST.name,
                                       self._histogram_labels + status)),
                self._store.totals((metrics.DEVICE_REQUEST.name,
                                    self.labels + status))
                if self._device_totals else None)

    def observe_phases(self, seconds):
        """A request's wall time split into its phases (in the order of
        ``metrics.PHASES``), when event-loop accounting is on: into the
        phase histograms and the device's phase totals.
        """
        observe_each(self.phases, seconds)
        observe_each(self.disk.phases, seconds)


def observe_each(series, seconds):
    """Observe ``seconds[i]`` in ``series[i]``, for each series."""
    for i in range(len(series)):
        one = series[i]
        one.observe(seconds[i])


class Recorder(object):
    """The one place that knows which metric an event feeds."""

    __slots__ = ('store', 'labels', 'statsd', 'logger',
                 'slow_read_threshold', 'phases', 'slow_request_threshold',
                 'exemplar_min', 'profile', 'limiters', '_logged_components',
                 '_disk_targets', '_targets_by_path', '_kinds',
                 '_kinds_by_raw', '_updates', 'records')

    def __init__(self, store, statsd, logger, slow_read_threshold, labels,
                 phases=False, slow_request_threshold=0.0,
                 exemplar_min=0.0, profile=PROFILES['default']):
        self.store = store
        self.labels = labels
        self.statsd = statsd
        self.logger = logger
        self.slow_read_threshold = slow_read_threshold
        # whether requests' phases are measured (event-loop accounting)
        self.phases = phases
        self.slow_request_threshold = slow_request_threshold
        # observations at least this slow become exemplars; 0: none do
        self.exemplar_min = exemplar_min
        # which series are per device (labels.SeriesProfile)
        self.profile = profile
        # kind -> WarningLimiter
        self.limiters = {kind: WarningLimiter(store, kind)
                         for kind in WARNING_KINDS}
        self._logged_components = set()
        self._disk_targets = {}
        self._targets_by_path = {}
        # label values -> RequestKind; and the raw request values that are
        # their own labels -> the same RequestKind (see kind())
        self._kinds = {}
        self._kinds_by_raw = {}
        # outcome -> the container-update histogram, created at first use
        self._updates = {}
        # this worker's activity.RequestRecords, once it has them (None:
        # requests are not recorded one by one)
        self.records = None

    def error(self, component, message=None):
        """Count a failure inside instrumentation; log it the first time.

        Must be called from the hub, inside an ``except`` block when there
        is a traceback worth logging.
        """
        try:
            self.store.inc((metrics.INSTRUMENTATION_ERRORS.name,
                            (component,)))
            if component not in self._logged_components:
                self._logged_components.add(component)
                if message:
                    self.logger.error(
                        'swiftinst: %s error (further ones are only '
                        'counted): %s', component, message)
                else:
                    self.logger.exception(
                        'swiftinst: %s error (further ones are only '
                        'counted)', component)
        except Exception:
            pass  # the logger itself failed; nothing safer is left to do

    def problems(self, problems):
        """Count and log the StoreErrors (or other exceptions with a
        ``component``) that work in a native thread brought back.
        """
        for problem in problems:
            self.error(problem.component, str(problem))

    def kind(self, method, device, policy):
        """The RequestKind of a request's raw method, device and policy
        index (None: policy 0).

        The raw values come from the client, so only those that are
        already their own label values are remembered as such: the cache
        is bounded by the label space, whatever a client sends.
        """
        kind = self._kinds_by_raw.get((method, device, policy))
        if kind is None:
            labels = self.labels
            label_values = (labels.method(method), labels.device(device),
                            labels.policy(policy))
            kind = self._kinds.get(label_values)
            if kind is None:
                kind = self._kinds[label_values] = \
                    RequestKind(self, *label_values)
            if (method, device, policy or '0') == label_values:
                self._kinds_by_raw[(method, device, policy)] = kind
        return kind

    def disk_target(self, device, policy):
        """The shared DiskTarget of bounded ``device`` and ``policy``."""
        target = self._disk_targets.get((device, policy))
        if target is None:
            target = self._disk_targets[(device, policy)] = \
                DiskTarget(self.store, device, policy, self.exemplar_min,
                           self.profile, self.phases)
        return target

    def target_of(self, diskfile):
        """The DiskTarget of a diskfile; None when it has no device.

        Nothing is cached on Swift's objects: an attribute added after
        __init__ turns an instance's inline values into a real dict, and
        every attribute access Swift then makes on it gets slower.
        """
        device_path = getattr(diskfile, '_device_path', None)
        policy = getattr(diskfile, 'policy', None)
        if device_path is None or policy is None:
            return None
        key = (device_path, int(policy))
        target = self._targets_by_path.get(key)
        if target is None:
            policy = self.labels.policy(str(key[1]))
            target = self.disk_target(
                self.labels.device(os.path.basename(device_path)),
                device_policy(self.profile, policy))
            # Only known devices are remembered: one not yet listed gets
            # its own label once the listing is refreshed.
            if target.device != metrics.OTHER_DEVICE and \
                    policy != metrics.OTHER_POLICY:
                self._targets_by_path[key] = target
        return target

    def detached_disk_ops(self, ops, diskfile):
        """Observe ``[(op, seconds)]`` done outside any request, for
        ``diskfile``.
        """
        target = self.target_of(diskfile)
        if target is not None:
            target.observe(ops)

    def container_update(self, update):
        """A container update (server_hooks.ContainerUpdate) has ended."""
        outcome = update.outcome
        if outcome is None:
            return   # no container server was asked
        series = self._updates.get(outcome)
        if series is None:
            series = self._updates[outcome] = self.store.histogram(
                (metrics.CONTAINER_UPDATE.name, (outcome,)))
        series.observe(update.seconds)
        txn_id = update.txn_id
        if update.seconds >= self.exemplar_min > 0 and txn_id and \
                len(txn_id) <= MAX_EXEMPLAR_TXN_ID:
            series.exemplar(update.seconds, txn_id, time.time())
        if self.statsd is not None:
            self.statsd.send([('container_update.%s' % outcome,
                               update.seconds)], self)

    def async_pending(self, device, policy, seconds, ctx):
        """One async pending written for an object on ``device`` (its raw
        name) in ``policy`` (a storage policy), in ``seconds``; by the
        request of ``ctx`` itself, or (None) by a container update's
        greenthread.
        """
        device = self.labels.device(device)
        self.store.inc((metrics.ASYNC_PENDINGS.name, (device,)))
        if ctx is not None:
            ctx.add_disk_op('async_pending', seconds)
            return
        target = self.disk_target(device, device_policy(
            self.profile, self.labels.policy(str(int(policy)))))
        target.observe([('async_pending', seconds)])

    def slow_read(self, ctx, started, seconds, offset, nbytes, hub_wait):
        self.store.inc((metrics.SLOW_READS.name, ctx.kind.labels))
        if ctx.statsd_samples is not None:
            ctx.statsd_samples.append(
                ('%s.%s.slow_reads' % (ctx.method, ctx.device), None))
        limiter = self.limiters['slow_read']
        if not limiter.allow():
            return
        split = culprit = ''
        if self.phases:
            split = ' (client_wait %.3fs, hub_wait %.3fs)' % (
                max(seconds - hub_wait, 0.0), hub_wait)
            # (imported here: switchtrace needs the context, which needs
            # this module, at import)
            from swiftinst.switchtrace import culprit_between
            block = culprit_between(started, started + seconds)
            if block is not None:
                culprit = '; the hub was held for %.3fs by %s' % (
                    block[1], block[2].describe())
        content_length = ctx.content_length
        self.logger.warning(
            'Slow read: %.3fs%s for %d bytes of the %s body at offset %d of '
            '%s (%s)%s%s', seconds, split, nbytes, ctx.method, offset,
            'chunked' if content_length is None else content_length,
            _identify(ctx), culprit, limiter.note())

    def slow_request(self, ctx, seconds):
        limiter = self.limiters['slow_request']
        if not limiter.allow():
            return
        ops = collections.defaultdict(float)
        for op, op_seconds in ctx.disk_ops:
            ops[op] += op_seconds
        self.logger.warning(
            'Slow request: %s %.3fs, status %s%s; disk: %s%s (%s)%s',
            ctx.method,
            seconds, (ctx.status or '-').split(' ')[0],
            ' (%s)' % ', '.join('%s %.3fs' % pair for pair in zip(
                metrics.PHASES, ctx.phases())) if self.phases else '',
            ', '.join('%s %.3fs' % (op, ops[op]) for op in metrics.DISK_OPS
                      if op in ops) or 'none',
            '; container updates: %s' % ', '.join(
                update.describe() for update in ctx.updates)
            if ctx.updates else '',
            _identify(ctx), limiter.note())

    def finish_extras(self, ctx, seconds):
        """The rare part of recording a request (see
        RequestContext.finish): its statsd packet, and the warning when
        it was slow.
        """
        kind = ctx.kind
        if seconds >= self.slow_request_threshold > 0:
            self.slow_request(ctx, seconds)
        samples = ctx.statsd_samples
        if samples is not None:
            names = kind.disk.statsd_names
            samples.extend((names[op], op_seconds)
                           for op, op_seconds in ctx.disk_ops)
            if samples:
                self.statsd.send(samples, self)
