"""Adjusting p-values for multiple comparisons (Holm, Bonferroni), as R's ``p.adjust``.

:func:`adjust_p` adjusts one family of p-values; :func:`adjust_frame` adds the
``p_adjusted`` and ``method`` columns of the compare contract to a table of comparisons,
one family per group (e.g. per outcome).

Holm (1979, Scand J Statist 6:65) controls the family-wise error rate like Bonferroni
and is uniformly more powerful, which is why it is the default whenever more than one
comparison is reported; with a single comparison every method returns the p-value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import UsageError

__all__ = ["METHODS", "adjust_frame", "adjust_p"]

#: Adjustment methods, as spelled in the analysis plan (``multiplicity = ...``).
METHODS = ("holm", "bonferroni", "none")


def adjust_p(p: Any, method: Literal["holm", "bonferroni", "none"] = "holm") -> Any:
    """Adjust a family of p-values for multiple comparisons.

    Parameters
    ----------
    p : array-like of float
        The family's p-values, each in [0, 1]; NaN (or None) for a comparison that has none.
        A pandas Series keeps its index and name.
    method : {"holm", "bonferroni", "none"}, default "holm"
        Holm's step-down method, Bonferroni, or no adjustment.

    Returns
    -------
    ndarray or Series
        Adjusted p-values in the input order (NaN where the input was missing).

    Raises
    ------
    outcomes.errors.UsageError
        An unknown method, or a value that is not a probability.

    Notes
    -----
    With m non-missing p-values sorted p₍₁₎ ≤ … ≤ p₍ₘ₎: Bonferroni min(1, m p); Holm
    min(1, max_{j ≤ i} (m − j + 1) p₍ⱼ₎). Missing values do not count in m. Ties
    get equal adjusted values. Equal to R ``stats::p.adjust`` (tests/reference/multiplicity.R,
    including ties, missing values, 0 and 1).
    """
    if not isinstance(method, str) or method not in METHODS:
        raise UsageError(f"multiplicity method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    series = p if isinstance(p, pd.Series) else None
    try:
        values = np.array(pd.to_numeric(pd.Series(np.ravel(np.asarray(p, dtype=object))), errors="raise"),
                          dtype=float)
    except (TypeError, ValueError):
        raise UsageError(f"p-values must be numbers between 0 and 1 (or missing); got {p!r}") from None
    bad = ~np.isnan(values) & ((values < 0) | (values > 1))
    if bad.any():
        raise UsageError(f"p-values must be between 0 and 1; got {float(values[bad][0])!r} "
                         f"(position {int(np.flatnonzero(bad)[0])})")
    out = values.copy()
    ok = ~np.isnan(values)
    m = int(ok.sum())
    if method != "none" and m:
        v = values[ok]
        if method == "bonferroni":
            adj = np.minimum(1.0, m * v)
        else:
            order = np.argsort(v, kind="stable")
            stepped = np.maximum.accumulate((m - np.arange(m)) * v[order])
            adj = np.empty(m)
            adj[order] = np.minimum(1.0, stepped)
        out[ok] = adj
    if series is not None:
        return pd.Series(out, index=series.index, name=series.name)
    return out


def adjust_frame(frame: pd.DataFrame, *, method: Literal["holm", "bonferroni", "none"] = "holm",
                 p_column: str = "p_value", by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """A copy of ``frame`` with ``p_adjusted`` and ``method`` columns.

    Parameters
    ----------
    frame : DataFrame
        One row per comparison, with a p-value column.
    method : {"holm", "bonferroni", "none"}, default "holm"
        See :func:`adjust_p`.
    p_column : str, default "p_value"
        The column of p-values.
    by : str or sequence of str, optional
        Columns defining the families (e.g. ``"outcome"``): each group is adjusted on its
        own. Default: the whole frame is one family.

    Returns
    -------
    DataFrame
        ``frame``'s columns (same order and index), then ``p_adjusted`` and ``method``.
        ``frame`` itself is not modified.
    """
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"adjust_frame needs a DataFrame; got {type(frame).__name__}")
    keys = [by] if isinstance(by, str) else list(by or [])
    missing = [c for c in [p_column, *keys] if c not in frame.columns]
    if missing:
        raise UsageError(f"adjust_frame: no column {', '.join(map(repr, missing))} "
                         f"(columns: {', '.join(map(str, frame.columns))})")
    out = frame.copy()
    if keys:
        adjusted = out.groupby(keys, sort=False, dropna=False)[p_column].transform(lambda s: adjust_p(s, method))
    else:
        adjusted = adjust_p(out[p_column], method)
    out["p_adjusted"] = np.asarray(adjusted, dtype=float)
    out["method"] = method
    return out
