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

"""Scrape cost: swiftinst's store against prometheus_client multiprocess.

Every figure uses the same series set (bench/workload.py) per worker.
"""

import gc
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from swiftinst.exporters.prometheus import render
from swiftinst.metrics import DEFAULT_LATENCY_BUCKETS
from swiftinst.offhub import off_hub_work
from swiftinst.store import MetricStore
from swiftinst.demo.server import ObjectServer

from bench import workload


def _timed(fn, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def scrape_once(store):
    """What GET /metrics does off the hub: merge and render."""
    with off_hub_work():
        series, problems = store.merged()
        assert not problems, problems
        return render(series, store.bounds)


def ours(workers, repeat=9, profile='full'):
    """Median seconds of merge + render over ``workers`` live workers,
    each with the series ``profile`` keeps (bench/workload.py).
    """
    directory = tempfile.mkdtemp(prefix='swiftinst-scrape-')
    fake = workload.FakeWorkers(directory, DEFAULT_LATENCY_BUCKETS, workers,
                                profile=profile)
    try:
        store = MetricStore(directory, DEFAULT_LATENCY_BUCKETS)
        scrape_once(store)
        return statistics.median(_timed(lambda: scrape_once(store), repeat))
    finally:
        fake.close()
        shutil.rmtree(directory, ignore_errors=True)


MULTIPROCESS_SCRIPT = r'''
import os, shutil, statistics, sys, time
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client import multiprocess
from prometheus_client.exposition import generate_latest
from swiftinst import metrics
from swiftinst.metrics import DEFAULT_LATENCY_BUCKETS
from swiftinst.offhub import off_hub_work
from bench import workload
workers, repeat = int(sys.argv[1]), int(sys.argv[2])
directory = os.environ['PROMETHEUS_MULTIPROC_DIR']
own = CollectorRegistry()
made = {}
for d in metrics.ALL_METRICS:
    if d.kind == metrics.HISTOGRAM:
        made[d.name] = Histogram(d.name, d.help, d.labels, registry=own,
                                 buckets=DEFAULT_LATENCY_BUCKETS)
    else:
        made[d.name] = Counter(d.name, d.help, d.labels, registry=own)
for i in range(3):
    for d, labels in workload.label_sets():
        child = made[d.name].labels(*labels)
        if d.kind == metrics.HISTOGRAM:
            child.observe(0.0005 * 10 ** i)
        else:
            child.inc(1 + i)
pid = str(os.getpid())
files = [f for f in os.listdir(directory) if pid in f]
for n in range(1, workers):
    for f in files:
        shutil.copy(os.path.join(directory, f),
                    os.path.join(directory, f.replace(pid, str(10 ** 7 + n))))
registry = CollectorRegistry()
multiprocess.MultiProcessCollector(registry)
times = []
for _ in range(repeat):
    t = time.perf_counter()
    with off_hub_work():    # as ours: no cyclic GC while it allocates
        generate_latest(registry)
    times.append(time.perf_counter() - t)
print(statistics.median(times))
'''


def multiprocess_collector(workers, repeat=3):
    directory = tempfile.mkdtemp(prefix='swiftinst-prom-mp-')
    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory,
                   PYTHONPATH=root)
        out = subprocess.run(
            [sys.executable, '-c', MULTIPROCESS_SCRIPT, str(workers),
             str(repeat)], env=env, capture_output=True, text=True,
            check=True, timeout=1800)
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def churn(live=48, dead=500, pairs=15):
    """Scrape cost after ``dead`` worker exits, against live ones only.

    Two stores over the same live workers' snapshots, one of them with
    the dead workers' as well, are scraped in alternation: a drift of the
    host's load hits both alike, as it would not if one were timed after
    the other.
    """
    live_dir = tempfile.mkdtemp(prefix='swiftinst-churn-live-')
    churned_dir = tempfile.mkdtemp(prefix='swiftinst-churn-')
    fake = workload.FakeWorkers(live_dir, DEFAULT_LATENCY_BUCKETS, live)
    try:
        for name in workload.snapshot_names(live_dir):
            shutil.copy(os.path.join(live_dir, name), churned_dir)
        live_store = MetricStore(live_dir, DEFAULT_LATENCY_BUCKETS)
        churned_store = MetricStore(churned_dir, DEFAULT_LATENCY_BUCKETS)
        before, _ = churned_store.merged()
        exited = workload.FakeWorkers(churned_dir, DEFAULT_LATENCY_BUCKETS,
                                      0, dead)
        exited.close()
        files = len(workload.snapshot_names(churned_dir))
        first = _timed(lambda: scrape_once(churned_store), 1)[0]
        after, _ = churned_store.merged()
        scrape_once(live_store)
        live_times, churned_times = [], []
        sides = [(live_store, live_times), (churned_store, churned_times)]
        for _ in range(pairs):
            for store, times in sides:
                times += _timed(lambda: scrape_once(store), 1)
            sides.reverse()     # each store goes first in half the pairs
        key = next(iter(before))
        expected = [v * (live + dead) / live for v in before[key].counts]
        return {
            'live_only_s': statistics.median(live_times),
            'after_churn_s': statistics.median(churned_times),
            'ratio': statistics.median(
                c / o for o, c in zip(live_times, churned_times)),
            'pairs': pairs, 'first_scrape_s': first,
            'files_before_compaction': files,
            'files_after': len(workload.snapshot_names(churned_dir)),
            'exact': after[key].counts == expected,
        }
    finally:
        fake.close()
        shutil.rmtree(live_dir, ignore_errors=True)
        shutil.rmtree(churned_dir, ignore_errors=True)


