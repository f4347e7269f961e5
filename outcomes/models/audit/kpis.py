"""Audit targets, per-patient indicators and the key performance indicators."""

from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from ...cohort import Cohort
from ._common import (
    GROUPINGS,
    _check_by,
    _check_cohort,
    _check_k,
    _check_level,
    _check_outcome,
    _mean_ci,
    _ratio_ci,
    _wilson,
)
from ...measures.safety import patient_flag_summary
from .suppression import suppress_counts

#: While `compute_audit` runs: its per-patient indicators by (cohort id, outcome), computed once and
#: shared by every table (each would otherwise recompute them from the patient weeks and flags).
_INDICATORS: ContextVar[dict | None] = ContextVar("_INDICATORS", default=None)

_PROPORTION_TARGETS = ("prom_completion", "adherence", "responder", "dropout", "fidelity", "active_flag")


@dataclass(frozen=True)
class AuditTargets:
    """Targets the audit KPIs are judged against; change any with ``dataclasses.replace``.

    Proportions are fractions (0.8 = 80 %). "Local choice" marks a target with no
    published benchmark for home nerve-glide programs: agree it with the service
    before the audit and record it with the report (the report prints every target).

    Attributes
    ----------
    prom_completion : float, default 0.80
        Patients due an endpoint assessment who completed it (higher is better).
        Cochrane Back Review Group risk-of-bias criterion: drop-out acceptable when
        below 20 % at short-term follow-up (Furlan et al. 2009, Spine 34:1929).
    adherence : float, default 0.70
        Mean adherence (sessions done ÷ prescribed, capped at 100 %). Local choice;
        up to 70 % of patients with chronic low back pain do not do their prescribed home exercise
        (Beinart et al. 2013, Spine J 13:1940).
    responder : float, default 0.50
        Leg-pain responders at the endpoint among patients assessed. Local choice.
    flares_per_100_sessions : float, default 5.0
        Session flares per 100 sessions done (lower is better). Local choice.
    active_flag : float, default 0.15
        Patients needing STOP AND CONSULT: an active flag episode or a red flag
        (:func:`outcomes.measures.safety.patient_flag_summary`; lower is better).
        Local choice: on data simulated from published glide-program figures about
        one patient in nine has one (`outcomes.config.SIMULATION_FIGURES`).
    sessions_after_red_flag : float, default 0
        Glide sessions logged after a patient's red flag (lower is better): a red
        flag means stop and refer urgently, so any is a safety signal.
    dropout : float, default 0.20
        Patients who dropped out by the end of the program, among those whose program
        is over (lower is better). Furlan et al. 2009 (as for ``prom_completion``: at
        most 20 % lost at short-term follow-up).
    fidelity : float, default 0.80
        Patients whose level changes all followed their schedule. Borrelli et al.
        2005, J Consult Clin Psychol 73:852 (≥ 80 % adherence to protocol is high
        treatment fidelity).
    """

    prom_completion: float = 0.80
    adherence: float = 0.70
    responder: float = 0.50
    flares_per_100_sessions: float = 5.0
    active_flag: float = 0.15
    sessions_after_red_flag: float = 0.0
    dropout: float = 0.20
    fidelity: float = 0.80

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"AuditTargets.{f.name} must be a finite number, got {value!r}")
            if value < 0 or (f.name in _PROPORTION_TARGETS and value > 1):
                span = "between 0 and 1 (a fraction)" if f.name in _PROPORTION_TARGETS else "at least 0"
                raise ValueError(f"AuditTargets.{f.name} must be {span}, got {value!r}")

    def sources(self) -> dict[str, str]:
        """Where each default comes from (printed beside the targets in the report)."""
        return dict(_TARGET_SOURCES)


