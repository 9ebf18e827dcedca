"""Causes in the probes of the selected pods: a readiness probe that fails,
and a start slower than the probes allow."""
