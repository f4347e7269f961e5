"""The clinic audit report: HTML and PDF from one template, KPI tables as CSV, XLSX and JSON.

``write_audit_report(cohort, out_dir)`` writes, atomically inside ``out_dir``:

``audit.html``
    self-contained (figures embedded as data URIs), every text from the data escaped;
``audit.pdf``
    the same page rendered by WeasyPrint;
``kpis.csv`` / ``kpis.xlsx`` / ``kpis.json``
    every KPI row (overall and by schedule, site and clinician), the funnel and
    observed ÷ expected tables; text cells neutralised against formula injection.

Small cells (counts 1 to ``k − 1``) are suppressed in every output (see
:func:`outcomes.models.audit.suppress_counts`).
"""

from __future__ import annotations

import io
import re
import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..io.dataset import Dataset
from ..io.writers import (
    atomic_write_bytes,
    atomic_write_text,
    frame_to_csv_text,
    neutralise_formulas,
    output_path,
    prepare_out_dir,
)
from ..models.audit import (
    DEFAULT_TARGETS,
    GROUPINGS,
    KPIS,
    AuditTargets,
    audit_kpis,
    casemix_model,
    casemix_oe,
    default_outcome,
    funnel_data,
    present_groupings,
    spc_data,
    suppress_counts,
)
from ..models.audit._common import _check_outcome
from ..models.results import ModelResult
from ._html import (
    definitions,
    figure_data_uri,
    html_to_pdf,
    provenance_footer,
    render,
    write_html,
)

__all__ = ["SUPPRESSED", "audit_document", "audit_headline", "cohort_table", "write_audit_report"]

#: What a suppressed cell shows in the CSV, XLSX and HTML outputs (JSON gives null and ``suppressed``).
SUPPRESSED = "suppressed"
_NO_SESSIONS = "not available: no sessions export"
_UNIT_WORDS = {"site_id": "site", "clinician_id": "clinician", "schedule": "schedule"}
#: Units per table in the HTML/PDF (wider tables do not fit an A4 page).
_COLUMNS = 6
#: Most bars drawn in the waterfall (matplotlib draws one patch per bar: 15,000 take ~15 s).
_WATERFALL_BARS = 2000


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


# ------------------------------------------------------------------ computing everything once


@dataclass
class _Audit:
    cohort: Cohort
    targets: AuditTargets
    k: int
    kpis: pd.DataFrame                      # overall
    kpis_by: dict[str, pd.DataFrame]        # by grouping
    funnels: dict[str, pd.DataFrame]
    model: ModelResult | None
    model_error: str | None
    oe: dict[str, pd.DataFrame]
    tables: dict[str, pd.DataFrame]
    quality: dict[str, Any] | None
    remarks: list[str] = field(default_factory=list)
    excluded: pd.DataFrame = field(default_factory=pd.DataFrame)
    model_remarks: list[str] = field(default_factory=list)
    outcome: str = "leg_pain"
    spc: pd.DataFrame = field(default_factory=pd.DataFrame)
    left_out: list[str] = field(default_factory=list)
    levels: tuple[float, float] = (0.95, 0.998)
    overdispersion: bool = False


def _compute(cohort: Cohort, *, dataset: Dataset | None, targets: AuditTargets, k: int,
             outcome: str | None = None, levels: tuple[float, float] = (0.95, 0.998),
             overdispersion: bool = False, spc_period: str = "auto") -> _Audit:
    if not isinstance(cohort, Cohort):
        raise TypeError(f"cohort must be an outcomes.Cohort, got {type(cohort).__name__}")
    if dataset is not None and not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be an outcomes.Dataset or None, got {type(dataset).__name__}")
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
    return _Audit(cohort=cohort, targets=targets, k=k, kpis=kpis, kpis_by=kpis_by, funnels=funnels, model=model,
                  model_error=error, oe=oe, tables=tables, quality=_quality(dataset, k=k),
                  remarks=[mask_small_counts(r, k) for r in cohort.remarks], excluded=excluded,
                  model_remarks=[mask_small_counts(r, k) for r in (model.remarks if model is not None else ())],
                  outcome=outcome, spc=spc, left_out=_left_out(cohort, groupings), levels=levels,
                  overdispersion=overdispersion)


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


