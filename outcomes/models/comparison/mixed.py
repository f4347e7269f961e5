"""The linear mixed model of time × arm as the plan's ``[mixed_model]`` asks.

:func:`plan_mixed_model` fits it when the options differ from the default trajectory model
(random intercept and slope, every assessment as the response, linear time), which
``outcomes.models.compare`` fits otherwise; :func:`custom_mixed` says whether they do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pandas as pd

from ...cohort import Cohort
from ...plan import AnalysisPlan
from ..results import ModelResult
from ..trajectory import fit_trajectory, trajectory_data
from ._common import _baseline_endpoint
from .analyses import plan_mmrm, visit_frame

__all__ = ["custom_mixed", "plan_mixed_model"]


def custom_mixed(plan: AnalysisPlan) -> bool:
    """Whether ``[mixed_model]`` asks for something other than the default trajectory model."""
    mm = plan.mixed_model
    return mm.random != "intercept_slope" or mm.baseline != "response" or mm.time != "linear"


def plan_mixed_model(cohort: Cohort, plan: AnalysisPlan, reference: str, remarks: list[str],
                     failures: list[str] | None, *, attempt: Callable[..., Any]) -> Any:
    """The linear mixed model as ``[mixed_model]`` asks, when that is not the default model (else None).

    ``random = "intercept"``: a random intercept only; ``baseline = "covariate"``: the
    assessments after the baseline period are the response and the baseline value a
    covariate (the textbook model); ``time = "visit"`` with a random intercept: each
    planned visit a category, fitted by REML as the equivalent compound-symmetry model
    (an :class:`~outcomes.models.mmrm.MMRMResult` named ``lmm_visit``). A random slope
    needs time as a line, so ``time = "visit"`` with ``intercept_slope`` keeps linear time
    (a remark says so).
    """
    if not custom_mixed(plan):
        return None
    mm, outcome, cov = plan.mixed_model, plan.outcome, tuple(plan.covariates)
    what = "primary analysis (the linear mixed model of time × arm)" if failures is not None else \
        "Mixed model of time × arm ([mixed_model])"
    if mm.time == "visit" and mm.random == "intercept":
        def fit_visits() -> Any:
            frame = visit_frame(cohort, outcome=outcome, visits=plan.visits, window_days=plan.visit_window_days,
                                covariates=cov, baseline_as_response=mm.baseline == "response")
            res = plan_mmrm(frame, outcome=outcome, reference=reference, covariates=cov,
                            covariance="compound_symmetry", name="lmm_visit")
            how = ("post-baseline visits as the response, baseline as a covariate" if mm.baseline == "covariate"
                   else "every visit, baseline included, as the response")
            return replace(res, remarks=(f"[mixed_model]: random intercept per patient, each planned visit a "
                                         f"category, {how}; fitted as the equivalent compound-symmetry model "
                                         "(REML).", *res.remarks))
        return attempt(remarks, what, fit_visits, failures)
    if mm.time == "visit":
        remarks.append("[mixed_model] time = \"visit\" with a random slope: a slope needs time as a line, so the "
                       "mixed model keeps a straight line in weeks (the MMRM has each visit as a category).")
    random = "intercept" if mm.random == "intercept" else "slope"

    def fit() -> ModelResult:
        data = trajectory_data(cohort, outcome=outcome, covariates=cov)
        covariates = cov
        if mm.baseline == "covariate":
            frame = _attempt_base(cohort, outcome, plan)
            data = data.merge(frame, on="patient_id", how="inner")
            data = data[data["week"] * 7 > cohort.options.baseline_window_days].reset_index(drop=True)
            covariates = ("baseline", *cov)
        res = fit_trajectory(data, outcome=outcome, random=random, covariates=covariates, reference=reference,
                             adjust_for=())
        how = ("post-baseline assessments as the response, baseline as a covariate"
               if mm.baseline == "covariate" else "every assessment as the response")
        return replace(res, description=res.description + f" [mixed_model]: random {mm.random.replace('_', ' and ')}"
                       f", {how}.", meta={**res.meta, "outcome": outcome, "mixed_model": {
                           "random": mm.random, "baseline": mm.baseline, "time": mm.time}})

    return attempt(remarks, what, fit, failures)


def _attempt_base(cohort: Cohort, outcome: str, plan: AnalysisPlan) -> pd.DataFrame:
    base = _baseline_endpoint(cohort, outcome, float(plan.endpoint_week), plan.visit_window_days)
    return base.loc[base["baseline"].notna(), ["patient_id", "baseline"]]
