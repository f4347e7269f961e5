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
:func:`outcomes.models.audit.suppress_counts`). Everything shown is computed once by
:func:`outcomes.models.audit.compute_audit`; this module only renders its
:class:`~outcomes.models.audit.AuditResult` (flat tables in ``_audit_tables``, figures in
``_audit_figures``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..io.dataset import Dataset
from ..io.writers import (
    atomic_write_bytes,
    atomic_write_text,
    frame_to_csv_text,
    output_path,
    prepare_out_dir,
)
from ..models.audit import DEFAULT_TARGETS, KPIS, AuditTargets
from ..models.audit.result import (  # cohort_table and mask_small_counts lived here: still importable
    SUPPRESSED,
    AuditResult,
    cohort_table,
    compute_audit,
    mask_small_counts,
)
from ..progress import status
from ._audit_figures import _figures
from ._audit_tables import _UNIT_WORDS, _kpi_table, _sheets, _xlsx_bytes
from ._html import (
    definitions,
    html_to_pdf,
    provenance_footer,
    render,
    write_html,
)

__all__ = ["SUPPRESSED", "audit_document", "audit_headline", "cohort_table", "mask_small_counts",
           "write_audit_report"]

#: The old private names of the result and its computation (benchmarks/reports.py uses ``_compute``).
_Audit = AuditResult
_compute = compute_audit
_NO_SESSIONS = "not available: no sessions export"
#: Units per table in the HTML/PDF (wider tables do not fit an A4 page).
_COLUMNS = 6


def audit_headline(cohort: Cohort, *, dataset: Dataset | None = None, targets: AuditTargets = DEFAULT_TARGETS,
                   k: int = 11, outcome: str | None = None) -> list[str]:
    """A few lines for the terminal: verdicts, STOP AND CONSULT, red-flag signals, outliers, trends."""
    return _headline(compute_audit(cohort, dataset=dataset, targets=targets, k=k, outcome=outcome))


def _headline(a: AuditResult) -> list[str]:
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


def _document(a: AuditResult, outputs: dict[str, str] | None) -> dict[str, Any]:
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
    return _document(compute_audit(cohort, dataset=dataset, targets=targets, k=k, outcome=outcome), outputs)


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


def _spc_view(a: AuditResult) -> dict[str, Any]:
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
                                 _signal_words(shown) if len(sig) else "no signal")})
    return {"period": a.spc.attrs.get("period"), "rows": rows, "hidden": int(a.spc["suppressed"].sum())}


def _signal_words(shown: pd.DataFrame) -> str:
    """A KPI's signals once each, with the periods they hold for: "above the upper limit (2026-06,
    2026-07); shift: 17 points in a row on one side of the centre (2025-01 to 2026-05); too few
    crossings of the centre line (the whole series)". The chart data keep a signal per period; listed
    that way a run rule, which belongs to a stretch of periods, was repeated for every one of them."""
    periods = [str(p) for p in shown["period"]]
    found: dict[str, list[int]] = {}
    for i, text in enumerate(shown["signal"].fillna("")):
        for msg in (t.strip() for t in str(text).split(";")):
            if msg:
                found.setdefault(msg, []).append(i)
    order = ("above", "below", "shift", "too few")  # points outside the limits first, then the run rules
    parts = []
    for msg in sorted(found, key=lambda m: next((k for k, w in enumerate(order) if m.startswith(w)), len(order))):
        at = found[msg]
        if len(at) == len(periods):
            where = "the whole series"
        else:
            runs, start = [], 0
            for j in range(1, len(at) + 1):  # consecutive periods as one stretch
                if j == len(at) or at[j] != at[j - 1] + 1:
                    a, b = at[start], at[j - 1]
                    runs.append(periods[a] if a == b else f"{periods[a]}, {periods[b]}" if b == a + 1
                                else f"{periods[a]} to {periods[b]}")
                    start = j
            where = ", ".join(runs)
        parts.append(f"{msg} ({where})")
    return "; ".join(parts)


def _context(a: AuditResult, figures: dict[str, str | None]) -> dict[str, Any]:
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
    status(f"computing the audit's indicators for {len(cohort.patients):,} patients")
    a = compute_audit(cohort, dataset=dataset, targets=targets, k=k, outcome=outcome, levels=tuple(levels),
                      overdispersion=overdispersion, spc_period=spc_period)
    status("writing kpis.csv, kpis.xlsx and kpis.json")
    paths = {name: output_path(out, name) for name in ("audit.html", "audit.pdf", "kpis.csv", "kpis.xlsx",
                                                       "kpis.json")}
    if not pdf:
        paths.pop("audit.pdf")
    written = {name: str(p) for name, p in paths.items()}
    atomic_write_text(paths["kpis.csv"], frame_to_csv_text(_kpi_table(a)))
    atomic_write_bytes(paths["kpis.xlsx"], _xlsx_bytes(_sheets(a)))
    doc = _document(a, {name: p.name for name, p in paths.items()})  # by name: the files are beside it
    atomic_write_text(paths["kpis.json"], json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    status("drawing the audit's figures and writing audit.html")
    html = render("audit.html.j2", **_context(a, _figures(a)))
    write_html(html, paths["audit.html"])
    if pdf:
        status("writing audit.pdf")
        html_to_pdf(html, paths["audit.pdf"])
    return written
