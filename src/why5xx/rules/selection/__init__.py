"""Causes in what a Service selects: a selector that matches no pod, a
workload that is not there, and one scaled to zero."""
