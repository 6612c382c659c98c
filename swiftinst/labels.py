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

"""The bounded label policy: device, method and policy; and the series
profile: which histograms are kept per device.

A client chooses the request path, method and headers, so none of them may
reach a label unchecked: a device label exists only for a directory under
``devices``, a method only if Swift serves it, a policy only if swift.conf
defines it.  Everything else collapses into one ``other`` value, so the
number of series is fixed by the node, never by its clients.

A node has up to 90 devices, and a fleet thousands of nodes, so what is
kept per device is chosen by ``series_profile``, with the questions asked
per device in mind: which disk, at which step, is slow (a histogram per
disk op), are its clients slow (a histogram of body reads), how many
requests of which status, and where their time went (counts and sums).
The latency of whole requests and its phase split are histograms per
node, their ``device`` label empty.
"""

import collections
import os
import time

from swiftinst import metrics

SeriesProfile = collections.namedtuple('SeriesProfile', [
    'name',
    # the policy label on a device's own series (else empty: policies are
    # told apart in the node's series)
    'policy_by_device',
    # the request and phase histograms per device (else per node)
    'requests_by_device',
    # swift_object_device_request_seconds and _phase_seconds (totals)
    'device_totals',
    # the disk ops whose histograms are per device; None: every op
    'disk_ops_by_device',
    # the body-read histogram per device (else per node)
    'reads_by_device',
    # the XFS counters sampled per device; None: all of them
    'xfs_counters',
])

PROFILES = {
    # every histogram per device, as swiftinst 0.2 exported them
    'full': SeriesProfile('full', True, True, False, None, True, None),
    # at most 400 series per device (see README, "Series budget"): every
    # disk op but the cache drop and the cleanup that follow a write (the
    # tpool phase keeps each device's time in them)
    'default': SeriesProfile(
        'default', False, False, True, tuple(
            op for op in metrics.DISK_OPS
            if op not in ('drop_cache', 'cleanup')), True, None),
    # at most 150: the disk ops that show a sick disk first, and the XFS
    # inode-cache counters the verdict reads
    'lean': SeriesProfile(
        'lean', False, False, True, ('open', 'fsync', 'metadata_read'), False,
        (metrics.XFS_IG_ATTEMPTS.name, metrics.XFS_IG_MISSED.name)),
}


def device_policy(profile, policy):
    """The policy label of a device's own series under ``profile``."""
    return policy if profile.policy_by_device else metrics.ALL_POLICIES


def op_device(profile, op, device):
    """The device label of ``op``'s disk-op histogram under ``profile``."""
    ops = profile.disk_ops_by_device
    return device if ops is None or op in ops else metrics.NODE


class LabelPolicy(object):
    """Turns client-supplied values into a bounded set of label values."""

    def __init__(self, devices_dir, refresh_interval, clock=time.monotonic):
        self.devices_dir = devices_dir
        self.refresh_interval = refresh_interval
        self._clock = clock
        self._devices = frozenset()
        self._policies = frozenset()
        self._next_refresh = 0.0

    def _refresh(self):
        # Throttled: a client spraying unknown device names must not turn
        # every request into a listdir.
        now = self._clock()
        if now < self._next_refresh:
            return
        self._next_refresh = now + self.refresh_interval
        try:
            self._devices = frozenset(os.listdir(self.devices_dir))
        except OSError:
            self._devices = frozenset()
        try:
            from swift.common.storage_policy import POLICIES
            self._policies = frozenset(str(int(p)) for p in POLICIES)
        except Exception:
            self._policies = frozenset(('0',))

    def device(self, name):
        if name not in self._devices:
            self._refresh()
            if name not in self._devices:
                return metrics.OTHER_DEVICE
        return name

    def policy(self, index):
        index = (index or '0').strip()
        if index not in self._policies:
            # Swift reads the index with int(): '01' is policy 1.
            try:
                index = str(int(index))
            except ValueError:
                return metrics.OTHER_POLICY
            if index not in self._policies:
                self._refresh()
                if index not in self._policies:
                    return metrics.OTHER_POLICY
        return index

    @staticmethod
    def method(name):
        return name if name in metrics.METHODS else metrics.OTHER_METHOD
