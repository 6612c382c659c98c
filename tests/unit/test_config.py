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

import pytest

from swiftinst.config import ConfigError, parse_config, default_metrics_dir
from swiftinst.metrics import DEFAULT_LATENCY_BUCKETS


@pytest.fixture
def base(tmp_path):
    return {'metrics_dir': str(tmp_path)}


def test_defaults(base):
    config = parse_config(base)
    assert config.metrics_path == '/metrics'
    assert config.slow_read_threshold == 1.0
    assert config.flush_interval == 1.0
    assert config.latency_buckets == DEFAULT_LATENCY_BUCKETS
    assert config.latency_buckets[0] == 0.0001
    assert config.latency_buckets[-1] == 60.0
    assert len(config.latency_buckets) + 1 == 20
    assert config.statsd is None
    assert config.metrics_allowed_ips == ()


def test_default_metrics_dir_follows_bind_ip_and_port():
    assert default_metrics_dir({'bind_port': '6200'}) == \
        '/var/cache/swift/swiftinst-0.0.0.0-6200'
    assert default_metrics_dir({'bind_port': '6201', 'bind_ip': '10.0.0.2',
                                'recon_cache_path': '/r'}) == \
        '/r/swiftinst-10.0.0.2-6201'
    assert default_metrics_dir({'bind_ip': '127.0.0.2'}) != \
        default_metrics_dir({'bind_ip': '127.0.0.3'})


def test_statsd_options_follow_swift(base):
    base.update(log_statsd_host='stats.example', log_statsd_port='9125',
                log_statsd_metric_prefix='node7',
                log_statsd_default_sample_rate='0.5',
                log_statsd_sample_rate_factor='0.5')
    statsd = parse_config(base).statsd
    assert statsd == ('stats.example', 9125, 'node7.object-server', 0.25)


def test_slow_read_threshold_zero_disables(base):
    base['slow_read_threshold'] = '0'
    assert parse_config(base).slow_read_threshold == 0


@pytest.mark.parametrize('option,value', [
    ('slow_read_threshold', 'abc'),
    ('slow_read_threshold', '-1'),
    ('flush_interval', '0'),
    ('latency_buckets', '0.1,0.1'),
    ('latency_buckets', '1,0.5'),
    ('latency_buckets', 'a,b'),
    ('latency_buckets', '0,1'),
    ('latency_buckets', '1,inf'),
    ('metrics_allowed_ips', '10.0.0.0/8, nonsense'),
    ('metrics_allowed_ips', '::1/129'),
    ('metrics_path', 'metrics'),
    ('log_statsd_port', '70000'),
    ('log_statsd_default_sample_rate', 'often'),
    ('device_refresh_interval', 'x'),
    ('event_loop_accounting', 'maybe'),
    ('hub_block_threshold', '0'),
    ('hub_lag_interval', '-1'),
    ('slow_request_threshold', 'soon'),
])
def test_bad_values_name_the_option(base, option, value):
    base[option] = value
    with pytest.raises(ConfigError) as err:
        parse_config(base)
    assert err.value.option in (option, option.split('.')[0])
    assert str(err.value).startswith('swiftinst: invalid %s' % option)


def test_unwritable_metrics_dir(tmp_path):
    target = tmp_path / 'ro'
    target.mkdir()
    target.chmod(0o500)
    path = str(target / 'sub') if __import__('os').getuid() else '/proc/x'
    with pytest.raises(ConfigError) as err:
        parse_config({'metrics_dir': path})
    assert 'metrics_dir' in str(err.value)
