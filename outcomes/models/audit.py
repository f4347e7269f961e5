"""Clinic audit: key performance indicators, funnel plots and case-mix adjusted comparison.

Three questions an audit lead asks, each answered by a function returning a tidy frame:

`audit_kpis`
    How is the program doing against its targets? One row per indicator (and per
    site, clinician or schedule), with numerator, denominator, rate, confidence
    interval and a plain verdict: met, not met, or too few to say.
`funnel_data` (with `funnel_limits`)
    Is any site or clinician unusual? Each unit's rate against its caseload and
    exact binomial control limits at 95 % and 99.8 % (Spiegelhalter 2005).
`casemix_oe` (with `casemix_model`)
    Is a unit's result explained by its patients? Observed ÷ expected responders
    from a logistic model of baseline severity, symptom duration and age.

Every per-patient input comes from `patient_indicators`, so the tables agree with
each other. Counts of 1 to ``k − 1`` (default ``k = 11``, the CMS cell-size rule) are
suppressed in every table, with complementary suppression where a hidden count could
be worked out from a total (`suppress_counts`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from ..cohort import Cohort
from .results import ModelResult, coefficient_table

__all__ = [
    "DEFAULT_TARGETS",
    "FUNNEL_KPIS",
    "GROUPINGS",
    "KPIS",
    "AuditTargets",
    "audit_kpis",
    "casemix_model",
    "casemix_oe",
    "funnel_data",
    "funnel_limits",
    "patient_indicators",
    "suppress_counts",
]

#: Columns ``by`` may name: each patient belongs to exactly one unit of each.
GROUPINGS: tuple[str, ...] = ("site_id", "clinician_id", "schedule")


_PROPORTION_TARGETS = ("prom_completion", "adherence", "responder", "dropout", "fidelity")


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
        home-exercise non-adherence of 50-70 % is common in back pain (DOMAIN.md).
    responder : float, default 0.50
        Leg-pain responders at the endpoint among patients assessed. Local choice.
    flares_per_100_sessions : float, default 5.0
        Session flares per 100 sessions done (lower is better). Local choice.
    consult_flags_per_patient : float, default 1.0
        Stop-and-consult flags per patient (lower is better). Local choice.
    dropout : float, default 0.20
        Patients who dropped out among those whose program has ended (lower is
        better). Furlan et al. 2009 (as for ``prom_completion``).
    fidelity : float, default 0.80
        Patients whose level changes all followed their schedule. Borrelli et al.
        2005, J Consult Clin Psychol 73:852 (≥ 80 % adherence to protocol is high
        treatment fidelity).
    """

    prom_completion: float = 0.80
    adherence: float = 0.70
    responder: float = 0.50
    flares_per_100_sessions: float = 5.0
    consult_flags_per_patient: float = 1.0
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
    "adherence": "local choice (non-adherence of 50-70 % is common; DOMAIN.md)",
    "responder": "local choice",
    "flares_per_100_sessions": "local choice",
    "consult_flags_per_patient": "local choice",
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
    _Kpi("consult_flags_per_patient", "n_flags", "per_patient", "per patient", False, False,
         "t interval of patient counts"),
    _Kpi("dropout", "dropout", "proportion", "proportion", False, False, "Wilson"),
    _Kpi("fidelity", "fidelity", "proportion", "proportion", True, True, "Wilson"),
)

#: Per-patient yes/no indicators `funnel_data` can compare across units.
FUNNEL_KPIS: tuple[str, ...] = ("responder", "responder_itt", "prom_completion", "dropout", "fidelity")
_FUNNEL_COLUMN = {"responder": "responder", "responder_itt": "responder_itt",
                  "prom_completion": "prom_completed", "dropout": "dropout", "fidelity": "fidelity"}


# ---------------------------------------------------------------------------- checks


def _check_cohort(cohort: Any) -> Cohort:
    if not isinstance(cohort, Cohort):
        raise TypeError(f"cohort must be an outcomes.Cohort, got {type(cohort).__name__}")
    return cohort


