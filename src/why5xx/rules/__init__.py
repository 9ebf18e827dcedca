"""The rule registry: every rule, listed explicitly (no import side effects).

Adding a cause: one module under `rules/`, its line here, scenarios under
`tests/scenarios/<cause>/`, and `make docs`.
"""

from __future__ import annotations

from why5xx.rules.base import Rule
from why5xx.rules.selection import no_matching_workload, scaled_to_zero, selector_mismatch

RULES: tuple[Rule, ...] = (
    selector_mismatch,
    no_matching_workload,
    scaled_to_zero,
)
