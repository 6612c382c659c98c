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

"""Python frames per PUT and per GET: Swift's, and the filter's own.

Every Python function call makes a frame (compiled code makes none).  A
profile function set in every thread (the hub and the tpool threads that
run ``_finalize_put``) counts the ``call`` events of N 4 KiB PUTs, then
of N GETs, through Swift's ObjectController in-process (as
bench/instructions does), bare and with the filter's defaults, compiled
and interpreted; a frame is the filter's if its code is in swiftinst/.

    python -m bench.frames
"""

import json
import os
import subprocess
import sys

N = 200

SCRIPT = r'''
import json, os, shutil, sys, tempfile, threading
import eventlet
eventlet.monkey_patch(all=False, socket=True, select=True, thread=True)
from swift.common import swob, utils
from bench.instructions import _app

variant, n = sys.argv[1], int(sys.argv[2])
counts = {'on': False, 'swift': 0, 'swiftinst': 0}


def profile(frame, event, arg):
    if event == 'call' and counts['on']:
        if '/swiftinst/' in frame.f_code.co_filename:
            counts['swiftinst'] += 1
        else:
            counts['swift'] += 1


sys.setprofile(profile)
threading.setprofile(profile)
root = tempfile.mkdtemp(dir='/dev/shm' if os.path.isdir('/dev/shm')
                        else None)
body = b'x' * 4096
try:
    app = _app(variant, root)

    def put(i):
        req = swob.Request.blank(
            '/sda/0/a/c/o%d' % i, method='PUT', body=body, headers={
                'X-Timestamp': utils.Timestamp.now().internal,
                'Content-Type': 'application/octet-stream'})
        assert req.get_response(app).status_int == 201

    def get(i):
        resp = swob.Request.blank('/sda/0/a/c/o%d' % (i % 10)).get_response(
            app)
        assert resp.status_int == 200 and resp.body == body

    result = {}
    for name, one in (('PUT', put), ('GET', get)):
        for i in range(20):
            one(i)
        counts.update(on=True, swift=0, swiftinst=0)
        for i in range(20, 20 + n):
            one(i)
        counts['on'] = False
        result[name] = {'swift': counts['swift'] / n,
                        'swiftinst': counts['swiftinst'] / n}
    print(json.dumps(result))
finally:
    sys.setprofile(None)
    shutil.rmtree(root, ignore_errors=True)
'''

VARIANTS = (('bare', 'bare', False), ('compiled', 'accounting', False),
            ('interpreted', 'accounting', True))


def measure(variant, interpreted):
    env = dict(os.environ, PYTHONHASHSEED='0')
    if interpreted:
        env['SWIFTINST_PURE_PYTHON'] = '1'
    out = subprocess.run([sys.executable, '-c', SCRIPT, variant, str(N)],
                         env=env, check=True, capture_output=True,
                         text=True, cwd=os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__)))).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    results = {name: measure(variant, interpreted)
               for name, variant, interpreted in VARIANTS}
    for method in ('PUT', 'GET'):
        bare = results['bare'][method]['swift']
        for name, _, _ in VARIANTS:
            r = results[name][method]
            print('%s %-12s %6.1f frames (%+.1f), of them swiftinst\'s %.1f'
                  % (method, name, r['swift'] + r['swiftinst'],
                     r['swift'] + r['swiftinst'] - bare, r['swiftinst']))
    return results


if __name__ == '__main__':
    main()
