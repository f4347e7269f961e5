"""Schedule comparison: is one progression schedule better than another?

Every function takes a :class:`~outcomes.cohort.Cohort` and keyword-only options.
Models return a :class:`~outcomes.models.results.ModelResult` whose ``data`` is the
exact frame fitted and whose ``meta`` holds what is needed to refit it elsewhere;
descriptive tables are tidy frames.

=====================  =========================================================
`ancova`               endpoint by schedule adjusted for baseline (primary)
`responder_odds`       odds ratio of a response at the endpoint
`responder_rates`      responder rates, both denominators, difference vs reference
`time_to_response`     Kaplan-Meier per schedule and a Cox hazard ratio
`flare_rates`          flares per session done: Poisson / negative binomial
`by_schedule`          adherence, level, dropout and flags per schedule
`endpoint_regression`  endpoint by schedule adjusted for covariates only (no baseline)
`responder_table`      the plan's responder definitions: rates, RD and OR vs reference
`resolve_reference`    the reference arm and whether it was given (checked once)
`responder_status`     who is a responder by a definition (direction-aware)
`assumptions_text`     what the comparison assumes, in plain language
=====================  =========================================================

The reference schedule is the one given, else the first in sorted order (a remark
says which). An arm with fewer than two usable patients is left out with a remark;
when that leaves nothing to compare, or an arm has no event at all, a ValueError
explains why (``compare`` turns it into a remark). Every model is checked against R
(``tests/reference/comparison.R``).
"""

from __future__ import annotations

from .descriptive import BY_SCHEDULE_COLUMNS, assumptions_text, by_schedule
from .arms import Reference, definition_text, instrument_definition, reference_remark, resolve_reference, \
    responder_status
from .endpoint import ancova, endpoint_regression, responder_odds, responder_rates
from .rates import DISPERSION_THRESHOLD, flare_rates
from .responders import RESPONDER_COLUMNS, responder_table
from .survival import KM_COLUMNS, time_to_response

__all__ = [
    "BY_SCHEDULE_COLUMNS",
    "DISPERSION_THRESHOLD",
    "KM_COLUMNS",
    "RESPONDER_COLUMNS",
    "Reference",
    "ancova",
    "assumptions_text",
    "by_schedule",
    "definition_text",
    "endpoint_regression",
    "flare_rates",
    "instrument_definition",
    "reference_remark",
    "resolve_reference",
    "responder_odds",
    "responder_rates",
    "responder_status",
    "responder_table",
    "time_to_response",
]
