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

"""``make bench`` / ``make bench-quick``: every performance target, as
ratios against a baseline measured in the same invocation.

Prints one table (target, figure, baseline, verdict) and writes the raw
results to bench/results/<timestamp>.json.
"""

import argparse
import json
import os
import platform
import sys
import time

from bench import e2e, hotpath, requests, scrape

HERE = os.path.dirname(os.path.abspath(__file__))


def machine():
    try:
        with open('/proc/cpuinfo') as f:
            model = next((line.split(':', 1)[1].strip() for line in f
                          if line.startswith('model name')), '?')
    except OSError:
        model = '?'
    return '%s, %d cores, %s, Python %s' % (
        model, os.cpu_count() or 0, platform.platform(),
        platform.python_version())


def verdict(ok):
    return 'PASS' if ok else 'FAIL'


def table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return '\n'.join('  '.join(str(c).ljust(w) for c, w in zip(r, widths))
                     for r in rows)


def build_rows(results):
    rows = [('target', 'measured', 'baseline', 'bar', 'verdict')]
    for r in results.get('e2e', []):
        name = r['scenario']
        thr_bar, cpu_bar = r.get('throughput_bar'), r.get('cpu_bar')
        rows.append(('%s: throughput ratio (median of %d pairs)'
                     % (name, r['pairs']),
                     '%.3f (%.0f/s)' % (r['throughput_ratio'],
                                        r['instrumented_rps']),
                     '%.0f/s' % r['baseline_rps'],
                     '>= %.2f' % thr_bar if thr_bar else 'report',
                     verdict(r['throughput_ratio'] >= thr_bar)
                     if thr_bar else '-'))
        rows.append(('%s: CPU per request ratio' % name,
                     '%.3f (%.0f us)' % (r['cpu_ratio'],
                                         r['instrumented_cpu_us']),
                     '%.0f us' % r['baseline_cpu_us'],
                     '<= %.2f' % cpu_bar if cpu_bar else 'report',
                     verdict(r['cpu_ratio'] <= cpu_bar) if cpu_bar else '-'))
    hot = results.get('hotpath')
    if hot:
        rows.append(('hot path: added per timed read(), compiled',
                     '%.2f us (interpreted %.2f us)' % (
                         hot['swiftinst_added_us'],
                         hot['interpreted_added_us']),
                     'multiprocess %.2f us, in-process %.2f us' % (
                         hot['multiprocess_added_us'],
                         hot['in_process_added_us']),
                     '<= 0.3 us', verdict(hot['swiftinst_added_us'] <= 0.3)))
    for row in results.get('scrape', {}).get('scrape', []):
        mp = row.get('multiprocess_s')
        rows.append(('scrape, %d workers (merge + render)' % row['workers'],
                     '%.1f ms' % (row['ours_s'] * 1e3),
                     'MultiProcessCollector %s' % (
                         '%.0f ms (%.0fx)' % (mp * 1e3, row['speedup'])
                         if mp else 'not run'),
                     '<= 100 ms, >= 10x' if row['workers'] == 48 else
                     'report',
                     verdict(row['ours_s'] <= 0.1 and
                             row.get('speedup', 10) >= 10)
                     if row['workers'] == 48 else '-'))
    default = results.get('scrape', {}).get('default_profile')
    if default:
        rows.append(('scrape, 48 workers, default profile (%d series each; '
                     'full: %d)' % (default['series_per_worker'],
                                    default['full_series_per_worker']),
                     '%.1f ms' % (default['ours_s'] * 1e3), '-',
                     '<= 100 ms', verdict(default['ours_s'] <= 0.1)))
    answer = results.get('requests')
    if answer:
        rows.append(('/debug/requests, %d workers, %d requests in flight'
                     % (answer['workers'], answer['in_flight']),
                     '%.1f ms (interpreted %.1f ms)' % (
                         answer['compiled_s'] * 1e3,
                         answer['interpreted_s'] * 1e3),
                     '-', '<= 50 ms',
                     verdict(answer['compiled_s'] <= 0.05)))
    churn = results.get('scrape', {}).get('churn')
    if churn:
        rows.append(('scrape after worker churn / live only (%d pairs)'
                     % churn['pairs'],
                     '%.2fx (%.1f ms, exact: %s)' % (
                         churn['ratio'], churn['after_churn_s'] * 1e3,
                         churn['exact']),
                     '%.1f ms; first scrape folds %d files in %.0f ms' % (
                         churn['live_only_s'] * 1e3,
                         churn['files_before_compaction'],
                         churn['first_scrape_s'] * 1e3),
                     '<= 1.5x', verdict(churn['ratio'] <= 1.5 and
                                        churn['exact'])))
    stall = results.get('scrape', {}).get('stall')
    if stall:
        rows.append(('stall of other requests during scrapes (48 workers)',
                     'max %.1f ms, p99 %.1f ms over %d scrapes' % (
                         stall['max_stall_ms'],
                         stall['probe_p99_scraping_ms'] -
                         stall['probe_median_quiet_ms'], stall['scrapes']),
                     'probe median %.1f ms, max %.1f ms without scrapes' % (
                         stall['probe_median_quiet_ms'],
                         stall['probe_max_quiet_ms']),
                     '<= 10 ms', verdict(stall['max_stall_ms'] <= 10)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--quick', action='store_true',
                        help='a sub-minute run: fewer pairs and workers')
    parser.add_argument('--only', choices=('e2e', 'hotpath', 'scrape',
                                           'requests'),
                        action='append')
    args = parser.parse_args(argv)
    only = set(args.only or ('e2e', 'hotpath', 'scrape', 'requests'))
    started = time.time()
    results = {'machine': machine(), 'quick': args.quick,
               'started': time.strftime('%Y-%m-%d %H:%M:%S UTC',
                                        time.gmtime(started))}
    if 'hotpath' in only:
        results['hotpath'] = hotpath.main()
    if 'scrape' in only:
        if args.quick:
            results['scrape'] = scrape.main((1, 8, 48), churn_dead=100,
                                            mp_max=8)
        else:
            results['scrape'] = scrape.main()
    if 'requests' in only:
        results['requests'] = requests.main()
    if 'e2e' in only:
        if args.quick:
            results['e2e'] = e2e.main(pairs=3, seconds=2,
                                      only='PUT 4 KiB, tmpfs', bar_pairs=3,
                                      exact=True)
        else:
            results['e2e'] = e2e.main(pairs=15, seconds=2)
    results['wall_seconds'] = time.time() - started
    os.makedirs(os.path.join(HERE, 'results'), exist_ok=True)
    path = os.path.join(HERE, 'results', time.strftime(
        '%Y%m%d-%H%M%S.json', time.gmtime(started)))
    with open(path, 'w') as f:
        json.dump(results, f, indent=2)
    print()
    print('Machine: %s' % results['machine'])
    print('Wall time: %.0f s; raw results in %s' % (
        results['wall_seconds'], os.path.relpath(path)))
    print()
    print(table(build_rows(results)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
