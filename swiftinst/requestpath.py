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

"""The filter's per-request path: from the WSGI call to ``finish()``.

Data flow of one request::

    RequestPath.__call__
      -> RequestContext (bounded labels; Swift's start_response)
      -> env['wsgi.input'] = TimedInput(...)       (requests with a body)
      -> ObjectController: reads and diskfile hooks report into the context
      -> app_iter.close() -> RequestContext.finish -> recorder -> store

The filter never changes a response: it only wraps ``wsgi.input`` (reads
pass through untouched), notes the status passed to start_response and
hands back Swift's own app_iter inside a wrapper whose ``close()`` also
finishes the context.  A request whose instrumentation fails goes to
Swift untouched.

Swift's calls and exceptions pass through everything here, so it is never
compiled (see compiled): it stays a few lines around the compiled context.
"""

from swiftinst.context import RequestContext, begin_request
from swiftinst.input import TimedInput
from swiftinst.store import current_pid
from swiftinst.transparent import drop_own_frame


class StartResponse(RequestContext):
    """The request's context, as the ``start_response`` Swift is given:
    it notes the status without a closure per request.
    """

    __slots__ = ()
    input_class = TimedInput

    def __call__(self, status, *headers_and_exc_info):
        self.status = status
        try:
            return self.start_response(status, *headers_and_exc_info)
        except BaseException as exc:
            drop_own_frame(exc)
            raise


class FinishOnClose(object):
    """Swift's app_iter, iterated as is; close() also ends the context."""

    __slots__ = ('app_iter', 'ctx')

    def __init__(self, app_iter, ctx):
        self.app_iter = app_iter
        self.ctx = ctx

    def __iter__(self):
        return iter(self.app_iter)

    def close(self):
        try:
            close = getattr(self.app_iter, 'close', None)
            if close is not None:
                close()
        except BaseException as exc:
            drop_own_frame(exc)
            raise
        finally:
            self.ctx.finish()


class RequestPath(object):
    """The WSGI call of the filter.

    ``app`` is Swift's object server, ``recorder`` takes what requests
    saw, ``worker`` (a WorkerLifecycle) notices the first request of a
    forked worker, and a request for ``metrics_path`` goes to
    ``serve_metrics``, and one for ``requests_path`` to ``serve_requests``,
    which the middleware provides.
    """

    __slots__ = ('app', 'recorder', 'worker', 'metrics_path',
                 'requests_path')

    def __call__(self, env, start_response):
        path = env.get('PATH_INFO')
        if path == self.metrics_path:
            return self.serve_metrics(env, start_response)
        if path == self.requests_path:
            return self.serve_requests(env, start_response)
        try:
            if self.worker.pid != current_pid[0]:
                self.worker.adopt()
            ctx = begin_request(StartResponse, self.recorder, env,
                                start_response)
        except Exception:
            # instrumentation failed: the request goes to Swift untouched
            self.recorder.error('request')
            return self.app(env, start_response)
        try:
            # the context passes start_response on, noting the status
            app_iter = self.app(env, ctx)
        except BaseException as exc:
            drop_own_frame(exc)
            ctx.status = ctx.status or '500'
            ctx.finish()
            raise
        if hasattr(app_iter, '__len__'):
            # A complete body (a list): the server sizes it with len(), so
            # hand it back untouched; the request is done as of now.
            ctx.finish()
            return app_iter
        return FinishOnClose(app_iter, ctx)

    def serve_metrics(self, env, start_response):
        raise NotImplementedError

    def serve_requests(self, env, start_response):
        raise NotImplementedError
