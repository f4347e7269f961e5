"""A starter plan fitted to a dataset: ``outcomes plan --write FILE --data DATA``.

The starter takes from the data what a plan must name and a user would otherwise
copy by hand: the outcomes with values (declared ones first, from the dataset's
registry), the planned visits and the endpoint in the dataset's time unit, and the
arms, with a guess of the control arm. Every guess is marked ``CHECK`` in the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..config import DEFAULT_OPTIONS
from ..errors import UsageError
from ..files import atomic_write_text, check_toml_target
from ._toml import _render
from .spec import AnalysisPlan, ResponderDefinition

__all__ = ["starter_plan", "write_starter_plan"]

#: Arm names that usually mean the control arm (a guess, marked CHECK in the starter).
_CONTROL_WORDS = ("usual", "control", "placebo", "tau", "standard", "waitlist", "wait_list", "sham", "weekly")
#: At most this many distinct times are taken as the planned visits of a non-date time axis.
_MAX_VISITS = 24


def _guess_reference(arms: list[str]) -> str:
    for word in _CONTROL_WORDS:  # in order of how strongly the word means "control"
        for arm in arms:
            if re.search(rf"(^|[^a-z]){re.escape(word)}", arm.lower()):
                return arm
    return arms[0]


def _visits(dataset: Any, time: Any, assessments: Any) -> tuple[float, ...]:
    if time is None or time.dated:
        return tuple(DEFAULT_OPTIONS.visits)
    if time.visits:
        return tuple(sorted({float(v) for _, v in time.visits}))
    if assessments is not None and "time" in assessments.columns:
        times = sorted({float(t) for t in assessments["time"].dropna().unique() if float(t) >= 0})
        if 0 < len(times) <= _MAX_VISITS:
            return tuple(times)
    return tuple(DEFAULT_OPTIONS.visits)


def starter_plan(dataset: Any) -> tuple[AnalysisPlan, list[str]]:
    """A plan for ``dataset`` (an :class:`outcomes.io.Dataset`) and the notes for the file's header.

    Returns
    -------
    plan : AnalysisPlan
        Primary outcome: the first declared outcome with values, else the first built-in
        with values; the others with values are secondary. Visits: ``[time.visits]``'s
        times, else the distinct times of the assessments (non-date data), else the
        default weeks; endpoint: the last visit for non-date data (week 6 for dated data).
        Reference: an arm whose name means control (usual care, placebo, …), else the
        first in sorted order. Responders: the published rule of a built-in outcome, or
        "improved by at least the mcid" of a declared one that has one.
    notes : list of str
        What was guessed, one line each (written as comments, with ``CHECK``).

    Raises
    ------
    UsageError
        The dataset has no assessments with an outcome value, or fewer than two arms.
    """
    patients, assessments = dataset["patients"], dataset["assessments"]
    registry, time = dataset.outcomes, getattr(dataset, "time", None)
    if assessments is None or patients is None:
        raise UsageError("The dataset has no accepted patients or assessments; run `outcomes validate DATA` to see "
                         "why, then write the plan again.")
    names = list(registry.names) if registry is not None else []
    declared = list(getattr(registry, "declared", ()) or ())
    present = [n for n in [*declared, *names] if n in assessments.columns and assessments[n].notna().any()]
    present = list(dict.fromkeys(present))
    if not present:
        raise UsageError("The dataset's assessments hold no outcome value; declare the outcome in the dataset's "
                         "[outcomes] table (`outcomes describe DATA --write dataset.toml`), then write the plan again.")
    arms = sorted(patients["schedule"].dropna().astype(str).unique()) if "schedule" in patients.columns else []
    if len(arms) < 2:
        raise UsageError(f"The dataset holds {len(arms)} arm(s) ({', '.join(arms) or 'none'}); a comparison plan "
                         f"needs at least two. Map the arm column to schedule in the dataset's [columns].")
    outcome, secondary = present[0], tuple(present[1:])
    visits = _visits(dataset, time, assessments)
    dated = time is None or time.dated
    reference = _guess_reference(arms)
    spec = registry.get(outcome) if registry is not None else None
    responders: tuple[ResponderDefinition, ...] | None = None
    if spec is not None and not spec.builtin:
        responders = ()
        if spec.mcid:
            responders = (ResponderDefinition("improved", outcome, improved_by_at_least=float(spec.mcid)),)
    timing: dict[str, Any]
    if dated:
        week = DEFAULT_OPTIONS.endpoint_week if DEFAULT_OPTIONS.endpoint_week in visits else visits[-1]
        timing = {"endpoint_week": week}
    else:
        timing = {"endpoint": visits[-1] if visits[-1] > 0 else None}
    plan = AnalysisPlan(outcome=outcome, outcomes=secondary, visits=visits, reference=reference,
                        responders=responders, **timing)
    unit = "weeks" if dated else f"{time.unit}s since enrolment"
    label = registry.label(outcome) if registry is not None else outcome
    notes = [f"Fitted to {getattr(dataset, 'folder', 'the dataset')}; every line marked CHECK is a guess.",
             f"CHECK outcome: {outcome} ({label}); other outcomes with values: {', '.join(secondary) or 'none'}.",
             f"CHECK visits (in {unit}) and the endpoint"
             + (" (the last visit)." if not dated else " (week 6, the program's end)."),
             f"CHECK reference = {reference!r}: the arms in the data are {', '.join(arms)}."]
    if responders == ():
        notes.append(f"No responder definition: {label} has no mcid; add a [[responders]] table if the plan has one.")
    return plan, notes


def write_starter_plan(path: str | os.PathLike[str], dataset: Any, *, overwrite: bool = False) -> tuple[Path, str]:
    """Write :func:`starter_plan` of ``dataset`` to ``path``; returns the path and the reference arm guessed.

    An existing file is kept unless ``overwrite`` (a UsageError says so).
    """
    path = check_toml_target(path, overwrite=overwrite, what="plan")
    plan, notes = starter_plan(dataset)
    time = getattr(dataset, "time", None)
    unit = None if time is None or time.dated else time.unit
    text = _render(plan, example=True, notes=notes, unit=unit, check_reference=True)
    atomic_write_text(path, text)
    return path, str(plan.reference)
