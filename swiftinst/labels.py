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

"""The bounded label policy: device, method and policy.

A client chooses the request path, method and headers, so none of them may
reach a label unchecked: a device label exists only for a directory under
``devices``, a method only if Swift serves it, a policy only if swift.conf
defines it.  Everything else collapses into one ``other`` value, so the
number of series is fixed by the node, never by its clients.
"""

import os
import time

from swiftinst import metrics


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
