"""Progression schedule files: what a schedule declares, and reading it.

A *progression schedule* is the rule for moving up the glide levels: time-based
(e.g. one level per week) or symptom-guided (advance after N sessions without a
flare and with in-session pain at or below a threshold). `outcomes.measures.progression`
checks the levels in the session log against it.

Schedule files
--------------
Each schedule is declared in ``<name>.json`` in `SCHEDULE_DIR` (the repository's
``data/schedules``, installed with the package; or ``$OUTCOMES_SCHEDULE_DIR``), one
JSON object per file:

``name`` (required)
    The schedule's code as it appears in ``patients.schedule``; letters,
    digits, ``_`` and ``-`` (as the schema allows), and the file's stem.
``rule`` (required)
    ``"time"`` or ``"symptom"``.
``start_level``, ``max_level`` (required)
    Whole numbers, 1 ≤ start_level ≤ max_level ≤ 20 (the schema's levels).
``description``, ``source`` (optional)
    Plain text: what the schedule is, and where its rule comes from.
``days_per_level`` (``"time"`` only, required)
    Days spent at each level: on program day ``d`` (days since enrolment)
    the level is ``min(start_level + d // days_per_level, max_level)``.
``sessions_to_advance``, ``max_pain_after``, ``flare_rise`` (``"symptom"`` only, required)
    A session *qualifies* when it is not a flare (``pain_after −
    pain_before ≥ flare_rise`` or ``response == 'worse'``) and
    ``pain_after ≤ max_pain_after``. The patient moves up one level (never
    past ``max_level``) at the start of the day after a day that ends with a
    run of at least ``sessions_to_advance`` consecutive qualifying sessions;
    any session that does not qualify resets the run to 0, and so does a
    level change. Days without sessions leave the run as it is. This is the
    rule `outcomes.simulate` draws its 'guided' arm from.

Any other key, a missing key, a key of the other rule, or a value of the wrong
type or range is a ``ValueError`` naming the file, the key and what is allowed.
Example: ``{"name": "weekly", "rule": "time", "days_per_level": 7,
"start_level": 1, "max_level": 6}``.
"""

from __future__ import annotations

import json
import numbers
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._resources import schedule_dir

__all__ = ["SCHEDULE_DIR", "Schedule", "load_schedule", "load_schedules"]

#: Where the schedule files live: ``$OUTCOMES_SCHEDULE_DIR``, else the copies installed with the
#: package (the repository's ``data/schedules``; `outcomes._resources`).
SCHEDULE_DIR = schedule_dir()

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RULE_KEYS = {"time": ("days_per_level",),
              "symptom": ("sessions_to_advance", "max_pain_after", "flare_rise")}
_REQUIRED = ("name", "rule", "start_level", "max_level")
_TEXT = ("description", "source")
# allowed range of each whole-number key ("start_level" is the lower bound of max_level)
_RANGES = {"start_level": (1, 20), "max_level": (1, 20), "days_per_level": (1, 3650),
           "sessions_to_advance": (1, 1000), "max_pain_after": (0, 10), "flare_rise": (1, 10)}


