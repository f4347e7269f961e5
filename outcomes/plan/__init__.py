"""The analysis plan: what ``outcomes compare`` executes, as a commented TOML file.

A plan names the primary and secondary outcomes, the planned visits and their
window, the endpoint, the reference arm, the baseline covariates, the responder
definitions, the primary analysis, the multiplicity adjustment, the mixed-model
and MMRM options, the missing-data sensitivity analyses and the estimand. Its field names are a stable contract that other tools
read. :func:`default_plan` is the plan used when none is given (the defaults of
:class:`outcomes.config.Options`); :data:`DEFAULT_PLAN_TOML` is what ``outcomes
plan --write FILE`` writes.

Every mistake in a plan file is a :class:`~outcomes.errors.UsageError`
(exit code 2) naming the file, the key and what is allowed; all mistakes in a
file are reported together. :func:`check_plan_against` then checks the plan
against the data (outcomes present, reference arm present, covariates usable,
at least two arms).

The modules: `outcomes.plan.spec` (the plan and its responder definitions, each
checked on construction), `outcomes.plan.plan_file` (reading and writing plan files),
`outcomes.plan.against` (the plan against the data), `outcomes.plan.timing` (visits,
endpoint and window on the dataset's time axis); the field checks and the
TOML rendering are private (``_fields``, ``_toml``).
"""

from __future__ import annotations

from ._fields import KNOWN_OUTCOMES
from .against import check_plan_against
from .plan_file import DEFAULT_PLAN_TOML, load_plan, write_default_plan, write_plan
from .spec import AnalysisPlan, Estimand, MixedModelOptions, MMRMOptions, ResponderDefinition, Sensitivity, default_plan
from .timing import PlanTiming, plan_on_axis, plan_timing

__all__ = [
    "DEFAULT_PLAN_TOML",
    "KNOWN_OUTCOMES",
    "AnalysisPlan",
    "Estimand",
    "MMRMOptions",
    "MixedModelOptions",
    "PlanTiming",
    "ResponderDefinition",
    "Sensitivity",
    "check_plan_against",
    "default_plan",
    "load_plan",
    "plan_on_axis",
    "plan_timing",
    "write_default_plan",
    "write_plan",
]