SCRAPER = r'''
import http.client, json, sys, time
conn = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]))
times = []
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    started = time.perf_counter()
    conn.request('GET', '/metrics')
    conn.getresponse().read()
    times.append(time.perf_counter() - started)
print(json.dumps(times))
'''


def stall(workers=48, seconds=6.0):
    """Probe latency of a worker while it serves back-to-back scrapes of
    ``workers`` workers' data, against the same probe without scrapes.
    """
    server = ObjectServer(workers=1, devices=('sda',),
                          filter_options={'flush_interval': '1'},
                          command_prefix=workload.on_cpu(workload.SERVER_CPU))
    fake = workload.FakeWorkers(server.metrics_dir, DEFAULT_LATENCY_BUCKETS,
                                workers - 1)
    everywhere = os.sched_getaffinity(0)
    cpus = {int(workload.LOAD_CPU)} if len(everywhere) > 1 else everywhere
    try:
        server.start()

        def probe(duration):
            # This process holds every earlier benchmark's garbage: a
            # collection of it while a probe waits would be counted as
            # the server's stall.
            gc.collect()
            gc.disable()
            os.sched_setaffinity(0, cpus)
            conn = http.client.HTTPConnection('127.0.0.1', server.port)
            latencies = []
            deadline = time.time() + duration
            try:
                while time.time() < deadline:
                    started = time.perf_counter()
                    conn.request('HEAD', '/sda/0/a/c/probe')
                    conn.getresponse().read()
                    latencies.append(time.perf_counter() - started)
                    time.sleep(0.002)
            finally:
                os.sched_setaffinity(0, everywhere)
                gc.enable()
                conn.close()
            return latencies

        quiet = probe(seconds)
        # The scraper is its own process: as a thread of this one, it
        # would hold this process's GIL while the probe waits to time a
        # reply, and its stalls would be counted as the server's.
        scraper = subprocess.Popen(
            workload.on_cpu(workload.LOAD_CPU) +
            [sys.executable, '-c', SCRAPER, str(server.port),
             str(seconds + 1.0)], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        busy = probe(seconds)
        scrape_times = json.loads(scraper.communicate(timeout=120)[0])
    finally:
        fake.close()
        server.close()
    base = statistics.median(quiet)
    return {
        'scrapes': len(scrape_times),
        'http_scrape_median_s': statistics.median(scrape_times),
        'probe_median_quiet_ms': base * 1e3,
        'probe_max_quiet_ms': max(quiet) * 1e3,
        'probe_median_scraping_ms': statistics.median(busy) * 1e3,
        'probe_p99_scraping_ms': sorted(busy)[int(len(busy) * 0.99)] * 1e3,
        'probe_max_scraping_ms': max(busy) * 1e3,
        'max_stall_ms': (max(busy) - base) * 1e3,
    }


def main(worker_counts=(1, 8, 48, 128), churn_dead=500, mp_max=48):
    results = {'scrape': []}
    for n in worker_counts:
        row = {'workers': n, 'ours_s': ours(n)}
        if n <= mp_max:
            row['multiprocess_s'] = multiprocess_collector(n)
            row['speedup'] = row['multiprocess_s'] / row['ours_s']
        results['scrape'].append(row)
        print(json.dumps(row))
    results['default_profile'] = {
        'workers': 48, 'ours_s': ours(48, profile='default'),
        'series_per_worker': len(list(workload.label_sets('default'))),
        'full_series_per_worker': len(list(workload.label_sets('full')))}
    print(json.dumps(results['default_profile']))
    results['churn'] = churn(48, churn_dead)
    print(json.dumps(results['churn']))
    results['stall'] = stall()
    print(json.dumps(results['stall']))
    return results


if __name__ == '__main__':
    main()
