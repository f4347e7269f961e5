"""The audit's flat tables: every KPI row as one frame (``kpis.csv``) and the XLSX workbook's sheets.

Suppressed numbers show as :data:`~outcomes.models.audit.SUPPRESSED`; every text cell of
the workbook is neutralised against formula injection.
"""

from __future__ import annotations

import io

import pandas as pd

from ..io.writers import neutralise_formulas
from ..models.audit import SUPPRESSED, AuditResult

_UNIT_WORDS = {"site_id": "site", "clinician_id": "clinician", "schedule": "schedule"}


def _kpi_table(a: AuditResult) -> pd.DataFrame:
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


def _sheets(a: AuditResult) -> dict[str, pd.DataFrame]:
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
