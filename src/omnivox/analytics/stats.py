"""Small statistics for the dashboard: percentiles and the two-proportion z-test."""

from __future__ import annotations

import math


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0-100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 1)


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """The two-sided p-value of a pooled two-proportion z-test of x1/n1 against x2/n2."""
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance == 0:  # every conversation of both was contained, or none was: no difference
        return 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))