@dataclass(frozen=True)
class Schedule:
    """A progression schedule, as declared in ``<name>.json`` in `SCHEDULE_DIR`.

    The fields are the file's keys (see the module docstring); the keys of the
    other rule are None. Construction checks every field and raises one
    ``ValueError`` listing every problem.
    """

    name: str
    rule: Literal["time", "symptom"]
    start_level: int
    max_level: int
    description: str = ""
    source: str = ""
    days_per_level: int | None = None
    sessions_to_advance: int | None = None
    max_pain_after: int | None = None
    flare_rise: int | None = None

    def __post_init__(self) -> None:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        problems = _schedule_problems({k: v for k, v in data.items()
                                       if v is not None and not (k in _TEXT and v == "")})
        if problems:
            raise ValueError(f"schedule {self.name!r}: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "schedule") -> Schedule:
        """Build a schedule from a file's JSON object; ``where`` names it in errors."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: must hold a JSON object with the keys "
                             f"{', '.join(_REQUIRED)}, got {type(data).__name__}")
        problems = _schedule_problems(data)
        if problems:
            raise ValueError(f"{where}: " + "; ".join(problems))
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """The schedule as its file's JSON object (keys of the other rule left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}

    @property
    def rule_text(self) -> str:
        """The rule in one plain phrase, e.g. 'one level every 7 days, levels 1 to 6'."""
        levels = f"levels {self.start_level} to {self.max_level}"
        if self.rule == "time":
            return f"one level every {self.days_per_level} days, {levels}"
        return (f"one level up from the day after {self.sessions_to_advance} qualifying sessions "
                f"in a row (no flare, pain after at most {self.max_pain_after}/10), {levels}")

    def expected_level(self, day: np.ndarray | int) -> np.ndarray:
        """Level on program day(s) ``day`` under a ``'time'`` rule (days before 0 count as 0)."""
        if self.rule != "time":
            raise ValueError(f"expected_level needs a 'time' schedule; {self.name!r} is "
                             f"{self.rule!r}, whose level depends on the sessions")
        d = np.maximum(np.asarray(day, dtype=np.int64), 0)
        return np.minimum(self.start_level + d // self.days_per_level, self.max_level)


def load_schedule(path: str | os.PathLike[str]) -> Schedule:
    """Read one schedule file (format: the module docstring).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not JSON, or a key is missing, unknown or out of range
        (the message names the file, the key and what is allowed), or
        ``name`` differs from the file's stem.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"schedule file {p} does not exist")
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: not a valid JSON file ({exc})") from None
    schedule = Schedule.from_dict(data, where=str(p))
    if schedule.name != p.stem:
        raise ValueError(f"{p}: name {schedule.name!r} must match the file name "
                         f"('{schedule.name}.json'), so patients.schedule finds it")
    return schedule


def load_schedules(folder: str | os.PathLike[str] | None = None) -> dict[str, Schedule]:
    """Read every ``*.json`` schedule in ``folder`` (default `SCHEDULE_DIR`), keyed by name.

    Raises
    ------
    ValueError
        ``folder`` is not a folder, or a file is malformed (see `load_schedule`).
    """
    where = Path(folder) if folder is not None else SCHEDULE_DIR
    if not where.is_dir():
        raise ValueError(f"folder must be a folder of schedule files; {where} is not a folder")
    return {s.name: s for s in (load_schedule(p) for p in sorted(where.glob("*.json")))}


def _schedule_problems(data: Mapping[str, Any]) -> list[str]:
    """Every problem with a schedule's keys and values, as phrases naming the key."""
    problems = []
    rule = data.get("rule")
    rule_keys = _RULE_KEYS.get(rule, ()) if isinstance(rule, str) else ()
    other_keys = {key for r, keys in _RULE_KEYS.items() if r != rule for key in keys}
    allowed = (*_REQUIRED, *_TEXT, *rule_keys)
    for key in sorted(set(data) - set(allowed)):
        if key in other_keys and rule in _RULE_KEYS:
            problems.append(f"key {key!r} is not used by {rule!r} schedules "
                            f"(which take {', '.join(rule_keys)})")
        else:
            problems.append(f"unknown key {key!r}; allowed keys: {', '.join(allowed)}"
                            + ("" if rule in _RULE_KEYS else
                               f", plus {' / '.join(', '.join(v) for v in _RULE_KEYS.values())} "
                               "for 'time' / 'symptom' schedules"))
    for key in (*_REQUIRED, *rule_keys):
        if key not in data:
            problems.append(f"missing key {key!r}")
    name = data.get("name")
    if "name" in data and not (isinstance(name, str) and _NAME.fullmatch(name)):
        problems.append(f"name must be 1-64 letters, digits, '_' or '-', got {name!r}")
    if "rule" in data and rule not in _RULE_KEYS:
        problems.append(f"rule must be 'time' or 'symptom', got {rule!r}")
    for key in _TEXT:
        if key in data and not isinstance(data[key], str):
            problems.append(f"{key} must be text, got {data[key]!r}")
    for key in ("start_level", "max_level", *rule_keys):
        if key not in data:
            continue
        value = data[key]
        low, high = _RANGES[key]
        if key == "max_level" and _is_whole(data.get("start_level")):
            low = max(low, data["start_level"])
        if not _is_whole(value):
            problems.append(f"{key} must be a whole number from {low} to {high}, got {value!r}")
        elif not low <= value <= high:
            problems.append(f"{key} must be from {low} to {high}, got {value!r}")
    return problems


def _is_whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
