"""Estimated marginal means by schedule and week, and schedule contrasts, from a trajectory fit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import patsy
from scipy import stats

from ..results import ModelResult

__all__ = ["marginal_means", "schedule_contrast"]


def marginal_means(result: ModelResult, *, weeks: Sequence[float] = (0, 2, 4, 6, 8, 12)) -> pd.DataFrame:
    """Estimated mean outcome by schedule and week, from a :func:`fit_trajectory` result.

    Parameters
    ----------
    result : ModelResult
        From :func:`fit_trajectory` (LMM or GEE).
    weeks : sequence of float, default (0, 2, 4, 6, 8, 12)
        Weeks since enrolment.

    Returns
    -------
    pandas.DataFrame
        ``schedule, week, estimate, std_error, ci_lower, ci_upper`` (95 %), one
        row per schedule (reference first) and week.

    Notes
    -----
    Fixed-effects predictions (for the LMM: a typical patient, random effects
    0) with adherence, level and covariates held at their means in the fitted
    data (a categorical covariate at its observed proportions); standard
    errors by the delta method from the fixed-effects covariance matrix;
    normal-theory intervals.
    """
    rows, keys = _design_rows(result, weeks)
    return _linear_estimates(result, rows, keys)


def schedule_contrast(result: ModelResult, *, week: float) -> pd.DataFrame:
    """Difference between each schedule and the reference at ``week``, with 95 % CI.

    Parameters
    ----------
    result : ModelResult
        From :func:`fit_trajectory` with at least two schedules.
    week : float
        Week since enrolment.

    Returns
    -------
    pandas.DataFrame
        ``schedule, reference, week, estimate, std_error, ci_lower, ci_upper,
        p_value``: schedule minus reference (points; negative = lower outcome),
        one row per non-reference schedule.

    Notes
    -----
    The difference of two :func:`marginal_means` rows; adherence, level and
    covariates cancel. Delta-method standard error, Wald z test.
    """
    if not isinstance(week, (int, float, np.integer, np.floating)) or not np.isfinite(week):
        raise ValueError(f"week must be a finite number, got {week!r}")
    order = _check_result(result)["schedules"]
    if len(order) < 2:
        raise ValueError(f"result has one schedule ({order[0]!r}): there is no schedule contrast")
    rows, keys = _design_rows(result, [float(week)])
    base = rows[0]
    diffs = rows[1:] - base
    out = _linear_estimates(result, diffs, keys[1:])
    out.insert(1, "reference", order[0])
    z = out["estimate"] / out["std_error"]
    out["p_value"] = 2 * stats.norm.sf(np.abs(z))
    return out


def _check_result(result: Any) -> dict[str, Any]:
    if not isinstance(result, ModelResult) or result.name not in ("trajectory_lmm", "trajectory_gee"):
        raise ValueError(f"result must be a fit_trajectory result, got {result!r}")
    return result.meta


def _design_rows(result: ModelResult, weeks: Sequence[float]) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """Fixed-effects design rows for every schedule × week, other columns at their fitted means."""
    meta = _check_result(result)
    try:
        weeks = [float(w) for w in weeks]
    except (TypeError, ValueError):
        raise ValueError(f"weeks must be a sequence of numbers, got {weeks!r}") from None
    if not weeks or not np.all(np.isfinite(weeks)):
        raise ValueError(f"weeks must be a non-empty sequence of finite numbers, got {weeks!r}")
    if meta["time"] == "log" and min(weeks) <= -1:
        raise ValueError(f"weeks must be > -1 with log time, got {min(weeks):g}")
    data = result.data
    _, x = patsy.dmatrices(meta["fixed_formula"], data, return_type="dataframe")
    info = x.design_info
    time_factors = {"week", "log_week", "bs(week, df=3)", "schedule"}
    keys = [(s, w) for s in meta["schedules"] for w in weeks]
    new = data.iloc[[0] * len(keys)].reset_index(drop=True)  # any valid row; non-time columns are replaced
    new["schedule"] = pd.Categorical([k[0] for k in keys], categories=meta["schedules"])
    new["week"] = [k[1] for k in keys]
    if meta["time"] == "log":
        new["log_week"] = np.log1p(new["week"])
    try:
        rows = np.asarray(patsy.build_design_matrices([info], new)[0], dtype=float)
    except patsy.PatsyError as exc:
        raise ValueError(f"weeks={weeks!r} cannot be evaluated by this model's time term: {exc}") from None
    means = x.mean(axis=0).to_numpy()
    for term, cols in info.term_slices.items():
        if not {f.name() for f in term.factors} <= time_factors:
            rows[:, cols] = means[cols]
    return rows, keys


def _linear_estimates(result: ModelResult, rows: np.ndarray, keys: list[tuple[str, float]]) -> pd.DataFrame:
    beta = result.table["estimate"].to_numpy(dtype=float)
    cov = np.asarray(result.meta["cov_fe"], dtype=float)
    est = rows @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", rows, cov, rows))
    q = stats.norm.ppf(0.975)
    return pd.DataFrame({"schedule": [k[0] for k in keys], "week": [k[1] for k in keys], "estimate": est,
                         "std_error": se, "ci_lower": est - q * se, "ci_upper": est + q * se})
