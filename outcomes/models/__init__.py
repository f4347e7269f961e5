"""Analyses: trajectory models, schedule comparison, trial tables and audit KPIs, returned as results.

Every public name is importable from here, e.g. ``from outcomes.models import
compare_schedules``. The modules behind them need statsmodels, so they are
imported on first use: ``import outcomes.models`` alone costs nothing.

=====================  ==========================================================
`compare_schedules`    every comparison model on one cohort (`Comparison`)
`fit_trajectory`       the mixed model of pain over time (`ModelResult`)
`fit_mmrm`             mixed model for repeated measures (`MMRMResult`)
`adjust_p`             multiplicity adjustment (Holm, Bonferroni)
trial tables           `assign_visits`, `descriptives`, `responder_table`, `flow`,
                       `hedges_g`, `trial_ancova`, `trial_mixed_model`
comparison models      `ancova`, `responder_odds`, `responder_rates`,
                       `time_to_response`, `flare_rates`, `by_schedule`
clinic audit           `compute_audit` (`AuditResult`), `audit_kpis`, `funnel_data`,
                       `casemix_oe`, ...
=====================  ==========================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from .audit import (
        DEFAULT_TARGETS,
        AuditResult,
        AuditTargets,
        audit_kpis,
        casemix_model,
        casemix_oe,
        compute_audit,
        funnel_data,
        funnel_limits,
        patient_indicators,
        suppress_counts,
    )
    from .compare import Comparison, compare_schedules
    from .mmrm import MMRMResult, fit_mmrm
    from .multiplicity import adjust_frame, adjust_p
    from .comparison import ancova, by_schedule, flare_rates, responder_odds, responder_rates, time_to_response
    from .results import ModelResult, coefficient_table
    from .trajectory import fit_trajectory, marginal_means, schedule_contrast, trajectory_data
    from .trial import (
        assign_visits,
        descriptives,
        flow,
        hedges_g,
        responder_table,
        trial_ancova,
        trial_mixed_model,
    )

_EXPORTS = {
    **dict.fromkeys(("DEFAULT_TARGETS", "AuditResult", "AuditTargets", "audit_kpis", "casemix_model", "casemix_oe",
                     "compute_audit", "funnel_data", "funnel_limits", "patient_indicators", "suppress_counts"),
                    ".audit"),
    **dict.fromkeys(("Comparison", "compare_schedules"), ".compare"),
    **dict.fromkeys(("ancova", "by_schedule", "flare_rates", "responder_odds", "responder_rates",
                     "time_to_response"), ".comparison"),
    **dict.fromkeys(("MMRMResult", "fit_mmrm"), ".mmrm"),
    **dict.fromkeys(("adjust_frame", "adjust_p"), ".multiplicity"),
    **dict.fromkeys(("ModelResult", "coefficient_table"), ".results"),
    **dict.fromkeys(("fit_trajectory", "marginal_means", "schedule_contrast", "trajectory_data"), ".trajectory"),
    **dict.fromkeys(("assign_visits", "descriptives", "flow", "hedges_g", "responder_table", "trial_ancova",
                     "trial_mixed_model"), ".trial"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = attach(__name__, _EXPORTS)
