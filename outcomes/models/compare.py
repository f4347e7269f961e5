"""The schedule comparison: every model of DESIGN.md §5 run on one cohort, and written out.

:func:`compare_schedules` runs, for one outcome and endpoint:

* the trajectory mixed model of week × schedule, its estimated marginal means
  and the schedule contrast at the endpoint week; and, with a session log,
  the DESIGN.md §5 model that adds adherence (between and lagged within
  patients) and level — reported as associations, because both follow the
  schedule assigned and adjusting the schedule effect for them would bias it;
* ANCOVA on the endpoint adjusted for baseline; the responder odds ratio
  and responder rates with both denominators;
* time to first response (Kaplan–Meier per schedule, Cox hazard ratio);
* the flare rate ratio per session exposure (sessions export only);
* adherence, highest level, dropout and flags by schedule;

and collects what could not be fitted as remarks rather than failing: a
dataset without sessions still gets every model that does not need them.
:func:`write_comparison` writes the tables, the exact frames each model was
fitted on and ``models.json`` (formula, groups, random effects, method, sizes,
convergence) so anyone can refit the models elsewhere.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..io.writers import atomic_write_text, frame_to_csv_text, output_path, prepare_out_dir
from .comparison import (ancova, assumptions_text, by_schedule, flare_rates, responder_odds, responder_rates,
                         time_to_response)
from .results import TABLE_COLUMNS, ModelResult
from ..plan import AnalysisPlan
from .trajectory import fit_trajectory, marginal_means, schedule_contrast
from .trial import descriptives, flow, hedges_g, responder_table, trial_mixed_model

__all__ = ["Comparison", "compare_schedules", "write_comparison"]


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
    #: Trial tables (issue 7), each with a ``table`` column: descriptives, responders, flow, effect_size.
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: The analysis plan used, defaults filled in.
    plan: AnalysisPlan | None = None

    def model(self, name: str) -> ModelResult:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"no model {name!r}; fitted: {', '.join(m.name for m in self.models)}")

    def rows(self) -> list[dict[str, Any]]:
        """Every model's table as rows ``{"table": "models", "model", "outcome", "term", "estimate", ...}``."""
        out = []
        for m in self.models:
            outcome = m.meta.get("outcome", self.outcome)
            for rec in m.to_frame().to_dict("records"):
                out.append({"table": "models", "model": m.name, "outcome": outcome,
                            **{k: _json_number(rec[k]) if k != "term" else rec[k] for k in TABLE_COLUMNS}})
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
            "schedules": list(self.schedules), "rows": self.table_rows(),
            "plan": None if self.plan is None else self.plan.to_dict(),
            "models": [m.describe() for m in self.models],
            "marginal_means": _records(self.marginal_means), "contrasts": _records(self.contrasts),
            "responder_rates": _records(self.responder_rates), "by_schedule": _records(self.by_schedule),
            "assumptions": list(self.assumptions), "remarks": list(self.remarks),
            "provenance": self.provenance,
        })

    def summary(self) -> str:
        lines = [f"Schedule comparison: {self.outcome}, endpoint week {self.endpoint_week:g}, "
                 f"reference {self.reference!r}; schedules {', '.join(self.schedules)}"]
        for m in self.models:
            t = m.to_frame()
            key = t[t["term"].str.contains("schedule", regex=False)]
            for r in key.itertuples(index=False):
                lines.append(f"  {m.name:<34} {r.term:<26} {r.estimate:8.3f}  "
                             f"[{r.ci_lower:.3f}, {r.ci_upper:.3f}]  p={r.p_value:.3g}  ({m.scale})")
        lines += [f"Note: {r}" for r in self.remarks]
        return "\n".join(lines)


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


def _attempt(remarks: list[str], what: str, fit: Callable[[], Any]) -> Any:
    """Run one analysis; "cannot be fitted on these data" (not enough data, no sessions, every
    optimiser failing on a singular design) becomes a remark instead of stopping the comparison."""
    t0 = time.perf_counter()
    try:
        res = fit()
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:  # not enough data, every optimiser failed
        remarks.append(f"{what} not reported: {exc}")
        return None
    return _with_seconds(res, time.perf_counter() - t0)


def _with_seconds(res: Any, seconds: float) -> Any:
    """``res`` with ``meta["fit_seconds"]`` on each ModelResult that lacks it (for models.json)."""
    if isinstance(res, ModelResult) and "fit_seconds" not in res.meta:
        return replace(res, meta={**res.meta, "fit_seconds": seconds})
    if isinstance(res, tuple):
        return tuple(_with_seconds(r, seconds) for r in res)
    return res