def audit_headline(cohort: Cohort, *, dataset: Dataset | None = None, targets: AuditTargets = DEFAULT_TARGETS,
                   k: int = 11, outcome: str | None = None) -> list[str]:
    """A few lines for the terminal: verdicts, STOP AND CONSULT, red-flag signals, outliers, trends."""
    return _headline(_compute(cohort, dataset=dataset, targets=targets, k=k, outcome=outcome))


def _headline(a: _Audit) -> list[str]:
    c = a.cohort
    v = a.kpis
    avail = v[v["status"] != "not available"]
    counts = avail["status"].value_counts()
    lines = [f"Audit of {len(c.patient_summary):,} patients as of {c.as_of.date()}: {counts.get('met', 0)} of "
             f"{len(avail)} indicators met their target, {counts.get('not met', 0)} not met"
             + (f", {counts.get('too few to say', 0)} too few to say" if counts.get("too few to say", 0) else "")
             + "."]
    by_kpi = v.set_index("kpi")
    if "active_flag" in by_kpi.index:
        r = by_kpi.loc["active_flag"]
        what = (f"{_fmt_rate(r['rate'], 'proportion')} of patients" if pd.notna(r["rate"])
                else "a suppressed number of patients")
        lines.append(f"STOP AND CONSULT (an active flag or a red flag): {what} (target at most "
                     f"{_fmt_rate(r['target'], 'proportion', 0)}).")
    if "sessions_after_red_flag" in by_kpi.index and by_kpi.loc["sessions_after_red_flag", "status"] == "not met":
        r = by_kpi.loc["sessions_after_red_flag"]
        n = "some" if pd.isna(r["numerator"]) else f"{int(r['numerator']):,}"
        lines.append(f"Safety signal: {n} glide sessions were logged after a red flag (see the KPI table).")
    for by, f in a.funnels.items():
        out = f[f["position"].isin(["above", "below"])]
        if len(out):
            lines.append(f"Outside the {a.levels[1] * 100:g} % funnel limits for responders: " + ", ".join(
                f"{_UNIT_WORDS[by]} {u} ({p})" for u, p in zip(out["unit"], out["position"])) + ".")
    if len(a.spc):
        sig = a.spc[a.spc["signal"].fillna("") != ""]
        shown = a.spc[~a.spc["suppressed"]].groupby("kpi").size()
        charted = int((shown >= 2).sum())
        gone = a.spc["kpi"].nunique() - charted
        period = a.spc.attrs.get("period", "period")
        what = (f"signals in {', '.join(dict.fromkeys(sig['label']))}" if len(sig)
                else f"no signal in the {charted} chart{'s' if charted != 1 else ''} that could be shown")
        hidden = f"; {gone} more suppressed at k = {a.k} (--min-cell)" if gone else ""
        lines.append(f"Change over time (SPC, by {period} of enrolment): {what}{hidden}.")
    lines += [f"Left out: {x}" for x in a.left_out]
    return lines


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