#: The default targets (one shared, immutable instance).
DEFAULT_TARGETS = AuditTargets()
_TARGET_SOURCES = {
    "prom_completion": "Furlan et al. 2009, Spine 34:1929 (drop-out < 20 % at short-term follow-up)",
    "adherence": "local choice (up to 70 % do not do prescribed home exercise; Beinart et al. 2013, "
                 "Spine J 13:1940)",
    "responder": "local choice",
    "flares_per_100_sessions": "local choice",
    "active_flag": "local choice (about 1 in 9 on data calibrated to published figures)",
    "sessions_after_red_flag": "none: red flags need urgent referral (cauda equina, progressive weakness)",
    "dropout": "Furlan et al. 2009, Spine 34:1929",
    "fidelity": "Borrelli et al. 2005, J Consult Clin Psychol 73:852 (≥ 80 % = high fidelity)",
}


@dataclass(frozen=True)
class _Kpi:
    kpi: str            # identifier, also the AuditTargets field
    column: str         # patient_indicators column (numerator column for ratios)
    kind: str           # proportion | mean | per_patient | ratio
    unit: str
    higher_is_better: bool
    needs_sessions: bool
    method: str


#: The indicators, in report order. ``responder`` also has an intention-to-treat twin
#: (``responder_itt``, missing = non-responder) sharing the responder target.
KPIS: tuple[_Kpi, ...] = (
    _Kpi("prom_completion", "prom_completed", "proportion", "proportion", True, False, "Wilson"),
    _Kpi("responder", "responder", "proportion", "proportion", True, False, "Wilson"),
    _Kpi("responder_itt", "responder_itt", "proportion", "proportion", True, False, "Wilson"),
    _Kpi("adherence", "adherence", "mean", "mean proportion", True, True, "t interval of patient means"),
    _Kpi("flares_per_100_sessions", "flares", "ratio", "per 100 sessions", False, True,
         "ratio estimator, variance linearised by patient"),
    _Kpi("active_flag", "active_flag", "proportion", "proportion", False, False, "Wilson"),
    _Kpi("sessions_after_red_flag", "sessions_after_red_flag", "total", "sessions", False, True,
         "count (every such session is a signal)"),
    _Kpi("dropout", "dropout", "proportion", "proportion", False, False, "Wilson"),
    _Kpi("fidelity", "fidelity", "proportion", "proportion", True, True, "Wilson"),
)

#: Per-patient yes/no indicators `funnel_data` can compare across units.
FUNNEL_KPIS: tuple[str, ...] = ("responder", "responder_itt", "prom_completion", "dropout", "fidelity",
                                "active_flag")
_FUNNEL_COLUMN = {"responder": "responder", "responder_itt": "responder_itt",
                  "prom_completion": "prom_completed", "dropout": "dropout", "fidelity": "fidelity",
                  "active_flag": "active_flag"}


def default_outcome(cohort: Cohort) -> str:
    """The outcome audited when none is given: leg pain, else the first outcome with change scores."""
    s = cohort.patient_summary
    have = [o for o in cohort.options.instruments if f"{o}_responder" in s.columns]
    if "leg_pain" in have or not have:
        return "leg_pain"
    return next((o for o in cohort.summarised if o in have), have[0])


def present_groupings(cohort: Cohort) -> tuple[str, ...]:
    """The groupings (site, clinician, schedule) the cohort's patients actually carry."""
    s = cohort.patient_summary
    return tuple(g for g in GROUPINGS if g in s.columns and s[g].notna().any())


