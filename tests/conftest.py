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

import os

import pytest

from swiftinst import metrics
from swiftinst.analysis import Scrape
from tests.testbed import ObjectServer, wait_for

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')

# Requests counted, by method, policy and status class (the node's
# histogram: its device label is empty unless series_profile is full)...
REQUESTS = metrics.REQUEST.name + '_count'
# ... and by device too (the device's totals).
DEVICE_REQUESTS = metrics.DEVICE_REQUEST.name + '_count'
# Short flushes keep the tests quick; the default is 1 s.
FAST = {'flush_interval': '0.1'}


def pytest_addoption(parser):
    parser.addoption(
        '--expected-skips', metavar='FILE', default=None,
        help='fail the run on any skip not listed in FILE (lines of '
        '"<test id prefix> | <words of its reason>"; # comments)')


def _expected_skips(path):
    expected = []
    with open(path) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                prefix, _, reason = line.partition('|')
                expected.append((prefix.strip(), reason.strip()))
    return expected


_skips = []


def pytest_runtest_logreport(report):
    """Every skip of the run, with its reason (xdist replays its workers'
    reports here too).
    """
    if report.skipped and not hasattr(report, 'wasxfail'):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else \
            str(longrepr)
        _skips.append((report.nodeid, reason))


def pytest_sessionfinish(session, exitstatus):
    """With --expected-skips, a skip the CI step did not expect fails it:
    a machine that lacks what a test needs must not stay green.
    """
    path = session.config.getoption('--expected-skips')
    if not path or hasattr(session.config, 'workerinput'):
        return
    expected = _expected_skips(path)
    unexpected = [(nodeid, reason) for nodeid, reason in _skips
                  if not any(nodeid.startswith(prefix) and words in reason
                             for prefix, words in expected)]
    if unexpected:
        reporter = session.config.pluginmanager.get_plugin('terminalreporter')
        lines = ['unexpected skips (not in %s):' % path] + [
            '  %s: %s' % item for item in unexpected]
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line('\n'.join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_report_header(config):
    import swift
    return 'swift %s' % getattr(swift, '__version__', '?')


def fixture_path(*parts):
    return os.path.join(FIXTURES, *parts)


def scrape(server, **headers):
    return Scrape(server.metrics_text(headers=headers))


def settled_scrape(server, check, timeout=10.0):
    """Scrape until ``check(scrape)`` is true (workers flush every
    flush_interval), then return that scrape; fail with the last one.
    """
    return wait_for(lambda: scrape(server), timeout, 0.1, done=check)


def start_server(request, **kwargs):
    kwargs.setdefault('workers', 2)
    options = dict(FAST)
    options.update(kwargs.pop('filter_options', {}) or {})
    server = ObjectServer(filter_options=options, **kwargs)
    request.addfinalizer(server.close)
    return server.start()


@pytest.fixture
def server(request):
    """A real swift-object-server, workers = 2, with the filter."""
    return start_server(request)


@pytest.fixture(scope='module')
def shared_server(request):
    """One filtered server for tests that only read what they add."""
    return start_server(request)