def compare_schedules(cohort: Cohort, *, outcome: str = "leg_pain", endpoint_week: float | None = None,
                      reference: str | None = None, covariates: tuple[str, ...] = (),
                      plan: AnalysisPlan | None = None, pairwise: bool = False) -> Comparison:
    """Run every comparison model on ``cohort``.

    Parameters
    ----------
    cohort : Cohort
    outcome : str
        ``leg_pain`` (default), ``back_pain``, ``odi`` or ``rmdq``.
    endpoint_week : float, optional
        Default ``cohort.options.endpoint_week`` (6).
    reference : str, optional
        Reference schedule; default the first in sorted order (said in the remarks).
    covariates : tuple of str
        Baseline covariates added to the trajectory model and the ANCOVA.
    plan : AnalysisPlan, optional
        When given, its outcome, endpoint, reference, covariates, visits and
        responder definitions are used (and the other arguments are ignored).
        Without one, the default plan with the arguments above.
    pairwise : bool
        Also compare every pair of arms (ANCOVA at the endpoint, each arm in
        turn as the reference): the ``pairwise`` table. Not adjusted for
        multiple comparisons (said in the remarks).

    Returns
    -------
    Comparison
        Models that could not be fitted are absent and explained in ``remarks``.
    """
    if plan is not None:
        outcome, endpoint_week, reference, covariates = (plan.outcome, plan.endpoint_week, plan.reference,
                                                         plan.covariates)
    week = float(cohort.options.endpoint_week if endpoint_week is None else endpoint_week)
    schedules = tuple(sorted(cohort.patients["schedule"].dropna().unique()))
    if len(schedules) < 2:
        raise ValueError(f"schedule comparison needs at least two schedules; the data have "
                         f"{len(schedules)} ({', '.join(schedules) or 'none'})")
    if reference is not None and reference not in schedules:
        raise ValueError(f"reference schedule {reference!r} is not in the data; choose one of: "
                         f"{', '.join(schedules)}")
    remarks: list[str] = list(cohort.remarks)
    models: list[ModelResult] = []
    ref = reference or schedules[0]
    cov = tuple(covariates)

    used_plan = plan or _plan_for(cohort, outcome=outcome, week=week, reference=ref, covariates=cov)
    # The schedule effect comes from a model without adherence and level: both happen after the
    # schedule is assigned and lie on the path from schedule to pain (in a symptom-guided schedule
    # level even follows pain), so adjusting for them would bias the comparison. The DESIGN §5
    # model with them answers the other question (do adherence and level go with pain?).
    tasks = [("Trajectory mixed model", "primary", outcome)]
    if cohort.sessions is not None:
        tasks.append(("Trajectory model with adherence and level", "adjusted", outcome))
    tasks += [(f"Mixed model of {o}", "secondary", o) for o in used_plan.outcomes if o != outcome]
    fitted = _fit_mixed_models(cohort, tasks, reference=ref, covariates=cov, remarks=remarks)
    mm = contrasts = pd.DataFrame()
    traj = fitted.get("primary")
    if traj is not None:
        models.append(traj)
        weeks = tuple(sorted(set(cohort.options.visits) | {week}))
        mm = marginal_means(traj, weeks=weeks)
        contrasts = schedule_contrast(traj, week=week)
    if fitted.get("adjusted") is not None:
        models.append(fitted["adjusted"])
    for what, fit in (
        ("ANCOVA", lambda: ancova(cohort, outcome=outcome, endpoint_week=week, reference=ref, covariates=cov)),
        ("Responder odds ratio", lambda: responder_odds(cohort, outcome=outcome, endpoint_week=week,
                                                        reference=ref)),
    ):
        res = _attempt(remarks, what, fit)
        if res is not None:
            models.append(res)
    rates = _attempt(remarks, "Responder rates", lambda: responder_rates(
        cohort, outcome=outcome, endpoint_week=week, reference=ref))
    surv = _attempt(remarks, "Time to first response", lambda: time_to_response(
        cohort, outcome=outcome, reference=ref))
    km = pd.DataFrame()
    if surv is not None:
        km, cox = surv
        models.append(cox)
    if cohort.sessions is not None:
        flares = _attempt(remarks, "Flare rate ratio", lambda: flare_rates(cohort, reference=ref))
        if flares is not None:
            models.append(flares)
    tables = _trial_tables(cohort, used_plan, ref, remarks)
    if pairwise and len(schedules) > 2:
        pairs = _pairwise(cohort, schedules, outcome=outcome, week=week, covariates=cov, remarks=remarks)
        if not pairs.empty:
            tables["pairwise"] = pairs
    for extra in [o for o in used_plan.outcomes if o != outcome]:
        res = _attempt(remarks, f"ANCOVA of {extra}", lambda o=extra: ancova(
            cohort, outcome=o, endpoint_week=week, reference=ref, covariates=cov))
        if res is not None:
            models.append(res)
        if fitted.get(f"secondary:{extra}") is not None:
            models.append(fitted[f"secondary:{extra}"])
    for m in models:
        remarks += [f"{m.name}: {r}" for r in m.remarks]
    return Comparison(
        outcome=outcome, endpoint_week=week, reference=ref, schedules=schedules, models=tuple(models),
        marginal_means=mm, contrasts=contrasts,
        responder_rates=rates if rates is not None else pd.DataFrame(), km=km,
        by_schedule=by_schedule(cohort), assumptions=tuple(assumptions_text(cohort)),
        remarks=tuple(dict.fromkeys(remarks)), provenance=dict(cohort.provenance), tables=tables,
        plan=used_plan,
    )


