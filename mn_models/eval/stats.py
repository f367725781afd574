"""Mean and confidence interval over per-seed numbers (Student t, from SciPy).

    mean, half = mean_ci([0.80, 0.84, 0.76])      # 0.80 +- 0.099 (95%, t with 2 dof)

SciPy is imported on first use, so importing this module (the `mn` CLI does) stays cheap.
"""
from __future__ import annotations

import math
from typing import Sequence


def t_quantile(confidence: float, df: int) -> float:
    """t such that P(|T| <= t) = confidence (e.g. 0.95 -> 12.706 for df=1, 2.262 for df=9)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if df < 1 or int(df) != df:
        raise ValueError(f"degrees of freedom must be a positive integer, got {df}")
    from scipy.stats import t
    return float(t.ppf(0.5 + confidence / 2.0, int(df)))


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """(mean, half-width of the `confidence` interval) of per-seed values, t distribution with
    n-1 dof on the sample standard deviation; the half-width is 0.0 for a single value."""
    v = [float(x) for x in values]
    if not v:
        raise ValueError("mean_ci needs at least one value")
    n = len(v)
    mean = sum(v) / n
    if n == 1:
        return mean, 0.0
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
    return mean, t_quantile(confidence, n - 1) * sd / math.sqrt(n)


def format_ci(mean: float, half: float, scale: float = 100.0, digits: int = 1) -> str:
    """'84.0 ± 3.2' (percent by default); just the mean when there is one seed."""
    if half == 0.0:
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {half * scale:.{digits}f}"


def format_diff(mean: float, half: float, scale: float = 100.0, digits: int = 1) -> str:
    """A difference, signed: '+5.0 ± 3.2'; just '+5.0' when there is one seed (never '-0.0')."""
    m = mean * scale if round(mean * scale, digits) else 0.0
    return f"{m:+.{digits}f}" + (f" ± {half * scale:.{digits}f}" if half else "")
