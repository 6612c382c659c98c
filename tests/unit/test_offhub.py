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

"""off_hub_work: process-wide settings, changed for the outermost holder
and restored by the last one out.
"""

import gc
import sys
import threading
import time

import pytest

from swiftinst import hub, offhub


@pytest.fixture
def settings():
    interval, enabled = sys.getswitchinterval(), gc.isenabled()
    gc.enable()
    sys.setswitchinterval(0.005)
    yield
    sys.setswitchinterval(interval)
    (gc.enable if enabled else gc.disable)()


def test_nested_holders_restore_on_the_last_exit(settings):
    with offhub.off_hub_work():
        assert sys.getswitchinterval() == pytest.approx(offhub.QUANTUM)
        assert not gc.isenabled()
        with offhub.off_hub_work():
            pass
        assert sys.getswitchinterval() == pytest.approx(offhub.QUANTUM)
        assert not gc.isenabled()
    assert sys.getswitchinterval() == pytest.approx(0.005)
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled(settings):
    gc.disable()
    with offhub.off_hub_work():
        pass
    assert not gc.isenabled()


def test_restored_when_the_work_raises(settings):
    with pytest.raises(ZeroDivisionError):
        with offhub.off_hub_work():
            1 / 0
    assert sys.getswitchinterval() == pytest.approx(0.005)
    assert gc.isenabled()


def test_execute_runs_in_a_native_thread_within_the_courtesy(settings):
    def work(a, b):
        return (threading.get_ident(), sys.getswitchinterval(),
                gc.isenabled(), a + b)
    ident, interval, collecting, total = offhub.execute(work, 2, 3)
    assert ident != threading.get_ident()
    assert interval == pytest.approx(offhub.QUANTUM) and not collecting
    assert total == 5
    # Restored once the last holder is out: the flusher of a filter an
    # earlier test built may have come in while this one waited.
    deadline = time.monotonic() + 5
    while offhub._holders[0] and time.monotonic() < deadline:
        hub.sleep(0.01)
    assert offhub._holders[0] == 0
    assert sys.getswitchinterval() == pytest.approx(0.005)
    assert gc.isenabled()
