"""Shared pieces of the long-format trial analyses (MMRM, multiple imputation).

Argument checks that gather every problem into one :class:`~outcomes.errors.UsageError`,
the order of arms and visits, covariate columns, and t-based inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import UsageError

__all__ = ["arm_levels", "check_choice", "check_level", "check_roles", "covariate_design", "t_inference",
           "time_label", "visit_levels"]


def check_choice(value: Any, parameter: str, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``, else a UsageError naming the parameter."""
    if not isinstance(value, str) or value not in allowed:
        raise UsageError(f"{parameter} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}")
    return value


def check_level(level: Any) -> float:
    """A confidence level strictly between 0 and 1."""
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0 < level < 1:
        raise UsageError(f"level must be a confidence level between 0 and 1 (e.g. 0.95); got {level!r}")
    return float(level)


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def check_roles(data: Any, *, who: str, outcome: Any, arm: Any, visit: Any, subject: Any, baseline: Any,
                covariates: Any, reference: Any) -> tuple[str, ...]:
    """Check the column roles of a long-format trial frame; return the covariates as a tuple.

    Every problem found is reported in one :class:`UsageError` (``who`` names the analysis).
    """
    if not isinstance(data, pd.DataFrame):
        raise UsageError(f"{who}: data must be a pandas DataFrame (one row per patient and visit); "
                         f"got {type(data).__name__}")
    if isinstance(covariates, str):
        covariates = (covariates,)
    try:
        covariates = tuple(covariates)
    except TypeError:
        raise UsageError(f"{who}: covariates must be a list of column names; got {covariates!r}") from None
    roles = {"outcome": outcome, "arm": arm, "visit": visit, "subject": subject}
    if baseline is not None:
        roles["baseline"] = baseline
    problems = []
    for role, col in {**roles, **{f"covariates[{i}]": c for i, c in enumerate(covariates)}}.items():
        if not isinstance(col, str) or not col:
            problems.append(f"{role} must be a column name, got {col!r}")
        elif col not in data.columns:
            problems.append(f"{role} = {col!r} is not a column (columns: {', '.join(map(str, data.columns))})")
    named = [c for c in (*roles.values(), *covariates) if isinstance(c, str)]
    repeated = sorted({c for c in named if named.count(c) > 1})
    if repeated:
        problems.append(f"each column can have one role only; {', '.join(map(repr, repeated))} has several")
    if not problems:
        for role in ("outcome", "baseline"):
            if role in roles and not _numeric(data[roles[role]]):
                problems.append(f"{role} = {roles[role]!r} must be numeric (it is {data[roles[role]].dtype})")
        if not isinstance(reference, str) or not reference:
            problems.append(f"reference must be the name of an arm; got {reference!r}")
        else:
            arms = sorted(data[arm].dropna().astype(str).unique())
            if reference not in arms:
                problems.append(f"reference = {reference!r} is not an arm of {arm!r} "
                                f"(arms: {', '.join(arms) or 'none'})")
    if problems:
        raise UsageError(f"{who}: " + "; ".join(problems) + ".")
    return covariates


def arm_levels(values: pd.Series, reference: str) -> list[str]:
    """The reference arm first, then the others in sorted order (as text)."""
    others = sorted(set(values.astype(str).unique()) - {reference})
    return [reference, *others]


def visit_levels(values: pd.Series) -> list[Any]:
    """Visits in order: numeric visits ascending, categorical in category order, text sorted."""
    v = values.dropna()
    if isinstance(v.dtype, pd.CategoricalDtype):
        present = set(v)
        return [c for c in v.cat.categories if c in present]
    levels = sorted(v.unique())
    return [x.item() if hasattr(x, "item") else x for x in levels]


def time_label(value: Any) -> str:
    """A visit as written in a term: ``4`` for 4.0, ``2.5``, or the text."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value)


def covariate_design(frame: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Covariate columns, their names and their values on the reference grid.

    Numeric covariates enter as they are and are set to their mean over ``frame``'s rows
    on the grid; other covariates (text, categories, booleans) enter as treatment dummies
    ``name[T.level]`` (levels sorted, the first the reference) and are averaged with equal
    weights over their levels on the grid (emmeans' defaults).
    """
    cols, names, grid = [], [], []
    for c in covariates:
        s = frame[c]
        if _numeric(s):
            cols.append(s.to_numpy(dtype=float))
            names.append(c)
            grid.append(float(np.mean(cols[-1])))
        else:
            levels = visit_levels(s)
            for lev in levels[1:]:
                cols.append((s == lev).to_numpy(dtype=float))
                names.append(f"{c}[T.{lev}]")
                grid.append(1.0 / len(levels))
    X = np.column_stack(cols) if cols else np.empty((len(frame), 0))
    return X, names, np.asarray(grid, dtype=float)


def t_inference(estimate: Any, std_error: Any, df: Any, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-sided t-based confidence interval and p-value (normal when df is infinite)."""
    est, se, df = (np.asarray(x, dtype=float) for x in (estimate, std_error, df))
    with np.errstate(invalid="ignore", divide="ignore"):
        q = stats.t.ppf(0.5 + level / 2, df)
        p = 2 * stats.t.sf(np.abs(est / se), df)
    return est - q * se, est + q * se, p
