"""Small-cell suppression (counts of 1 to k − 1 hidden, with complementary suppression)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._common import _check_k

# ------------------------------------------------------------------ suppression


def _line_secondary(values: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Hide a second cell of a line when exactly one positive cell of it is hidden.

    The line's total is published, so a lone hidden cell would be total − the rest.
    The smallest shown positive cell is hidden with it (Hundepool et al. 2012,
    Statistical Disclosure Control, §5.2: secondary suppression).
    """
    pos = np.nan_to_num(values, nan=0.0) > 0
    if (hidden & pos).sum() != 1:
        return hidden
    candidates = np.flatnonzero(~hidden & pos)
    if not len(candidates):
        return hidden
    hidden = hidden.copy()
    hidden[candidates[np.argmin(values[candidates])]] = True
    return hidden


def suppress_counts(numerator: Any, denominator: Any, *, k: int = 11, proportion: bool = True,
                    lines: bool = True, hide_denominator: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Which numerators and denominators of a table must be hidden.

    Parameters
    ----------
    numerator, denominator : array-like
        One entry per row (unit); ``numerator`` may be all missing (a mean has none).
    k : int, default 11
        Smallest count that may be shown; counts 1 to ``k − 1`` are hidden (CMS cell
        size suppression policy: no cell of 1-10). ``k = 1`` hides nothing. Zero is shown.
    proportion : bool, default True
        The numerator counts part of the denominator, so the complement
        (denominator − numerator) is a cell too and is protected the same way.
    lines : bool, default True
        The rows are units that add up to a published total: when exactly one
        positive numerator, denominator or complement is hidden, the next smallest is
        hidden as well (complementary suppression).
    hide_denominator : array of bool, optional
        Denominators already hidden (e.g. by another table sharing them).

    Returns
    -------
    hide_numerator, hide_denominator : ndarray of bool
        A hidden denominator always hides its numerator's rate; a rate is shown only
        when neither is hidden.

    Notes
    -----
    A hidden denominator hides the numerator too (a numerator ≤ a small denominator
    is small). Secondary suppression is the usual greedy heuristic, repeated until
    nothing changes; it protects each line but is not an optimal pattern.
    """
    k = _check_k(k)
    num = np.asarray(pd.to_numeric(pd.Series(numerator, dtype="object"), errors="coerce"), dtype=float)
    den = np.asarray(pd.to_numeric(pd.Series(denominator, dtype="object"), errors="coerce"), dtype=float)
    def small(x: np.ndarray) -> np.ndarray:  # NaN compares False: missing is never small
        return (x >= 1) & (x < k)

    hide_d = small(den) | (np.zeros(len(den), bool) if hide_denominator is None
                           else np.asarray(hide_denominator, dtype=bool))
    comp = den - num
    hide_n = small(num) | hide_d | (small(comp) if proportion else False)
    if not lines or k == 1:
        return hide_n, hide_d
    while True:
        before = (hide_n.copy(), hide_d.copy())
        hide_d = _line_secondary(den, hide_d)
        hide_n = _line_secondary(num, hide_n | hide_d)
        if proportion:  # the complement is known where both are shown
            hide_c = _line_secondary(comp, hide_n | hide_d)
            hide_n = hide_n | hide_c
        if np.array_equal(before[0], hide_n) and np.array_equal(before[1], hide_d):
            return hide_n, hide_d
