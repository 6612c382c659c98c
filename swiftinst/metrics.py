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

"""The one table of metric names, help texts, label names and kinds.

Alert rules and dashboards depend on these names; change them only with a
deprecation path.  Everything else (store, exporters, CLI) reads this table
instead of repeating names.
"""

from collections import namedtuple

HISTOGRAM = 'histogram'
# A histogram of one bucket, +Inf: a count and a sum, three series.  What
# each device keeps of its requests' time where its full histograms would
# cost too many series (see labels.SeriesProfile).
TOTALS = 'totals'
COUNTER = 'counter'
GAUGE = 'gauge'

MetricDef = namedtuple('MetricDef', 'name kind help labels')

INPUT_READ = MetricDef(
    'swift_object_input_read_seconds', HISTOGRAM,
    'Duration of each read() of the client request body (wsgi.input).',
    ('method', 'device', 'policy'))
DISK_OP = MetricDef(
    'swift_object_disk_op_seconds', HISTOGRAM,
    'Duration of each step of the object write path, per device.',
    ('op', 'device', 'policy'))
REQUEST = MetricDef(
    'swift_object_request_seconds', HISTOGRAM,
    'Wall time of a request through the filter, body included.  The '
    'device label is empty (the whole node) unless series_profile is full; '
    'per device, see swift_object_device_request_seconds.',
    ('method', 'device', 'policy', 'status'))
DEVICE_REQUEST = MetricDef(
    'swift_object_device_request_seconds', TOTALS,
    'Requests of each device and their wall time (count and sum); the '
    'latency histogram is swift_object_request_seconds.  Not with '
    'series_profile full, whose request histograms are per device.',
    ('method', 'device', 'policy', 'status'))
INPUT_BYTES = MetricDef(
    'swift_object_input_bytes', COUNTER,
    'Bytes read from the client request body.',
    ('method', 'device', 'policy'))
SLOW_READS = MetricDef(
    'swift_object_slow_reads', COUNTER,
    'Reads of the request body slower than slow_read_threshold.',
    ('method', 'device', 'policy'))
INSTRUMENTATION_ERRORS = MetricDef(
    'swift_object_instrumentation_errors', COUNTER,
    'Exceptions caught inside swiftinst; the request was served anyway.',
    ('component',))

REQUEST_PHASE = MetricDef(
    'swift_object_request_phase_seconds', HISTOGRAM,
    'A request\'s wall time split by what its greenthread was doing: '
    'running (holding the event loop), client_wait (waiting for its client '
    'while the loop was idle), hub_wait (ready, or its data there, while '
    'other greenthreads held the loop), tpool_wait (waiting for a tpool '
    'thread), container_wait (waiting for its container updates), '
    'commit_wait (an EC PUT waiting for the proxy\'s commit, which comes '
    'once the other fragments are written).  '
    'The device label is empty unless series_profile is full; per device, '
    'see swift_object_device_phase_seconds.',
    ('method', 'device', 'policy', 'phase'))
DEVICE_PHASE = MetricDef(
    'swift_object_device_phase_seconds', TOTALS,
    'Each device\'s request time split by phase, as '
    'swift_object_request_phase_seconds (count and sum).  Not with '
    'series_profile full, whose phase histograms are per device.',
    ('device', 'policy', 'phase'))
HUB_BLOCKED = MetricDef(
    'swift_object_hub_blocked_seconds', HISTOGRAM,
    'Times one greenthread held the event loop longer than '
    'hub_block_threshold; every other request of the worker waited.',
    ('method', 'device', 'where'))
HUB_LAG = MetricDef(
    'swift_object_hub_lag_seconds', HISTOGRAM,
    'How late a timer set every hub_lag_interval fired.',
    ())
CONTAINER_UPDATE = MetricDef(
    'swift_object_container_update_seconds', HISTOGRAM,
    'Duration of each container update (one per container replica, and '
    'the expirer queue\'s), observed when it ends, also after its request '
    'has returned: ok, error (a non-2xx answer, a refused connection) or '
    'timeout.',
    ('outcome',))
