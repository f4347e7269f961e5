"""The plan's longitudinal and sensitivity analyses, and the answer at the endpoint.

* :func:`visit_frame` — the long frame of the post-baseline planned visits (one row per
  patient with a baseline and visit, the value missing where not assessed);
* :func:`plan_mmrm` — the MMRM of the plan (`outcomes.models.mmrm.fit_mmrm`);
* :func:`plan_sensitivity` — multiple imputation and the tipping point
  (`outcomes.models.imputation`);
* :func:`endpoint_estimates` — every analysis's difference from the reference at the
  endpoint, one row per analysis and arm, the primary one first, with adjusted p-values;
* :func:`answer` — the brief: the primary estimate in one plain sentence and a sentence
  for each supportive analysis that points the other way.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...cohort import Cohort
from ..imputation import multiple_imputation, tipping_point
from ..mmrm import MMRMResult, fit_mmrm
from ..multiplicity import adjust_frame
from ._common import _baseline_endpoint, in_sentence

__all__ = ["ANALYSIS_NAMES", "ESTIMATE_COLUMNS", "SHORT_NAMES", "answer", "endpoint_estimates", "plan_mmrm", "plan_sensitivity",
           "visit_frame"]

#: Plain names of the analyses, as the report prints them.
ANALYSIS_NAMES = {
    "ancova": "ANCOVA at the endpoint, adjusted for baseline",
    "mmrm": "MMRM (visit as a factor, all available data)",
    "lmm": "Linear mixed model of time × arm",
    "regression": "Regression of the endpoint on arm",
    "multiple_imputation": "ANCOVA after multiple imputation (MAR)",
}
#: Short names, for sentences.
SHORT_NAMES = {"ancova": "ANCOVA", "mmrm": "MMRM", "lmm": "linear mixed model", "regression": "endpoint regression",
               "multiple_imputation": "multiple-imputation ANCOVA"}
#: Columns of the ``estimates`` table.
ESTIMATE_COLUMNS = ["table", "analysis", "primary", "outcome", "schedule", "reference", "week", "estimate",
                    "std_error", "ci_lower", "ci_upper", "p_value", "df", "n", "p_adjusted", "method"]


def visit_frame(cohort: Cohort, *, outcome: str, visits: Sequence[float], window_days: int,
                covariates: Sequence[str] = (), baseline_as_response: bool = False) -> pd.DataFrame:
    """One row per patient with a baseline and per post-baseline planned visit.

    Returns
    -------
    DataFrame
        ``patient_id, schedule, visit, y, baseline`` and the covariates; ``y`` is the
        value of the assessment `outcomes.models.trial.assign_visits` gives the visit (NaN
        when none), ``baseline`` that of `select_baseline` (as the ANCOVA). Patients
        without an arm or a baseline are left out. With ``baseline_as_response`` every
        planned visit (week 0 too) is a row, every patient with an arm is kept and there is
        no ``baseline`` column.
    """
    from ..trial import assign_visits  # the trial tables import this package

    post = [float(v) for v in visits if v > 0 or baseline_as_response]
    assigned = assign_visits(cohort, visits=tuple(visits), window_days=window_days)
    on = assigned[assigned["visit"].notna() & assigned["visit"].astype(float).isin(post)]
    values = (on.assign(y=pd.to_numeric(on[outcome], errors="coerce"), visit=on["visit"].astype(float))
              .dropna(subset=["y"]).drop_duplicates(["patient_id", "visit"])[["patient_id", "visit", "y"]])
    base = _baseline_endpoint(cohort, outcome, max(max(post, default=1.0), 1.0), window_days)
    if baseline_as_response:
        base = base[base["schedule"].notna()][["patient_id", "schedule"]]
    else:
        base = base[base["baseline"].notna() & base["schedule"].notna()][["patient_id", "schedule", "baseline"]]
    base["schedule"] = base["schedule"].astype(str)
    if base.empty:
        raise ValueError(f"no patient has a baseline {outcome}, so there is no change to model visit by visit")
    grid = base.merge(pd.DataFrame({"visit": post}), how="cross")
    frame = grid.merge(values, on=["patient_id", "visit"], how="left")
    if covariates:
        frame = frame.merge(cohort.patient_summary[["patient_id", *covariates]], on="patient_id", how="left")
        frame = frame[frame[list(covariates)].notna().all(axis=1)]
    return frame.sort_values(["patient_id", "visit"]).reset_index(drop=True)


def plan_mmrm(frame: pd.DataFrame, *, outcome: str, reference: str, covariates: Sequence[str] = (),
              covariance: str = "unstructured", name: str = "mmrm") -> MMRMResult:
    """The plan's MMRM on a :func:`visit_frame`: ``y ~ baseline + visit * arm + covariates`` (without
    ``baseline`` when the frame has none: the baseline visit is then a response)."""
    res = fit_mmrm(frame, outcome="y", arm="schedule", visit="visit", subject="patient_id", reference=reference,
                   baseline="baseline" if "baseline" in frame.columns else None, covariates=tuple(covariates),
                   covariance=covariance)
    contrasts = res.contrasts.assign(outcome=outcome, model=name)
    return _replace(res, name=name, outcome=outcome, contrasts=contrasts, lsmeans=res.lsmeans.assign(outcome=outcome))


def _replace(obj: Any, **changes: Any) -> Any:
    return dataclasses.replace(obj, **changes)


def plan_sensitivity(frame: pd.DataFrame, *, outcome: str, reference: str, endpoint: float,
                     higher_is_better: bool, covariates: Sequence[str] = (), imputations: int = 50,
                     deltas: Sequence[float] = ()) -> tuple[Any, Any]:
    """Multiple imputation under MAR at ``endpoint`` and, with ``deltas``, the tipping point.

    Returns
    -------
    (ImputationResult, TippingPointResult or None)
        The tipping point's δ = 0 is the multiple imputation (same seed).
    """
    data = frame[frame["visit"] <= endpoint]
    kw = {"outcome": "y", "arm": "schedule", "visit": "visit", "subject": "patient_id", "baseline": "baseline",
          "reference": reference, "endpoint": float(endpoint), "covariates": tuple(covariates),
          "imputations": int(imputations)}
    if deltas:
        tp = tipping_point(data, direction="higher_is_better" if higher_is_better else "lower_is_better",
                           deltas=tuple(deltas), **kw)
        mi = tp.imputation
        rows = tp.rows.assign(outcome=outcome)
        tipping = tp.tipping.assign(outcome=outcome)
        tipping["sentence"] = [_tipping_sentence(r, rows[rows["arm"] == r["arm"]], reference, outcome)
                               for r in tipping.to_dict("records")]
        tp = _replace(tp, outcome=outcome, rows=rows, tipping=tipping,
                      imputation=_replace(mi, outcome=outcome))
        return tp.imputation, tp
    mi = multiple_imputation(data, **kw)
    return _replace(mi, outcome=outcome), None


def _tipping_sentence(tip: dict[str, Any], rows: pd.DataFrame, reference: str, outcome: str) -> str:
    """The tipping point in words: when a significant difference stops being one, or, when there was none,
    what the largest shift does."""
    arm = tip["arm"]
    mar = f"{_num(tip['estimate_mar'])}, {_p(tip['p_value_mar'])}"
    rows = rows.sort_values("delta")
    if tip["significant_mar"]:
        if math.isnan(tip["tipping_delta"]):
            top = rows.iloc[-1]
            return (f"{arm} vs {reference}: the difference under missing at random ({mar}) stays significant even "
                    f"if the patients who left {arm} did {top['delta']:g} points worse on {outcome} than similar "
                    f"patients who stayed ({_num(top['estimate'])}, {_p(top['p_value'])}).")
        at = rows[rows["delta"] == tip["tipping_delta"]].iloc[0]
        return (f"{arm} vs {reference}: the difference under missing at random ({mar}) is no longer significant if "
                f"the patients who left {arm} did {at['delta']:g} points worse on {outcome} than similar patients "
                f"who stayed ({_num(at['estimate'])}, {_p(at['p_value'])}): the tipping point.")
    top = rows.iloc[-1]
    return (f"{arm} vs {reference}: no difference is shown under missing at random ({mar}); if the patients who "
            f"left {arm} did {top['delta']:g} points worse on {outcome} than similar patients who stayed, the "
            f"difference would be {_num(top['estimate'])} ({_p(top['p_value'])}).")


def _row(analysis: str, primary: bool, outcome: str, arm: str, reference: str, week: float, r: Any,
         n: Any) -> dict[str, Any]:
    get = (lambda k: r.get(k, math.nan)) if isinstance(r, dict) else (lambda k: r[k] if k in r.index else math.nan)
    return {"table": "estimates", "analysis": analysis, "primary": primary, "outcome": outcome, "schedule": arm,
            "reference": reference, "week": week, "estimate": get("estimate"), "std_error": get("std_error"),
            "ci_lower": get("ci_lower"), "ci_upper": get("ci_upper"), "p_value": get("p_value"), "df": get("df"),
            "n": n}


def endpoint_estimates(*, primary: str, outcome: str, reference: str, week: float, arms: Sequence[str],
                       ancova: Any = None, regression: Any = None, mmrm: MMRMResult | None = None,
                       lmm_contrasts: pd.DataFrame | None = None, lmm: Any = None, imputation: Any = None,
                       multiplicity: str = "holm") -> pd.DataFrame:
    """Every analysis's difference of each arm from the reference at the endpoint.

    Rows (:data:`ESTIMATE_COLUMNS`) per analysis that ran and non-reference arm, the
    primary analysis first; ``p_adjusted`` and ``method`` adjust each analysis's family
    (the arms against the reference) by ``multiplicity`` when it has more than one
    comparison ("none" and the p-value itself otherwise).
    """
    rows: list[dict[str, Any]] = []
    others = [a for a in arms if a != reference]
    for name, res in (("ancova", ancova), ("regression", regression)):
        if res is None:
            continue
        t = res.to_frame().set_index("term")
        for a in others:
            if f"schedule[T.{a}]" in t.index:
                r = t.loc[f"schedule[T.{a}]"].to_dict()
                r["df"] = float(getattr(res.raw, "df_resid", math.nan))
                rows.append(_row(name, name == primary, outcome, a, reference, week, r, res.n_patients))
    if mmrm is not None:
        at = mmrm.contrasts[np.isclose(mmrm.contrasts["time"].astype(float), float(week))]
        for r in at.to_dict("records"):
            rows.append(_row("mmrm", primary == "mmrm", outcome, r["arm"], reference, week, r, mmrm.n_patients))
    if lmm_contrasts is not None and not lmm_contrasts.empty:
        for r in lmm_contrasts.to_dict("records"):
            rows.append(_row("lmm", primary == "lmm", outcome, str(r["schedule"]), reference, week, r,
                             getattr(lmm, "n_patients", math.nan)))
    if imputation is not None:
        for r in imputation.table.to_dict("records"):
            rows.append(_row("multiple_imputation", False, outcome, r["arm"], reference, week, r,
                             imputation.n_patients))
    frame = pd.DataFrame(rows, columns=ESTIMATE_COLUMNS[:-2])
    if frame.empty:
        return pd.DataFrame(columns=ESTIMATE_COLUMNS)
    frame["order"] = ~frame["primary"]
    frame = frame.sort_values("order", kind="stable").drop(columns="order").reset_index(drop=True)
    method = multiplicity if len(others) > 1 else "none"
    return adjust_frame(frame, method=method, by="analysis")


def _num(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}".replace("-", "−")


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def answer(estimates: pd.DataFrame, *, label: str, unit: str, higher_is_better: bool, week: float,
           alpha: float = 0.05) -> list[str]:
    """The brief: one plain sentence per arm for the primary analysis, then a sentence for each
    supportive analysis whose estimate points the other way."""
    if estimates is None or estimates.empty or not estimates["primary"].any():
        return []
    lines = []
    prim = estimates[estimates["primary"]]
    adjusted = (prim["method"] != "none").any()
    w = f"{week:g}"
    for r in prim.itertuples(index=False):
        p = r.p_adjusted if adjusted else r.p_value
        ptxt = _p(p) + (f", {r.method.capitalize()}-adjusted for {len(prim)} comparisons" if adjusted else "")
        head = (f"{ANALYSIS_NAMES[r.analysis]}: {r.schedule} vs {r.reference} at week {w}, "
                f"{_num(r.estimate)} {unit} (95 % CI {_num(r.ci_lower)} to {_num(r.ci_upper)}; {ptxt}).")
        if not np.isfinite(p) or p >= alpha:
            plain = (f"The data do not show a difference in {in_sentence(label)} between {r.schedule} and "
                     f"{r.reference} at week {w}: the interval includes no difference.")
        else:
            lower = r.estimate < 0
            better = lower != higher_is_better
            plain = (f"{label} was {'lower' if lower else 'higher'} ({'better' if better else 'worse'}) on "
                     f"{r.schedule} than on {r.reference} at week {w}.")
        lines.append(f"{head} {plain}")
    for r in estimates[~estimates["primary"]].itertuples(index=False):
        match = prim[prim["schedule"] == r.schedule]
        if match.empty or not np.isfinite(r.estimate):
            continue
        m = match.iloc[0]
        if np.sign(r.estimate) != np.sign(m["estimate"]) and r.estimate != 0:
            both_cover = (r.ci_lower <= 0 <= r.ci_upper) and (m["ci_lower"] <= 0 <= m["ci_upper"])
            why = ("both intervals include no difference, so the sign is not settled by these data"
                   if both_cover else "the analyses disagree: read the primary analysis, and see the remarks")
            lines.append(f"The {SHORT_NAMES[r.analysis]} points the other way for "
                         f"{r.schedule} vs {r.reference} ({_num(r.estimate)} {unit} against {_num(m['estimate'])}); "
                         f"{why}.")
    return lines
