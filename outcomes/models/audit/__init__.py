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
`spc_data`
    Is anything changing? Each KPI by month or quarter of enrolment as a
    statistical process control chart (p-chart for proportions, XmR for means)
    with Anhøj run rules.

`compute_audit`
    All of the above at once, with Table 1 (`cohort_table`) and the data-quality
    summary, as one `AuditResult` that the audit report only renders.

Every per-patient input comes from `patient_indicators`, so the tables agree with
each other. Counts of 1 to ``k − 1`` (default ``k = 11``, the CMS cell-size rule) are
suppressed in every table, with complementary suppression where a hidden count could
be worked out from a total (`suppress_counts`).
"""

from __future__ import annotations

from .casemix import casemix_model, casemix_oe
from .funnel import funnel_data, funnel_limits
from .spc import spc_data
from .kpis import (
    DEFAULT_TARGETS,
    FUNNEL_KPIS,
    GROUPINGS,
    KPIS,
    AuditTargets,
    audit_kpis,
    default_outcome,
    patient_indicators,
    present_groupings,
    stayed_too_long,
)
from .result import SUPPRESSED, AuditResult, cohort_table, compute_audit, mask_small_counts
from .suppression import suppress_counts

__all__ = [
    "DEFAULT_TARGETS",
    "FUNNEL_KPIS",
    "GROUPINGS",
    "KPIS",
    "SUPPRESSED",
    "AuditResult",
    "AuditTargets",
    "audit_kpis",
    "casemix_model",
    "casemix_oe",
    "cohort_table",
    "compute_audit",
    "funnel_data",
    "funnel_limits",
    "default_outcome",
    "mask_small_counts",
    "patient_indicators",
    "present_groupings",
    "spc_data",
    "stayed_too_long",
    "suppress_counts",
]
