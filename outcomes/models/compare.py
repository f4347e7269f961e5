"""The schedule comparison: the analysis plan executed on one cohort, and written out.

:func:`compare_schedules` runs what the plan (:class:`outcomes.plan.AnalysisPlan`; the
default plan when none is given) pre-specifies, for its outcome, endpoint, reference,
covariates and responder definitions, which reach every model and table:

* the primary analysis (``primary``: ANCOVA, MMRM, linear mixed model or regression)
  and every supportive one, summarised at the endpoint in one ``estimates`` table with
  p-values adjusted for multiplicity when several arms are compared;
* the MMRM (visit as a factor, the plan's ``[mmrm]`` covariance, REML);
* the trajectory mixed model of week × schedule (``[mixed_model]``), its estimated
  marginal means and the contrast at the endpoint; and, with a session log, the
  model that adds adherence and level, reported as associations;
* ANCOVA at the endpoint; the responder odds ratio and the time to first response
  (Kaplan–Meier, Cox) by the plan's first responder definition of the primary outcome,
  adjusted for the plan's covariates; the responder table of every definition;
* multiple imputation and the tipping point (``[sensitivity]``);
* the flare rate ratio per session exposure (sessions export only);
* adherence, highest level, dropout and flags by schedule; descriptives, flow,
  effect sizes; every pair of arms with ``pairwise``.

What cannot be fitted becomes a remark; with a plan given, a pre-specified analysis
that cannot run (the primary analysis, the responder definitions, the sensitivity
analyses) is listed in :attr:`Comparison.failures` (``compare`` exits 1). The result is
an object; :func:`outcomes.reports.tables.write_comparison` writes it out.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import UsageError
from ..plan import AnalysisPlan, plan_on_axis
from ..progress import status
from .comparison import (ancova, assumptions_text, by_schedule, endpoint_regression, flare_rates,
                         reference_remark, resolve_reference, responder_odds, time_to_response)
from .comparison._common import reuse_outcome_frames
from .comparison.analyses import SHORT_NAMES, answer, endpoint_estimates, plan_mmrm, plan_sensitivity, visit_frame
from .comparison.mixed import custom_mixed as _custom_mixed
from .comparison.mixed import plan_mixed_model
from ._reml import single_thread_blas
from .multiplicity import adjust_frame
from .results import TABLE_COLUMNS, ModelResult
from .trajectory import fit_trajectory, marginal_means, schedule_contrast
from .trial import descriptives, flow, hedges_g, responder_table, trial_mixed_model

__all__ = ["Comparison", "compare_schedules"]

#: Columns of ``models.csv``: every model's coefficients; ``time`` and ``df`` are the MMRM's.
MODEL_COLUMNS = ["table", "model", "outcome", *TABLE_COLUMNS, "time", "df"]


@dataclass(frozen=True)
class Comparison:
    """Everything :func:`compare_schedules` produced for one outcome."""

    outcome: str
    endpoint_week: float
    reference: str | None
    schedules: tuple[str, ...]
    models: tuple[ModelResult, ...]
    marginal_means: pd.DataFrame
    contrasts: pd.DataFrame
    responder_rates: pd.DataFrame
    km: pd.DataFrame
    by_schedule: pd.DataFrame
    assumptions: tuple[str, ...]
    remarks: tuple[str, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)
    #: Tables, each row with a ``table`` column: descriptives, responders, flow, effect_size,
    #: estimates, pairwise, sensitivity.
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: The analysis plan used, defaults filled in.
    plan: AnalysisPlan | None = None
    #: Whether the user (or the plan) gave the reference arm.
    reference_given: bool = False
    #: The MMRM (:class:`outcomes.models.mmrm.MMRMResult`), when it could be fitted.
    mmrm: Any = None
    #: The mixed model with each visit a category (``[mixed_model] time = "visit"``), when fitted.
    lmm_visit: Any = None
    #: Multiple imputation and tipping point results, when run.
    imputation: Any = None
    tipping: Any = None
    #: The brief: the primary estimate in plain words, then supportive analyses that disagree.
    headline: tuple[str, ...] = ()
    #: Pre-specified analyses that could not run: one sentence each (``compare`` exits 1).
    failures: tuple[str, ...] = ()
    #: The plan as given, its window and endpoint filled in, in the dataset's time unit (what
    #: ``plan.toml`` beside the results holds and its hash); ``plan`` has visits in weeks.
    plan_as_run: AnalysisPlan | None = None
    #: The outcome's label (the dataset's registry), for text; empty: use the code.
    outcome_label: str = ""

    @property
    def plan_file(self) -> AnalysisPlan | None:
        """The plan to write beside the results and hash (``plan_as_run``, else ``plan``)."""
        return self.plan_as_run if self.plan_as_run is not None else self.plan

    def model(self, name: str) -> ModelResult:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"no model {name!r}; fitted: {', '.join(m.name for m in self.models)}")

    def rows(self) -> list[dict[str, Any]]:
        """Every model's table as rows ``{"table": "models", "model", "outcome", "term", "estimate", ...}``;
        the MMRM's rows also carry ``time`` and ``df``."""
        out = []
        for m in self.models:
            outcome = m.meta.get("outcome", self.outcome)
            for rec in m.to_frame().to_dict("records"):
                out.append({"table": "models", "model": m.name, "outcome": outcome,
                            **{k: _json_number(rec[k]) if k != "term" else rec[k] for k in TABLE_COLUMNS}})
        for res in (self.mmrm, self.lmm_visit):
            if res is not None:
                out += [{k: _json_number(v) for k, v in rec.items()} for rec in res.to_frame().to_dict("records")]
        return out

    def table_rows(self) -> list[dict[str, Any]]:
        """Every row of every table, each carrying its ``"table"`` key (the compare JSON contract)."""
        out = []
        for frame in self.tables.values():
            out += _records(frame)
        return out + self.rows()

    def document(self) -> dict[str, Any]:
        """The ``outcomes compare --format json`` document (strict JSON: no NaN or Infinity)."""
        return _strict({
            "outcome": self.outcome, "endpoint_week": self.endpoint_week, "reference": self.reference,
            "reference_given": self.reference_given,
            "schedules": list(self.schedules), "headline": list(self.headline), "failures": list(self.failures),
            "rows": self.table_rows(),
            "plan": None if self.plan is None else self.plan.to_dict(),
            "models": [m.describe() for m in self.models] + [r.describe() for r in (self.mmrm, self.lmm_visit)
                                                             if r is not None],
            "marginal_means": _records(self.marginal_means), "contrasts": _records(self.contrasts),
            "responder_rates": _records(self.responder_rates), "by_schedule": _records(self.by_schedule),
            "assumptions": list(self.assumptions), "remarks": list(self.remarks),
            "provenance": self.provenance,
        })

    def summary(self) -> str:
        """The terminal summary, in words: labels and "arm vs reference", never model codes."""
        label = self.outcome_label or self.outcome
        lines = [f"Schedule comparison: {label}, endpoint week {self.endpoint_week:g}, "
                 f"reference {self.reference}; arms {', '.join(self.schedules)}"]
        lines += [f"  {h}" for h in self.headline]
        est = self.tables.get("estimates")
        if est is not None and not est.empty:
            for r in est.itertuples(index=False):
                what = SHORT_NAMES.get(r.analysis, str(r.analysis).replace("_", " "))
                lines.append(f"  {r.schedule} vs {r.reference} at week {r.week:g}, {what}: difference "
                             f"{r.estimate:.3f} [{r.ci_lower:.3f}, {r.ci_upper:.3f}], p={r.p_value:.3g}"
                             + (" (primary)" if r.primary else ""))
        for m in self.models:
            if m.scale == "points":
                continue
            t = m.to_frame()
            key = t[t["term"].str.contains("schedule", regex=False)]
            for r in key.itertuples(index=False):
                lines.append(f"  {_term_words(r.term, self.reference)}: {_model_words(m.name, m.scale)} "
                             f"{r.estimate:.3f} [{r.ci_lower:.3f}, {r.ci_upper:.3f}], p={r.p_value:.3g}")
        lines += [f"Not run: {f}" for f in self.failures]
        lines += [f"Note: {r}" for r in self.remarks]
        return "\n".join(lines)


