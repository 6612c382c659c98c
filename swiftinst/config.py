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

"""Parse and validate the filter's options once, at server start.

Every error names the option, so that a typo in object-server.conf stops
the server with a message the operator can act on, instead of a filter that
silently measures nothing.
"""

import ipaddress
import os
import tempfile
from collections import namedtuple

from swift.common.utils import (
    config_float_value, config_positive_int_value, config_true_value,
    list_from_csv)

from swiftinst.labels import PROFILES
from swiftinst.metrics import DEFAULT_LATENCY_BUCKETS
from swiftinst.store import held_by_parent

DEFAULT_RECON_CACHE_PATH = '/var/cache/swift'

StatsdConfig = namedtuple(
    'StatsdConfig', 'host port prefix sample_rate')

InstrumentConfig = namedtuple('InstrumentConfig', [
    'metrics_path',          # path the filter answers itself
    'metrics_allowed_ips',   # tuple of ip_network; empty = everyone
    'metrics_dir',           # per-worker snapshots and the archive
    'flush_interval',        # seconds between worker snapshots
    'slow_read_threshold',   # seconds; 0 disables
    'latency_buckets',       # sorted tuple of upper bounds, no +Inf
    'devices',               # the object server's devices directory
    'device_refresh_interval',
    'statsd',                # StatsdConfig or None
    'event_loop_accounting',  # request phases, hub blocks and lag
    'hub_block_threshold',   # seconds one greenthread may hold the hub
    'hub_lag_interval',      # seconds between hub lag probes
    'slow_request_threshold',  # seconds; 0 disables
    'disk_state_interval',   # seconds between disk-state samples; 0: off
    'exemplar_min_seconds',  # slowest observations kept as exemplars; 0: off
    'series_profile',        # labels.SeriesProfile: what is kept per device
    'recon_cache_path',      # where swift-recon-cron counts async pendings
    'requests_path',         # the requests in flight and the slowest
    'requests_max_in_flight',  # records per worker (Swift's max_clients)
    'slowest_window',        # seconds the slowest requests are kept
    'slowest_count',         # how many of them per node
])


class ConfigError(ValueError):
    """A bad option value; the message names the option."""

    def __init__(self, option, value, why):
        super().__init__('swiftinst: invalid %s = %r: %s'
                         % (option, value, why))
        self.option = option


def _float(conf, option, default, minimum=0.0):
    value = conf.get(option, default)
    try:
        return config_float_value(value, minimum=minimum)
    except (TypeError, ValueError) as err:
        raise ConfigError(option, value, err)


def _bool(conf, option, default):
    value = str(conf.get(option, default)).strip().lower()
    if value not in ('true', '1', 'yes', 'on', 't', 'y',
                     'false', '0', 'no', 'off', 'f', 'n'):
        raise ConfigError(option, value, 'must be true or false')
    return config_true_value(value)


