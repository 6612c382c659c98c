"""The paste filter: routing, request contexts and the /metrics endpoint.

Data flow of one request::

    InstrumentMiddleware.__call__ (handle(), or its C twin RequestPath)
      -> RequestContext (bounded labels; Swift's start_response)
      -> env['wsgi.input'] = TimedInput(...)       (requests with a body)
      -> ObjectController: reads and diskfile hooks report into the context
      -> app_iter.close() -> RequestContext.finish -> store, statsd

The filter never changes a response: it only wraps ``wsgi.input`` (reads
pass through untouched), notes the status passed to start_response and
hands back Swift's own app_iter inside a wrapper whose ``close()`` also
finishes the context.
"""

import atexit
import ipaddress
import os

import eventlet
from swift.common.utils import get_logger

from swiftinst import diskfile_hooks, offhub, speedups
from swiftinst.config import parse_config
from swiftinst.context import LabelPolicy, RequestContext, device_of, \
    unregister
from swiftinst.diskstate import DiskStateSampler
from swiftinst.eventloop import EventLoopAccounting
from swiftinst.exporters import prometheus
from swiftinst.exporters.statsd import StatsdExporter
from swiftinst.input import TimedInput
from swiftinst.recorder import Recorder
from swiftinst.store import MetricStore, current_pid
from swiftinst.transparent import drop_own_frame
from swiftinst import metrics

BODY_METHODS = frozenset(('PUT', 'POST', 'SSYNC', 'REPLICATE'))
# Dead workers' snapshots are also folded in at every scrape; this only
# bounds the number of files when nobody scrapes.
COMPACT_EVERY_FLUSHES = 60


class _FinishOnClose(object):
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


def has_body(env):
    if env.get('CONTENT_LENGTH') not in (None, '', '0'):
        return True
    return 'chunked' in env.get('HTTP_TRANSFER_ENCODING', '').lower()


def begin_request(recorder, env, start_response):
    """The request's context, its ``wsgi.input`` timed if it has a body.

    This is the reference: ``_speedups.ContextStarter`` does the same
    without a frame, and calls this for an environment whose values are
    not plain strings.
    """
    method = env.get('REQUEST_METHOD', '')
    ctx = RequestContext(recorder, recorder.kind(
        method, device_of(env.get('PATH_INFO', '')),
        env.get('HTTP_X_BACKEND_STORAGE_POLICY_INDEX')), env, start_response)
    try:
        if method in BODY_METHODS or method not in ('GET', 'HEAD') \
                and has_body(env):
            wsgi_input = env.get('wsgi.input')
            if wsgi_input is not None:
                env['wsgi.input'] = TimedInput(wsgi_input, ctx)
    except BaseException:
        # a context that cannot start leaves the registry at once
        unregister(ctx, ctx.greenlet)
        raise
    return ctx


_begin_request = begin_request if speedups.native is None else \
    speedups.native.ContextStarter(RequestContext, TimedInput, BODY_METHODS,
                                   begin_request)

# With the C timers, the middleware's __call__ is RequestPath's: handle()
# without a frame, reading app, recorder and metrics_path as C fields.
if speedups.native is None:
    _RequestPath = object
else:
    _RequestPath = speedups.native.RequestPath
    speedups.native.configure_request_path(_begin_request, _FinishOnClose,
                                           current_pid)


