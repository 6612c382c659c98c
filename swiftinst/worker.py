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

"""A worker's lifecycle: adoption after fork, the flusher, the disk-state
sampler and the final flush.

The object server forks its workers after the filter is built, so
everything that belongs to one worker (its values' file, its flusher
greenthread, its event-loop hooks) starts at the worker's first request:
``adopt()`` is called by every request and does nothing after the first.

The values themselves need no flushing (they live in the worker's file,
see store); the flusher publishes exemplars, repairs the worker's file
when metrics_dir lost it, and folds dead workers' files in now and then.
"""

import atexit
import os

from swiftinst import hub, metrics, offhub
from swiftinst.activity import RequestRecords

# Dead workers' snapshots are also folded in at every scrape; this only
# bounds the number of files when nobody scrapes.
COMPACT_EVERY_FLUSHES = 60
# A worker whose request records could not be made (no room in
# metrics_dir) tries again after this many flushes, not at every one: an
# attempt reserves 1.2 MB, on the hub.
RECORDS_RETRY_FLUSHES = 30


class WorkerLifecycle(object):

    def __init__(self, config, store, recorder, disk_state, event_loop=None):
        self.config = config
        self.store = store
        self.recorder = recorder
        self.disk_state = disk_state
        self.event_loop = event_loop
        # The process adopted last: the request path calls adopt() when
        # this is not the current pid (see store.current_pid).
        self.pid = None
        # whether this worker's request records could not be made (one
        # error counted and logged per fault), and the flushes until it
        # tries again
        self._records_failing = False
        self._records_retry_in = 0

    def adopt(self):
        """Start this worker's own work at its first request."""
        if self.store.adopt_current_process():
            self.start()
            self.report_store_problems()
        self.pid = self.store.pid

    def start(self):
        """First request in a new worker: start its flusher and, if on,
        its disk-state sampler and event-loop accounting (all belong to
        this worker's hub).
        """
        for component in metrics.ERROR_COMPONENTS:
            self.store.inc((metrics.INSTRUMENTATION_ERRORS.name,
                            (component,)), 0)
        hub.spawn_n(self._flush_forever)
        if self.config.disk_state_interval > 0:
            hub.spawn_n(self._sample_disk_state_forever)
        atexit.register(self._final_flush, self.store.pid)
        if self.event_loop is not None:
            self.start_request_records()
            missing = self.event_loop.start()
            if missing:
                self.recorder.logger.warning(
                    'swiftinst: this eventlet has no %s', ', '.join(missing))

    def start_request_records(self):
        """This worker's records of its requests, step by step (see
        activity): they need the switch trace, so event-loop accounting.
        """
        config = self.config
        try:
            records = RequestRecords(
                self.store.requests_path(), config.requests_max_in_flight,
                config.slowest_count, config.slowest_window)
        except (OSError, ValueError) as err:
            self._records_retry_in = RECORDS_RETRY_FLUSHES
            if not self._records_failing:
                self._records_failing = True
                self.recorder.error(
                    'requests', 'cannot create the request records in '
                    'metrics_dir %s: %s; this worker\'s requests are not '
                    'listed at %s until it can' % (
                        config.metrics_dir, err, config.requests_path))
            return
        self._records_failing = False
        # requests in flight finish in the records they started in
        self.recorder.records = records

    def _flush_off_hub(self, records_path):
        """In a native thread: publish the exemplars, and see whether the
        request records (at ``records_path``, if any) are still in
        metrics_dir.  Returns (problems, whether they are gone).
        """
        problems = self.store.flush()
        return problems, records_path is not None and \
            not os.path.exists(records_path)

    def _flush_forever(self):
        flushes = 0
        while True:
            hub.sleep(self.config.flush_interval)
            flushes += 1
            self.flush(compact=flushes % COMPACT_EVERY_FLUSHES == 0)

    def flush(self, compact=False):
        store = self.store
        records = self.recorder.records
        records_lost = False
        try:
            problems, records_lost = offhub.execute(
                self._flush_off_hub, None if records is None else
                records.path)
            self.recorder.problems(problems)
            if compact:
                self.recorder.problems(offhub.execute(store.compact))
        except Exception as err:
            self.recorder.error('store', 'cannot write to metrics_dir %s: %s'
                                % (self.config.metrics_dir, err))
        try:
            if store.needs_repair:
                store.repair()
        except Exception as err:
            self.recorder.error('store', 'cannot repair the values file in '
                                'metrics_dir %s: %s'
                                % (self.config.metrics_dir, err))
        if self.event_loop is not None:
            self._records_retry_in -= 1
            if records_lost or records is None and \
                    self._records_retry_in <= 0:
                # make them again where metrics_dir lost them (or had no
                # room for them)
                self.start_request_records()
        self.report_store_problems()

    def report_store_problems(self):
        """Count what the store met on the hub (it cannot log there)."""
        problems = self.store.hub_problems
        if problems:
            self.store.hub_problems = []
            self.recorder.problems(problems)

    def _sample_disk_state_forever(self):
        while True:
            try:
                offhub.execute(self.disk_state.sample_if_elected)
            except Exception as err:
                self.recorder.error('diskstate', 'cannot sample the devices '
                                    'or write to metrics_dir: %s' % err)
            hub.sleep(self.config.disk_state_interval)

    def _final_flush(self, pid):
        # atexit: the hub may be gone, so write from this thread directly.
        if os.getpid() == pid:
            try:
                self.store.flush()
            except Exception:
                pass
