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

"""The shipped alert and recording rules, through Prometheus's promtool."""

import os
import shutil
import subprocess

import pytest

from tests import ROOT

ETC = os.path.join(ROOT, 'etc', 'prometheus')
pytestmark = pytest.mark.skipif(
    shutil.which('promtool') is None,
    reason='promtool missing (Debian package prometheus; .ci/run installs '
           'it)')


def promtool(*args):
    return subprocess.run(('promtool',) + args, capture_output=True,
                          text=True, cwd=ETC, timeout=120)


def test_rules_are_valid():
    out = promtool('check', 'rules', 'swiftinst-rules.yml')
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'SUCCESS: 14 rules found' in out.stdout


def test_rule_unit_tests_pass():
    out = promtool('test', 'rules', 'swiftinst-rules.test.yml')
    assert out.returncode == 0, out.stdout + out.stderr
