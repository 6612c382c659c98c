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

"""One source, two modes: the compiled modules are the ``.py`` files, built.

``make test`` runs every file twice and sets SWIFTINST_EXPECT to the mode
each run must be in, so a build that silently failed, or a switch that
silently did nothing, fails here instead of leaving a mode untested.
"""

import glob
import os
import subprocess
import sys

import pytest

from swiftinst import compiled
from tests import ROOT


def test_the_mode_asked_for_is_the_mode_running():
    expected = os.environ.get('SWIFTINST_EXPECT')
    if not expected:
        pytest.skip('SWIFTINST_EXPECT is not set (make test sets it)')
    assert expected in ('compiled', 'interpreted')
    if expected == 'compiled':
        assert compiled.in_use(), compiled.describe()
    else:
        assert compiled.interpreted_modules() == list(compiled.MODULES)


def test_every_compiled_module_has_its_declarations():
    pxds = sorted(os.path.basename(p)[:-len('.pxd')] for p in glob.glob(
        os.path.join(ROOT, 'swiftinst', '*.pxd')))
    assert pxds == sorted(compiled.MODULES)


def test_no_hand_written_c_is_tracked():
    tracked = subprocess.run(
        ['git', 'ls-files', '*.c', '*.h', '*.pyx'], cwd=ROOT,
        capture_output=True, text=True)
    if tracked.returncode:
        pytest.skip('not a git checkout')
    assert tracked.stdout.split() == []


def test_the_switch_forces_every_module_interpreted():
    out = subprocess.run(
        [sys.executable, '-c', 'from swiftinst import compiled, middleware;'
         'print(compiled.interpreted_modules()); print(compiled.describe())'],
        env=dict(os.environ, SWIFTINST_PURE_PYTHON='1'), cwd=ROOT,
        capture_output=True, text=True, check=True)
    interpreted, described = out.stdout.splitlines()
    assert interpreted == repr(list(compiled.MODULES))
    assert described == ('the request path runs interpreted '
                         '(SWIFTINST_PURE_PYTHON is set)')


def test_python_requires_is_what_eventlet_supports():
    # eventlet 0.41 needs Python 3.10; the compiled build is made by the
    # compiler for whichever Python builds it, 3.10 to 3.13.
    import configparser
    setup = configparser.ConfigParser()
    setup.read(os.path.join(ROOT, 'setup.cfg'))
    assert setup['options']['python_requires'] == '>=3.10'
    assert sys.version_info >= (3, 10)
