"""Small statistics for the dashboard: percentiles, and the z-tests behind its verdicts.

A difference is called significant when its two-sided p-value is under ``ALPHA``. A
two-proportion test is "too few to tell" while either side expects fewer than
``MIN_EXPECTED`` successes or failures (the normal approximation does not hold there); a test
of two means, while either side has fewer than ``MIN_MEAN_N`` values.
"""

from __future__ import annotations

import math

ALPHA = 0.05
MIN_EXPECTED = 5.0
MIN_MEAN_N = 30


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
    if variance == 0:  # all successes on both sides, or none: no difference
        return 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def too_few(x1: int, n1: int, x2: int, n2: int) -> bool:
    """True while the smaller side expects under ``MIN_EXPECTED`` successes or failures."""
    pooled = (x1 + x2) / (n1 + n2)
    return min(n1, n2) * min(pooled, 1 - pooled) < MIN_EXPECTED


def two_mean_p(mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int) -> float:
    """The two-sided p-value of a large-sample (Welch) z-test of two means.

    ``var1`` and ``var2`` are the sample variances (n - 1 in the denominator).
    """
    se = math.sqrt(var1 / n1 + var2 / n2)
    if se == 0:  # every value of both sides the same
        return 1.0 if mean1 == mean2 else 0.0
    return math.erfc(abs(mean1 - mean2) / se / math.sqrt(2))


def said(p: float) -> str:
    """A p-value as the verdicts write it: ``p<0.001``, ``p=0.004``, ``p=0.047``, ``p=0.29``.

    Three decimals below 0.1, so no value near ``ALPHA`` reads as 0.05 on either side of it.
    """
    if p < 0.001:
        return "p<0.001"
    return f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"
