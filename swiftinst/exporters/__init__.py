"""Wire formats for the recorded values: Prometheus text and statsd."""