def stayed_too_long(cohort: Cohort) -> pd.Series:
    """Per patient: True when the level stayed below the time schedule's level for a whole week.

    A weekly patient still at level 1 in week 3 has stayed longer than the schedule allows,
    with or without sessions that week (the level carries forward). Symptom-guided schedules
    allow staying as long as the sessions do not qualify, so they are not judged here (their
    moves are, in :func:`outcomes.measures.progression.progression_fidelity`). NA without
    sessions or a schedule file.
    """
    from ...measures.progression import load_schedules

    s = cohort.patient_summary
    out = pd.Series(pd.array([pd.NA] * len(s), dtype="boolean"), index=s["patient_id"].to_numpy())
    w = cohort.patient_week
    if cohort.sessions is None or "level" not in w.columns or "schedule" not in s.columns:
        return out
    try:
        schedules = load_schedules()
    except Exception:  # a broken schedule folder is reported by the cohort; nothing to judge here
        return out
    time_rules = {n: sc for n, sc in schedules.items() if sc.rule == "time" and sc.days_per_level}
    # per distinct patient of the weeks (codes), then spread to the weeks by the codes: no text key per week
    codes, uniq = pd.factorize(w["patient_id"])
    codes = np.where(codes >= 0, codes, len(uniq))  # a missing patient code: the last slot, never judged
    sched = pd.Series(uniq).map(dict(zip(s["patient_id"], s["schedule"].astype(str))))
    sched = pd.concat([sched, pd.Series([None], dtype=sched.dtype)], ignore_index=True)
    judged = sched.isin(list(time_rules)).to_numpy()[codes]
    if not judged.any():
        return out
    start = sched.map({n: sc.start_level for n, sc in time_rules.items()}).to_numpy(dtype=float)[codes]
    per = sched.map({n: sc.days_per_level for n, sc in time_rules.items()}).to_numpy(dtype=float)[codes]
    top = sched.map({n: sc.max_level for n, sc in time_rules.items()}).to_numpy(dtype=float)[codes]
    week = w["week"].to_numpy(dtype=float)
    # the level the schedule asks for by the end of the week (a full week at each level)
    expected = np.minimum(start + np.floor(7 * week / np.where(per > 0, per, np.nan)), top)
    level = pd.to_numeric(w["level"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    full = w["days_enrolled"].to_numpy(dtype=float) >= 7 if "days_enrolled" in w.columns else np.ones(len(w), bool)
    behind = judged & full & ~np.isnan(level) & (level < expected)
    anyb = (np.bincount(codes, weights=behind, minlength=len(uniq) + 1) > 0)[:len(uniq)]
    seen = (np.bincount(codes, weights=judged & ~np.isnan(level), minlength=len(uniq) + 1) > 0)[:len(uniq)]
    out.loc[uniq[seen]] = anyb[seen]
    return out



# ------------------------------------------------------------------ per patient


def patient_indicators(cohort: Cohort, *, outcome: str | None = None) -> pd.DataFrame:
    """One row per patient with every quantity the audit counts.

    Parameters
    ----------
    cohort : Cohort
    outcome : str, optional
        The instrument whose endpoint completion and responder status are audited
        (default :func:`default_outcome`: leg pain, else the dataset's first outcome).

    Returns
    -------
    DataFrame
        ``patient_id, site_id, clinician_id, schedule, status``, ``due`` (the endpoint
        window, week ``endpoint_week`` + ``visit_window_days``, had closed by
        ``cohort.as_of``); nullable booleans, missing when the patient is not in that
        indicator's denominator: ``prom_completed`` (due; has an endpoint value),
        ``responder`` (has baseline and endpoint), ``responder_itt`` (due; a missing
        endpoint counts as no response), ``dropout`` (discharged as dropped out by the end
        of the program, ``program_weeks`` + ``visit_window_days``; missing while that is
        after ``cohort.as_of``, and for everyone without discharge data), ``fidelity`` (has levels to
        judge; every level change followed the schedule and the level never stayed
        below a time schedule's for a whole week, :func:`stayed_too_long`);
        ``active_flag`` (STOP AND CONSULT: an active flag episode or a red flag),
        ``red_flag``, ``sessions_after_red_flag`` (missing without sessions),
        ``adherence`` (sessions done ÷ prescribed, capped at 1), ``n_flags``
        (flagged records), ``flares`` and ``sessions_done`` (from the patient
        weeks; missing without a sessions export).

    Notes
    -----
    Responder rules are those of ``cohort.options`` (leg pain: ≥ 2 points and ≥ 30 %;
    Farrar et al. 2001, Pain 94:149). Both responder denominators are kept:
    patients assessed (complete case) and patients due (intention to
    treat, Ashar et al. 2022).
    """
    _check_cohort(cohort)
    outcome = default_outcome(cohort) if outcome is None else outcome
    _check_outcome(cohort, outcome)
    cache = _INDICATORS.get()
    if cache is None:
        return _patient_indicators(cohort, outcome)
    key = (id(cohort), outcome)
    if key not in cache:
        cache[key] = _patient_indicators(cohort, outcome)
    return cache[key].copy(deep=False)  # copy-on-write: a caller's change never reaches the cache


def _patient_indicators(cohort: Cohort, outcome: str) -> pd.DataFrame:
    s = cohort.patient_summary
    opts = cohort.options
    out = s[[c for c in ("patient_id", *GROUPINGS, "status") if c in s.columns]].copy()
    closes = s["enrolled_on"] + pd.Timedelta(days=7 * opts.endpoint_week + opts.visit_window_days)
    due = (closes <= cohort.as_of).to_numpy()
    endpoint = pd.to_numeric(s[f"{outcome}_endpoint"], errors="coerce").notna().to_numpy()
    responder = s[f"{outcome}_responder"].astype("boolean")
    out["due"] = due
    out["prom_completed"] = pd.array(np.where(due, endpoint, False), dtype="boolean")
    out.loc[~due, "prom_completed"] = pd.NA
    out["responder"] = responder.to_numpy()
    itt = responder.fillna(False)
    itt[~due] = pd.NA
    out["responder_itt"] = itt.to_numpy()
    if "discharged_on" in cohort.patients.columns:
        # a fixed horizon, as the endpoint KPIs have: dropped out by program end, among the patients whose
        # program (and its visit window) is over. Counting dropouts among the patients whose program has ended
        # made recent enrolments look worse and worse (their early leavers have ended, their completers not
        # yet): at 20,000 simulated patients the last two months showed 52 % and 100 % against 34 %, two
        # false signals on the chart over time
        ends = s["enrolled_on"] + pd.Timedelta(days=7 * opts.program_weeks + opts.visit_window_days)
        left = pd.to_datetime(s["discharged_on"])
        early = (left.notna() & (left <= ends)).to_numpy()
        drop = pd.array(s["status"].eq("dropped_out").to_numpy() & early, dtype="boolean")
        drop[~(ends <= cohort.as_of).to_numpy()] = pd.NA
    else:  # without discharge data nobody is known to have dropped out (or to have finished)
        drop = pd.array([pd.NA] * len(s), dtype="boolean")
    out["dropout"] = drop
    followed = (s["fidelity_followed"].astype("boolean") if "fidelity_followed" in s.columns
                else pd.array([pd.NA] * len(s), dtype="boolean"))
    late = stayed_too_long(cohort).reindex(s["patient_id"].to_numpy()).array
    fid = pd.array(followed, dtype="boolean")
    both = pd.notna(fid) & pd.notna(late)
    fid[both] = fid[both] & ~late[both]
    only_late = pd.isna(fid) & pd.notna(late)
    fid[only_late] = ~late[only_late]
    out["fidelity"] = fid
    out["adherence"] = (pd.to_numeric(s["adherence_capped"], errors="coerce") if "adherence_capped" in s.columns
                        else np.nan)
    out["n_flags"] = s["n_flags"].astype("int64").to_numpy()
    safety = patient_flag_summary(cohort.flags, s["patient_id"])
    out["active_flag"] = pd.array(safety["stop_and_consult"].to_numpy(), dtype="boolean")
    out["red_flag"] = pd.array((safety["red_flags"] > 0).to_numpy(), dtype="boolean")
    out["sessions_after_red_flag"] = (safety["sessions_after_red_flag"].to_numpy(dtype=float)
                                      if cohort.sessions is not None else np.nan)
    if cohort.sessions is not None and "flares" in cohort.patient_week.columns:
        w = cohort.patient_week.groupby("patient_id", sort=False)[["flares", "sessions_done"]].sum()
        out["flares"] = s["patient_id"].map(w["flares"]).fillna(0).astype("float64").to_numpy()
        out["sessions_done"] = s["patient_id"].map(w["sessions_done"]).fillna(0).astype("float64").to_numpy()
    else:
        out["flares"] = np.nan
        out["sessions_done"] = np.nan
    return out.reset_index(drop=True)



# ------------------------------------------------------------------ KPIs


def _labels(cohort: Cohort, outcome: str) -> dict[str, tuple[str, str, str]]:
    """Plain-words label, short label (axes) and denominator of each KPI."""
    opts = cohort.options
    spec = opts.instruments[outcome]
    week = opts.endpoint_week
    rule = spec.responder
    words = (" and " if rule.combine == "all" else " or ").join(
        w for w in (f"≥ {rule.points:g} points" if rule.points is not None else "",
                    f"≥ {rule.percent:g} %" if rule.percent is not None else "") if w)
    name = spec.label.lower()
    due = f"patients due a week-{week} assessment (window closed by {cohort.as_of.date()})"
    return {
        "prom_completion": (f"{spec.label} recorded at week {week}", f"{spec.label} recorded", due),
        "responder": (f"{spec.label} responders at week {week}" + (f" (improved {words})" if words else ""),
                      "Responders", f"patients with a baseline and a week-{week} {name} score"),
        "responder_itt": (f"{spec.label} responders at week {week}, missing counted as not improved",
                          "Responders (missing = not improved)", due),
        "adherence": ("Mean adherence (sessions done ÷ prescribed, capped at 100 %)", "Adherence",
                      "patients with sessions prescribed"),
        "flares_per_100_sessions": ("Session flares per 100 sessions", "Flares per 100 sessions", "sessions done"),
        "active_flag": ("Patients needing STOP AND CONSULT (an active flag or a red flag)",
                        "Active flag or red flag", "patients"),
        "sessions_after_red_flag": ("Glide sessions logged after a red flag", "Sessions after a red flag",
                                    "patients with a red flag"),
        "dropout": (f"Dropped out before the end of the {opts.program_weeks}-week program", "Dropped out",
                    f"patients whose {opts.program_weeks}-week program (and visit window) was over by "
                    f"{cohort.as_of.date()}"),
        "fidelity": ("Progression followed the schedule (no early, skipped or late moves, no level held longer "
                     "than a time schedule allows)", "Followed the schedule",
                     "patients with a schedule file and sessions"),
    }


def _kpi_values(spec: _Kpi, sub: pd.DataFrame, level: float) -> dict[str, Any]:
    col = sub[spec.column]
    if spec.kind == "proportion":
        known = col.dropna()
        return {"numerator": float(known.astype(bool).sum()), "denominator": float(len(known))}
    if spec.kind == "mean":
        x = col.to_numpy(dtype=float)
        m, lo, hi = _mean_ci(x, level)
        return {"numerator": np.nan, "denominator": float((~np.isnan(x)).sum()), "rate": m,
                "ci_lower": lo, "ci_upper": hi}
    if spec.kind == "per_patient":
        x = col.to_numpy(dtype=float)
        m, lo, hi = _mean_ci(x, level)
        return {"numerator": float(np.nansum(x)), "denominator": float(len(x)), "rate": m,
                "ci_lower": max(lo, 0.0) if not np.isnan(lo) else lo, "ci_upper": hi}
    if spec.kind == "total":
        x = col.to_numpy(dtype=float)
        red = sub["red_flag"].fillna(False).to_numpy(dtype=bool)
        total = float(np.nansum(x))
        return {"numerator": total, "denominator": float(red.sum()), "rate": total,
                "ci_lower": np.nan, "ci_upper": np.nan, "_patients": np.inf}
    y = col.to_numpy(dtype=float)
    x = sub["sessions_done"].to_numpy(dtype=float)
    r, lo, hi = _ratio_ci(y, x, level)
    return {"numerator": float(np.nansum(y)), "denominator": float(np.nansum(x)),
            "rate": r * 100, "ci_lower": lo * 100, "ci_upper": hi * 100,
            "_patients": float(np.sum(np.nan_to_num(x) > 0))}


def audit_kpis(cohort: Cohort, *, targets: AuditTargets = DEFAULT_TARGETS, by: str | None = None,
               k: int = 11, outcome: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Key performance indicators with confidence intervals, judged against targets.

    Parameters
    ----------
    cohort : Cohort
    targets : AuditTargets, optional
        Targets and their sources; defaults documented on :class:`AuditTargets`.
    by : {None, "site_id", "clinician_id", "schedule"}
        One row per KPI (None) or per KPI and unit.
    k : int, default 11
        Small-cell threshold (see :func:`suppress_counts`); 1 turns suppression off.
    outcome : str, optional
        The instrument for endpoint completion and responders (default
        :func:`default_outcome`).
    level : float, default 0.95
        Confidence level of the intervals.

    Returns
    -------
    DataFrame
        With ``by``: ``by`` (the grouping column name) and ``group`` (the unit's code)
        first. Then ``kpi, label, numerator, denominator, denominator_label, rate,
        ci_lower, ci_upper, unit`` ("proportion", "mean proportion", "per 100
        sessions", "per patient"), ``method`` (of the interval), ``target,
        target_source, direction`` ("higher is better" / "lower is better"), ``met``
        (nullable bool; missing when there are too few to say), ``status`` ("met",
        "not met", "too few to say", "not available"), ``suppressed`` (bool),
        ``suppressed_fields`` and ``note``. Suppressed values are missing (outputs
        print a marker); numbers are at full precision.

    Notes
    -----
    Intervals: Wilson score for proportions (Wilson 1927; ``proportion_confint``,
    33/50 → 0.5215-0.7756); a t interval of the patients' values for mean adherence
    and flags per patient; for flares per 100 sessions, the ratio of sums with a
    variance linearised by patient (Cochran 1977 §6.4), so flares that cluster in a
    few patients widen it. A verdict needs at least ``k`` patients behind the
    denominator; a target counts as met on the point estimate, and ``note`` says
    when the interval still includes the target.
    """
    _check_cohort(cohort)
    if not isinstance(targets, AuditTargets):
        raise TypeError(f"targets must be an AuditTargets, got {type(targets).__name__}")
    _check_by(by, allow_none=True)
    k = _check_k(k)
    level = _check_level(level)
    outcome = default_outcome(cohort) if outcome is None else outcome
    ind = patient_indicators(cohort, outcome=outcome)
    labels = _labels(cohort, outcome)
    if by is not None and by not in ind.columns:
        raise ValueError(f"by={by!r}: the patients export has no {by} column")
    has_sessions = cohort.sessions is not None
    has_discharge = "discharged_on" in cohort.patients.columns
    has_fidelity = has_sessions and ind["fidelity"].notna().any()
    groups = [(None, ind)] if by is None else list(ind.groupby(by, sort=True))
    rows = []
    for spec in KPIS:
        target_name = "responder" if spec.kpi == "responder_itt" else spec.kpi
        base = {"kpi": spec.kpi, "label": labels[spec.kpi][0], "denominator_label": labels[spec.kpi][2],
                "unit": spec.unit, "method": spec.method, "target": float(getattr(targets, target_name)),
                "target_source": _TARGET_SOURCES[target_name],
                "direction": "higher is better" if spec.higher_is_better else "lower is better"}
        for key, sub in groups:
            row = {**({"by": by, "group": str(key)} if by else {}), **base}
            available = has_sessions if spec.needs_sessions else True
            if spec.kpi == "fidelity" and has_sessions and not has_fidelity:
                available = False
            if spec.kpi == "dropout" and not has_discharge:
                available = False
            if not available:
                why = ("not available: no discharge data, so who dropped out is not known"
                       if spec.kpi == "dropout" and not has_discharge else
                       "not available: no sessions export" if not has_sessions
                       else "not available: no progression schedule file for these patients")
                rows.append({**row, "numerator": np.nan, "denominator": np.nan, "rate": np.nan,
                             "ci_lower": np.nan, "ci_upper": np.nan, "status": "not available", "note": why})
                continue
            values = _kpi_values(spec, sub, level)
            note = ""
            if spec.kpi == "active_flag" and not has_sessions:
                note = "assessment flags only (no sessions export)"
            rows.append({**row, **values, "note": note})
    frame = pd.DataFrame(rows)
    if "status" not in frame.columns:
        frame["status"] = None
    prop = frame["unit"].eq("proportion").to_numpy()
    num = frame["numerator"].to_numpy(dtype=float)
    den = frame["denominator"].to_numpy(dtype=float)
    lo, hi = _wilson(np.where(prop, num, 0.0), np.where(prop, den, 0.0), level)
    rate = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    for col, values in (("rate", rate), ("ci_lower", lo), ("ci_upper", hi)):
        if col not in frame.columns:
            frame[col] = np.nan
        frame.loc[prop, col] = values[prop]
    frame = _judge(frame, k)
    frame = _suppress_kpis(frame, k=k, by=by)
    order = ([c for c in ("by", "group") if by] +
             ["kpi", "label", "numerator", "denominator", "denominator_label", "rate", "ci_lower", "ci_upper",
              "unit", "method", "target", "target_source", "direction", "met", "status", "suppressed",
              "suppressed_fields", "note"])
    frame = frame[order]
    for col in ("numerator", "denominator"):
        frame[col] = frame[col].round().astype("Int64")
    frame["met"] = frame["met"].astype("boolean")
    return frame.reset_index(drop=True)


def _judge(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """met / not met / too few to say, on the point estimate, with a note on the interval."""
    frame = frame.copy()
    higher = frame["direction"].eq("higher is better").to_numpy()
    rate, target = frame["rate"].to_numpy(dtype=float), frame["target"].to_numpy(dtype=float)
    den = frame["denominator"].to_numpy(dtype=float)
    if "_patients" in frame.columns:  # a ratio per session still needs k patients behind it
        den = np.where(frame["_patients"].notna(), frame["_patients"].to_numpy(dtype=float), den)
    enough = (den >= k) & ~np.isnan(rate)
    met = np.where(higher, rate >= target, rate <= target)
    status, met_col, notes = [], [], []
    for i in range(len(frame)):
        note = frame["note"].iat[i] if isinstance(frame["note"].iat[i], str) else ""
        if frame["status"].iat[i] == "not available":
            status.append("not available")
            met_col.append(pd.NA)
        elif not enough[i]:
            status.append("too few to say")
            met_col.append(pd.NA)
            note = "; ".join(x for x in (note, f"fewer than {k} patients in the denominator") if x)
        else:
            status.append("met" if met[i] else "not met")
            met_col.append(bool(met[i]))
            lo, hi = frame["ci_lower"].iat[i], frame["ci_upper"].iat[i]
            if not (np.isnan(lo) or np.isnan(hi)) and lo <= target[i] <= hi:
                note = "; ".join(x for x in (note, "the interval includes the target") if x)
        notes.append(note)
    frame["status"] = status
    frame["met"] = pd.array(met_col, dtype="boolean")
    frame["note"] = notes
    return frame


def _suppress_kpis(frame: pd.DataFrame, *, k: int, by: str | None) -> pd.DataFrame:
    frame = frame.copy()
    hide_n = np.zeros(len(frame), bool)
    hide_d = np.zeros(len(frame), bool)
    for idx in frame.groupby("kpi", sort=False).indices.values():
        sub = frame.iloc[idx]
        hn, hd = suppress_counts(sub["numerator"], sub["denominator"], k=k,
                                 proportion=bool(sub["unit"].eq("proportion").all()), lines=by is not None)
        hide_n[idx], hide_d[idx] = hn, hd
    has_num = frame["numerator"].notna().to_numpy()
    total = frame["unit"].eq("sessions").to_numpy()  # a count of sessions, not a share of the patients
    num = frame["numerator"].to_numpy(dtype=float)
    hide_n = np.where(total, (num >= 1) & (num < k), hide_n)
    hide_rate = np.where(total, hide_n & has_num, (hide_n & has_num) | hide_d)
    frame.loc[hide_n, "numerator"] = np.nan
    frame.loc[hide_d, "denominator"] = np.nan
    frame.loc[hide_rate, ["rate", "ci_lower", "ci_upper"]] = np.nan
    frame["suppressed"] = (hide_n & has_num) | hide_d
    frame["suppressed_fields"] = [
        ", ".join(f for f, h in (("numerator", n and a), ("denominator", d), ("rate", r)) if h)
        for n, a, d, r in zip(hide_n, has_num, hide_d, hide_rate)]
    return frame
