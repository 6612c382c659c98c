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
    options.discard('bind_port')
    missing = [o for o in sorted(options)
               if not re.search(r'^# %s =' % o, sample, re.M)]
    assert missing == []