def _check_by(by: Any, *, allow_none: bool) -> str | None:
    allowed = GROUPINGS + ((None,) if allow_none else ())
    if by not in allowed:
        raise ValueError(f"by must be one of {', '.join(map(repr, allowed))}, got {by!r}")
    return by


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a whole number ≥ 1 (1 turns suppression off), got {k!r}")
    return int(k)


def _check_level(level: Any, parameter: str = "level") -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"{parameter} must be a probability between 0 and 1 (e.g. 0.95), got {level!r}")
    return float(level)


def _check_outcome(cohort: Cohort, outcome: Any) -> str:
    s = cohort.patient_summary
    have = [o for o in cohort.options.instruments if f"{o}_responder" in s.columns]
    if outcome not in have:
        raise ValueError(f"outcome must be an instrument with change scores in the cohort "
                         f"({', '.join(have) or 'none'}), got {outcome!r}")
    return outcome


# ------------------------------------------------------------------ per patient


def patient_indicators(cohort: Cohort, *, outcome: str = "leg_pain") -> pd.DataFrame:
    """One row per patient with every quantity the audit counts.

    Parameters
    ----------
    cohort : Cohort
    outcome : str, default "leg_pain"
        The instrument whose endpoint completion and responder status are audited.

    Returns
    -------
    DataFrame
        ``patient_id, site_id, clinician_id, schedule, status``, ``due`` (the endpoint
        window, week ``endpoint_week`` + ``visit_window_days``, had closed by
        ``cohort.as_of``); nullable booleans, missing when the patient is not in that
        indicator's denominator: ``prom_completed`` (due; has an endpoint value),
        ``responder`` (has baseline and endpoint), ``responder_itt`` (due; a missing
        endpoint counts as no response), ``dropout`` (program ended: discharged),
        ``fidelity`` (has level changes to judge; all followed the schedule);
        ``adherence`` (sessions done ÷ prescribed, capped at 1), ``n_flags``
        (stop-and-consult flags), ``flares`` and ``sessions_done`` (from the patient
        weeks; missing without a sessions export).

    Notes
    -----
    Responder rules are those of ``cohort.options`` (leg pain: ≥ 2 points and ≥ 30 %;
    Farrar et al. 2001, Pain 94:149). Both responder denominators are kept, as
    DESIGN.md §5 asks: patients assessed (complete case) and patients due (intention to
    treat, Ashar et al. 2022).
    """
    _check_cohort(cohort)
    _check_outcome(cohort, outcome)
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
    ended = (s["status"] != "active").to_numpy()
    drop = pd.array(s["status"].eq("dropped_out").to_numpy(), dtype="boolean")
    drop[~ended] = pd.NA
    out["dropout"] = drop
    out["fidelity"] = (s["fidelity_followed"].astype("boolean") if "fidelity_followed" in s.columns
                       else pd.array([pd.NA] * len(s), dtype="boolean"))
    out["adherence"] = (pd.to_numeric(s["adherence_capped"], errors="coerce") if "adherence_capped" in s.columns
                        else np.nan)
    out["n_flags"] = s["n_flags"].astype("int64").to_numpy()
    if cohort.sessions is not None and "flares" in cohort.patient_week.columns:
        w = cohort.patient_week.groupby("patient_id", sort=False)[["flares", "sessions_done"]].sum()
        out["flares"] = s["patient_id"].map(w["flares"]).fillna(0).astype("float64").to_numpy()
        out["sessions_done"] = s["patient_id"].map(w["sessions_done"]).fillna(0).astype("float64").to_numpy()
    else:
        out["flares"] = np.nan
        out["sessions_done"] = np.nan
    return out.reset_index(drop=True)


# ------------------------------------------------------------------ suppression


