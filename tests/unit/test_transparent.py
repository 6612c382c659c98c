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

"""Swift's exceptions pass through every wrapper without its frame.

A 500 from Swift or eventlet carries the traceback in its body; a frame of
ours in it would make the response differ from a bare server's.
"""

import os
import sys
import traceback

import greenlet
import pytest
from eventlet import tpool
from swift.common import swob

from swiftinst import context, diskfile_hooks, eventloop
from swiftinst.context import RequestContext
from swiftinst.input import TimedInput
from swiftinst.middleware import filter_factory
from swiftinst.store import MetricStore
from tests.unit.helpers import make_recorder

# Before Python 3.11 a bare ``raise`` puts the re-raising frame back in
# the traceback: there, what the promise keeps is that the only frames of
# swiftinst's in a traceback are the thin wrappers' own lines (interpreted
# .py files), never a compiled module's.
WRAPPERS = ('input.py', 'requestpath.py', 'diskfile_hooks.py',
            'server_hooks.py', 'eventloop.py', 'middleware.py',
            'patching.py')


def our_frames(excinfo):
    """Frames of swiftinst's: interpreted ones name its files; compiled
    ones (which must never be in the way) a path relative to the tree.
    """
    return [frame for frame in traceback.extract_tb(excinfo.tb)
            if '/swiftinst/' in frame.filename or
            frame.filename.startswith('swiftinst/')]


def assert_transparent(excinfo):
    frames = our_frames(excinfo)
    if sys.version_info >= (3, 11):
        assert not frames, frames
    else:
        assert all(frame.filename.endswith('/swiftinst/' + os.path.basename(
            frame.filename)) and os.path.basename(frame.filename) in WRAPPERS
            for frame in frames), frames


class Swift(Exception):
    pass


class FailingInput(object):
    def read(self, *args):
        raise Swift('read')

    readline = readlines = read


@pytest.mark.parametrize('method', ['read', 'readline', 'readlines'])
def test_input_reads(method, tmp_path):
    recorder = make_recorder(MetricStore(str(tmp_path), (1.0,)))
    ctx = RequestContext(recorder, recorder.kind('PUT', 'sda', '0'), {})
    timed = TimedInput(FailingInput(), ctx)
    with pytest.raises(Swift) as excinfo:
        getattr(timed, method)(10)
    assert_transparent(excinfo)


def failing_start_response(status, headers, exc_info=None):
    raise Swift('start_response')


@pytest.mark.parametrize('fails', ['app', 'start_response', 'close'])
def test_the_filter_itself(tmp_path, fails):
    class Body(object):
        def __iter__(self):
            return iter([b''])

        def close(self):
            raise Swift('close')

    def app(env, start_response):
        if fails == 'app':
            raise Swift('app')
        start_response('201 Created', [])
        return Body()
    f = filter_factory({}, metrics_dir=str(tmp_path / 'm'),
                       devices=str(tmp_path))(app)
    try:
        with pytest.raises(Swift) as excinfo:
            body = f(swob.Request.blank('/sda/0/a/c/o', method='PUT',
                                        body=b'x').environ,
                     failing_start_response if fails == 'start_response'
                     else lambda *a: None)
            body.close()
        assert_transparent(excinfo)
    finally:
        diskfile_hooks.uninstall()


@pytest.fixture
def hooked(tmp_path):
    diskfile_hooks.install(make_recorder(
        MetricStore(str(tmp_path / 'm'), (0.1, 1.0))))
    yield
    diskfile_hooks.uninstall()


def test_diskfile_helpers_on_the_hub_and_in_tpool(hooked):
    from swift.obj import diskfile
    with pytest.raises(OSError) as excinfo:
        diskfile.fsync(987654)                      # on the hub
    assert_transparent(excinfo)
    with pytest.raises(OSError) as excinfo:
        diskfile.tpool.execute(diskfile.fsync, 987654)  # a native thread
    assert_transparent(excinfo)


def test_diskfile_methods(hooked):
    from swift.obj import diskfile
    for method in (diskfile.BaseDiskFile.open,
                   diskfile.BaseDiskFileWriter.open,
                   diskfile.BaseDiskFileWriter.write):
        with pytest.raises(Exception) as excinfo:
            method(object(), b'x') if method.__name__ == 'write' \
                else method(object())
        assert_transparent(excinfo)


class Accounted(object):
    tpool_done = tpool_called = None


@pytest.mark.parametrize('in_request', [False, True])
def test_accounted_tpool_execute(in_request):
    execute = eventloop._accounted_execute(tpool.execute)
    ctx = Accounted()
    if in_request:
        context.register(ctx, greenlet.getcurrent())
    try:
        with pytest.raises(Swift) as excinfo:
            execute(FailingInput().read)
    finally:
        context.unregister(ctx, greenlet.getcurrent())
    assert_transparent(excinfo)
    assert (ctx.tpool_done is not None) is in_request
