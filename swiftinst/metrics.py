"""The one table of metric names, help texts, label names and kinds.

Alert rules and dashboards depend on these names; change them only with a
deprecation path.  Everything else (store, exporters, CLI) reads this table
instead of repeating names.
"""

from collections import namedtuple

HISTOGRAM = 'histogram'
COUNTER = 'counter'

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
    'Wall time of a request through the filter, body included.',
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
    'running (holding the event loop), client_wait (waiting while the loop '
    'was idle), hub_wait (ready, or its data there, while other '
    'greenthreads held the loop), tpool_wait (waiting for a tpool thread).',
    ('method', 'device', 'policy', 'phase'))
HUB_BLOCKED = MetricDef(
    'swift_object_hub_blocked_seconds', HISTOGRAM,
    'Times one greenthread held the event loop longer than '
    'hub_block_threshold; every other request of the worker waited.',
    ('method', 'device', 'where'))
HUB_LAG = MetricDef(
    'swift_object_hub_lag_seconds', HISTOGRAM,
    'How late a timer set every hub_lag_interval fired.',
    ())
SUPPRESSED_WARNINGS = MetricDef(
    'swift_object_suppressed_warnings', COUNTER,
    'Log lines not written because of rate limiting.',
    ('kind',))

ALL_METRICS = (INPUT_READ, DISK_OP, REQUEST, INPUT_BYTES, SLOW_READS,
               INSTRUMENTATION_ERRORS, REQUEST_PHASE, HUB_BLOCKED, HUB_LAG,
               SUPPRESSED_WARNINGS)
BY_NAME = {m.name: m for m in ALL_METRICS}

# The steps of the object write path that diskfile_hooks times, plus the
# metadata read on the read side.  'rename' and 'linkat' are named for the
# call that actually made the object visible.
DISK_OPS = ('open', 'write', 'fdatasync', 'xattr_write', 'fsync', 'rename',
            'linkat', 'dir_fsync', 'tpool_wait', 'metadata_read')

# How a request's wall time is split (REQUEST_PHASE), in that order.
PHASES = ('running', 'client_wait', 'hub_wait', 'tpool_wait')
# Where a greenthread held the hub (HUB_BLOCKED): a hooked disk op, elsewhere
# in a request (Swift's own code), or a greenthread serving no request.
WHERE_REQUEST = 'request'
WHERE_OTHER = 'other'

# Every component that counts INSTRUMENTATION_ERRORS.  Each worker starts
# them at 0, so an alert on their increase has a series to watch.
ERROR_COMPONENTS = ('request', 'input', 'diskfile', 'eventloop', 'scrape',
                    'statsd', 'store', 'store_corrupt', 'store_layout')

# Methods the object server answers; anything else is labelled OTHER.
METHODS = ('GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'REPLICATE', 'SSYNC',
           'UPDATE')
OTHER_METHOD = 'OTHER'
OTHER_DEVICE = 'other'
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