ASYNC_PENDINGS = MetricDef(
    'swift_object_async_pendings', COUNTER,
    'Container updates saved as async pendings (pickle_async_update) for '
    'the object-updater to send later, per device of the object.',
    ('device',))
ASYNC_PENDING_BACKLOG = MetricDef(
    'swift_object_async_pending_backlog', GAUGE,
    'Async pendings waiting on the node, as the object-updater\'s last '
    'sweep left them in its recon cache (object.recon).',
    ())
SUPPRESSED_WARNINGS = MetricDef(
    'swift_object_suppressed_warnings', COUNTER,
    'Log lines not written because of rate limiting.',
    ('kind',))

# Disk state (see diskstate): sampled by one worker, never summed.
DEVICE_BYTES_TOTAL = MetricDef(
    'swift_object_device_bytes_total', GAUGE,
    'Size of the filesystem holding the device (statvfs).', ('device',))
DEVICE_BYTES_USED = MetricDef(
    'swift_object_device_bytes_used', GAUGE,
    'Bytes in use on the filesystem holding the device.', ('device',))
DEVICE_INODES_TOTAL = MetricDef(
    'swift_object_device_inodes_total', GAUGE,
    'Inodes of the filesystem holding the device (statvfs).', ('device',))
DEVICE_INODES_USED = MetricDef(
    'swift_object_device_inodes_used', GAUGE,
    'Inodes in use on the filesystem holding the device: about the number '
    'of objects, their directories and tombstones.', ('device',))
NODE_DENTRIES = MetricDef(
    'swift_object_node_dentries', GAUGE,
    'Dentries in the kernel\'s cache (/proc/sys/fs/dentry-state).', ())
NODE_DENTRIES_UNUSED = MetricDef(
    'swift_object_node_dentries_unused', GAUGE,
    'Cached dentries not in use, the first to be reclaimed.', ())
NODE_INODES = MetricDef(
    'swift_object_node_inodes', GAUGE,
    'Inodes in the kernel\'s cache (/proc/sys/fs/inode-nr).', ())
NODE_INODES_FREE = MetricDef(
    'swift_object_node_inodes_free', GAUGE,
    'Cached inodes that are free.', ())


def _xfs(name, line, index, help_text):
    return (MetricDef('swift_object_xfs_%s' % name, COUNTER,
                      'XFS, since mount: %s (/sys/fs/xfs/<dev>/stats/stats, '
                      '"%s" field %d).' % (help_text, line, index + 1),
                      ('device',)), line, index)


# (definition, stats line, field index): the XFS counters worth having
# beside Swift's latencies.  The inode cache (ig_*) and directory lookups
# are the ones that explain a slowdown with millions of objects.
_XFS_FIELDS = (
    ('ig_attempts', 'ig', 0, 'inode cache lookups'),
    ('ig_found', 'ig', 1, 'inode cache hits'),
    ('ig_frecycle', 'ig', 2, 'inode cache hits on inodes being recycled'),
    ('ig_missed', 'ig', 3, 'inode cache misses: inodes read from disk'),
    ('ig_reclaims', 'ig', 5, 'inodes reclaimed from the cache'),
    ('dir_lookup', 'dir', 0, 'directory lookups'),
    ('dir_create', 'dir', 1, 'directory entries created'),
    ('dir_remove', 'dir', 2, 'directory entries removed'),
    ('dir_getdents', 'dir', 3, 'getdents calls'),
    ('log_writes', 'log', 0, 'log buffer writes'),
    ('log_blocks', 'log', 1, 'log blocks written'),
    ('log_force', 'log', 3, 'log forces (fsync and friends)'),
    ('log_force_sleep', 'log', 4, 'log forces that had to wait'),
    ('extent_alloc', 'extent_alloc', 0, 'extents allocated'),
    ('trans_sync', 'trans', 0, 'synchronous transactions'),
    ('attr_get', 'attr', 0, 'xattr reads'),
    ('attr_set', 'attr', 1, 'xattr writes'),
)
XFS_COUNTERS = tuple(_xfs(*fields) for fields in _XFS_FIELDS)
_XFS_BY_NAME = {definition.name: definition
                for definition, _, _ in XFS_COUNTERS}
