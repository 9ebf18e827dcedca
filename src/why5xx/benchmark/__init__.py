"""`why5xx bench`: how often the diagnosis names the true cause.

A corpus of scenarios (docs/scenario-format.md: the test scenarios, the
examples, anyone's directories, and clusters generated with injected
faults) is diagnosed scenario by scenario and scored against its truth
(`why5xx.scenarios.judge`), beside a kubectl-only baseline; `score`
adds it up per cause and overall.
"""