def _line_secondary(values: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Hide a second cell of a line when exactly one positive cell of it is hidden.

    The line's total is published, so a lone hidden cell would be total − the rest.
    The smallest shown positive cell is hidden with it (Hundepool et al. 2012,
    Statistical Disclosure Control, §5.2: secondary suppression).
    """
    pos = np.nan_to_num(values, nan=0.0) > 0
    if (hidden & pos).sum() != 1:
        return hidden
    candidates = np.flatnonzero(~hidden & pos)
    if not len(candidates):
        return hidden
    hidden = hidden.copy()
    hidden[candidates[np.argmin(values[candidates])]] = True
    return hidden


def suppress_counts(numerator: Any, denominator: Any, *, k: int = 11, proportion: bool = True,
                    lines: bool = True, hide_denominator: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Which numerators and denominators of a table must be hidden.

    Parameters
    ----------
    numerator, denominator : array-like
        One entry per row (unit); ``numerator`` may be all missing (a mean has none).
    k : int, default 11
        Smallest count that may be shown; counts 1 to ``k − 1`` are hidden (CMS cell
        size suppression policy: no cell of 1-10). ``k = 1`` hides nothing. Zero is shown.
    proportion : bool, default True
        The numerator counts part of the denominator, so the complement
        (denominator − numerator) is a cell too and is protected the same way.
    lines : bool, default True
        The rows are units that add up to a published total: when exactly one
        positive numerator, denominator or complement is hidden, the next smallest is
        hidden as well (complementary suppression).
    hide_denominator : array of bool, optional
        Denominators already hidden (e.g. by another table sharing them).

    Returns
    -------
    hide_numerator, hide_denominator : ndarray of bool
        A hidden denominator always hides its numerator's rate; a rate is shown only
        when neither is hidden.

    Notes
    -----
    A hidden denominator hides the numerator too (a numerator ≤ a small denominator
    is small). Secondary suppression is the usual greedy heuristic, repeated until
    nothing changes; it protects each line but is not an optimal pattern.
    """
    k = _check_k(k)
    num = np.asarray(pd.to_numeric(pd.Series(numerator, dtype="object"), errors="coerce"), dtype=float)
    den = np.asarray(pd.to_numeric(pd.Series(denominator, dtype="object"), errors="coerce"), dtype=float)
    def small(x: np.ndarray) -> np.ndarray:  # NaN compares False: missing is never small
        return (x >= 1) & (x < k)

    hide_d = small(den) | (np.zeros(len(den), bool) if hide_denominator is None
                           else np.asarray(hide_denominator, dtype=bool))
    comp = den - num
    hide_n = small(num) | hide_d | (small(comp) if proportion else False)
    if not lines or k == 1:
        return hide_n, hide_d
    while True:
        before = (hide_n.copy(), hide_d.copy())
        hide_d = _line_secondary(den, hide_d)
        hide_n = _line_secondary(num, hide_n | hide_d)
        if proportion:  # the complement is known where both are shown
            hide_c = _line_secondary(comp, hide_n | hide_d)
            hide_n = hide_n | hide_c
        if np.array_equal(before[0], hide_n) and np.array_equal(before[1], hide_d):
            return hide_n, hide_d


# ------------------------------------------------------------------ intervals


def _wilson(num: np.ndarray, den: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (``proportion_confint(method="wilson")``: 33/50 → 0.5215-0.7756)."""
    ok = den > 0
    lo = np.full(len(num), np.nan)
    hi = np.full(len(num), np.nan)
    if ok.any():
        lo[ok], hi[ok] = proportion_confint(num[ok], den[ok], alpha=1 - level, method="wilson")
    return lo, hi


def _mean_ci(x: np.ndarray, level: float) -> tuple[float, float, float]:
    x = x[~np.isnan(x)]
    if not len(x):
        return np.nan, np.nan, np.nan
    m = float(x.mean())
    if len(x) < 2:
        return m, np.nan, np.nan
    half = stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return m, m - half, m + half


def _ratio_ci(y: np.ndarray, x: np.ndarray, level: float) -> tuple[float, float, float]:
    """Ratio Σy ÷ Σx over patients, with the linearised (Taylor) variance of a ratio
    estimator, so flares clustered within patients widen the interval (Cochran 1977,
    Sampling Techniques, §6.4)."""
    keep = (x > 0) & ~np.isnan(x) & ~np.isnan(y)
    y, x = y[keep], x[keep]
    if not len(x) or x.sum() == 0:
        return np.nan, np.nan, np.nan
    r = y.sum() / x.sum()
    n = len(x)
    if n < 2:
        return r, np.nan, np.nan
    se = math.sqrt(n / (n - 1) * np.sum((y - r * x) ** 2)) / x.sum()
    z = stats.norm.ppf((1 + level) / 2)
    return r, max(r - z * se, 0.0), r + z * se


# ------------------------------------------------------------------ KPIs


def _labels(cohort: Cohort, outcome: str) -> dict[str, tuple[str, str]]:
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
        "responder": (f"{spec.label} responders at week {week} (improved {words})", "Responders",
                      f"patients with a baseline and a week-{week} {name} score"),
        "responder_itt": (f"{spec.label} responders at week {week}, missing counted as not improved",
                          "Responders (missing = not improved)", due),
        "adherence": ("Mean adherence (sessions done ÷ prescribed, capped at 100 %)", "Adherence",
                      "patients with sessions prescribed"),
        "flares_per_100_sessions": ("Session flares per 100 sessions", "Flares per 100 sessions", "sessions done"),
        "consult_flags_per_patient": ("Stop-and-consult flags per patient", "Flags per patient", "patients"),
        "dropout": ("Dropped out", "Dropped out", "patients whose program has ended"),
        "fidelity": ("Level changes all followed the progression schedule", "Followed the schedule",
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
    y = col.to_numpy(dtype=float)
    x = sub["sessions_done"].to_numpy(dtype=float)
    r, lo, hi = _ratio_ci(y, x, level)
    return {"numerator": float(np.nansum(y)), "denominator": float(np.nansum(x)),
            "rate": r * 100, "ci_lower": lo * 100, "ci_upper": hi * 100,
            "_patients": float(np.sum(np.nan_to_num(x) > 0))}


def audit_kpis(cohort: Cohort, *, targets: AuditTargets = DEFAULT_TARGETS, by: str | None = None,
               k: int = 11, outcome: str = "leg_pain", level: float = 0.95) -> pd.DataFrame:
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
    outcome : str, default "leg_pain"
        The instrument for endpoint completion and responders.
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
    ind = patient_indicators(cohort, outcome=outcome)
    labels = _labels(cohort, outcome)
    has_sessions = cohort.sessions is not None
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
            if not available:
                why = ("not available: no sessions export" if not has_sessions
                       else "not available: no progression schedule file for these patients")
                rows.append({**row, "numerator": np.nan, "denominator": np.nan, "rate": np.nan,
                             "ci_lower": np.nan, "ci_upper": np.nan, "status": "not available", "note": why})
                continue
            values = _kpi_values(spec, sub, level)
            note = ""
            if spec.kpi == "consult_flags_per_patient" and not has_sessions:
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
    hide_rate = (hide_n & has_num) | hide_d
    frame.loc[hide_n, "numerator"] = np.nan
    frame.loc[hide_d, "denominator"] = np.nan
    frame.loc[hide_rate, ["rate", "ci_lower", "ci_upper"]] = np.nan
    frame["suppressed"] = (hide_n & has_num) | hide_d
    frame["suppressed_fields"] = [
        ", ".join(f for f, h in (("numerator", n and a), ("denominator", d), ("rate", r)) if h)
        for n, a, d, r in zip(hide_n, has_num, hide_d, hide_rate)]
    return frame


# ------------------------------------------------------------------ funnel plots


def _level_name(level: float) -> str:
    return f"{level * 100:g}".replace(".", "_")


def funnel_limits(p: float, n: Any, levels: Sequence[float] = (0.95, 0.998)) -> pd.DataFrame:
    """Exact binomial control limits for a proportion ``p`` at caseloads ``n``.

    Parameters
    ----------
    p : float
        The target (usually the overall) proportion, 0 ≤ p ≤ 1.
    n : int or array-like of int
        Denominators (≥ 1).
    levels : sequence of float, default (0.95, 0.998)
        Two-sided coverage of each pair of limits.

    Returns
    -------
    DataFrame
        ``n`` and, per level (named without the point, ``95``, ``99_8``), ``lower_95,
        upper_95, lower_99_8, upper_99_8``: proportions, clipped to [0, 1].

    Notes
    -----
    Spiegelhalter 2005, Stat Med 24:1185, appendix A.1.1: for the probability ``q``
    (``(1 − level) / 2`` for the lower limit, ``(1 + level) / 2`` for the upper),
    ``r = binom.ppf(q, n, p)`` is the smallest count with P(R ≤ r) ≥ q; the limit is
    interpolated between ``r − 1`` and ``r`` so the curve is smooth in ``n``:
    ``α = (P(R ≤ r) − q) / (P(R ≤ r) − P(R ≤ r − 1))``, limit = ``(r − α) / n``.
    Checked against the same formula in R (``qbinom``/``pbinom``,
    ``tests/reference/audit_funnel.R``).
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1:
        raise ValueError(f"p must be a proportion between 0 and 1, got {p!r}")
    n_arr = np.atleast_1d(np.asarray(n))
    if not len(n_arr) or not np.issubdtype(n_arr.dtype, np.number) or np.any(np.isnan(n_arr.astype(float))) \
            or np.any(n_arr < 1) or np.any(n_arr != np.round(n_arr)):
        raise ValueError(f"n must be whole numbers ≥ 1, got {n!r}")
    if isinstance(levels, (int, float)) or not len(levels):
        raise ValueError(f"levels must be a sequence of probabilities such as (0.95, 0.998), got {levels!r}")
    n_arr = n_arr.astype(float)
    out = {"n": n_arr.astype("int64")}
    for level in levels:
        level = _check_level(level, "levels")
        name = _level_name(level)
        for side, q in (("lower", (1 - level) / 2), ("upper", (1 + level) / 2)):
            r = stats.binom.ppf(q, n_arr, p)
            f_r = stats.binom.cdf(r, n_arr, p)
            f_below = stats.binom.cdf(r - 1, n_arr, p)
            step = f_r - f_below
            alpha = np.divide(f_r - q, step, out=np.zeros_like(step), where=step > 0)
            out[f"{side}_{name}"] = np.clip((r - alpha) / n_arr, 0.0, 1.0)
    return pd.DataFrame(out)


def funnel_data(cohort: Cohort, *, by: str = "site_id", kpi: str = "responder", k: int = 11,
                levels: Sequence[float] = (0.95, 0.998), target: float | None = None,
                outcome: str = "leg_pain") -> pd.DataFrame:
    """Each unit's rate against its caseload, with exact binomial control limits.

    Parameters
    ----------
    cohort : Cohort
    by : {"site_id", "clinician_id", "schedule"}, default "site_id"
    kpi : {"responder", "responder_itt", "prom_completion", "dropout", "fidelity"}
        A per-patient yes/no indicator of :func:`patient_indicators`.
    k : int, default 11
        Small-cell threshold; a unit whose count, complement or caseload is 1 to
        ``k − 1`` is suppressed (its numbers are missing and it is not plotted).
    levels : sequence of float, default (0.95, 0.998)
        The two pairs of limits: inner (alert) and outer (alarm).
    target : float, optional
        The proportion the limits are centred on; by default the overall rate of
        all units pooled.
    outcome : str, default "leg_pain"

    Returns
    -------
    DataFrame
        One row per unit, sorted by code: ``by, unit, n, events, rate,
        overall_rate``, the limits of :func:`funnel_limits` at ``n``,
        ``position`` (against the outer limits: "within", "above", "below"),
        ``position_inner`` (against the inner limits), ``suppressed``, ``kpi``,
        ``label``, ``short_label`` (for an axis) and ``denominator_label``. Positions are kept for suppressed units
        (they are what the audit is for) but no count or rate is. Units with no
        patient in the denominator have position "no data".

    Notes
    -----
    Spiegelhalter 2005, Stat Med 24:1185: a unit outside the 99.8 % limits is
    unlikely to differ by chance alone (about 1 in 500 would); between the 95 % and
    99.8 % limits about 1 in 20 units fall by chance. Rates are not adjusted for case
    mix here: see :func:`casemix_oe`.
    """
    _check_cohort(cohort)
    _check_by(by, allow_none=False)
    if kpi not in FUNNEL_KPIS:
        raise ValueError(f"kpi must be one of {', '.join(map(repr, FUNNEL_KPIS))}, got {kpi!r}")
    k = _check_k(k)
    if len(levels) != 2:
        raise ValueError(f"levels must be two probabilities (inner, outer), got {levels!r}")
    inner, outer = sorted(_check_level(x, "levels") for x in levels)
    ind = patient_indicators(cohort, outcome=outcome)
    col = ind[_FUNNEL_COLUMN[kpi]]
    g = pd.DataFrame({"unit": ind[by].astype(str), "x": col}).groupby("unit", sort=True)["x"]
    table = pd.DataFrame({"n": g.count().astype("int64"),
                          "events": g.sum(min_count=0).astype("int64")}).reset_index()
    total_n, total_e = int(table["n"].sum()), int(table["events"].sum())
    if target is None:
        overall = total_e / total_n if total_n else np.nan
    else:
        if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 <= target <= 1:
            raise ValueError(f"target must be a proportion between 0 and 1, got {target!r}")
        overall = float(target)
    table.insert(0, "by", by)
    table["rate"] = np.where(table["n"] > 0, table["events"] / table["n"].where(table["n"] > 0, 1), np.nan)
    table["overall_rate"] = overall
    names = [f"{side}_{_level_name(lv)}" for lv in (inner, outer) for side in ("lower", "upper")]
    has = table["n"] > 0
    for name in names:
        table[name] = np.nan
    if has.any() and not np.isnan(overall):
        lim = funnel_limits(overall, table.loc[has, "n"].to_numpy(), levels=(inner, outer))
        table.loc[has, names] = lim[names].to_numpy()
    table["position"] = _position(table, outer)
    table["position_inner"] = _position(table, inner)
    hide_n, hide_d = suppress_counts(table["events"], table["n"], k=k, proportion=True, lines=True)
    hidden = hide_n | hide_d
    table["suppressed"] = hidden
    table["n"] = table["n"].astype("Int64")
    table["events"] = table["events"].astype("Int64")
    table.loc[hide_d, "n"] = pd.NA
    table.loc[hidden, "events"] = pd.NA
    table.loc[hidden, ["rate"]] = np.nan
    # limits at a hidden n would reveal it
    table.loc[hide_d, names] = np.nan
    labels = _labels(cohort, outcome)[kpi]
    table["kpi"], table["label"], table["short_label"], table["denominator_label"] = kpi, *labels
    return table.reset_index(drop=True)


def _position(table: pd.DataFrame, level: float) -> list[str]:
    name = _level_name(level)
    lo, hi, rate = (table[f"lower_{name}"].to_numpy(dtype=float), table[f"upper_{name}"].to_numpy(dtype=float),
                    table["rate"].to_numpy(dtype=float))
    return ["no data" if np.isnan(r) or np.isnan(a) else "below" if r < a else "above" if r > b else "within"
            for r, a, b in zip(rate, lo, hi)]


# ------------------------------------------------------------------ case mix


#: Candidate case-mix covariates (Gozalo et al. 2016, Health Serv Res 51:768: intake
#: severity, age, symptom duration), as ``name -> (summary column, description)``.
_CASEMIX = {
    "baseline": ("{outcome}_baseline", "baseline {label} ({unit})"),
    "log_duration": ("symptom_duration_weeks", "symptom duration (log of weeks)"),
    "age": ("age_years", "age (years)"),
}


def casemix_model(cohort: Cohort, *, outcome: str = "leg_pain") -> ModelResult:
    """Logistic model of responder status on case mix, for expected responders.

    Parameters
    ----------
    cohort : Cohort
    outcome : str, default "leg_pain"
        Responder status at the endpoint of this instrument (complete case).

    Returns
    -------
    ModelResult
        ``name="casemix_logit"``, coefficients on the log-odds scale; ``data`` holds
        the patients fitted (``patient_id``, units, ``responder``, covariates,
        ``expected`` = predicted probability); ``meta`` has ``covariates`` (used)
        and ``unavailable`` (with the reason).

    Raises
    ------
    ValueError
        When no covariate is usable or fewer than 10 patients, or no responders
        and non-responders both, can be fitted.

    Notes
    -----
    Covariates: baseline severity (the outcome's baseline), symptom duration (log,
    as durations are right-skewed) and age, the intake factors outpatient
    rehabilitation registries adjust for (Gozalo et al. 2016, Health Serv Res
    51:768); sex, surgery history, comorbidity and fear-avoidance are not in the
    data contract. A covariate is left out when absent or constant; patients
    missing a used covariate are left out (a remark says how many). Binomial GLM by
    maximum likelihood (statsmodels, IRLS); with an intercept, the fitted
    probabilities sum to the observed responders, so O/E over everyone is 1.
    """
    import statsmodels.api as sm

    _check_cohort(cohort)
    _check_outcome(cohort, outcome)
    s = cohort.patient_summary
    spec = cohort.options.instruments[outcome]
    y = s[f"{outcome}_responder"].astype("boolean")
    data = s[[c for c in ("patient_id", *GROUPINGS) if c in s.columns]].copy()
    data["responder"] = y.astype("float64").to_numpy()
    used, unavailable, described = [], {}, []
    for name, (col, text) in _CASEMIX.items():
        col = col.format(outcome=outcome)
        if col not in s.columns:
            unavailable[name] = f"no {col} column"
            continue
        x = pd.to_numeric(s[col], errors="coerce").astype("float64")
        if name == "log_duration":
            x = np.log(x.where(x > 0))
        ok = x[data["responder"].notna()].dropna()
        if ok.nunique() < 2:
            unavailable[name] = f"{col} is missing or constant"
            continue
        data[name] = x.to_numpy()
        used.append(name)
        described.append(text.format(label=spec.label.lower(), unit=spec.unit))
    if not used:
        raise ValueError("casemix_model: none of baseline severity, symptom duration or age is usable "
                         f"({'; '.join(unavailable.values())})")
    fit_rows = data.dropna(subset=["responder", *used]).reset_index(drop=True)
    n_resp = int(fit_rows["responder"].sum())
    if len(fit_rows) < 10 or n_resp in (0, len(fit_rows)):
        raise ValueError(f"casemix_model needs at least 10 patients with responders and non-responders among "
                         f"them; got {len(fit_rows)} patients, {n_resp} responders")
    X = sm.add_constant(fit_rows[used].to_numpy(dtype=float), has_constant="add")
    X = pd.DataFrame(X, columns=["Intercept", *used])
    raw = sm.GLM(fit_rows["responder"].to_numpy(dtype=float), X, family=sm.families.Binomial()).fit()
    fit_rows["expected"] = np.asarray(raw.fittedvalues, dtype=float)
    assessed = int(data["responder"].notna().sum())
    remarks = [f"Covariates used: {', '.join(described)}."]
    if unavailable:
        remarks.append("Not used: " + "; ".join(f"{k} ({v})" for k, v in unavailable.items()) + ".")
    remarks.append("Sex, surgery history, comorbidity and fear-avoidance (Gozalo et al. 2016) are not in "
                   "the data contract, so they are not adjusted for.")
    if assessed - len(fit_rows):
        remarks.append(f"{assessed - len(fit_rows)} of {assessed} patients with a responder status were left "
                       "out for a missing covariate.")
    converged = bool(getattr(raw, "converged", True))
    if not converged:
        remarks.append("The fit did not converge: expected counts are unreliable.")
    formula = "responder ~ " + " + ".join(used)
    return ModelResult(
        name="casemix_logit",
        description=f"Log-odds of being a {spec.label.lower()} responder at week "
                    f"{cohort.options.endpoint_week} by case mix (for expected responders per unit).",
        table=coefficient_table(raw.params, raw.bse, raw.conf_int(), raw.pvalues),
        scale="log odds", formula=formula, method="maximum likelihood (binomial GLM, IRLS)",
        n_patients=len(fit_rows), n_observations=len(fit_rows), converged=converged,
        remarks=tuple(remarks),
        meta={"outcome": outcome, "covariates": used, "covariate_labels": described,
              "unavailable": unavailable, "duration_transform": "log"},
        raw=raw, data=fit_rows,
    )


def _byar(observed: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximation to the exact Poisson interval for an observed count
    (Breslow & Day 1987, Statistical Methods in Cancer Research II, p. 69)."""
    z = stats.norm.ppf((1 + level) / 2)
    o = observed.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(o > 0, o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3, 0.0)
    o1 = o + 1
    hi = o1 * (1 - 1 / (9 * o1) + z / (3 * np.sqrt(o1))) ** 3
    return lo, hi


def casemix_oe(cohort: Cohort, *, by: str | None = "site_id", model: ModelResult | None = None,
               k: int = 11, level: float = 0.95, outcome: str = "leg_pain") -> pd.DataFrame:
    """Observed ÷ expected responders per unit, expected from the case-mix model.

    Parameters
    ----------
    cohort : Cohort
    by : {"site_id", "clinician_id", "schedule", None}, default "site_id"
        None gives one row for everyone (O/E = 1 by construction).
    model : ModelResult, optional
        From :func:`casemix_model` (fitted once and shared between groupings);
        fitted here when not given.
    k : int, default 11
        Small-cell threshold for the observed count, its complement and ``n``.
    level : float, default 0.95
    outcome : str, default "leg_pain"

    Returns
    -------
    DataFrame
        ``by, unit, n`` (patients fitted), ``observed, expected, oe, ci_lower,
        ci_upper, observed_rate, expected_rate, adjusted_rate`` (O/E × the overall
        rate: indirect standardisation), ``position`` ("as expected",
        "more responders than expected", "fewer responders than expected": whether
        the interval excludes 1), ``suppressed``.

    Notes
    -----
    The interval treats the expected count as fixed and the observed as Poisson
    (Byar's approximation, Breslow & Day 1987); it ignores the model's own
    uncertainty, which is small beside a unit's when the units are many.
    """
    _check_cohort(cohort)
    _check_by(by, allow_none=True)
    k = _check_k(k)
    level = _check_level(level)
    if model is None:
        model = casemix_model(cohort, outcome=outcome)
    elif not isinstance(model, ModelResult) or model.data is None or "expected" not in model.data.columns:
        raise TypeError("model must be the ModelResult of casemix_model(), got "
                        f"{type(model).__name__}")
    d = model.data
    key = d[by].astype(str) if by else pd.Series("all patients", index=d.index)
    g = pd.DataFrame({"unit": key, "o": d["responder"], "e": d["expected"]}).groupby("unit", sort=True)
    t = pd.DataFrame({"n": g.size(), "observed": g["o"].sum(), "expected": g["e"].sum()}).reset_index()
    t.insert(0, "by", by or "all")
    o, e = t["observed"].to_numpy(dtype=float), t["expected"].to_numpy(dtype=float)
    lo, hi = _byar(o, level)
    t["oe"] = o / e
    t["ci_lower"], t["ci_upper"] = lo / e, hi / e
    t["observed_rate"] = o / t["n"]
    t["expected_rate"] = e / t["n"]
    overall = float(d["responder"].mean())
    t["adjusted_rate"] = t["oe"] * overall
    t["position"] = np.where(t["ci_lower"] > 1, "more responders than expected",
                             np.where(t["ci_upper"] < 1, "fewer responders than expected", "as expected"))
    hide_n, hide_d = suppress_counts(t["observed"], t["n"], k=k, proportion=True, lines=by is not None)
    t["n"] = t["n"].astype("Int64")
    t["observed"] = t["observed"].round().astype("Int64")
    t.loc[hide_d, "n"] = pd.NA
    t.loc[hide_n | hide_d, "observed"] = pd.NA
    t.loc[hide_n | hide_d, ["oe", "ci_lower", "ci_upper", "observed_rate", "adjusted_rate"]] = np.nan
    t.loc[hide_d, ["expected", "expected_rate"]] = np.nan
    t["suppressed"] = hide_n | hide_d
    return t.reset_index(drop=True)
