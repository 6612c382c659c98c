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

"""Statsd timers and counters, one UDP packet train per request.

Uses the ``statsd`` package's pipeline, flushed when the request ends, not
one datagram per body chunk.  Name resolution happens lazily and is retried,
so an unresolvable ``log_statsd_host`` costs metrics, never a request or
the server's start.
"""

import time

import statsd

RETRY_SECONDS = 30.0


class _CountingClient(statsd.StatsClient):
    """A StatsClient that remembers send failures instead of hiding them."""

    send_error = None

    def _send(self, data):
        try:
            self._sock.sendto(data.encode('ascii'), self._addr)
        except (OSError, RuntimeError) as err:
            self.send_error = err


class StatsdExporter(object):

    def __init__(self, config, clock=time.monotonic):
        self.config = config
        self._clock = clock
        self._client = None
        self._retry_at = 0.0

    def _get_client(self, recorder):
        if self._client is None and self._clock() >= self._retry_at:
            try:
                self._client = _CountingClient(
                    self.config.host, self.config.port,
                    prefix=self.config.prefix,
                    ipv6=':' in self.config.host)
            except (OSError, UnicodeError) as err:
                self._retry_at = self._clock() + RETRY_SECONDS
                recorder.error('statsd', 'cannot resolve %s:%s: %s' % (
                    self.config.host, self.config.port, err))
        return self._client

    def send(self, samples, recorder):
        """Send a request's samples: (name, seconds) timers, or (name, None)
        counter increments.
        """
        try:
            client = self._get_client(recorder)
            if client is None:
                return
            rate = self.config.sample_rate
            pipe = client.pipeline()
            for name, seconds in samples:
                if seconds is None:
                    pipe.incr(name, 1, rate)
                else:
                    pipe.timing(name, seconds * 1000.0, rate)
            pipe.send()
            if client.send_error is not None:
                err, client.send_error = client.send_error, None
                recorder.error('statsd', 'sending to %s:%s failed: %s' % (
                    self.config.host, self.config.port, err))
        except Exception:
            recorder.error('statsd')
