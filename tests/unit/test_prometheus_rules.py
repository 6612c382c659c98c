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