def _pairwise(cohort: Cohort, schedules: tuple[str, ...], *, outcome: str, week: float,
              covariates: tuple[str, ...], remarks: list[str]) -> pd.DataFrame:
    """Every pair of arms: the ANCOVA difference at the endpoint, refitted with each arm as reference."""
    rows = []
    for i, ref in enumerate(schedules[:-1]):
        res = _attempt(remarks, f"Pairwise ANCOVA against {ref}", lambda r=ref: ancova(
            cohort, outcome=outcome, endpoint_week=week, reference=r, covariates=covariates))
        if res is None:
            continue
        t = res.to_frame().set_index("term")
        for other in schedules[i + 1:]:
            term = f"schedule[T.{other}]"
            if term in t.index:
                rows.append({"table": "pairwise", "outcome": outcome, "schedule": other, "reference": ref,
                             "week": week, **t.loc[term, ["estimate", "std_error", "ci_lower", "ci_upper",
                                                            "p_value"]].to_dict()})
    if rows:
        remarks.append(f"Pairwise comparisons ({len(rows)}) are ANCOVA differences at week {week:g}, each arm in "
                       "turn as the reference; they are not adjusted for multiple comparisons.")
    return pd.DataFrame(rows)


def _fit_one(cohort: Cohort, kind: str, outcome: str, reference: str, covariates: tuple[str, ...]) -> ModelResult:
    """One mixed model of :func:`compare_schedules`."""
    if kind == "adjusted":
        res = fit_trajectory(cohort, outcome=outcome, reference=reference, covariates=covariates)
        return replace(
            res, name=f"{res.name}_adjusted",
            description=res.description + " With adherence (between and lagged within patients) "
            "and level (DESIGN.md §5): associations, not the schedule's effect.",
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


def _plan_for(cohort: Cohort, *, outcome: str, week: float, reference: str | None,
              covariates: tuple[str, ...]) -> AnalysisPlan:
    """The default plan with the arguments given (what ``compare`` ran when no plan file was given)."""
    visits = tuple(sorted(set(cohort.options.visits) | ({int(week)} if float(week).is_integer() else set())))
    return AnalysisPlan(outcome=outcome, visits=visits, visit_window_days=cohort.options.visit_window_days,
                        endpoint_week=week, reference=reference, covariates=covariates)


def _trial_tables(cohort: Cohort, plan: AnalysisPlan, reference: str, remarks: list[str]) -> dict[str, pd.DataFrame]:
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
        frame = _attempt(remarks, f"The {name.replace('_', ' ')} table", make)
        if frame is not None:
            remarks += list(frame.attrs.get("remarks", []))
            out[name] = frame
    return out


def write_comparison(comparison: Comparison, out_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Write ``models.csv`` (every coefficient), the other tables, the fitted frames and ``models.json``.

    ``analysis_data.csv`` is the trajectory model's frame; every other model's
    frame is ``analysis_data_<model>.csv``; ``models.json`` lists which file
    each model was fitted on. All files are written atomically.
    """
    out = prepare_out_dir(out_dir)
    written: dict[str, str] = {}

    def put(name: str, frame: pd.DataFrame) -> None:
        p = output_path(out, name)
        atomic_write_text(p, frame_to_csv_text(frame))
        written[name] = str(p)

    put("models.csv", pd.DataFrame(comparison.rows(), columns=["table", "model", "outcome", *TABLE_COLUMNS]))
    for name, frame in comparison.tables.items():
        put(f"{name}.csv", frame)
    if comparison.plan is not None:
        p = output_path(out, "plan.toml")
        atomic_write_text(p, comparison.plan.to_toml())
        written["plan.toml"] = str(p)
    for name in ("marginal_means", "contrasts", "responder_rates", "km", "by_schedule"):
        frame = getattr(comparison, name)
        if frame is not None and not frame.empty:
            put(f"{name}.csv", frame)
    described = []
    for i, m in enumerate(comparison.models):
        info = m.describe()
        if m.data is not None:
            fname = "analysis_data.csv" if i == 0 and m.name.startswith("trajectory") else \
                f"analysis_data_{m.name}.csv"
            put(fname, m.data)
            info["data_file"] = fname
        described.append(info)
    doc = {"outcome": comparison.outcome, "endpoint_week": comparison.endpoint_week,
           "reference": comparison.reference, "schedules": list(comparison.schedules), "models": described,
           "assumptions": list(comparison.assumptions), "remarks": list(comparison.remarks),
           "plan_sha256": None if comparison.plan is None else comparison.plan.sha256(),
           "provenance": comparison.provenance}
    p = output_path(out, "models.json")
    atomic_write_text(p, json.dumps(_strict(doc), indent=2, default=_json_default, allow_nan=False) + "\n")
    written["models.json"] = str(p)
    return written


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, (pd.Timestamp,)):
        return x.isoformat()
    if isinstance(x, (set, tuple)):
        return list(x)
    return str(x)
