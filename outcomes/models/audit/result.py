"""The whole clinic audit computed once: `compute_audit` returns an `AuditResult` that reports only render.

Every table in the result is already privacy-safe: counts of 1 to ``k − 1`` are suppressed
(:func:`~outcomes.models.audit.suppress_counts`), free-text remarks have their small counts
masked (:func:`mask_small_counts`), and the data-quality summary quotes no identifier and no
failing value. The HTML/PDF, CSV, XLSX and JSON outputs of
:func:`outcomes.reports.audit.write_audit_report` are views of one `AuditResult`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ...cohort import Cohort
from ...io.dataset import Dataset
from ..results import ModelResult
from ._common import _check_outcome
from .casemix import casemix_model, casemix_oe
from .funnel import funnel_data
from .kpis import (DEFAULT_TARGETS, GROUPINGS, _INDICATORS, AuditTargets, audit_kpis, default_outcome,
                   present_groupings)
from .spc import spc_data
from .suppression import suppress_counts

__all__ = ["SUPPRESSED", "AuditResult", "cohort_table", "compute_audit", "mask_small_counts"]

#: What a suppressed cell shows in the CSV, XLSX and HTML outputs (JSON gives null and ``suppressed``).
SUPPRESSED = "suppressed"


# ------------------------------------------------------------------ Table 1


def _mean_sd(x: pd.Series, digits: int = 1) -> str:
    return f"{x.mean():.{digits}f} ({x.std(ddof=1):.{digits}f})" if len(x) > 1 else f"{x.mean():.{digits}f}"


def _median_iqr(x: pd.Series, digits: int = 1) -> str:
    q = x.quantile([0.25, 0.5, 0.75]).to_numpy()
    return f"{q[1]:.{digits}f} ({q[0]:.{digits}f}–{q[2]:.{digits}f})"


def cohort_table(cohort: Cohort, *, by: str = "schedule", k: int = 11, outcome: str | None = None) -> pd.DataFrame:
    """Table 1: who was treated, per unit and overall, with small cells suppressed.

    Parameters
    ----------
    cohort : Cohort
    by : {"schedule", "site_id", "clinician_id"}, default "schedule"
    k : int, default 11
        Small-cell threshold (:func:`outcomes.models.audit.suppress_counts`).

    Returns
    -------
    DataFrame
        Display text: ``characteristic`` then one column per unit and ``All
        patients``. Rows: patients; age, mean (SD); female, n (%); symptom duration,
        median (IQR); baseline leg pain and ODI, mean (SD), each over the patients
        with a value. A unit of fewer than ``k`` patients (or hidden so its size
        cannot be worked out from the total) shows :data:`SUPPRESSED` throughout;
        a summary over fewer than ``k`` values is suppressed too.
    """
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(map(repr, GROUPINGS))}, got {by!r}")
    s = cohort.patient_summary
    if by not in s.columns:
        raise ValueError(f"by={by!r}: the patients export has no {by} column")
    units = sorted(s[by].astype(str).unique())
    keys = s[by].astype(str)
    cols = [*units, "All patients"]
    n = np.array([int((keys == u).sum()) for u in units] + [len(s)], dtype=float)
    female = np.array([int(((keys == u) & s["sex"].eq("female")).sum()) for u in units]
                      + [int(s["sex"].eq("female").sum())], dtype=float) if "sex" in s.columns else None
    _, hide_du = suppress_counts(np.full(len(units), np.nan), n[:-1], k=k, proportion=False)
    hide_d = np.append(hide_du, n[-1] < k and n[-1] > 0)
    rows: list[list[str]] = [["Patients, n", *[SUPPRESSED if h else f"{int(v):,}" for v, h in zip(n, hide_d)]]]

    def summary_row(label: str, column: str, how: str, digits: int = 1) -> None:
        if column not in s.columns:
            return
        values = pd.to_numeric(s[column], errors="coerce").astype("float64")
        cells = []
        for i, unit in enumerate(cols):
            v = values[keys == unit].dropna() if unit != "All patients" else values.dropna()
            if hide_d[i] or len(v) < k:
                cells.append(SUPPRESSED if len(v) else "–")
            else:
                cells.append(_mean_sd(v, digits) if how == "mean" else _median_iqr(v, digits))
        rows.append([label, *cells])

    summary_row("Age, years: mean (SD)", "age_years", "mean")
    if female is not None:
        hn, _ = suppress_counts(female[:-1], n[:-1], k=k, proportion=True, hide_denominator=hide_du)
        hall, _ = suppress_counts(female[-1:], n[-1:], k=k, proportion=True, lines=False)
        hide_f = np.append(hn, hall)
        rows.append(["Female, n (%)", *[SUPPRESSED if h else f"{int(f):,} ({f / d:.0%})" if d else "–"
                                         for f, d, h in zip(female, n, hide_f | hide_d)]])
    summary_row("Symptom duration, weeks: median (IQR)", "symptom_duration_weeks", "median")
    for o in dict.fromkeys(("leg_pain", "odi") + ((outcome,) if outcome else ())):
        spec = cohort.options.instruments.get(o)
        if spec is not None:
            name = "ODI" if o == "odi" else spec.label.lower() if o == "leg_pain" else spec.label
            summary_row(f"Baseline {name}{', ' + spec.unit if spec.unit else ''}: mean (SD)", f"{o}_baseline",
                        "mean")
    return pd.DataFrame(rows, columns=["characteristic", *cols])


# ------------------------------------------------------------------ small counts in words and data quality


#: Words after a number that make it a count of people or records (and so a cell to suppress).
_COUNTED = re.compile(r"(?<![\w.,])(\d+)(?=\s+(?:of\s+\d+\s+)?(?:patient|participant|row|record|session|"
                      r"assessment|prescription|person|people|case|file row|value)s?\b|\s+patient\(s\)|"
                      r"\s+row\(s\)|\s+session\(s\)|\s+assessment\(s\))")


def mask_small_counts(text: str, k: int) -> str:
    """``text`` with every count of people or records from 1 to ``k − 1`` written as "fewer than k".

    A sentence such as "3 patient(s) have no baseline" would otherwise publish a small cell
    (CMS cell-size suppression rule); numbers that are not counts (weeks, days, points) stay.
    """
    if k <= 1:
        return text
    return _COUNTED.sub(lambda m: f"fewer than {k}" if 0 < int(m.group(1)) < k else m.group(1), text)


def _small(n: int, k: int) -> int | str:
    return SUPPRESSED if 0 < n < k else n


#: Each validation rule in plain words, for the audit (which never quotes a failing value or a code).
_RULE_WORDS = {
    "required": "a required value is empty", "enum": "a value is not one of those allowed",
    "pattern": "a code is not a valid code", "minimum/maximum": "a value is outside its allowed range",
    "maxLength": "a text is too long", "unique": "a key appears more than once",
    "duplicate_row": "an exact copy of another row", "foreign_key": "the patient is unknown or was quarantined",
    "enrolment_window": "dated outside the patient's enrolment", "date_order": "a date's day/month order is unsettled",
    "partial_date": "a date is incomplete", "plausible_date": "a date is implausible",
    "field_count": "the record has more fields than the header", "unclosed_quote": "a quote is never closed",
    "atLeastOneOf": "no outcome value at all", "discharged_before_enrolled": "discharged before enrolled",
}


def _quality(dataset: Dataset | None, *, k: int, top: int = 10) -> dict[str, Any] | None:
    """Reconciliation per export and the most frequent quarantine reasons, small counts suppressed.

    No identifier and no failing value is quoted: each reason is the rule in plain words. When a
    part of a file's reconciliation is a small count, every part is suppressed (the others would
    give it away by subtraction) and only the rows read and whether they add up are shown.
    """
    if dataset is None:
        return None
    recon, reasons = [], []
    for name, r in dataset.exports.items():
        parts = {"accepted": r.accepted, "quarantined": r.quarantined, "blank_skipped": r.blank_skipped}
        if any(0 < v < k for v in parts.values()):
            parts = {key: (SUPPRESSED if v else 0) for key, v in parts.items()}
        recon.append({"export": name, "file": r.path.name if r.path else None,
                      "rows_read": _small(r.rows_read, k), **parts,
                      "reconciles": bool(r.reconciles), "status": r.status,
                      "rejection": None if r.rejection is None else f"{r.rejection.reason} {r.rejection.hint}"})
        if r.errors is not None and len(r.errors):
            g = r.errors.groupby(["column", "rule"], sort=False).agg(rows=("line", "nunique")).reset_index()
            reasons += [{"export": name, "column": c, "rule": ru,
                         "meaning": _RULE_WORDS.get(ru.split(":")[0] if ru.startswith("type") else ru,
                                                    "the value is not of the column's type"
                                                    if ru.startswith("type") else ru),
                         "rows": int(n)}
                        for c, ru, n in zip(g["column"], g["rule"], g["rows"])]
    reasons.sort(key=lambda d: -d["rows"])
    for d in reasons:
        d["rows"] = _small(d["rows"], k)
    return {"reconciliation": recon, "reasons": reasons[:top], "n_reasons": len(reasons),
            "notes": [mask_small_counts(n, k) for n in dataset.notes]}


def _left_out(cohort: Cohort, groupings: tuple[str, ...]) -> list[str]:
    """One sentence per part of the audit the data cannot give."""
    out = []
    if "site_id" not in groupings:
        out.append("No site column: KPIs by site, the site funnel plot and the case-mix comparison of sites are "
                   "left out.")
    if "clinician_id" not in groupings:
        out.append("No clinician column: KPIs by clinician, the clinician funnel plot and the case-mix comparison "
                   "of clinicians are left out.")
    if "schedule" not in groupings:
        out.append("No schedule column: KPIs and tables by progression schedule are left out.")
    if cohort.sessions is None:
        out.append("No sessions export: adherence, flares, sessions after a red flag and progression fidelity are "
                   "left out, and flags come from the assessments alone.")
    if "discharged_on" not in cohort.patients.columns:
        out.append("No discharge data: who dropped out is not known, so dropout is left out (a missing endpoint "
                   "is reported as 'no endpoint').")
    return out


# ------------------------------------------------------------------ the result


@dataclass(frozen=True, repr=False)
class AuditResult:
    """Everything the clinic audit computed, small cells already suppressed.

    Attributes
    ----------
    cohort : Cohort
        The cohort audited.
    targets : AuditTargets
        The KPI targets used.
    k : int
        Small-cell threshold: counts 1 to ``k − 1`` are suppressed in every table.
    kpis : DataFrame
        Overall KPI rows (:func:`~outcomes.models.audit.audit_kpis`).
    kpis_by : dict of str to DataFrame
        KPI rows by each grouping the data has (``schedule``, ``site_id``, ``clinician_id``).
    funnels : dict of str to DataFrame
        Funnel tables by site and clinician (:func:`~outcomes.models.audit.funnel_data`).
    model : ModelResult or None
        The case-mix model, or None when it could not be fitted (``model_error`` says why).
    model_error : str or None
    oe : dict of str to DataFrame
        Observed ÷ expected by site and clinician (:func:`~outcomes.models.audit.casemix_oe`).
    tables : dict of str to DataFrame
        Table 1 by schedule and site (:func:`cohort_table`).
    quality : dict or None
        Reconciliation and quarantine reasons (None without the dataset).
    remarks, model_remarks : tuple of str
        The cohort's and the model's remarks, small counts masked.
    excluded : DataFrame
        The cohort's excluded-rows table, small counts suppressed.
    outcome : str
        The outcome of the responder and completion KPIs.
    spc : DataFrame
        Statistical process control rows (:func:`~outcomes.models.audit.spc_data`).
    left_out : tuple of str
        One sentence per part of the audit the data cannot give.
    levels : (float, float)
        Funnel limits (inner, outer).
    overdispersion : bool
        Whether the funnel limits were widened for overdispersion.
    """

    cohort: Cohort
    targets: AuditTargets
    k: int
    kpis: pd.DataFrame
    kpis_by: dict[str, pd.DataFrame]
    funnels: dict[str, pd.DataFrame]
    model: ModelResult | None
    model_error: str | None
    oe: dict[str, pd.DataFrame]
    tables: dict[str, pd.DataFrame]
    quality: dict[str, Any] | None
    remarks: tuple[str, ...] = ()
    excluded: pd.DataFrame = field(default_factory=pd.DataFrame)
    model_remarks: tuple[str, ...] = ()
    outcome: str = "leg_pain"
    spc: pd.DataFrame = field(default_factory=pd.DataFrame)
    left_out: tuple[str, ...] = ()
    levels: tuple[float, float] = (0.95, 0.998)
    overdispersion: bool = False

    def __repr__(self) -> str:
        return (f"AuditResult({len(self.cohort.patient_summary):,} patients as of {self.cohort.as_of.date()}, "
                f"outcome={self.outcome!r}, k={self.k}, {len(self.kpis)} KPIs, "
                f"groupings={list(self.kpis_by)})")


def compute_audit(cohort: Cohort, *, dataset: Dataset | None = None, targets: AuditTargets = DEFAULT_TARGETS,
                  k: int = 11, outcome: str | None = None, levels: tuple[float, float] = (0.95, 0.998),
                  overdispersion: bool = False, spc_period: str = "auto") -> AuditResult:
    """Compute every table of the clinic audit once: KPIs, funnels, case mix, SPC, Table 1, data quality.

    Parameters
    ----------
    cohort : Cohort
    dataset : Dataset, optional
        The validation result behind ``cohort``, for the data-quality part (None: ``quality`` is None).
    targets : AuditTargets, optional
        KPI targets (defaults and sources on :class:`~outcomes.models.audit.AuditTargets`).
    k : int, default 11
        Small-cell threshold: counts 1 to ``k − 1`` are suppressed (CMS cell-size rule); 1 turns it off.
    outcome : str, optional
        The outcome of the responder and completion KPIs (default leg pain, else the
        dataset's first outcome with change scores).
    levels : (float, float), default (0.95, 0.998)
        Funnel limits (inner, outer).
    overdispersion : bool, default False
        Widen the funnel limits for overdispersion (Spiegelhalter 2005).
    spc_period : {"auto", "month", "quarter"}
        Enrolment period of the SPC charts.

    Returns
    -------
    AuditResult
    """
    if not isinstance(cohort, Cohort):
        raise TypeError(f"cohort must be an outcomes.Cohort, got {type(cohort).__name__}")
    if dataset is not None and not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be an outcomes.Dataset or None, got {type(dataset).__name__}")
    if not isinstance(targets, AuditTargets):
        raise TypeError(f"targets must be an AuditTargets, got {type(targets).__name__}")
    levels = tuple(levels)  # type: ignore[assignment]
    token = _INDICATORS.set({})  # the per-patient indicators are computed once for every table below
    try:
        return _compute_audit(cohort, dataset=dataset, targets=targets, k=k, outcome=outcome, levels=levels,
                              overdispersion=overdispersion, spc_period=spc_period)
    finally:
        _INDICATORS.reset(token)


def _compute_audit(cohort: Cohort, *, dataset: Dataset | None, targets: AuditTargets, k: int, outcome: str | None,
                   levels: tuple[float, float], overdispersion: bool, spc_period: str) -> AuditResult:
    outcome = default_outcome(cohort) if outcome is None else outcome
    _check_outcome(cohort, outcome)
    groupings = present_groupings(cohort)
    kpis = audit_kpis(cohort, targets=targets, k=k, outcome=outcome)
    kpis_by = {by: audit_kpis(cohort, targets=targets, by=by, k=k, outcome=outcome) for by in groupings}
    units = [by for by in ("site_id", "clinician_id") if by in groupings]
    funnels = {by: funnel_data(cohort, by=by, k=k, outcome=outcome, levels=levels, overdispersion=overdispersion)
               for by in units}
    model, error, oe = None, None, {}
    try:
        model = casemix_model(cohort, outcome=outcome)
        oe = {by: casemix_oe(cohort, by=by, model=model, k=k, outcome=outcome) for by in units}
    except ValueError as exc:
        error = str(exc)
    tables = {by: cohort_table(cohort, by=by, k=k, outcome=outcome) for by in ("schedule", "site_id")
              if by in groupings}
    excluded = cohort.excluded.copy()
    if "rows" in excluded.columns:
        excluded["rows"] = [_small(int(n), k) for n in excluded["rows"]]
    spc = spc_data(cohort, k=k, outcome=outcome, period=spc_period)
    return AuditResult(cohort=cohort, targets=targets, k=k, kpis=kpis, kpis_by=kpis_by, funnels=funnels,
                       model=model, model_error=error, oe=oe, tables=tables, quality=_quality(dataset, k=k),
                       remarks=tuple(mask_small_counts(r, k) for r in cohort.remarks), excluded=excluded,
                       model_remarks=tuple(mask_small_counts(r, k) for r in (model.remarks if model is not None
                                                                             else ())),
                       outcome=outcome, spc=spc, left_out=tuple(_left_out(cohort, groupings)), levels=levels,
                       overdispersion=overdispersion)