# ------------------------------------------------------------------ JSON


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: missing → None, numpy scalars → Python."""
    out = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for key, v in row.items():
            if v is None or (not isinstance(v, (list, dict, str)) and pd.isna(v)):
                clean[key] = None
            elif isinstance(v, (np.integer,)):
                clean[key] = int(v)
            elif isinstance(v, (np.floating, float)):
                clean[key] = float(v) if math.isfinite(v) else None
            elif isinstance(v, (np.bool_,)):
                clean[key] = bool(v)
            else:
                clean[key] = v
        out.append(clean)
    return out


def _document(a: _Audit, outputs: dict[str, str] | None) -> dict[str, Any]:
    c = a.cohort
    model = None
    if a.model is not None:
        model = {**a.model.describe(), "coefficients": _records(a.model.to_frame())}
    return {
        "report": "audit",
        "as_of": str(c.as_of.date()),
        "patients": len(c.patient_summary) if len(c.patient_summary) >= a.k or not len(c.patient_summary)
        else None,
        "k": a.k,
        "suppression": f"counts of 1 to {a.k - 1} are null with suppressed = true; so are counts that "
                       "could be worked out from a total",
        "targets": {name: {"value": value, "source": a.targets.sources()[name]}
                    for name, value in asdict(a.targets).items()},
        "kpis": _records(a.kpis),
        "kpis_by": {by: _records(f) for by, f in a.kpis_by.items()},
        "funnel": {by: _records(f) for by, f in a.funnels.items()},
        "casemix": {"model": model, "error": a.model_error,
                    "observed_expected": {by: _records(f) for by, f in a.oe.items()}},
        "cohort_tables": {by: _records(t) for by, t in a.tables.items()},
        "spc": _records(a.spc[["table", "kpi", "period", "value", "center", "lower", "upper", "signal", "n",
                               "suppressed"]]) if len(a.spc) else [],
        "spc_period": a.spc.attrs.get("period"),
        "outcome": a.outcome,
        "headline": _headline(a),
        "left_out": list(a.left_out),
        "funnel_levels": list(a.levels),
        "funnel_overdispersion": a.overdispersion,
        "data_quality": a.quality,
        "remarks": list(a.remarks),
        "excluded": _records(a.excluded),
        "outputs": outputs or {},
        "provenance": c.provenance,
    }


def audit_document(cohort: Cohort, *, dataset: Dataset | None = None, targets: AuditTargets = DEFAULT_TARGETS,
                   k: int = 11, outputs: dict[str, str] | None = None, outcome: str | None = None) -> dict[str, Any]:
    """The JSON document of ``outcomes audit --format json``.

    Parameters
    ----------
    cohort : Cohort
    dataset : Dataset, optional
        The validation result, for the data-quality part (None: ``data_quality`` is null).
    targets : AuditTargets, optional
    k : int, default 11
        Small-cell threshold.
    outputs : dict, optional
        Paths written, to list in the document.

    Returns
    -------
    dict
        ``report, as_of, patients, k, suppression, targets`` (value and source),
        ``kpis`` (overall rows of :func:`outcomes.models.audit.audit_kpis`), ``kpis_by``
        (by ``site_id``, ``clinician_id``, ``schedule``), ``funnel`` and
        ``casemix.observed_expected`` (by site and clinician), ``casemix.model``
        (description and coefficients, log odds), ``cohort_tables``,
        ``data_quality``, ``remarks``, ``excluded``, ``outputs``, ``provenance``,
        ``headline`` (the lines ``outcomes audit`` prints), ``spc`` (rows ``{"table": "spc", "kpi", "period", "value", "center", "lower",
        "upper", "signal", "n", "suppressed"}``), ``spc_period``, ``outcome``, ``left_out``
        (one sentence per part the data cannot give), ``funnel_levels``,
        ``funnel_overdispersion``. Suppressed numbers are null.
    """
    return _document(_compute(cohort, dataset=dataset, targets=targets, k=k, outcome=outcome), outputs)


# ------------------------------------------------------------------ flat tables (CSV / XLSX)


def _kpi_table(a: _Audit) -> pd.DataFrame:
    """Every KPI row, overall first, suppressed numbers shown as :data:`SUPPRESSED`."""
    overall = a.kpis.assign(by="all", group="all patients")
    frame = pd.concat([overall, *a.kpis_by.values()], ignore_index=True)
    return _marked(frame[["by", "group", *a.kpis.columns]])


def _marked(frame: pd.DataFrame) -> pd.DataFrame:
    """Suppressed cells as the marker text (numbers elsewhere unchanged)."""
    out = frame.copy()
    if "suppressed_fields" in out.columns:
        fields_ = out["suppressed_fields"].fillna("")
        for col, key in (("numerator", "numerator"), ("denominator", "denominator"), ("rate", "rate"),
                         ("ci_lower", "rate"), ("ci_upper", "rate")):
            hit = fields_.str.contains(key).to_numpy()
            out[col] = out[col].astype(object)
            out.loc[hit, col] = SUPPRESSED
    elif "suppressed" in out.columns:
        hit = out["suppressed"].astype(bool).to_numpy()
        for col in ("n", "events", "rate", "observed", "oe", "ci_lower", "ci_upper", "observed_rate",
                    "adjusted_rate", "expected", "expected_rate"):
            if col in out.columns:
                out[col] = out[col].astype(object)
                out.loc[hit & out[col].isna().to_numpy(), col] = SUPPRESSED
    return out


def _sheets(a: _Audit) -> dict[str, pd.DataFrame]:
    sheets = {"KPIs": _kpi_table(a)}
    for by, f in a.funnels.items():
        sheets[f"Funnel by {_UNIT_WORDS[by]}"] = _marked(f)
    for by, f in a.oe.items():
        sheets[f"O-E by {_UNIT_WORDS[by]}"] = _marked(f)
    for by, t in a.tables.items():
        sheets[f"Cohort by {_UNIT_WORDS[by]}"] = t
    if len(a.spc):
        spc = a.spc.copy()
        spc["value"] = spc["value"].astype(object).where(~spc["suppressed"], SUPPRESSED)
        sheets["KPIs over time"] = spc
    if a.quality is not None:
        sheets["Data quality"] = pd.DataFrame(a.quality["reconciliation"])
        if a.quality["reasons"]:
            sheets["Quarantine reasons"] = pd.DataFrame(a.quality["reasons"])
    notes = [*a.remarks, *a.model_remarks]
    sheets["Notes"] = pd.DataFrame({"note": notes or ["(none)"]})
    return sheets


def _xlsx_bytes(sheets: dict[str, pd.DataFrame]) -> bytes:
    """An XLSX workbook of ``sheets``; every text cell neutralised against formulas."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        for name, frame in sheets.items():
            safe = neutralise_formulas(frame.astype(object).where(frame.notna(), None))
            safe.to_excel(xw, sheet_name=name[:31], index=False)
            ws = xw.sheets[name[:31]]
            for row in ws.iter_rows():
                for cell in row:  # openpyxl writes any str beginning with "=" as a formula
                    if isinstance(cell.value, str) and cell.data_type == "f":
                        cell.value, cell.data_type = "'" + cell.value, "s"
            for col_cells in ws.columns:
                width = max((len(str(c.value)) for c in col_cells if c.value is not None), default=8)
                ws.column_dimensions[col_cells[0].column_letter].width = min(max(width + 2, 8), 60)
    return buf.getvalue()