XFS_IG_ATTEMPTS = _XFS_BY_NAME['swift_object_xfs_ig_attempts']
XFS_IG_MISSED = _XFS_BY_NAME['swift_object_xfs_ig_missed']

DISK_STATE_METRICS = (ASYNC_PENDING_BACKLOG, DEVICE_BYTES_TOTAL,
                      DEVICE_BYTES_USED,
                      DEVICE_INODES_TOTAL, DEVICE_INODES_USED,
                      NODE_DENTRIES, NODE_DENTRIES_UNUSED, NODE_INODES,
                      NODE_INODES_FREE) + tuple(
                          definition for definition, _, _ in XFS_COUNTERS)

ALL_METRICS = (INPUT_READ, DISK_OP, REQUEST, DEVICE_REQUEST, INPUT_BYTES,
               SLOW_READS, INSTRUMENTATION_ERRORS, REQUEST_PHASE,
               DEVICE_PHASE, HUB_BLOCKED, HUB_LAG, CONTAINER_UPDATE,
               ASYNC_PENDINGS, SUPPRESSED_WARNINGS) + DISK_STATE_METRICS
BY_NAME = {m.name: m for m in ALL_METRICS}

# The steps of the object path that diskfile_hooks times.  'rename' and
# 'linkat' are named for the call that actually made the object visible;
# 'tpool_wait' is the wait for a free tpool thread, not work.
DISK_OPS = ('open', 'write', 'fdatasync', 'xattr_write', 'fsync',
            'drop_cache', 'partition_lock', 'rename', 'linkat', 'dir_fsync',
            'cleanup', 'tpool_wait', 'metadata_read', 'read',
            'async_pending', 'replication_lock')
# The ops that run in tpool threads, holding one while they last (some
# run on the hub too, outside _finalize_put).
TPOOL_OPS = ('fdatasync', 'xattr_write', 'fsync', 'drop_cache',
             'partition_lock', 'rename', 'linkat', 'dir_fsync', 'cleanup')

# Outcomes of a container update (CONTAINER_UPDATE).
UPDATE_OUTCOMES = ('ok', 'error', 'timeout')

# How a request's wall time is split (REQUEST_PHASE), in that order.
PHASES = ('running', 'client_wait', 'hub_wait', 'tpool_wait',
          'container_wait', 'commit_wait')
# Where a greenthread held the hub (HUB_BLOCKED): a hooked disk op, elsewhere
# in a request (Swift's own code), or a greenthread serving no request.
WHERE_REQUEST = 'request'
WHERE_OTHER = 'other'

# Every component that counts INSTRUMENTATION_ERRORS.  Each worker starts
# them at 0, so an alert on their increase has a series to watch.
# ('requests': a request beyond requests_max_in_flight, not listed at
# requests_path)
ERROR_COMPONENTS = ('request', 'input', 'diskfile', 'server', 'eventloop',
                    'scrape',
                    'statsd', 'store', 'store_corrupt', 'store_layout',
                    'diskstate', 'requests')

# Methods the object server answers; anything else is labelled OTHER.
METHODS = ('GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'REPLICATE', 'SSYNC',
           'UPDATE')
OTHER_METHOD = 'OTHER'
OTHER_DEVICE = 'other'
# The device label of a series that covers the whole node, and the policy
# label of a device's series that covers all its policies (see
# labels.SeriesProfile); Prometheus stores an empty label as no label.
NODE = ''
ALL_POLICIES = ''
OTHER_POLICY = 'other'

# 100 us to 60 s (the object server's client_timeout): 19 bounds + +Inf.
DEFAULT_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


def status_class(status):
    """'201 Created' -> '2xx'; anything unparsable -> 'other'."""
    if status and status[0] in '12345':
        return status[0] + 'xx'
    return 'other'
