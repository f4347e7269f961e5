"""The trajectory's linear mixed model, fitted by the project's REML engine (:mod:`outcomes.models._reml`)."""

from __future__ import annotations

import math
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd
import patsy

from .._reml import RemlFit, fit_lmm
from ..results import ModelResult
from ._common import _wald_table

#: The optimisers of the REML engine, in the order they run on each of the two starts.
OPTIMIZERS: tuple[str, ...] = ("L-BFGS-B", "Newton")


def _fit_lmm(frame: pd.DataFrame, formula: str, meta: dict[str, Any], remarks: list[str], *,
             random: str, time: str) -> ModelResult:
    t0 = perf_counter()
    y, x = patsy.dmatrices(formula, frame, return_type="dataframe", NA_action="raise")
    slope = {"linear": "week", "log": "log_week", "spline": "week"}[time]
    re_formula = f"~{slope}" if random == "slope" else "~1"
    ones = np.ones(len(frame))
    z = ones[:, None] if random == "intercept" else np.column_stack([ones, frame[slope].to_numpy(dtype=float)])
    try:
        fit = fit_lmm(x.to_numpy(dtype=float), y.iloc[:, 0].to_numpy(dtype=float),
                      frame["patient_id"].to_numpy(), z, reml=True)
    except ValueError as exc:
        raise ValueError(f"the mixed model {formula} cannot be fitted: {exc}") from None
    vc = _variance_components(fit, random)
    remarks += _convergence_remarks(fit, vc)
    table = _wald_table(pd.Series(fit.beta, index=x.columns), fit.cov_beta)
    attempts = [{"optimizer": " + ".join(OPTIMIZERS), "start": s["start"], "reml_loglik": s["loglik"],
                 "max_abs_gradient": s["max_abs_gradient"], "evaluations": s["evaluations"],
                 "message": s["message"]} for s in fit.starts]
    meta.update({"re_formula": re_formula, "reml": True, "engine": "outcomes.models._reml",
                 "optimizer": " + ".join(OPTIMIZERS), "attempts": attempts, "convergence": fit.message,
                 "max_abs_gradient": fit.max_abs_gradient, "variance_components": vc,
                 "reml_loglik": float(fit.loglik), "cov_fe": fit.cov_beta.tolist(),
                 "fit_seconds": perf_counter() - t0})
    return ModelResult(
        name="trajectory_lmm",
        description=f"Linear mixed model of {meta['outcome']} over weeks by progression schedule "
                    f"(random {'intercept and slope' if random == 'slope' else 'intercept'} per patient).",
        table=table, scale="points", formula=f"{formula} + ({'1 + ' + slope if random == 'slope' else '1'} | patient_id)",
        method="REML", n_patients=fit.n_groups, n_observations=fit.n_observations,
        converged=fit.converged, remarks=tuple(remarks), meta=meta, raw=fit, data=frame)


def _convergence_remarks(fit: RemlFit, vc: dict[str, float | None]) -> list[str]:
    """Plain sentences when the fit did not converge or a variance is at zero (details: meta)."""
    out = []
    if not fit.converged:
        out.append(f"The mixed model did not converge: {fit.message.removeprefix('REML did not converge: ')} "
                   "Interpret with caution.")
    if fit.boundary:
        corr = vc["intercept_slope_corr"]
        what = (f"the intercept-slope correlation is {corr:+.2f}" if corr is not None and abs(corr) > 0.99
                else "a random-effect SD is zero")
        out.append(f"The random-effects covariance is singular ({what}; lme4 would say 'boundary (singular) "
                   "fit'): the data cannot separate the between-patient variation this model allows; the "
                   "fixed effects remain valid, the variance components are at the edge of their range.")
    if vc["slope_sd"] is not None and vc["slope_sd"] < 1e-3:
        out.append(f"The random slope SD is {vc['slope_sd']:.2g} (at or near zero): a random-intercept model "
                   f"(random='intercept') describes these data as well.")
    return out


def _variance_components(fit: RemlFit, random: str) -> dict[str, float | None]:
    cov = fit.cov_re
    out: dict[str, float | None] = {"intercept_sd": math.sqrt(max(cov[0, 0], 0.0)), "slope_sd": None,
                                    "intercept_slope_corr": None, "residual_sd": math.sqrt(fit.sigma2)}
    if random == "slope":
        out["slope_sd"] = math.sqrt(max(cov[1, 1], 0.0))
        denom = out["intercept_sd"] * out["slope_sd"]
        out["intercept_slope_corr"] = float(cov[0, 1] / denom) if denom > 0 else float("nan")
    return out