# ------------------------------------------------------------------ HTML


def _fmt_rate(value: Any, unit: str, digits: int | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if unit in ("proportion", "mean proportion"):
        return f"{float(value) * 100:.{0 if digits is None else digits}f} %"
    if unit == "sessions":
        return f"{float(value):,.0f}"
    return f"{float(value):.{1 if digits is None else digits}f}"


def _fmt_count(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else f"{int(value):,}"


def _kpi_view(row: pd.Series, *, with_target: bool = True) -> dict[str, Any]:
    """One KPI row as display strings."""
    fields_ = row.get("suppressed_fields") or ""
    unit = row["unit"]
    status = row["status"]
    if status == "not available":
        result = "–"
    elif "rate" in fields_:
        result = SUPPRESSED
    else:
        ci = (f" ({_fmt_rate(row['ci_lower'], unit)} to {_fmt_rate(row['ci_upper'], unit)})"
              if not pd.isna(row["ci_lower"]) else "")
        result = _fmt_rate(row["rate"], unit) + ci
    num = SUPPRESSED if "numerator" in fields_ else _fmt_count(row["numerator"])
    den = SUPPRESSED if "denominator" in fields_ else _fmt_count(row["denominator"])
    if status == "not available":
        counts = "–"
    elif unit == "proportion":
        counts = f"{num} of {den} {row['denominator_label']}"
    elif unit == "mean proportion":
        counts = f"mean over {den} {row['denominator_label']}"
    elif unit == "per 100 sessions":
        counts = f"{num} flares in {den} {row['denominator_label']}"
    elif unit == "sessions":
        counts = f"{num} sessions; {row['denominator_label']}: {den}"
    else:
        counts = f"{num} flags in {den} {row['denominator_label']}"
    comparator = "≥" if row["direction"] == "higher is better" else "≤"
    target = _fmt_rate(row["target"], unit, 0 if unit != "per 100 sessions" and unit != "per patient" else 1)
    return {"kpi": row["kpi"], "label": row["label"], "result": result, "counts": counts, "num": num, "den": den,
            "target": f"{comparator} {target}", "status": status, "note": row.get("note") or "",
            "method": row["method"], "target_source": row["target_source"]}


def _kpi_matrix(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """KPIs × units, in tables of at most six units (so a page can hold them): each cell the
    rate, its numerator/denominator and the verdict, or the marker."""
    units = list(dict.fromkeys(frame["group"]))
    rows = []
    for kpi, sub in frame.groupby("kpi", sort=False):
        if sub["status"].eq("not available").all():
            continue
        cells = []
        for _, r in sub.iterrows():
            v = _kpi_view(r)
            num, den = v["num"], v["den"]
            if v["status"] == "not available":
                detail = ""
            elif v["result"] == SUPPRESSED:
                detail = "" if den == SUPPRESSED else f"of {den}"
            elif r["unit"] == "proportion":
                detail = f"{num} / {den}"
            elif r["unit"] == "per 100 sessions":
                detail = f"{num} / {den} sessions"
            elif r["unit"] == "per patient":
                detail = f"{num} flags / {den} patients"
            elif r["unit"] == "sessions":
                detail = f"patients with a red flag: {den}"
            else:
                detail = f"{den} patients"
            rate = v["result"].split(" (")[0] if v["result"] != SUPPRESSED else SUPPRESSED
            cells.append({"rate": rate, "detail": detail, "status": v["status"]})
        first = sub.iloc[0]
        rows.append({"label": first["label"], "target": _kpi_view(first)["target"], "cells": cells})
    return [{"units": units[i:i + _COLUMNS], "rows": [{**r, "cells": r["cells"][i:i + _COLUMNS]} for r in rows]}
            for i in range(0, len(units), _COLUMNS)]


def _chunks(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Table 1 in tables of at most six units, each ending with the "All patients" column."""
    units = list(table.columns[1:-1])
    out = []
    for i in range(0, max(len(units), 1), _COLUMNS):
        cols = [*units[i:i + _COLUMNS], table.columns[-1]]
        out.append({"columns": cols, "rows": table[["characteristic", *cols]].values.tolist()})
    return out


def _funnel_view(frame: pd.DataFrame) -> list[dict[str, str]]:
    lims = [c.removeprefix("lower_") for c in frame.columns if c.startswith("lower_")]
    inner, outer = (sorted(lims, key=lambda x: float(x.replace("_", "."))) + ["95", "99_8"])[:2]
    name = {x: f"{x.replace('_', '.')} %" for x in (inner, outer)}
    rows = []
    for _, r in frame.iterrows():
        hidden = bool(r["suppressed"])
        pos, inner_pos = r["position"], r["position_inner"]
        words = (f"outside the {name[outer]} limits (" + pos + ")" if pos in ("above", "below") else
                 f"outside the {name[inner]} limits (" + inner_pos + ")" if inner_pos in ("above", "below") else
                 "no patients in the denominator" if pos == "no data" else "within the limits")

        def limits(x: str) -> str:
            lo, hi = r.get(f"lower_{x}"), r.get(f"upper_{x}")
            return "–" if lo is None or pd.isna(lo) else f"{_fmt_rate(lo, 'proportion')} to {_fmt_rate(hi, 'proportion')}"

        rows.append({"unit": str(r["unit"]),
                     "n": SUPPRESSED if pd.isna(r["n"]) else _fmt_count(r["n"]),
                     "events": SUPPRESSED if hidden and pd.isna(r["events"]) else _fmt_count(r["events"]),
                     "rate": SUPPRESSED if hidden else _fmt_rate(r["rate"], "proportion"),
                     "limits95": limits(inner), "limits998": limits(outer),
                     "position": words, "flag": pos in ("above", "below") or inner_pos in ("above", "below")})
    return rows


def _oe_view(frame: pd.DataFrame) -> list[dict[str, str]]:
    rows = []
    for _, r in frame.iterrows():
        hidden = bool(r["suppressed"])
        rows.append({"unit": str(r["unit"]),
                     "n": SUPPRESSED if pd.isna(r["n"]) else _fmt_count(r["n"]),
                     "observed": SUPPRESSED if pd.isna(r["observed"]) else _fmt_count(r["observed"]),
                     "expected": SUPPRESSED if pd.isna(r["expected"]) else f"{r['expected']:.1f}",
                     "oe": SUPPRESSED if hidden else f"{r['oe']:.2f} ({r['ci_lower']:.2f} to {r['ci_upper']:.2f})",
                     "adjusted": SUPPRESSED if hidden else _fmt_rate(r["adjusted_rate"], "proportion"),
                     "position": r["position"], "flag": r["position"] != "as expected"})
    return rows


def _figures(a: _Audit) -> dict[str, str | None]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from ..plotting.audit import plot_funnel, plot_outcome_distributions, plot_spc
    from ..plotting.cohort import plot_waterfall

    c = a.cohort
    figs: dict[str, str | None] = {}
    for by, frame in a.funnels.items():
        if frame["suppressed"].all():
            figs[f"funnel_{by}"] = None  # nothing can be plotted: one sentence says so
            continue
        fig = Figure(figsize=(7.0, 4.6), layout="constrained")
        plot_funnel(frame, ax=fig.add_subplot())
        figs[f"funnel_{by}"] = figure_data_uri(fig, fmt="svg")
    charts = [g for _, g in a.spc.groupby("kpi", sort=False) if g["value"].notna().sum() >= 2] if len(a.spc) else []
    if charts:
        rows = math.ceil(len(charts) / 2)
        fig = Figure(figsize=(7.0, 2.1 * rows), layout="constrained")
        for i, g in enumerate(charts):
            plot_spc(g, ax=fig.add_subplot(rows, 2, i + 1))
        figs["spc"] = figure_data_uri(fig, fmt="svg")
    else:
        figs["spc"] = None
    s = c.patient_summary
    outcomes = [o for o in dict.fromkeys((a.outcome, "odi")) if f"{o}_baseline" in s.columns]
    if outcomes:
        fig = Figure(figsize=(7.0, 3.2), layout="constrained")
        for i, o in enumerate(outcomes):
            plot_outcome_distributions(s, outcome=o, min_n=a.k, options=c.options,
                                       ax=fig.add_subplot(1, len(outcomes), i + 1))
        figs["distributions"] = figure_data_uri(fig, fmt="png", dpi=130)
    else:
        figs["distributions"] = None
    o = a.outcome
    change = pd.to_numeric(s[f"{o}_change"], errors="coerce") if f"{o}_change" in s.columns else None
    if change is not None and change.notna().sum() >= a.k:
        fig = Figure(figsize=(7.0, 3.2), layout="constrained")
        ax = fig.add_subplot()
        shown = s.loc[change.notna().to_numpy()]
        if len(shown) > _WATERFALL_BARS:  # evenly spaced ranks keep the shape; one bar per patient is slow
            order = np.argsort(change[change.notna()].to_numpy(), kind="stable")
            pick = order[np.unique(np.linspace(0, len(order) - 1, _WATERFALL_BARS).round().astype(int))]
            plot_waterfall(shown.iloc[pick], outcome=o, options=c.options, ax=ax)
            ax.set_xlabel(f"Patients, sorted by change (n = {len(shown):,}; {len(pick):,} evenly spaced "
                          "ranks drawn)")
        else:
            plot_waterfall(shown, outcome=o, options=c.options, ax=ax)
        figs["waterfall"] = figure_data_uri(fig, fmt="png", dpi=130)
    else:
        figs["waterfall"] = None
    return figs


def _spc_view(a: _Audit) -> dict[str, Any]:
    """What the SPC section says: the period, and per KPI its signals in words (or none)."""
    if not len(a.spc):
        return {"period": None, "rows": [], "hidden": 0}
    rows = []
    for kpi, g in a.spc.groupby("kpi", sort=False):
        shown = g[~g["suppressed"]]
        sig = shown[shown["signal"].fillna("") != ""]
        rows.append({"label": g["label"].iloc[0], "chart": "p-chart" if g["chart"].iloc[0] == "p" else "XmR chart",
                     "periods": len(shown), "of": len(g),
                     "signals": ("every period suppressed (a count below k; see --min-cell)" if not len(shown) else
                                 "too few periods shown to judge" if len(shown) < 2 else
                                 "; ".join(f"{p}: {t}" for p, t in zip(sig["period"], sig["signal"]))
                                 or "no signal")})
    return {"period": a.spc.attrs.get("period"), "rows": rows, "hidden": int(a.spc["suppressed"].sum())}


def _context(a: _Audit, figures: dict[str, str | None]) -> dict[str, Any]:
    c = a.cohort
    s = c.patient_summary
    views = [_kpi_view(r) for _, r in a.kpis.iterrows()]
    available = [v for v in views if v["status"] != "not available"]
    missing = [v for v in views if v["status"] == "not available"]
    reasons = sorted({a.kpis.loc[a.kpis["kpi"] == v["kpi"], "note"].iloc[0] for v in missing})
    counts = {st: sum(v["status"] == st for v in available) for st in ("met", "not met", "too few to say")}
    outside = {by: [r for r in _funnel_view(f) if r["flag"]] for by, f in a.funnels.items()}
    period = (f"{s['enrolled_on'].min():%Y-%m-%d} to {s['enrolled_on'].max():%Y-%m-%d}" if len(s) else "–")
    specs = {spec.kpi: spec for spec in KPIS}
    targets = [{"name": name.replace("_", " "), "value": _fmt_rate(value, specs[name].unit, 0 if
                                                                   "proportion" in specs[name].unit else 1),
                "direction": "at least" if specs[name].higher_is_better else "at most",
                "source": a.targets.sources()[name]}
               for name, value in asdict(a.targets).items()]
    model = None
    if a.model is not None:
        t = a.model.to_frame()
        labels = dict(zip(a.model.meta["covariates"], a.model.meta["covariate_labels"]))
        model = {"n": a.model.n_patients, "formula": a.model.formula, "method": a.model.method,
                 "covariates": ", ".join(a.model.meta["covariate_labels"]),
                 "remarks": list(a.model_remarks),
                 "terms": [{"term": labels.get(r.term, "intercept (odds at zero)"),
                            "or": f"{math.exp(r.estimate):.2f}",
                            "ci": f"{math.exp(r.ci_lower):.2f} to {math.exp(r.ci_upper):.2f}",
                            "p": f"{r.p_value:.3f}" if r.p_value >= 0.001 else "< 0.001"}
                           for r in t.itertuples()]}
    tables = {by: _chunks(t) for by, t in a.tables.items()}
    return {
        "title": "Clinic audit: sciatic nerve glide home-exercise program",
        "as_of": str(c.as_of.date()),
        "period": period,
        "n_patients": _fmt_count(len(s)) if len(s) >= a.k else SUPPRESSED,
        "k": a.k,
        "endpoint_week": c.options.endpoint_week,
        "kpis": available,
        "not_available": [v["label"] for v in missing],
        "not_available_reason": "; ".join(reasons),
        "counts": counts,
        "kpi_by": {by: {"chunks": _kpi_matrix(a.kpis_by[by]),
                        "all_hidden": bool(a.kpis_by[by].loc[a.kpis_by[by]["status"] != "not available",
                                                             "suppressed"].all())}
                   for by in ("schedule", "site_id") if by in a.kpis_by},
        "kpi_by_clinician_note": (len(a.kpis_by["clinician_id"]["group"].unique()) if "clinician_id" in a.kpis_by
                                  else 0),
        "left_out": list(a.left_out),
        "headline": _headline(a),
        "outcome_label": c.options.instruments[a.outcome].label,
        "spc": _spc_view(a),
        "levels": [f"{x * 100:g} %" for x in a.levels],
        "overdispersion": a.overdispersion,
        "funnels": {by: {"figure": figures.get(f"funnel_{by}"), "rows": _funnel_view(f),
                         "all_hidden": bool(f["suppressed"].all()) and len(f) > 0,
                         "tau2": float(f["tau2"].iloc[0]) if len(f) and "tau2" in f.columns else float("nan"),
                         "phi": float(f["phi"].iloc[0]) if len(f) and "phi" in f.columns else float("nan"),
                         "outside": outside[by], "word": _UNIT_WORDS[by],
                         "hidden": int(f["suppressed"].sum()), "total": len(f),
                         "overall": _fmt_rate(f["overall_rate"].iloc[0], "proportion") if len(f) else "–",
                         "label": f["label"].iloc[0] if len(f) else "",
                         "denominator_label": f["denominator_label"].iloc[0] if len(f) else ""}
                    for by, f in a.funnels.items()},
        "model": model,
        "model_error": a.model_error,
        "oe": {by: {"rows": _oe_view(f), "word": _UNIT_WORDS[by], "all_hidden": bool(f["suppressed"].all())}
               for by, f in a.oe.items()},
        "tables": tables,
        "figures": figures,
        "quality": a.quality,
        "remarks": list(a.remarks),
        "excluded": a.excluded.to_dict(orient="records"),
        "targets": targets,
        "definitions": definitions(c.options),
        "provenance": provenance_footer(c.provenance),
        "suppressed": SUPPRESSED,
    }


def write_audit_report(cohort: Cohort, out_dir: str | os.PathLike[str], *, dataset: Dataset | None = None,
                       targets: AuditTargets = DEFAULT_TARGETS, k: int = 11, pdf: bool = True,
                       outcome: str | None = None, levels: tuple[float, float] = (0.95, 0.998),
                       overdispersion: bool = False, spc_period: str = "auto") -> dict[str, str]:
    """Write the audit report (HTML, PDF) and the KPI tables (CSV, XLSX, JSON).

    Parameters
    ----------
    cohort : Cohort
    out_dir : path
        Created if needed; every file is written atomically inside it.
    dataset : Dataset, optional
        The validation result behind ``cohort`` (reconciliation and quarantine
        reasons for the data-quality section); without it the report says so.
    targets : AuditTargets, optional
        KPI targets (defaults and sources on :class:`~outcomes.models.audit.AuditTargets`).
    k : int, default 11
        Small-cell threshold: counts 1 to ``k − 1`` are suppressed in every output
        (CMS cell-size rule); 1 turns suppression off.
    pdf : bool, default True
        Also render ``audit.pdf`` (WeasyPrint, the same HTML).
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
    dict of str to str
        Paths written by name: ``audit.html``, ``audit.pdf``, ``kpis.csv``,
        ``kpis.xlsx``, ``kpis.json``.
    """
    if not isinstance(targets, AuditTargets):
        raise TypeError(f"targets must be an AuditTargets, got {type(targets).__name__}")
    out = prepare_out_dir(out_dir)
    a = _compute(cohort, dataset=dataset, targets=targets, k=k, outcome=outcome, levels=tuple(levels),
                 overdispersion=overdispersion, spc_period=spc_period)
    paths = {name: output_path(out, name) for name in ("audit.html", "audit.pdf", "kpis.csv", "kpis.xlsx",
                                                       "kpis.json")}
    if not pdf:
        paths.pop("audit.pdf")
    written = {name: str(p) for name, p in paths.items()}
    atomic_write_text(paths["kpis.csv"], frame_to_csv_text(_kpi_table(a)))
    atomic_write_bytes(paths["kpis.xlsx"], _xlsx_bytes(_sheets(a)))
    doc = _document(a, written)
    atomic_write_text(paths["kpis.json"], json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    html = render("audit.html.j2", **_context(a, _figures(a)))
    write_html(html, paths["audit.html"])
    if pdf:
        html_to_pdf(html, paths["audit.pdf"])
    return written