def _positive_int(conf, option, default):
    value = conf.get(option, default)
    try:
        return config_positive_int_value(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(option, value, err)


def _path(conf, option, default):
    path = conf.get(option, default)
    if not path.startswith('/'):
        raise ConfigError(option, path, 'must start with "/"')
    return path


def _port(conf, option, default):
    value = conf.get(option, default)
    try:
        port = config_positive_int_value(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(option, value, err)
    if port > 65535:
        raise ConfigError(option, value, 'must be a port number')
    return port


def parse_buckets(value, option='latency_buckets'):
    if not value:
        return DEFAULT_LATENCY_BUCKETS
    try:
        bounds = tuple(float(b) for b in list_from_csv(value))
    except ValueError:
        raise ConfigError(option, value, 'must be comma-separated numbers')
    if not bounds:
        raise ConfigError(option, value, 'must list at least one bound')
    if any(b <= 0 or b != b or b == float('inf') for b in bounds):
        raise ConfigError(option, value, 'bounds must be finite and > 0')
    if list(bounds) != sorted(set(bounds)):
        raise ConfigError(option, value,
                          'bounds must be strictly increasing')
    return bounds


def parse_profile(value, option='series_profile'):
    name = (value or '').strip().lower()
    if name not in PROFILES:
        raise ConfigError(option, value, 'must be one of %s' % ', '.join(
            sorted(PROFILES)))
    return PROFILES[name]


def parse_allowed_ips(value, option='metrics_allowed_ips'):
    networks = []
    for item in list_from_csv(value or ''):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(option, item,
                              'must be an IP address or CIDR')
    return tuple(networks)


def default_metrics_dir(conf):
    """One directory per object server, keyed by its bind_ip and bind_port.

    Two object servers on one host (a SAIO, servers_per_port, or one
    server per address on a common port) must never merge each other's
    counts; the server's parent also holds a lock there (store.claim).
    """
    base = conf.get('recon_cache_path', DEFAULT_RECON_CACHE_PATH)
    return os.path.join(base, 'swiftinst-%s-%s' % (
        conf.get('bind_ip', '0.0.0.0'), conf.get('bind_port', '6200')))


def check_metrics_dir(path, option='metrics_dir'):
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix='.probe-'):
            pass
    except OSError as err:
        raise ConfigError(option, path, 'not a writable directory (%s)'
                          % err.strerror)
    return path


def _metrics_dir(conf):
    """metrics_dir, checked in the server's parent.  A worker that Swift
    starts (and that loads the filter again) never fails on it: its server
    checked it at start, and a metrics_dir gone bad since costs metrics,
    never a worker.
    """
    path = conf.get('metrics_dir') or default_metrics_dir(conf)
    if held_by_parent(path):
        return path
    return check_metrics_dir(path)


def parse_statsd(conf):
    """StatsdConfig, or None when log_statsd_host is unset (statsd off).

    The other options are checked either way, so that a typo fails now
    rather than when someone sets the host.
    """
    port = _port(conf, 'log_statsd_port', 8125)
    default_rate = _float(conf, 'log_statsd_default_sample_rate', 1.0)
    factor = _float(conf, 'log_statsd_sample_rate_factor', 1.0)
    rate = default_rate * factor
    if rate > 1:
        raise ConfigError('log_statsd_default_sample_rate', default_rate,
                          'sample rate times log_statsd_sample_rate_factor '
                          'must not exceed 1')
    host = conf.get('log_statsd_host')
    if not host:
        return None
    # Swift prefixes statsd names with "<metric_prefix>.<server>.".
    prefix = '.'.join(p for p in (conf.get('log_statsd_metric_prefix', ''),
                                  'object-server') if p)
    return StatsdConfig(host, port, prefix, rate)


def parse_config(conf):
    """Build an InstrumentConfig from the merged [DEFAULT] + filter conf."""
    metrics_path = _path(conf, 'metrics_path', '/metrics')
    requests_path = _path(conf, 'requests_path', '/debug/requests')
    if requests_path == metrics_path:
        raise ConfigError('requests_path', requests_path,
                          'must differ from metrics_path')
    slow = _float(conf, 'slow_read_threshold', 1.0)
    flush = _float(conf, 'flush_interval', 1.0, minimum=0.01)
    return InstrumentConfig(
        metrics_path=metrics_path,
        metrics_allowed_ips=parse_allowed_ips(
            conf.get('metrics_allowed_ips', '')),
        metrics_dir=_metrics_dir(conf),
        flush_interval=flush,
        slow_read_threshold=slow,
        latency_buckets=parse_buckets(conf.get('latency_buckets', '')),
        devices=conf.get('devices', '/srv/node'),
        device_refresh_interval=_float(conf, 'device_refresh_interval', 60.0),
        statsd=parse_statsd(conf),
        event_loop_accounting=_bool(conf, 'event_loop_accounting', 'true'),
        hub_block_threshold=_float(conf, 'hub_block_threshold', 0.05,
                                   minimum=0.001),
        hub_lag_interval=_float(conf, 'hub_lag_interval', 0.1,
                                minimum=0.01),
        # the proxy's node_timeout
        slow_request_threshold=_float(conf, 'slow_request_threshold', 10.0),
        disk_state_interval=_float(conf, 'disk_state_interval', 30.0),
        exemplar_min_seconds=_float(conf, 'exemplar_min_seconds', 0.1),
        series_profile=parse_profile(conf.get('series_profile', 'default')),
        recon_cache_path=conf.get('recon_cache_path',
                                  DEFAULT_RECON_CACHE_PATH),
        requests_path=requests_path,
        # Swift's default max_clients: a worker serves no more at once
        requests_max_in_flight=_positive_int(conf, 'requests_max_in_flight',
                                             1024),
        slowest_window=_float(conf, 'slowest_window', 600.0, minimum=1.0),
        slowest_count=_positive_int(conf, 'slowest_count', 20),
    )