class InstrumentMiddleware(_RequestPath):

    def __init__(self, app, conf, config=None):
        self.app = app
        self.config = config or parse_config(conf)
        self.metrics_path = self.config.metrics_path
        self.logger = get_logger(conf, log_route='swiftinst')
        self.labels = LabelPolicy(self.config.devices,
                                  self.config.device_refresh_interval)
        self.store = MetricStore(self.config.metrics_dir,
                                 self.config.latency_buckets)
        statsd = StatsdExporter(self.config.statsd) \
            if self.config.statsd else None
        config = self.config
        self.recorder = Recorder(
            self.store, statsd, self.logger, config.slow_read_threshold,
            self.labels, phases=config.event_loop_accounting,
            slow_request_threshold=config.slow_request_threshold)
        self.event_loop = EventLoopAccounting(
            self.recorder, config.hub_block_threshold,
            config.hub_lag_interval) if config.event_loop_accounting \
            else None
        self.disk_state = DiskStateSampler(
            config.devices, config.metrics_dir, config.disk_state_interval)
        if speedups.native is None:
            self.logger.info('swiftinst: using the pure-Python timers: %s',
                             speedups.unused_because)
        missing = diskfile_hooks.install(self.recorder)
        if missing:
            self.logger.warning(
                'swiftinst: this Swift has no %s; those disk timings are '
                'unavailable', ', '.join(missing))

    # -- per-request path ---------------------------------------------
    def handle(self, env, start_response):
        """The WSGI call (the reference for RequestPath's C __call__)."""
        if env.get('PATH_INFO') == self.metrics_path:
            return self.serve_metrics(env, start_response)
        ctx = self.begin(env, start_response)
        if ctx is None:
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
        return _FinishOnClose(app_iter, ctx)

    if speedups.native is None:
        __call__ = handle

    def begin(self, env, start_response):
        """A RequestContext for ``env``, or None if instrumentation failed
        (the request then goes to Swift untouched)."""
        try:
            self._adopt_process()
            return _begin_request(self.recorder, env, start_response)
        except Exception:
            self.recorder.error('request')
            return None

    def _adopt_process(self):
        if self.store.adopt_current_process():
            self._start_worker()

    # -- worker lifecycle ---------------------------------------------
    def _start_worker(self):
        """First request in a new worker: start its flusher and, if on,
        its event-loop accounting (both belong to this worker's hub)."""
        for component in metrics.ERROR_COMPONENTS:
            self.store.inc((metrics.INSTRUMENTATION_ERRORS.name,
                            (component,)), 0)
        eventlet.spawn_n(self._flush_forever)
        if self.config.disk_state_interval > 0:
            eventlet.spawn_n(self._sample_disk_state_forever)
        atexit.register(self._final_flush, self.store.pid)
        if self.event_loop is not None:
            missing = self.event_loop.start()
            if missing:
                self.logger.warning(
                    'swiftinst: this eventlet has no %s', ', '.join(missing))

    def _flush_forever(self):
        flushes = 0
        while True:
            eventlet.sleep(self.config.flush_interval)
            flushes += 1
            self.flush(compact=flushes % COMPACT_EVERY_FLUSHES == 0)

    def flush(self, compact=False):
        try:
            self._count_problems(offhub.execute(self.store.flush))
            if compact:
                self._count_problems(offhub.execute(self.store.compact))
        except Exception as err:
            self.recorder.error('store', 'cannot write to metrics_dir %s: %s'
                                % (self.config.metrics_dir, err))

    def _sample_disk_state_forever(self):
        while True:
            try:
                offhub.execute(self.disk_state.sample_if_elected)
            except Exception as err:
                self.recorder.error('diskstate', 'cannot sample the devices '
                                    'or write to metrics_dir: %s' % err)
            eventlet.sleep(self.config.disk_state_interval)

    def _final_flush(self, pid):
        # atexit: the hub may be gone, so write from this thread directly.
        if os.getpid() == pid:
            try:
                self.store.flush()
            except Exception:
                pass

    def _count_problems(self, problems):
        for problem in problems:
            self.recorder.error(problem.component, str(problem))

    # -- /metrics ---------------------------------------------------------
    def _allowed(self, remote_addr):
        networks = self.config.metrics_allowed_ips
        if not networks:
            return True
        try:
            addr = ipaddress.ip_address((remote_addr or '').split('%')[0])
        except ValueError:
            return False
        candidates = [addr]
        mapped = getattr(addr, 'ipv4_mapped', None)
        if mapped is not None:
            candidates.append(mapped)
        return any(a in net for a in candidates for net in networks
                   if a.version == net.version)

    @staticmethod
    def _plain(start_response, status, body, extra=()):
        start_response(status, [('Content-Type', 'text/plain'),
                                ('Content-Length', str(len(body)))]
                       + list(extra))
        return [body]

    def serve_metrics(self, env, start_response):
        method = env.get('REQUEST_METHOD')
        if method not in ('GET', 'HEAD'):
            return self._plain(start_response, '405 Method Not Allowed',
                               b'Method Not Allowed\n',
                               [('Allow', 'GET, HEAD')])
        if not self._allowed(env.get('REMOTE_ADDR')):
            return self._plain(start_response, '403 Forbidden',
                               b'Forbidden\n')
        try:
            headers, body, problems = offhub.execute(
                self._scrape_off_hub, env.get('HTTP_ACCEPT'),
                env.get('HTTP_ACCEPT_ENCODING'))
            self._count_problems(problems)
        except Exception:
            self.recorder.error('scrape')
            return self._plain(start_response, '500 Internal Server Error',
                               b'swiftinst: scrape failed, see the log\n')
        headers.append(('Content-Length', str(sum(map(len, body)))))
        start_response('200 OK', headers)
        return [b''] if method == 'HEAD' else body

    def _scrape_off_hub(self, accept, accept_encoding):
        """Merge and render in a native thread: no logging, no green calls.

        Problems found on the way are added to this scrape's error counts
        here and, by ``_count_problems`` on the hub, to the store.
        """
        series, problems = self.store.merged()
        series.update(self.disk_state.published())
        for problem in problems:
            key = (metrics.INSTRUMENTATION_ERRORS.name, (problem.component,))
            series[key] = [series.get(key, [0])[0] + 1, 0.0]
        headers, body = prometheus.render(
            series, self.store.bounds, accept, accept_encoding)
        return headers, body, problems


def filter_factory(global_conf, **local_conf):
    """Paste entry point, ``egg:swiftinst#instrument``.

    Options are validated here, in the server's parent process, so a bad
    value stops the server at start with the option named.
    """
    conf = dict(global_conf, **local_conf)
    config = parse_config(conf)

    def instrument_filter(app):
        return InstrumentMiddleware(app, conf, config)
    return instrument_filter
