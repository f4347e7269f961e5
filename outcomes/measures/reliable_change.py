"""Reliable change (Jacobson & Truax 1991): is a patient's change larger than the instrument's noise?"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._checks import _number, _same_length, _values, _wrap

__all__ = ["RC_CATEGORIES", "classify_reliable_change", "reliable_change", "reliable_change_errors"]

#: Categories of `classify_reliable_change`.
RC_CATEGORIES: tuple[str, ...] = ("improved", "unchanged", "deteriorated")


def reliable_change_errors(*, sd: float, reliability: float) -> tuple[float, float]:
    """Standard error of measurement and of a difference (Jacobson & Truax 1991).

    Parameters
    ----------
    sd : float
        Standard deviation of the measure at baseline (> 0).
    reliability : float
        Test-retest reliability r, 0 ≤ r < 1.

    Returns
    -------
    tuple of float
        ``(se, s_diff)``: SE = sd·√(1 − r) and S_diff = √2·SE.
        ``1.96 * s_diff`` is the smallest reliable change in the measure's units.

    Raises
    ------
    TypeError, ValueError
        ``sd`` is not a positive number, or ``reliability`` not in [0, 1).

    Notes
    -----
    Jacobson & Truax 1991, J Consult Clin Psychol 59:12. Check:
    SD 5, r 0.80 → SE 2.2361, S_diff 3.1623.
    """
    sd = _number(sd, "sd")
    reliability = _number(reliability, "reliability")
    if sd <= 0:
        raise ValueError(f"sd must be positive, got {sd!r}")
    if not 0 <= reliability < 1:
        raise ValueError(f"reliability must be at least 0 and below 1, got {reliability!r}")
    se = sd * math.sqrt(1.0 - reliability)
    return se, math.sqrt(2.0) * se


def reliable_change(pre: Any, post: Any, *, sd: float, reliability: float) -> pd.Series | np.ndarray:
    """Jacobson-Truax reliable change index RC = (post − pre) / S_diff.

    Parameters
    ----------
    pre, post : Series, array-like or number
        Baseline and follow-up values, of equal length.
    sd : float
        Baseline standard deviation of the measure (> 0).
    reliability : float
        Test-retest reliability r, 0 ≤ r < 1.

    Returns
    -------
    Series or ndarray
        float64 RC, NaN where either value is missing; a Series named
        ``rc`` on the first Series input's index when either is a Series.

    Raises
    ------
    TypeError, ValueError
        See `reliable_change_errors`; inputs of different length.

    Notes
    -----
    SE = sd·√(1 − r), S_diff = √2·SE, RC = (post − pre)/S_diff; |RC| > 1.96
    is reliable (Jacobson & Truax 1991, J Consult Clin Psychol 59:12).
    """
    _, s_diff = reliable_change_errors(sd=sd, reliability=reliability)
    a, a_index = _values(pre, "pre")
    b, b_index = _values(post, "post")
    _same_length({"pre": a, "post": b})
    return _wrap((b - a) / s_diff, a_index if a_index is not None else b_index, "rc")


def classify_reliable_change(rc: Any, *, higher_is_worse: bool = True,
                             critical: float = 1.96) -> pd.Categorical:
    """Label each reliable change index improved, unchanged or deteriorated.

    Parameters
    ----------
    rc : Series or array-like
        Reliable change indices (`reliable_change`).
    higher_is_worse : bool, default True
        When True a reliable fall is 'improved', a reliable rise 'deteriorated'.
    critical : float, default 1.96
        |RC| above this is reliable (two-sided 5 %).

    Returns
    -------
    Categorical
        Categories `RC_CATEGORIES` ('improved', 'unchanged',
        'deteriorated'); missing RC stays missing.

    Raises
    ------
    TypeError, ValueError
        ``critical`` is not a positive number, ``higher_is_worse`` not a bool.

    Notes
    -----
    Jacobson & Truax 1991, J Consult Clin Psychol 59:12: |RC| > 1.96 is a
    change unlikely (p < .05) to be measurement error alone.
    """
    critical = _number(critical, "critical")
    if critical <= 0:
        raise ValueError(f"critical must be positive, got {critical!r}")
    if not isinstance(higher_is_worse, (bool, np.bool_)):
        raise TypeError(f"higher_is_worse must be True or False, got {higher_is_worse!r}")
    x, _ = _values(rc, "rc")
    better = -x if higher_is_worse else x
    with np.errstate(invalid="ignore"):
        codes = np.select([np.isnan(x), better > critical, better < -critical], [-1, 0, 2], default=1)
    return pd.Categorical.from_codes(codes.astype(np.int8), categories=list(RC_CATEGORIES))
