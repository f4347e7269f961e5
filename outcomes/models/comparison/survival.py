"""Time to first response by schedule: Kaplan-Meier curves and a Cox hazard ratio."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight

from ...cohort import Cohort
from ..results import ModelResult
from ._common import (
    _arms,
    _baseline_of,
    _check_cohort,
    _check_events,
    _check_outcome,
    _check_reference,
    _fit_noting,
    _patients,
    _per_arm,
    _ratio_table,
    _reference_remark,
    _rule_text,
    _check_covariates,
    _terms,
    _with_covariates,
)
from .arms import instrument_definition, responder_status

__all__ = ["KM_COLUMNS", "time_to_response"]

#: Columns of the Kaplan-Meier frame of `time_to_response`.
KM_COLUMNS = ["schedule", "time", "survival", "ci_lower", "ci_upper", "at_risk", "events"]


def time_to_response(cohort: Cohort, *, outcome: str = "leg_pain", reference: str | None = None,
                     definition: object = None,
                     covariates: Sequence[str] = ()) -> tuple[pd.DataFrame, ModelResult]:
    """Weeks to the first assessment meeting the responder rule: Kaplan-Meier and Cox.

    Parameters
    ----------
    cohort : Cohort
        The linked cohort.
    outcome : str, default 'leg_pain'
        An instrument of ``cohort.options.instruments`` (its responder rule is used).
    reference : str, optional
        Reference schedule; default the first in sorted order.
    definition : ResponderDefinition, optional
        Who is a responder (a plan's definition, applied at every assessment after
        baseline; its ``outcome`` replaces ``outcome``); default the instrument's rule.
    covariates : sequence of str, default ()
        Further adjustment of the Cox model (columns of ``cohort.patient_summary``).

    Returns
    -------
    km : DataFrame
        :data:`KM_COLUMNS`: per schedule (reference first), a row at time 0 (survival 1)
        then one per week with a response: ``survival`` = proportion not yet responded,
        ``ci_lower, ci_upper`` its pointwise 95 % interval (Greenwood SE on the log scale,
        R's ``survfit`` default ``conf.type = "log"``, upper bound capped at 1),
        ``at_risk`` and ``events`` at that time.
    model : ModelResult
        Cox proportional hazards, ``time ~ schedule + baseline``; ``scale`` "hazard ratio"
        (exp of coefficients and Wald bounds; ``std_error`` of the log hazard ratio). A
        hazard ratio above 1 means faster response than the reference. ``data``:
        ``patient_id, schedule, baseline, time, event`` (one row per patient used).

    Raises
    ------
    ValueError
        A bad argument; too few patients with follow-up in the reference arm or every
        other arm; an arm with no response at all (its hazard ratio would be 0).

    Notes
    -----
    Time is weeks since enrolment (days / 7) to the first post-baseline
    assessment whose change from baseline meets the instrument's rule (NRS ≥ 2 points and
    ≥ 30 %, Farrar et al. 2001, Pain 94:149; ODI, RMDQ: Ostelo et al. 2008, Spine 33:90);
    patients who never meet it are censored at their last assessment. Patients without a
    baseline or any later assessment add no time at risk and are left out (remark).
    Assessments are periodic, so a response is known only at the visit that shows it
    (interval censoring treated as exact). Kaplan-Meier: ``SurvfuncRight``; Cox:
    ``PHReg`` with Breslow ties, as R ``survival::coxph(ties = "breslow")`` against which
    it is checked. Both assume censoring unrelated to the chance of responding; the Cox
    model also assumes proportional hazards (not tested here).
    """
    _check_cohort(cohort)
    if definition is None:
        outcome = _check_outcome(cohort, outcome, needs_rule=True)
        definition = instrument_definition(cohort, outcome)
    else:
        outcome = _check_outcome(cohort, definition.outcome, needs_rule=False)
    covariates = _check_covariates(cohort, covariates)
    ref = _check_reference(cohort, reference)
    frame, n_no_base, n_no_follow = _time_frame(cohort, definition)
    frame, n_no_cov = _with_covariates(cohort, frame, covariates)
    remarks = [_reference_remark(ref, reference is not None),
               (f"Response: the first assessment after baseline where {_rule_text(cohort, definition)}; "
                "time in weeks since enrolment, censored at the last assessment when no response was seen. "
                "Censoring is assumed unrelated to the chance of responding; patients who leave because their "
                "pain got worse break that assumption.")]
    if n_no_base or n_no_follow:
        remarks.append(f"Left out: {n_no_base} patient(s) without a baseline and {n_no_follow} without any "
                       "assessment after it (no time at risk).")
    if n_no_cov:
        remarks.append(f"{n_no_cov} patient(s) without a covariate value are left out of the Cox model.")
    if frame.empty:
        raise ValueError(f"no patient has a baseline and a later {outcome} assessment: there is nothing to fit")
    model = _fit_cox(frame, reference=ref, outcome=outcome, remarks=remarks, covariates=covariates)
    return _kaplan_meier(model.data), model


def _time_frame(cohort: Cohort, definition: object) -> tuple[pd.DataFrame, int, int]:
    """patient_id, schedule, baseline, time, event for patients with follow-up; and the counts left out."""
    outcome = definition.outcome
    base = _patients(cohort).merge(_baseline_of(cohort, outcome), on="patient_id")
    obs = cohort.assessments.loc[cohort.assessments[outcome].notna(), ["patient_id", "assessed_on", "day", outcome]]
    obs = obs.merge(base.dropna(subset=["baseline"]), on="patient_id")
    obs = obs[obs["assessed_on"] > obs["baseline_date"]].reset_index(drop=True)
    value = obs[outcome].astype("float64")
    hit = responder_status(cohort, definition, obs["baseline"], value).fillna(False).astype(bool)
    obs["time"] = obs["day"].astype("float64") / 7.0
    obs["event"] = hit.to_numpy().astype(int)
    # first response if any, else the last assessment (censored)
    obs = obs.sort_values(["patient_id", "event", "time"], ascending=[True, False, True], kind="stable")
    last = obs.groupby("patient_id", sort=False)["time"].transform("max")
    obs["time"] = np.where(obs["event"] == 1, obs["time"], last)
    frame = obs.drop_duplicates("patient_id")[["patient_id", "schedule", "baseline", "time", "event"]]
    n_no_base = int(base["baseline"].isna().sum())
    n_no_follow = int(base["baseline"].notna().sum()) - len(frame)
    return frame.sort_values("patient_id").reset_index(drop=True), n_no_base, n_no_follow


def _fit_cox(data: pd.DataFrame, *, reference: str, outcome: str, remarks: Sequence[str] = (),
             covariates: Sequence[str] = ()) -> ModelResult:
    data, arm_remarks = _arms(data, reference, what="patients with a baseline and a later assessment")
    _check_events(data, "event", what="a response", both_ends=False,
                  advice="compare the Kaplan-Meier curves or responder_rates instead")
    formula = _terms("time ~ schedule + baseline", covariates)
    model = PHReg.from_formula(formula, data=data, status=data["event"].to_numpy(), ties="breslow")
    res, notes, trouble = _fit_noting(model.fit)
    names = pd.Index(model.exog_names)
    params, bse = pd.Series(res.params, index=names), pd.Series(res.bse, index=names)
    # PHReg keeps no convergence flag: check the score (gradient) at the estimate
    score = np.abs(model.score(res.params)).max()
    converged = bool(score < 1e-4 * max(1, int(data["event"].sum()))) and not trouble
    medians = _median_times(data)
    return ModelResult(
        name=f"time_to_response_{outcome}",
        description=f"Hazard ratio of a first {outcome} response versus the reference ({reference}), adjusted "
                    f"for baseline{' and ' + ', '.join(covariates) if covariates else ''} (above 1: faster response).",
        table=_ratio_table(params, bse, res.conf_int(), pd.Series(res.pvalues, index=names)),
        scale="hazard ratio", formula=formula, method="Cox proportional hazards (partial likelihood, Breslow ties)",
        n_patients=len(data), n_observations=len(data), converged=converged,
        remarks=(*remarks, *arm_remarks, *notes,
                 f"Responses seen: {int(data['event'].sum())} ({_per_arm(data, 'event')}). Median weeks to "
                 "response (Kaplan-Meier): " + ", ".join(f"{s} {m}" for s, m in medians.items()) + ".",
                 ("Hazard ratios are exp(coefficient) with Wald 95 % intervals; std_error is that of the log "
                  "hazard ratio. Proportional hazards are assumed, not tested.")),
        meta={"outcome": outcome, "reference": reference, "ties": "breslow", "time": "weeks since enrolment",
              "covariates": list(covariates),
              "status": "event", "std_error_scale": "log hazard ratio"},
        raw=res, data=data)


def _median_times(data: pd.DataFrame) -> dict[str, str]:
    out = {}
    for arm, part in data.groupby("schedule", observed=True):
        sf = SurvfuncRight(part["time"].to_numpy(), part["event"].to_numpy())
        median = sf.quantile(0.5)
        out[str(arm)] = "not reached" if not np.isfinite(median) else f"{median:.1f}"
    return out


def _kaplan_meier(data: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan-Meier estimates per schedule from ``schedule, time, event`` (see `time_to_response`)."""
    z = stats.norm.ppf(1 - alpha / 2)
    parts = []
    for arm, part in data.groupby("schedule", observed=True, sort=True):
        sf = SurvfuncRight(part["time"].to_numpy(dtype=float), part["event"].to_numpy(dtype=float))
        s = sf.surv_prob
        with np.errstate(divide="ignore", invalid="ignore"):
            se_log = np.where(s > 0, sf.surv_prob_se / s, np.nan)
            lower, upper = s * np.exp(-z * se_log), np.minimum(1.0, s * np.exp(z * se_log))
        parts.append(pd.DataFrame({
            "schedule": str(arm), "time": np.r_[0.0, sf.surv_times], "survival": np.r_[1.0, s],
            "ci_lower": np.r_[1.0, lower], "ci_upper": np.r_[1.0, upper],
            "at_risk": np.r_[len(part), sf.n_risk].astype("int64"), "events": np.r_[0, sf.n_events].astype("int64")}))
    return pd.concat(parts, ignore_index=True)[KM_COLUMNS] if parts else pd.DataFrame(columns=KM_COLUMNS)
