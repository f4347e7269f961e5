"""The one home of what every arm comparison shares: the reference arm and who is a responder.

* :func:`resolve_reference` — the reference arm and whether the user gave it (the one
  place it is checked and defaulted; :func:`reference_remark` says so once, "as given"
  only when given);
* :func:`responder_status` — who is a responder, by a plan's definition (direction-aware,
  three-valued), used by the responder table, the responder odds ratio, the time to first
  response and the brief alike;
* :func:`instrument_definition` — the definition equivalent to an instrument's published
  rule, used when no plan gives one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ...cohort import Cohort
from ...measures.change import percent_change
from ...plan.spec import RULE_FIELDS, rules_text

__all__ = ["Reference", "definition_text", "instrument_definition", "reference_remark", "resolve_reference",
           "responder_status"]

_EPS = 1e-9  # slack so that a computed 30 % counts as 30 % (as in outcomes.measures.change)


@dataclass(frozen=True)
class Reference:
    """The reference arm: ``name``, and ``given`` (True when the user or the plan chose it)."""

    name: str
    given: bool

    def __str__(self) -> str:
        return self.name


def _arms_of(cohort_or_arms: Any) -> list[str]:
    if isinstance(cohort_or_arms, Cohort):
        return sorted(str(s) for s in cohort_or_arms.patients["schedule"].dropna().unique())
    return sorted(str(a) for a in cohort_or_arms)


def resolve_reference(cohort_or_arms: Cohort | Any, reference: Any = None) -> Reference:
    """The reference arm: the one given, else the first arm in sorted order.

    Raises
    ------
    ValueError
        Fewer than two arms, or a reference that is not one of them (the arms are listed).
    """
    if isinstance(reference, Reference):
        reference = reference.name if reference.given else None
    arms = _arms_of(cohort_or_arms)
    if len(arms) < 2:
        raise ValueError(f"comparing schedules needs at least two; the cohort has {arms or 'none'}")
    if reference is None:
        return Reference(arms[0], False)
    if reference not in arms:
        raise ValueError(f"reference must be one of the cohort's schedules ({', '.join(arms)}), got {reference!r}")
    return Reference(str(reference), True)


def reference_remark(reference: Reference) -> str:
    """One sentence: which arm is the reference and why."""
    how = ("as given" if reference.given
           else "the first schedule in sorted order, since none was named; set reference in the plan to choose another")
    return f"Reference schedule: {reference.name!r} ({how}); each estimate compares another schedule with it."


@dataclass(frozen=True)
class _Definition:
    """A responder definition for an outcome the plan cannot name (duck-types ResponderDefinition)."""

    name: str
    outcome: str
    change_at_most: float | None = None
    pct_change_at_most: float | None = None
    endpoint_at_most: float | None = None
    combine: str = "all"
    missing: str = "nonresponder"
    endpoint_at_least: float | None = None
    improved_by_at_least: float | None = None
    improved_pct_at_least: float | None = None
    source: str = ""


def instrument_definition(cohort: Cohort, outcome: str) -> Any:
    """The responder definition equivalent to ``outcome``'s published rule (``cohort.options``).

    Raises
    ------
    ValueError
        The outcome has no instrument with a responder rule.
    """
    spec = cohort.options.instruments.get(outcome)
    rule = None if spec is None else spec.responder
    if rule is None or (rule.points is None and rule.percent is None and rule.endpoint_at_most is None):
        raise ValueError(f"outcome {outcome!r} has no responder rule; give a [[responders]] definition in the plan")
    return _Definition(name="improved", outcome=outcome, improved_by_at_least=rule.points,
                       improved_pct_at_least=rule.percent, endpoint_at_most=rule.endpoint_at_most,
                       combine=rule.combine, source=spec.responder_source)


def _higher_is_better(cohort: Cohort, outcome: str) -> bool:
    registry = getattr(cohort, "outcomes", None)
    if registry is not None and outcome in registry:
        return bool(registry.higher_is_better(outcome))
    spec = cohort.options.instruments.get(outcome)
    return bool(spec is not None and not spec.higher_is_worse)


def definition_text(cohort: Cohort, definition: Any) -> str:
    """The definition in words with the outcome's label, e.g. ``Leg pain fell by ≥ 2 points and …``."""
    label = _label(cohort, definition.outcome)
    text = rules_text(definition, label, _higher_is_better(cohort, definition.outcome))
    source = getattr(definition, "source", "")
    return f"{text} ({source})" if source else text


def _label(cohort: Cohort, outcome: str) -> str:
    registry = getattr(cohort, "outcomes", None)
    if registry is not None and outcome in registry:
        return registry.label(outcome)
    spec = cohort.options.instruments.get(outcome)
    return spec.label if spec is not None else outcome.replace("_", " ")


def responder_status(cohort: Cohort, definition: Any, baseline: Any, value: Any) -> pd.Series:
    """Whether each (baseline, value) pair meets ``definition`` (nullable boolean).

    Parameters
    ----------
    cohort : Cohort
        For the outcome's direction (``cohort.outcomes``, else ``cohort.options``).
    definition : ResponderDefinition or alike
        Rules (any of :data:`outcomes.plan.spec.RULE_FIELDS`) and ``combine``.
    baseline, value : array-like
        The baseline and the value assessed later (the endpoint, or any visit for the
        time to first response).

    Returns
    -------
    Series
        Nullable boolean named ``responder`` (on ``value``'s index when it is a Series).

    Notes
    -----
    ``change_at_most`` (value − baseline ≤ v) and ``pct_change_at_most`` bound the raw
    change; ``improved_by_at_least`` and ``improved_pct_at_least`` measure improvement in
    the outcome's better direction; ``endpoint_at_most`` / ``endpoint_at_least`` are
    states. Each holds within 1e-9, so a computed 30 % counts. Rules combine by
    ``combine`` with three-valued logic: a rule that cannot be judged (no value, or no
    baseline for a change rule) is unknown, and a failed known rule decides "all".
    """
    index = value.index if isinstance(value, pd.Series) else None
    b = np.asarray(pd.to_numeric(pd.Series(np.asarray(baseline, dtype=object)), errors="coerce"), dtype=float)
    v = np.asarray(pd.to_numeric(pd.Series(np.asarray(value, dtype=object)), errors="coerce"), dtype=float)
    change = v - b
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.asarray(percent_change(b, v), dtype=float)
    sign = 1.0 if _higher_is_better(cohort, definition.outcome) else -1.0
    measured = {"change_at_most": (change, 1.0), "pct_change_at_most": (pct, 1.0), "endpoint_at_most": (v, 1.0),
                "endpoint_at_least": (v, -1.0), "improved_by_at_least": (sign * change, -1.0),
                "improved_pct_at_least": (sign * pct, -1.0)}
    tests = []
    for key in RULE_FIELDS:
        threshold = getattr(definition, key, None)
        if threshold is None:
            continue
        x, direction = measured[key]
        # direction 1: x ≤ threshold; -1: x ≥ threshold
        ok = (x <= threshold + _EPS) if direction > 0 else (x >= threshold - _EPS)
        tests.append(pd.array(np.where(np.isnan(x), None, ok), dtype="boolean"))
    if not tests:
        raise ValueError(f"responder definition {getattr(definition, 'name', '?')!r} gives no rule")
    out = tests[0]
    for t in tests[1:]:
        out = (out & t) if getattr(definition, "combine", "all") == "all" else (out | t)
    return pd.Series(out, index=index, name="responder")

