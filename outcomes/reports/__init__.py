"""Report builders: per-patient outcome reports, the clinic audit and the schedule comparison.

Each ``write_*`` function writes an HTML report and its PDF twin into a folder and
returns the paths. Every public name is importable from here (``from
outcomes.reports import write_audit_report``); the modules are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from .audit import write_audit_report
    from .compare import compare_report_data, write_compare_report
    from .patient import patient_report_data, render_patient_html, render_patient_pdf, write_patient_reports
    from .tables import write_comparison

_EXPORTS = {
    "write_audit_report": ".audit",
    "write_comparison": ".tables",
    **dict.fromkeys(("compare_report_data", "write_compare_report"), ".compare"),
    **dict.fromkeys(("patient_report_data", "render_patient_html", "render_patient_pdf", "write_patient_reports"),
                    ".patient"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = attach(__name__, _EXPORTS)