def _term_words(term: str, reference: str | None) -> str:
    """``schedule[T.placebo]`` → ``placebo vs usual_care``; an interaction with time says so."""
    arm = re.search(r"schedule\[T\.(.+?)\]", term)
    if arm is None:
        return term.replace("_", " ")
    words = f"{arm.group(1)} vs {reference}" if reference else arm.group(1)
    rest = [p for p in term.split(":") if not p.startswith("schedule[")]
    return words + (f", per {' × '.join(rest)}" if rest else "")


def _model_words(name: str, scale: str) -> str:
    """A model's name and scale in words, e.g. ``odds ratio of responding``."""
    if name.startswith("responder_odds"):
        return "odds ratio of responding"
    if name.startswith("time_to_response"):
        return "hazard ratio of a first response"
    if name.startswith("flare"):
        return "rate ratio of flares per session"
    return scale


def _strict(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf) as None and numpy scalars as Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return _json_number(obj)


def _json_number(x: Any) -> Any:
    if isinstance(x, (float, np.floating)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return [{k: _json_number(v) if not (isinstance(v, float) and np.isnan(v)) else None for k, v in r.items()}
            for r in out.astype(object).where(out.notna(), None).to_dict("records")]


def _attempt(remarks: list[str], what: str, fit: Callable[[], Any], failures: list[str] | None = None) -> Any:
    """Run one analysis; "cannot be fitted on these data" (not enough data, no sessions, every
    optimiser failing on a singular design) becomes a remark instead of stopping the comparison,
    or, for a pre-specified analysis (``failures`` given), a sentence in ``failures``."""
    t0 = time.perf_counter()
    try:
        res = fit()
    except (ValueError, RuntimeError, np.linalg.LinAlgError, UsageError) as exc:
        # not enough data, every optimiser failed; the MMRM and imputation engines say so as a UsageError
        why = str(exc).rstrip(".")
        if failures is not None:
            failures.append(f"The pre-specified {what} could not be run: {why}.")
        else:
            remarks.append(f"{what} not reported: {why}.")
        return None
    return _with_seconds(res, time.perf_counter() - t0)


def _with_seconds(res: Any, seconds: float) -> Any:
    """``res`` with ``meta["fit_seconds"]`` on each ModelResult that lacks it (for models.json)."""
    if isinstance(res, ModelResult) and "fit_seconds" not in res.meta:
        return replace(res, meta={**res.meta, "fit_seconds": seconds})
    if isinstance(res, tuple):
        return tuple(_with_seconds(r, seconds) for r in res)
    return res


def _higher_is_better(cohort: Cohort, outcome: str) -> bool:
    reg = getattr(cohort, "outcomes", None)
    if reg is not None and outcome in reg:
        return bool(reg.higher_is_better(outcome))
    spec = cohort.options.instruments.get(outcome)
    return bool(spec is not None and not spec.higher_is_worse)


def _one_blas_thread(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``func`` with BLAS limited to one thread (its linear algebra is many small products, which
    threaded OpenBLAS made up to 10x slower on 2 busy cores: :func:`outcomes.models._reml.single_thread_blas`)
    and each patient's baseline and endpoint selected once per outcome and week
    (:func:`outcomes.models.comparison._common.reuse_outcome_frames`)."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with single_thread_blas(), reuse_outcome_frames():
            return func(*args, **kwargs)
    return wrapper


@_one_blas_thread
def compare_schedules(cohort: Cohort, *, outcome: str = "leg_pain", endpoint_week: float | None = None,
                      reference: str | None = None, covariates: tuple[str, ...] = (),
                      plan: AnalysisPlan | None = None, pairwise: bool = False) -> Comparison:
    """Run the analysis plan on ``cohort``.

    Parameters
    ----------
    cohort : Cohort
    outcome : str
        ``leg_pain`` (default), ``back_pain``, ``odi`` or ``rmdq``.
    endpoint_week : float, optional
        Default ``cohort.options.endpoint_week`` (6).
    reference : str, optional
        Reference schedule; default the first in sorted order (said once in the remarks).
    covariates : tuple of str
        Baseline covariates, in every model.
    plan : AnalysisPlan, optional
        When given, its outcome, endpoint, reference, covariates, visits, responder
        definitions, primary analysis, multiplicity, mixed-model, MMRM and sensitivity
        options are used (and the other arguments are ignored). Without one, the
        default plan with the arguments above.
    pairwise : bool
        Also compare every pair of arms (ANCOVA at the endpoint, each arm in turn as
        the reference): the ``pairwise`` table, p-values adjusted by the plan's
        ``multiplicity``.

    Returns
    -------
    Comparison
        Models that could not be fitted are absent and explained in ``remarks``;
        pre-specified analyses that could not run are in ``failures`` (the primary
        analysis counts as pre-specified with the default plan too). The trajectory
        model's differences and marginal means are not reported beyond an arm's last
        assessment (plus the visit window): that would be an extrapolation.

    Raises
    ------
    ValueError
        Fewer than two schedules, a reference that is not one of them, or a single
        patient in every schedule (an arm's effect would be its patient's own).
    """
    given_plan = plan is not None
    if plan is None:
        week0 = float(cohort.options.endpoint_week if endpoint_week is None else endpoint_week)
        plan = _plan_for(cohort, outcome=outcome, week=week0, reference=reference, covariates=tuple(covariates))
    plan, plan_as_run, timing = plan_on_axis(plan, getattr(cohort, "time", None))
    outcome, week, cov = plan.outcome, float(plan.endpoint_week), tuple(plan.covariates)
    status(f"fitting the comparison's models: {outcome}, {len(cohort.patients):,} patients")
    schedules = tuple(sorted(str(s) for s in cohort.patients["schedule"].dropna().unique()))
    if len(schedules) < 2:
        raise ValueError(f"schedule comparison needs at least two schedules; the data have "
                         f"{len(schedules)} ({', '.join(schedules) or 'none'})")
    sizes = cohort.patients["schedule"].dropna().astype(str).value_counts()
    if sizes.max() < 2:
        raise ValueError(f"each of the {len(schedules)} schedules has a single patient, so a schedule's effect "
                         "cannot be told apart from its one patient's own level and course (patients differ "
                         "from one another whatever their schedule); at least one schedule needs two or more "
                         "patients. Check that the schedule column holds the arm, not a patient code")
    if plan.reference is not None and plan.reference not in schedules:
        raise ValueError(f"reference schedule {plan.reference!r} is not in the data; choose one of: "
                         f"{', '.join(schedules)}")
    reference_arm = resolve_reference(schedules, plan.reference)
    ref = reference_arm.name
    remarks: list[str] = [reference_remark(reference_arm), *cohort.remarks, *timing.remarks]
    failures: list[str] = []
    prespecified = failures if given_plan else None
    window = plan.visit_window_days
    models: list[ModelResult] = []

    # The schedule effect comes from a model without adherence and level: both happen after the
    # schedule is assigned and lie on the path from schedule to pain (in a symptom-guided schedule
    # level even follows pain), so adjusting for them would bias the comparison. The adjusted
    # model with them answers the other question (do adherence and level go with pain?).
    # The primary analysis is pre-specified whether the plan was given or is the default one (what
    # `outcomes plan --write` writes): when it cannot run, compare says so and exits 1.
    lmm_primary = plan.primary == "lmm"
    traj = plan_mixed_model(cohort, plan, ref, remarks, failures if lmm_primary else None, attempt=_attempt)
    lmm_visit = traj if traj is not None and not isinstance(traj, ModelResult) else None
    traj = traj if isinstance(traj, ModelResult) else None
    tasks = [] if _custom_mixed(plan) else [("Trajectory mixed model", "primary", outcome)]
    if cohort.sessions is not None:
        tasks.append(("Trajectory model with adherence and level", "adjusted", outcome))
    tasks += [(f"Mixed model of {o}", "secondary", o) for o in plan.outcomes if o != outcome]
    fitted = _fit_mixed_models(cohort, tasks, reference=ref, covariates=cov, remarks=remarks)
    traj = traj if traj is not None else fitted.get("primary")
    if lmm_primary and traj is None and lmm_visit is None and not any("linear mixed model" in f for f in failures):
        failures.append("The pre-specified primary analysis (the linear mixed model of time × arm) could not be "
                        "run: see the remarks for the reason.")
    mm = contrasts = pd.DataFrame()
    if traj is not None:
        models.append(traj)
        weeks = tuple(sorted(set(plan.visits) | {week}))
        mm = marginal_means(traj, weeks=weeks)
        contrasts = schedule_contrast(traj, week=week)
        reach = _reach(traj.data, window)
        if reach is not None:  # an arm's line beyond its last assessment is an extrapolation, not an estimate
            mm = mm[mm["week"].to_numpy(dtype=float) <= mm["schedule"].map(reach).to_numpy(dtype=float)]
            mm = mm.reset_index(drop=True)
            short = reach[reach < week]
            if len(short):
                # an arm short of the endpoint loses its difference; every difference when it is the reference
                arm = ref if ref in short.index else str(short.idxmin())
                why = (f"arm {arm!r} has no {outcome} assessment after week "
                       f"{traj.data.loc[traj.data['schedule'] == arm, 'week'].max():.1f}, so the model would "
                       f"extend its straight line beyond the data")
                lost = contrasts["schedule"].astype(str).isin(short.index.astype(str)) | (ref in short.index)
                which = "differences" if lost.all() else "differences of " + ", ".join(
                    repr(a) for a in contrasts.loc[lost, "schedule"].astype(str))
                contrasts = contrasts.loc[~lost].reset_index(drop=True)
                remarks.append(f"The trajectory model's schedule {which} at week {week:g} are not reported: "
                               f"{why}. Marginal means are shown only up to each arm's last assessment.")
                if lmm_primary:
                    failures.append(f"The pre-specified primary analysis (the linear mixed model of time × arm) "
                                    f"cannot estimate the week-{week:g} difference: {why}.")
    if lmm_visit is not None:
        means = lmm_visit.lsmeans.rename(columns={"arm": "schedule", "time": "week"})
        mm = means[["schedule", "week", "estimate", "std_error", "ci_lower", "ci_upper"]].copy()
        at = lmm_visit.contrasts[np.isclose(lmm_visit.contrasts["time"].astype(float), week)]
        contrasts = at.rename(columns={"arm": "schedule", "time": "week"})[
            ["schedule", "week", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "df"]].reset_index(
            drop=True)
    if fitted.get("adjusted") is not None:
        models.append(fitted["adjusted"])

    def primary_failures(name: str) -> list[str] | None:
        return failures if plan.primary == name else None

    ancova_res = _attempt(remarks, "primary analysis (ANCOVA at the endpoint)" if primary_failures("ancova")
                          is not None else "ANCOVA", lambda: ancova(cohort, outcome=outcome, endpoint_week=week,
                                                        window_days=window, reference=ref, covariates=cov),
                          primary_failures("ancova"))
    if ancova_res is not None:
        models.append(ancova_res)
    regression = None
    if plan.primary == "regression":
        regression = _attempt(remarks, "primary analysis (regression of the endpoint on arm)", lambda:
                              endpoint_regression(cohort, outcome=outcome, endpoint_week=week, window_days=window,
                                                  reference=ref, covariates=cov), failures)
        if regression is not None:
            models.append(regression)

    frame = _attempt(remarks, "The visit-by-visit data", lambda: visit_frame(
        cohort, outcome=outcome, visits=plan.visits, window_days=window, covariates=cov))
    mmrm = None
    if frame is not None:
        mmrm = _attempt(remarks, "primary analysis (MMRM)" if primary_failures("mmrm") is not None else "MMRM",
                        lambda: plan_mmrm(frame, outcome=outcome, reference=ref, covariates=cov,
                                          covariance=plan.mmrm.covariance), primary_failures("mmrm"))
    elif plan.primary == "mmrm":
        failures.append("The pre-specified primary analysis (MMRM) could not be run: the visit-by-visit data "
                        "could not be built (see the remarks).")

    definition = plan.primary_responder
    if definition is not None:
        res = _attempt(remarks, f"Responder odds ratio ({definition.name})", lambda: responder_odds(
            cohort, definition=definition, endpoint_week=week, window_days=window, reference=ref, covariates=cov))
        if res is not None:
            models.append(res)
        surv = _attempt(remarks, f"Time to first response ({definition.name})", lambda: time_to_response(
            cohort, definition=definition, reference=ref, covariates=cov))
    else:
        surv = None
        remarks.append(f"The plan has no responder definition for {outcome}: no responder odds ratio or time to "
                       "first response.")
    km = pd.DataFrame()
    if surv is not None:
        km, cox = surv
        models.append(cox)
    if cohort.sessions is not None:
        flares = _attempt(remarks, "Flare rate ratio", lambda: flare_rates(cohort, reference=ref, covariates=cov))
        if flares is not None:
            models.append(flares)
    tables = _trial_tables(cohort, plan, ref, remarks, prespecified)

    imputation = tipping = None
    sens = plan.sensitivity
    if sens.imputations and frame is not None:
        out = _attempt(remarks, "missing-data sensitivity analysis ([sensitivity])", lambda: plan_sensitivity(
            frame, outcome=outcome, reference=ref, endpoint=week, higher_is_better=_higher_is_better(cohort, outcome),
            covariates=cov, imputations=sens.imputations, deltas=sens.tipping_point), prespecified)
        if out is not None:
            imputation, tipping = out
            rows = [imputation.to_frame()] + ([tipping.to_frame()[tipping.to_frame()["delta"] > 0]]
                                              if tipping is not None else [])
            tables["sensitivity"] = pd.concat(rows, ignore_index=True)
            remarks += list(imputation.remarks)
            if tipping is not None:
                remarks += list(tipping.tipping["sentence"])

    estimates = endpoint_estimates(primary=plan.primary, outcome=outcome, reference=ref, week=week,
                                   arms=schedules, ancova=ancova_res, regression=regression, mmrm=mmrm,
                                   lmm_contrasts=contrasts, lmm=traj if traj is not None else lmm_visit,
                                   imputation=imputation,
                                   multiplicity=plan.multiplicity)
    if not estimates.empty:
        tables["estimates"] = estimates
    label = cohort.outcomes.label(outcome) if outcome in getattr(cohort, "outcomes", ()) else outcome
    headline = answer(estimates, label=label, unit="points",
                      higher_is_better=_higher_is_better(cohort, outcome), week=week)

    if pairwise and len(schedules) > 2:
        ordered = (ref, *[a for a in schedules if a != ref])  # the reference arm is the reference of its pairs
        pairs = _pairwise(cohort, ordered, outcome=outcome, week=week, window=window, covariates=cov,
                          remarks=remarks, method=plan.multiplicity)
        if not pairs.empty:
            tables["pairwise"] = pairs
    for extra in [o for o in plan.outcomes if o != outcome]:
        res = _attempt(remarks, f"ANCOVA of {extra}", lambda o=extra: ancova(
            cohort, outcome=o, endpoint_week=week, window_days=window, reference=ref, covariates=cov))
        if res is not None:
            models.append(res)
        if fitted.get(f"secondary:{extra}") is not None:
            models.append(fitted[f"secondary:{extra}"])
    for m in models:
        remarks += [f"{m.name}: {r}" for r in m.remarks if not r.startswith("Reference schedule:")]
    for res in (mmrm, lmm_visit):
        if res is not None:
            remarks += [f"{res.name}: {r}".replace(" value of y ", f" value of {outcome} ") for r in res.remarks]
    return Comparison(
        outcome=outcome, endpoint_week=week, reference=ref, schedules=schedules, models=tuple(models),
        marginal_means=mm, contrasts=contrasts, responder_rates=pd.DataFrame(), km=km,
        by_schedule=by_schedule(cohort), assumptions=tuple(assumptions_text(cohort)),
        remarks=tuple(dict.fromkeys(remarks)), provenance=dict(cohort.provenance), tables=tables,
        plan=plan, reference_given=reference_arm.given, mmrm=mmrm, imputation=imputation, tipping=tipping,
        headline=tuple(headline), failures=tuple(dict.fromkeys(failures)), lmm_visit=lmm_visit,
        plan_as_run=plan_as_run, outcome_label=label,
    )


def _pairwise(cohort: Cohort, schedules: tuple[str, ...], *, outcome: str, week: float, window: int,
              covariates: tuple[str, ...], remarks: list[str], method: str = "holm") -> pd.DataFrame:
    """Every pair of arms: the ANCOVA difference at the endpoint, refitted with each arm as reference;
    p-values adjusted over the family of pairs (``p_adjusted``, ``method``)."""
    rows = []
    for i, ref in enumerate(schedules[:-1]):
        res = _attempt(remarks, f"Pairwise ANCOVA against {ref}", lambda r=ref: ancova(
            cohort, outcome=outcome, endpoint_week=week, window_days=window, reference=r, covariates=covariates))
        if res is None:
            continue
        t = res.to_frame().set_index("term")
        for other in schedules[i + 1:]:
            term = f"schedule[T.{other}]"
            if term in t.index:
                rows.append({"table": "pairwise", "outcome": outcome, "term": f"{other} vs {ref}",
                             "schedule": other, "reference": ref, "week": week,
                             **t.loc[term, ["estimate", "std_error", "ci_lower", "ci_upper", "p_value"]].to_dict()})
    if not rows:
        return pd.DataFrame()
    out = adjust_frame(pd.DataFrame(rows), method=method if len(rows) > 1 else "none", by="outcome")
    remarks.append(f"Pairwise comparisons ({len(rows)}) are ANCOVA differences at week {week:g}, each arm in turn "
                   f"as the reference; p-values are adjusted over the {len(rows)} pairs "
                   f"({'Holm' if method == 'holm' else method}).")
    return out


def _fit_one(cohort: Cohort, kind: str, outcome: str, reference: str, covariates: tuple[str, ...]) -> ModelResult:
    """One mixed model of :func:`compare_schedules`."""
    if kind == "adjusted":
        res = fit_trajectory(cohort, outcome=outcome, reference=reference, covariates=covariates)
        return replace(
            res, name=f"{res.name}_adjusted",
            description=res.description + " With adherence (between and lagged within patients) "
            "and level (Curran & Bauer 2011, Annu Rev Psychol 62:583): associations, not the schedule's effect.",
            remarks=res.remarks + (
                "Adherence and level are measured after the schedule is assigned; their coefficients are "
                "associations, and the schedule terms of this model are not the schedule's effect (use "
                "trajectory_lmm or the ANCOVA for that). In a symptom-guided schedule level rises when "
                "pain allows, so its coefficient is biased towards benefit.",))
    res = trial_mixed_model(cohort, outcome=outcome, reference=reference, covariates=covariates)
    if kind == "secondary":
        return replace(res, name=f"{res.name}_{outcome}")
    return replace(res, description=res.description + " Schedule effect: not adjusted for adherence or level, "
                   "which follow the schedule assigned.")


def _fit_mixed_models(cohort: Cohort, tasks: list[tuple[str, str, str]], *, reference: str,
                      covariates: tuple[str, ...], remarks: list[str]) -> dict[str, ModelResult]:
    """Fit every mixed model, one after the other in this process.

    Keys: ``primary``, ``adjusted`` and ``secondary:<outcome>``. A model that cannot be
    fitted on these data (ValueError, RuntimeError, LinAlgError) becomes a remark, as in
    :func:`_attempt`; anything else (MemoryError, a bug) stops the comparison. Each fit
    takes well under a second at 20,000 patients (the REML engine works on per-patient
    sufficient statistics), so worker processes, which would each need a pickled copy of
    the cohort, gain nothing.
    """
    out: dict[str, ModelResult] = {}
    for what, kind, o in tasks:
        res = _attempt(remarks, what, lambda k=kind, oc=o: _fit_one(cohort, k, oc, reference, covariates))
        if res is not None:
            out[kind if kind != "secondary" else f"secondary:{o}"] = res
    return out


def _reach(data: pd.DataFrame | None, window_days: float | None) -> pd.Series | None:
    """The latest week each arm's trajectory is estimated at without extrapolation: its last
    assessment, plus the visit window (an endpoint a few days after the last visit is that visit)."""
    if data is None or data.empty or not {"schedule", "week"} <= set(data.columns):
        return None
    return data.groupby("schedule", observed=True)["week"].max() + float(window_days or 0) / 7.0


def _plan_for(cohort: Cohort, *, outcome: str, week: float, reference: str | None,
              covariates: tuple[str, ...]) -> AnalysisPlan:
    """The default plan with the arguments given (what ``compare`` ran when no plan file was given):
    visits and endpoint in weeks (``cohort.options``); the window is the options' one for dated data
    and, for another time unit, the default of :func:`outcomes.plan.plan_timing` (never so wide that
    one visit takes another's assessment)."""
    visits = tuple(sorted(set(cohort.options.visits) | ({int(week)} if float(week).is_integer() else set())))
    dated = getattr(getattr(cohort, "time", None), "dated", True)
    plan = AnalysisPlan(outcome=outcome, visits=visits, endpoint_week=week, reference=reference,
                        covariates=covariates, visit_window_days=cohort.options.visit_window_days if dated else None)
    object.__setattr__(plan, "_in_weeks", True)  # visits are weeks whatever the time unit
    return plan


def _trial_tables(cohort: Cohort, plan: AnalysisPlan, reference: str, remarks: list[str],
                  failures: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Descriptives, responders, flow and effect sizes (each row carries its ``table``)."""
    out: dict[str, pd.DataFrame] = {}
    present = [o for o in plan.all_outcomes if o in cohort.assessments.columns]
    kw = {"visits": plan.visits, "window_days": plan.visit_window_days}
    steps = {
        "descriptives": lambda: descriptives(cohort, outcomes=present, **kw),
        "responders": lambda: responder_table(cohort, definitions=plan.responders, endpoint_week=plan.endpoint_week,
                                              window_days=plan.visit_window_days, reference=reference),
        "flow": lambda: flow(cohort, outcome=plan.outcome, endpoint_week=plan.endpoint_week, **kw),
        "effect_size": lambda: pd.concat([hedges_g(cohort, outcome=o, endpoint_week=plan.endpoint_week,
                                                   window_days=plan.visit_window_days, reference=reference)
                                          for o in [plan.outcome, *plan.outcomes] if o in present],
                                         ignore_index=True),
    }
    for name, make in steps.items():
        if name == "responders" and not plan.responders:
            continue
        what = "responder table ([[responders]])" if name == "responders" else f"The {name.replace('_', ' ')} table"
        frame = _attempt(remarks, what, make, failures if name == "responders" else None)
        if frame is not None:
            remarks += [r for r in frame.attrs.get("remarks", []) if not r.startswith("Reference schedule:")]
            out[name] = frame
    return out


def __getattr__(name: str) -> Any:
    """``write_comparison`` moved to :mod:`outcomes.reports.tables` (writing files belongs to reports);
    the old import path keeps working for notebooks and scripts."""
    if name == "write_comparison":
        from ..reports.tables import write_comparison

        return write_comparison
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
