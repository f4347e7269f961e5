"""The values a dataset description is made of, and the helpers its messages use.

:class:`DatasetDescription` and its parts (:class:`RowFilter`, :class:`TimeAxis`,
:class:`DeclaredOutcome`), the layouts and time units a description may declare, and the
helpers that word a mistake (``_show``, ``_suggest``, ``_listing``, ``_Problems``). Parsing
``dataset.toml`` and checking it against a file are in :mod:`outcomes.io.description`, which
re-exports every name here.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError

__all__ = [
    "DESCRIPTION_FILE",
    "LAYOUTS",
    "TIME_UNITS",
    "UNIT_DAYS",
    "DatasetDescription",
    "DeclaredOutcome",
    "RowFilter",
    "TimeAxis",
]

#: The name of a description found automatically in a data folder.
DESCRIPTION_FILE = "dataset.toml"
#: Layouts a description may declare.
LAYOUTS: tuple[str, ...] = ("exports", "long", "wide", "redcap", "adam")
#: Time units: "date" reads enrolled_on / assessed_on; the others a time since enrolment.
TIME_UNITS: tuple[str, ...] = ("date", "minute", "hour", "day", "week", "month", "visit")
#: Length of one unit in days ("visit": a visit counts as one week, so week = visit number;
#: "month": 30.4375 days, the mean Gregorian month).
UNIT_DAYS: dict[str, float] = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1.0, "week": 7.0,
                               "month": 30.4375, "visit": 7.0}


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class RowFilter:
    """Keep a row only when its ``column`` passes every condition given.

    ``keep`` / ``drop`` compare a value equal as text or as a number (``1`` matches
    ``"1"`` and ``"1.0"``); ``at_least`` / ``at_most`` compare numbers (a value that
    is missing or not a number fails them); ``not_missing`` drops missing values.
    """

    column: str
    keep: tuple[Any, ...] | None = None
    drop: tuple[Any, ...] | None = None
    at_least: float | None = None
    at_most: float | None = None
    not_missing: bool = False

    @property
    def text(self) -> str:
        """The filter as a person reads it, e.g. ``is_patient in [1]``."""
        bits = []
        if self.keep is not None:
            bits.append(f"{self.column} in {_show(list(self.keep))}")
        if self.drop is not None:
            bits.append(f"{self.column} not in {_show(list(self.drop))}")
        if self.at_least is not None:
            bits.append(f"{self.column} ≥ {self.at_least:g}")
        if self.at_most is not None:
            bits.append(f"{self.column} ≤ {self.at_most:g}")
        if self.not_missing:
            bits.append(f"{self.column} not missing")
        return " and ".join(bits)


@dataclass(frozen=True)
class TimeAxis:
    """The time axis: ``unit`` (see :data:`TIME_UNITS`), the long file's ``column``, and
    ``visits`` (visit code → time since enrolment in ``unit``), when given."""

    unit: str = "date"
    column: str | None = None
    visits: tuple[tuple[str, float], ...] | None = None

    @property
    def dated(self) -> bool:
        """True when time comes from dates (enrolled_on / assessed_on)."""
        return self.unit == "date"

    @property
    def days(self) -> float:
        """One unit in days (:data:`UNIT_DAYS`); NaN for dates."""
        return UNIT_DAYS.get(self.unit, math.nan)

    def to_weeks(self, value: float) -> float:
        """``value`` in ``unit`` as weeks since enrolment."""
        return value * self.days / 7.0


@dataclass(frozen=True)
class DeclaredOutcome:
    """An ``[outcomes.NAME]`` table: an outcome's scale and where its values are.

    ``min``/``max``/``higher_is_better``/``integer`` are None for a built-in outcome
    (its instrument fixes them). ``columns`` (wide) maps a column to a time in the
    description's unit; ``column`` (long) is the column holding it (default: NAME).
    """

    name: str
    label: str | None = None
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    higher_is_better: bool | None = None
    integer: bool | None = None
    mcid: float | None = None
    column: str | None = None
    columns: tuple[tuple[str, float], ...] | None = None
    baseline_column: str | None = None
    paramcd: str | None = None


@dataclass(frozen=True)
class DatasetDescription:
    """A parsed, checked ``dataset.toml``; every field optional.

    Attributes
    ----------
    path : Path or None
        The description file (None when built in code).
    layout : {"exports", "long", "wide", "redcap", "adam"}
    file : Path or None
        The long or wide file, the REDCap records export or the ADaM BDS dataset, resolved
        against the description's folder.
    dictionary : Path or None
        REDCap: the data dictionary CSV.
    subjects : Path or None
        ADaM: the subject-level dataset (ADSL).
    sessions : str or None
        REDCap: the repeating instrument whose rows are the session log (its fields are mapped to
        the sessions contract in ``[columns]``).
    sheet : str or None
        The sheet of an ``.xlsx`` file.
    missing : tuple of str
        Spellings of a missing value on top of the schemas' usual ones.
    columns : dict
        Contract name → the file's column name.
    values : dict
        Column (after renaming) → {code: value}.
    filters : tuple of RowFilter
    time : TimeAxis
    outcomes : tuple of DeclaredOutcome
    covariates : dict
        Column (after renaming) → ``"numeric"`` or ``"categorical"``.
    """

    path: Path | None = None
    layout: str = "exports"
    file: Path | None = None
    sheet: str | None = None
    missing: tuple[str, ...] = ()
    dictionary: Path | None = None
    subjects: Path | None = None
    sessions: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    filters: tuple[RowFilter, ...] = ()
    time: TimeAxis = field(default_factory=TimeAxis)
    outcomes: tuple[DeclaredOutcome, ...] = ()
    covariates: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else "dataset description"

    def outcome(self, name: str) -> DeclaredOutcome | None:
        return next((o for o in self.outcomes if o.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary, for provenance."""
        return {
            "path": None if self.path is None else str(self.path), "layout": self.layout,
            "file": None if self.file is None else str(self.file), "sheet": self.sheet,
            **{k: str(getattr(self, k)) for k in ("dictionary", "subjects", "sessions")
               if getattr(self, k) is not None},
            "missing": list(self.missing), "columns": dict(self.columns), "values": self.values,
            "filters": [f.text for f in self.filters],
            "time": {"unit": self.time.unit, "column": self.time.column,
                     "visits": None if self.time.visits is None else dict(self.time.visits)},
            "outcomes": [o.name for o in self.outcomes], "covariates": dict(self.covariates),
        }


