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

"""The version lives in one place, and the release files agree with it."""

import os
import re

import pytest

import swiftinst
from swiftinst import cli, metrics
from tests import ROOT


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(['--version'])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == \
        'swiftinst %s' % swiftinst.__version__


def test_the_changelog_starts_with_this_version():
    with open(os.path.join(ROOT, 'CHANGELOG.rst')) as f:
        releases = re.findall(r'^(\d+\.\d+\.\d+) \(', f.read(), re.M)
    assert releases[0] == swiftinst.__version__
    assert releases[-1] == '0.1.0'


def test_the_changelog_names_every_metric():
    with open(os.path.join(ROOT, 'CHANGELOG.rst')) as f:
        text = f.read()
    for definition in metrics.ALL_METRICS:
        if definition.name.startswith('swift_object_xfs_'):
            continue   # listed as swift_object_xfs_<field>
        assert definition.name in text, definition.name


def test_the_license_is_apache_2():
    with open(os.path.join(ROOT, 'LICENSE')) as f:
        text = f.read()
    assert 'Apache License' in text and 'Version 2.0, January 2004' in text
