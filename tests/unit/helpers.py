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

"""Small real pieces for unit tests: a recorder and a Swift diskfile."""

import logging
import os
import time

from swift.common import utils

from swiftinst.labels import LabelPolicy
from swiftinst.recorder import Recorder


def make_recorder(store, devices='/nonexistent', slow=1.0, statsd=None,
                  logger=None, phases=False, recorder_class=Recorder):
    labels = LabelPolicy(devices, 60.0)
    # every device is known to unit tests
    labels.device = lambda name: name
    return recorder_class(store, statsd, logger or logging.getLogger('test'),
                          slow, labels, phases=phases)


def write_object(devices, body, device='sda', bytes_per_sync=None,
                 name='o', logger=None):
    """PUT one object through Swift's real DiskFileManager (with
    ``logger``, or a plain one).
    """
    from swift.common.storage_policy import POLICIES
    from swift.obj.diskfile import DiskFileManager
    utils.HASH_PATH_SUFFIX = utils.HASH_PATH_SUFFIX or b'unit'
    os.makedirs(os.path.join(devices, device), exist_ok=True)
    conf = {'devices': devices, 'mount_check': 'false'}
    if bytes_per_sync:
        conf['mb_per_sync'] = 0
    manager = DiskFileManager(conf, logger or logging.getLogger('diskfile'))
    if bytes_per_sync:
        manager.bytes_per_sync = bytes_per_sync
    df = manager.get_diskfile(device, '0', 'a', 'c', name, POLICIES[0])
    ts = utils.Timestamp(time.time())
    with df.create(size=len(body)) as writer:
        for i in range(0, len(body), 65536):
            writer.write(body[i:i + 65536])
        writer.put({'X-Timestamp': ts.internal, 'Content-Length':
                    str(len(body)), 'ETag': utils.md5(
                        body, usedforsecurity=False).hexdigest()})
    return df


def series(*values):
    """A Series written as its counts, then its sum: ``series(1, 2, 0.5)``
    is a histogram of two buckets, ``series(5, 0.0)`` a counter.
    """
    from swiftinst.series import Series
    counts, total = values[:-1], values[-1]
    return Series((1.0,) * (len(counts) - 1)).load(counts, total)
