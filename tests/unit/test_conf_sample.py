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

"""Every option the filter reads is documented in the sample config."""

import os
import re

import swiftinst.config
from tests import ROOT


def test_every_option_is_in_the_conf_sample():
    with open(swiftinst.config.__file__) as f:
        source = f.read()
    options = set(re.findall(
        r"(?:conf\.get|_float|_port)\((?:conf, )?'([a-z_]+)'", source))
    assert 'slow_read_threshold' in options and len(options) > 10
    with open(os.path.join(ROOT, 'etc', 'object-server.conf-sample')) as f:
        sample = f.read()
    # The object server's own option, only read to derive metrics_dir.
    options.discard('bind_port')   # the server's own, from [DEFAULT]
    options.discard('bind_ip')
    missing = [o for o in sorted(options)
               if not re.search(r'^# %s =' % o, sample, re.M)]
    assert missing == []
