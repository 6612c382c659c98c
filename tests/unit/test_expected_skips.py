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

"""--expected-skips (tests/conftest.py): a CI step fails on a skip its
list does not name.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def run(tmp_path, listed):
    test = tmp_path / 'test_machine.py'
    test.write_text('import pytest\n\n\ndef test_needs_fuse():\n'
                    '    pytest.skip("no /dev/fuse here")\n\n\n'
                    'def test_fine():\n    pass\n')
    skips = tmp_path / 'skips.txt'
    skips.write_text('# expected\n' + listed)
    return subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-rs', '-p', 'tests.conftest',
         '-p', 'no:cacheprovider', '--rootdir', str(tmp_path),
         '--expected-skips', str(skips), str(test)],
        cwd=ROOT, capture_output=True, text=True)


def test_a_listed_skip_passes(tmp_path):
    done = run(tmp_path, 'test_machine.py | no /dev/fuse\n')
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_unlisted_skip_fails_the_run(tmp_path):
    for listed in ('', 'test_machine.py | no loop device\n',
                   'test_other.py | no /dev/fuse\n'):
        done = run(tmp_path, listed)
        assert done.returncode == 1, done.stdout + done.stderr
        assert 'unexpected skips' in done.stdout
        assert 'no /dev/fuse here' in done.stdout
