"""Confidence intervals shared by the comparison, trial and audit tables."""

from __future__ import annotations

from typing import Any

import numpy as np
from statsmodels.stats.proportion import proportion_confint

__all__ = ["wilson"]


def wilson(k: Any, n: Any, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for k of n (Wilson 1927), NaN where n is 0 or missing.

    ``statsmodels.stats.proportion.proportion_confint(method="wilson")``; 33/50 gives
    0.5215 to 0.7756 (statsmodels ``proportion_confint(method="wilson")``; checked in the tests).
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    ok = n > 0
    lo = np.full(np.shape(n), np.nan)
    hi = np.full(np.shape(n), np.nan)
    if ok.any():
        lo[ok], hi[ok] = proportion_confint(k[ok], n[ok], alpha=1 - level, method="wilson")
    return lo, hi
