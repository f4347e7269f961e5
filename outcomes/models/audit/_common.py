"""Argument checks and confidence intervals shared by the audit modules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from ...cohort import Cohort
from .._intervals import wilson

#: Columns ``by`` may name: each patient belongs to exactly one unit of each.
GROUPINGS: tuple[str, ...] = ("site_id", "clinician_id", "schedule")


# ---------------------------------------------------------------------------- checks


def _check_cohort(cohort: Any) -> Cohort:
    if not isinstance(cohort, Cohort):
        raise TypeError(f"cohort must be an outcomes.Cohort, got {type(cohort).__name__}")
    return cohort


def _check_by(by: Any, *, allow_none: bool) -> str | None:
    allowed = GROUPINGS + ((None,) if allow_none else ())
    if by not in allowed:
        raise ValueError(f"by must be one of {', '.join(map(repr, allowed))}, got {by!r}")
    return by


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a whole number ≥ 1 (1 turns suppression off), got {k!r}")
    return int(k)


def _check_level(level: Any, parameter: str = "level") -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"{parameter} must be a probability between 0 and 1 (e.g. 0.95), got {level!r}")
    return float(level)


def _check_outcome(cohort: Cohort, outcome: Any) -> str:
    s = cohort.patient_summary
    have = [o for o in cohort.options.instruments if f"{o}_responder" in s.columns]
    if outcome not in have:
        raise ValueError(f"outcome must be an instrument with change scores in the cohort "
                         f"({', '.join(have) or 'none'}), got {outcome!r}")
    return outcome



# ------------------------------------------------------------------ intervals


def _mean_ci(x: np.ndarray, level: float) -> tuple[float, float, float]:
    x = x[~np.isnan(x)]
    if not len(x):
        return np.nan, np.nan, np.nan
    m = float(x.mean())
    if len(x) < 2:
        return m, np.nan, np.nan
    half = stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return m, m - half, m + half


def _ratio_ci(y: np.ndarray, x: np.ndarray, level: float) -> tuple[float, float, float]:
    """Ratio Σy ÷ Σx over patients, with the linearised (Taylor) variance of a ratio
    estimator, so flares clustered within patients widen the interval (Cochran 1977,
    Sampling Techniques, §6.4)."""
    keep = (x > 0) & ~np.isnan(x) & ~np.isnan(y)
    y, x = y[keep], x[keep]
    if not len(x) or x.sum() == 0:
        return np.nan, np.nan, np.nan
    r = y.sum() / x.sum()
    n = len(x)
    if n < 2:
        return r, np.nan, np.nan
    se = math.sqrt(n / (n - 1) * np.sum((y - r * x) ** 2)) / x.sum()
    z = stats.norm.ppf((1 + level) / 2)
    return r, max(r - z * se, 0.0), r + z * se


def _wilson(num: np.ndarray, den: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval at ``level`` (see :func:`outcomes.models._intervals.wilson`)."""
    return wilson(num, den, level=level)