# --------------------------------------------------------------------------- helpers


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return repr(value)


def _suggest(name: str, allowed: list[str] | tuple[str, ...]) -> str:
    """`` Did you mean "x"?`` for the closest of ``allowed`` (difflib), else ``""``."""
    close = difflib.get_close_matches(name, [str(a) for a in allowed], n=1, cutoff=0.6)
    if not close:  # the same name in other case or punctuation: "Patient ID" for "patient_id", "ID_" for "id"
        squash = {re.sub(r"[^a-z0-9]", "", str(a).lower()): str(a) for a in allowed}
        key = re.sub(r"[^a-z0-9]", "", name.lower())
        close = [squash[key]] if key in squash else difflib.get_close_matches(key, list(squash), n=1, cutoff=0.75)
        close = [squash.get(c, c) for c in close]
    return f" Did you mean {_show(close[0])}?" if close else ""


def _listing(allowed: list[str] | tuple[str, ...], limit: int = 40) -> str:
    names = [str(a) for a in allowed]
    more = f" … ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Problems:
    """Every mistake in one file, raised together."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(f"{self.where}: {text}")

    def unknown(self, table: dict[str, Any], allowed: tuple[str, ...], section: str) -> None:
        for key in table:
            if key not in allowed:
                self.add(f"{section}: unknown key {_show(key)}.{_suggest(key, allowed)} "
                         f"Allowed keys: {', '.join(allowed)}.")

    def raise_if_any(self) -> None:
        if self.items:
            raise UsageError("\n".join(dict.fromkeys(self.items)))
