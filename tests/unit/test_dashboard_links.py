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

"""The dashboard leads from an instance to its requests in flight and
its slowest, where an exemplar's txn id finds its request.
"""

import json
import os

from swiftinst.config import parse_config
from tests import ROOT

DASHBOARD = os.path.join(ROOT, 'etc', 'grafana', 'swiftinst-dashboard.json')


def test_the_dashboard_links_each_instance_to_its_requests(tmp_path):
    with open(DASHBOARD) as f:
        links = json.load(f)['links']
    default = parse_config({'metrics_dir': str(tmp_path)}).requests_path
    assert [link['url'] for link in links] == [
        'http://${instance}%s' % default]
