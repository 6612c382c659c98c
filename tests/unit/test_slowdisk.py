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

"""The demo's slow-disk injector acts only in a server the demo started."""

import os
import subprocess
import sys

from swiftinst.demo.server import OWNER_VARIABLE, slow_disk_env

PROBE = 'import os; print(os.fsync.__name__)'


def run(tmp_path, owner=None, conf=None):
    env = dict(os.environ, **slow_disk_env(fsync_delay=5))
    env.pop(OWNER_VARIABLE, None)
    if owner:
        env[OWNER_VARIABLE] = str(owner)
    command = [sys.executable, '-c', PROBE]
    if conf:
        command.append(str(conf))
    return subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=60, check=True)


def test_refuses_a_process_the_demo_did_not_start(tmp_path):
    done = run(tmp_path)
    assert done.stdout.strip() == 'fsync'          # os.fsync untouched
    assert 'not a server the demo started' in done.stderr
    # an owner named, but not this process's config
    done = run(tmp_path, owner=tmp_path / 'demo',
               conf=tmp_path / 'elsewhere' / 'object-server.conf')
    assert done.stdout.strip() == 'fsync'


def test_acts_in_a_server_under_the_demo_s_root(tmp_path):
    done = run(tmp_path, owner=tmp_path,
               conf=tmp_path / 'etc' / 'object-server.conf')
    assert done.stdout.strip() == 'slow'
    assert done.stderr == ''
