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

"""The paste filter: its entry point, its parts, and the /metrics endpoint.

The per-request path is ``RequestPath``'s (see requestpath): a few
interpreted lines around the request's context, which is compiled where
a compiler was at hand (see compiled).  A worker's flusher and samplers
are ``WorkerLifecycle``'s (see worker).  This module builds them from the
options and answers ``metrics_path`` itself: a scrape merges every
worker's snapshot and renders it in a native thread, so the hub keeps
serving.
"""

import ipaddress
import json

from swift.common.utils import get_logger

from swiftinst import (activity, compiled, diskfile_hooks, metrics,
                       offhub, server_hooks)
from swiftinst.config import ConfigError, parse_config
from swiftinst.diskstate import DiskStateSampler
from swiftinst.eventloop import EventLoopAccounting
from swiftinst.exporters import prometheus
from swiftinst.exporters.statsd import StatsdExporter
from swiftinst.labels import LabelPolicy
from swiftinst.recorder import Recorder
from swiftinst.requestpath import RequestPath
from swiftinst.series import Series
from swiftinst.store import MetricStore, MetricsDirInUse, StoreError, claim
from swiftinst.worker import WorkerLifecycle


class InstrumentMiddleware(RequestPath):

    def __init__(self, app, conf, config=None):
        self.app = app
        self.config = config = config or parse_config(conf)
        self.metrics_path = config.metrics_path
        self.requests_path = config.requests_path
        self.logger = get_logger(conf, log_route='swiftinst')
        self.labels = LabelPolicy(config.devices,
                                  config.device_refresh_interval)
        self.store = MetricStore(config.metrics_dir, config.latency_buckets)
        statsd = StatsdExporter(config.statsd) if config.statsd else None
        self.recorder = Recorder(
            self.store, statsd, self.logger, config.slow_read_threshold,
            self.labels, phases=config.event_loop_accounting,
            slow_request_threshold=config.slow_request_threshold,
            exemplar_min=config.exemplar_min_seconds,
            profile=config.series_profile)
        self.event_loop = EventLoopAccounting(
            self.recorder, config.hub_block_threshold,
            config.hub_lag_interval) if config.event_loop_accounting \
            else None
        self.disk_state = DiskStateSampler(
            config.devices, config.metrics_dir, config.disk_state_interval,
            config.series_profile.xfs_counters, config.recon_cache_path)
        self.worker = WorkerLifecycle(config, self.store, self.recorder,
                                      self.disk_state, self.event_loop)
        self.logger.info('swiftinst: %s', compiled.describe())
        missing = diskfile_hooks.install(self.recorder) + \
            server_hooks.install(self.recorder)
        if missing:
            self.logger.warning(
                'swiftinst: this Swift has no %s; those disk timings are '
                'unavailable', ', '.join(missing))

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

    def _refused(self, env, start_response):
        """The answer to a request the endpoints do not serve, or None."""
        if env.get('REQUEST_METHOD') not in ('GET', 'HEAD'):
            return self._plain(start_response, '405 Method Not Allowed',
                               b'Method Not Allowed\n',
                               [('Allow', 'GET, HEAD')])
        if not self._allowed(env.get('REMOTE_ADDR')):
            return self._plain(start_response, '403 Forbidden',
                               b'Forbidden\n')
        return None

    def serve_metrics(self, env, start_response):
        refused = self._refused(env, start_response)
        if refused is not None:
            return refused
        method = env.get('REQUEST_METHOD')
        try:
            headers, body, problems = offhub.execute(
                self._scrape_off_hub, env.get('HTTP_ACCEPT'),
                env.get('HTTP_ACCEPT_ENCODING'))
            self.recorder.problems(problems)
        except Exception:
            self.recorder.error('scrape')
            return self._plain(start_response, '500 Internal Server Error',
                               b'swiftinst: scrape failed, see the log\n')
        headers.append(('Content-Length', str(sum(map(len, body)))))
        start_response('200 OK', headers)
        return [b''] if method == 'HEAD' else body

    # -- /debug/requests ------------------------------------------------
    def serve_requests(self, env, start_response):
        """Every worker's requests in flight and the node's slowest recent
        ones, as JSON (see activity), read in a native thread.
        """
        refused = self._refused(env, start_response)
        if refused is not None:
            return refused
        try:
            body, problems = offhub.execute(self._requests_off_hub)
            self.recorder.problems(problems)
        except Exception:
            self.recorder.error('scrape')
            return self._plain(start_response, '500 Internal Server Error',
                               b'swiftinst: reading the requests failed, '
                               b'see the log\n')
        start_response('200 OK', [('Content-Type', 'application/json'),
                                  ('Content-Length', str(len(body)))])
        return [b''] if env.get('REQUEST_METHOD') == 'HEAD' else [body]

    def _requests_off_hub(self):
        config = self.config
        answer, damaged = activity.answer(
            self.store.request_files(), config.slowest_count,
            config.slowest_window)
        problems = [StoreError('store_layout', str(err))
                    for _, err in damaged]
        return json.dumps(answer, separators=(',', ':'),
                          check_circular=False).encode('utf-8'), problems

    def _scrape_off_hub(self, accept, accept_encoding):
        """Merge and render in a native thread: no logging, no green calls.

        Problems found on the way are added to this scrape's error counts
        here and, by ``recorder.problems`` on the hub, to the store.
        """
        series, problems = self.store.merged()
        series.update(self.disk_state.published())
        for problem in problems:
            key = (metrics.INSTRUMENTATION_ERRORS.name, (problem.component,))
            if key not in series:
                series[key] = Series()
            series[key].inc()
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
    try:
        claim(config.metrics_dir)
    except MetricsDirInUse as err:
        raise ConfigError('metrics_dir', config.metrics_dir,
                          'in use by another object server (pid %s); give '
                          'each server its own' % err.pid)

    def instrument_filter(app):
        return InstrumentMiddleware(app, conf, config)
    return instrument_filter
