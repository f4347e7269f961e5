"""The population-averaged alternative: GEE with exchangeable or unstructured working correlation."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import patsy
from statsmodels.genmod import cov_struct as gee_cov
from statsmodels.genmod.families import Gaussian
from statsmodels.genmod.generalized_estimating_equations import GEE
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from ..results import ModelResult
from ._common import _wald_table


def _fit_gee(frame: pd.DataFrame, formula: str, meta: dict[str, Any], remarks: list[str], *,
             structure: str, visits: Sequence[int], window: int) -> ModelResult:
    t0 = time.perf_counter()
    if structure == "unstructured":
        frame = _visit_index(frame, visits, window)
        left = int(frame["visit"].isna().sum())
        if left:
            remarks.append(f"{left} assessment(s) are not the nearest to a planned visit (weeks "
                           f"{', '.join(map(str, visits))}, ±{window} days) and are left out of the "
                           f"unstructured GEE.")
        frame = frame.loc[frame["visit"].notna()].astype({"visit": "int64"}).reset_index(drop=True)
    y, x = patsy.dmatrices(formula, frame, return_type="dataframe", NA_action="raise")
    cs = gee_cov.Exchangeable() if structure == "exchangeable" else gee_cov.Unstructured()
    kwargs = {"time": frame["visit"].to_numpy()} if structure == "unstructured" else {}
    model = GEE(y.iloc[:, 0], x, groups=frame["patient_id"].to_numpy(), family=Gaussian(), cov_struct=cs, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(maxiter=100)
    messages = [f"{w.category.__name__}: {w.message}" for w in caught]
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    remarks += [f"GEE warning: {m}." for m in messages]
    remarks.append("GEE: population-averaged estimates with robust (sandwich) standard errors; valid under "
                   "missing completely at random.")
    dep = cs.dep_params
    vc = {"residual_sd": math.sqrt(float(fit.scale)),
          "working_correlation": float(dep) if np.ndim(dep) == 0 else np.asarray(dep, dtype=float).tolist()}
    cov = np.asarray(fit.cov_params(), dtype=float)
    table = _wald_table(fit.params, cov)
    meta.update({"cov_fe": cov.tolist(), "re_formula": None, "reml": False, "gee_structure": structure, "attempts": [
        {"optimizer": "gee", "converged": converged, "warnings": messages, "error": None}],
        "variance_components": vc})
    if structure == "unstructured":
        meta.update({"visits": list(visits), "visit_window_days": window})
    meta["fit_seconds"] = time.perf_counter() - t0
    return ModelResult(
        name="trajectory_gee",
        description=f"GEE ({structure}) of {meta['outcome']} over weeks by progression schedule "
                    f"(population-averaged).",
        table=table, scale="points", formula=formula, method=f"GEE {structure}",
        n_patients=int(frame["patient_id"].nunique()), n_observations=len(frame), converged=converged,
        remarks=tuple(remarks), meta=meta, raw=fit, data=frame)


def _visit_index(frame: pd.DataFrame, visits: Sequence[int], window: int) -> pd.DataFrame:
    """Index of the planned visit each assessment is nearest to (NaN: unscheduled or not the nearest)."""
    targets = np.asarray(visits, dtype=float) * 7
    days = frame["week"].to_numpy(dtype=float) * 7
    dist = np.abs(days[:, None] - targets[None, :])
    idx = dist.argmin(axis=1)
    gap = dist[np.arange(len(days)), idx]
    out = frame.assign(visit=np.where(gap <= window, idx, np.nan), _gap=gap)
    ranked = out.loc[out["visit"].notna()].sort_values(["patient_id", "visit", "_gap"], kind="stable")
    first = ranked.drop_duplicates(["patient_id", "visit"]).index
    out.loc[~out.index.isin(first), "visit"] = np.nan
    return out.drop(columns="_gap")
