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
