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

"""The reStructuredText documents parse cleanly.

A table whose text strays into a column margin, or a broken title, only
shows when the document is rendered (on PyPI or a repository's front
page); docutils finds it here first.
"""

import glob
import os

import docutils.core
import docutils.utils
import pytest

from tests import ROOT

DOCUMENTS = sorted(glob.glob(os.path.join(ROOT, '*.rst')) +
                   glob.glob(os.path.join(ROOT, 'docs', '*.rst')))


def test_the_documents_are_found():
    names = [os.path.basename(p) for p in DOCUMENTS]
    assert 'README.rst' in names and 'BENCHMARKS.rst' in names


@pytest.mark.parametrize('path', DOCUMENTS, ids=os.path.basename)
def test_document_parses_without_warnings(path):
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        docutils.core.publish_doctree(
            text, source_path=path,
            settings_overrides={'report_level': 5, 'halt_level': 2,
                                'file_insertion_enabled': False})
    except docutils.utils.SystemMessage as err:
        pytest.fail('%s: %s' % (os.path.basename(path), err))
