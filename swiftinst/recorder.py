"""Turns what the hooks saw into metric values, statsd samples and logs.

The recorder is the one place that knows which metric an event belongs to.
It also owns the rule that instrumentation never hurts a request: every
failure inside swiftinst is counted in
``swift_object_instrumentation_errors_total{component}`` and logged once per
component, and the caller carries on.
"""

import os
from bisect import bisect_left

from swiftinst import metrics
from swiftinst.store import Histograms


class DiskTarget(object):
    """One (device, policy) pair: its disk-op histograms and statsd names."""

    __slots__ = ('device', 'policy', 'histograms', 'statsd_names')

    def __init__(self, store, device, policy):
        self.device = device
        self.policy = policy
        self.histograms = Histograms(store, metrics.DISK_OP.name,
                                     lambda op: (op, device, policy))
        self.statsd_names = {op: 'disk.%s.%s' % (op, device)
                             for op in metrics.DISK_OPS}


class Recorder(object):

    def __init__(self, store, statsd, logger, slow_read_threshold, labels):
        self.store = store
        self.bounds = store.bounds
        self.labels = labels
        self.statsd = statsd
        self.logger = logger
        self.slow_read_threshold = slow_read_threshold
        # (method, device, policy) -> live input-read histogram
        self.read_histograms = Histograms(store, metrics.INPUT_READ.name)
        self._logged_components = set()
        self._disk_targets = {}
        self._targets_by_path = {}

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

    def disk_target(self, device, policy):
        """The shared DiskTarget of bounded ``device`` and ``policy``."""
        target = self._disk_targets.get((device, policy))
        if target is None:
            target = self._disk_targets[(device, policy)] = \
                DiskTarget(self.store, device, policy)
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
            target = self.disk_target(
                self.labels.device(os.path.basename(device_path)),
                self.labels.policy(str(key[1])))
            # Only known devices are remembered: one not yet listed gets
            # its own label once the listing is refreshed.
            if target.device != metrics.OTHER_DEVICE and \
                    target.policy != metrics.OTHER_POLICY:
                self._targets_by_path[key] = target
        return target

    def disk_ops(self, ops, ctx=None):
        """Observe ``[(op, seconds, diskfile or None)]``.

        An op without a diskfile (a manager's work) goes to the request's
        own device; outside a request (``ctx`` None) it is dropped.
        """
        bounds = self.bounds
        seen = histograms = None
        for op, seconds, diskfile in ops:
            if diskfile is not seen or histograms is None:
                seen = diskfile
                target = self._target(diskfile, ctx)
                if target is None:
                    continue
                histograms = target.histograms
            # MetricStore.observe, on histograms looked up once
            values = histograms[op]
            values[bisect_left(bounds, seconds)] += 1
            values[-1] += seconds
        if ctx is not None and ctx.statsd_samples is not None:
            ctx.statsd_samples.extend(
                (self._target(diskfile, ctx).statsd_names[op], seconds)
                for op, seconds, diskfile in ops)

    def _target(self, diskfile, ctx):
        target = None if diskfile is None else self.target_of(diskfile)
        if target is None and ctx is not None:
            target = self.disk_target(ctx.device, ctx.policy)
        return target

    def slow_read(self, ctx, seconds, offset, nbytes):
        self.store.inc((metrics.SLOW_READS.name,
                        (ctx.method, ctx.device, ctx.policy)))
        if ctx.statsd_samples is not None:
            ctx.statsd_samples.append(
                ('%s.%s.slow_reads' % (ctx.method, ctx.device), None))
        content_length = ctx.content_length
        self.logger.warning(
            'Slow read: %.3fs for %d bytes of the %s body at offset %d of '
            '%s (txn: %s, device: %s, partition: %s, client: %s)',
            seconds, nbytes, ctx.method, offset,
            'chunked' if content_length is None else content_length,
            ctx.txn_id or '-', ctx.device, ctx.partition or '-', ctx.client)

    def finish_request(self, ctx, seconds):
        if ctx.disk_ops:
            self.disk_ops(ctx.disk_ops, ctx)
        labels = (ctx.method, ctx.device, ctx.policy)
        self.store.observe(
            (metrics.REQUEST.name,
             labels + (metrics.status_class(ctx.status),)),
            seconds)
        if ctx.bytes_read:
            self.store.inc((metrics.INPUT_BYTES.name, labels),
                           ctx.bytes_read)
        if ctx.statsd_samples:
            self.statsd.send(ctx.statsd_samples, self)
