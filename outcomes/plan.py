"""The analysis plan: what ``outcomes compare`` executes, as a commented TOML file.

A plan names the primary and secondary outcomes, the planned visits and their
window, the endpoint, the reference arm, the baseline covariates and the
responder definitions (DESIGN.md §5; issue 7 fixes the field names, which other
tools read). :func:`default_plan` is the plan used when none is given;
:data:`DEFAULT_PLAN_TOML` is what ``outcomes plan --write FILE`` writes.

Every mistake in a plan file is a :class:`~outcomes.io.errors.UsageError`
(exit code 2) naming the file, the key and what is allowed; all mistakes in a
file are reported together. :func:`check_plan_against` then checks the plan
against the data (outcomes present, reference arm present, covariates usable,
at least two arms).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .config import DEFAULT_INSTRUMENTS, Options, ResponderRule
from .io.errors import UsageError
from .io.writers import atomic_write_text

if TYPE_CHECKING:
    from .cohort import Cohort

__all__ = [
    "DEFAULT_PLAN_TOML",
    "KNOWN_OUTCOMES",
    "AnalysisPlan",
    "ResponderDefinition",
    "check_plan_against",
    "default_plan",
    "load_plan",
    "write_default_plan",
    "write_plan",
]

#: Outcomes a plan may name: the scored instruments and the other assessment columns.
KNOWN_OUTCOMES: tuple[str, ...] = ("leg_pain", "back_pain", "odi", "rmdq", "numbness", "slr_deg", "pgic")

_COMBINE = ("all", "any")
_MISSING = ("nonresponder", "exclude")
#: Columns that cannot be covariates: the arm is always in the model, the id is not a covariate.
_NOT_COVARIATES = ("schedule", "patient_id")


# ---------------------------------------------------------------------------
# field checks (shared by the constructors and load_plan)
# ---------------------------------------------------------------------------

def _show(value: Any) -> str:
    """A value as the user wrote it in TOML (strings quoted)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> int | None:
    """``value`` as an int when it is a whole number (``2`` or ``2.0``), else None."""
    if _is_number(value) and float(value).is_integer():
        return int(value)
    return None


def _outcome(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or value not in KNOWN_OUTCOMES:
        hint = _suggest(value, KNOWN_OUTCOMES) if isinstance(value, str) else "."
        raise UsageError(f"{where}: {key} = {_show(value)} is not a known outcome{hint} "
                         f"Known outcomes: {', '.join(KNOWN_OUTCOMES)}.")
    return value


def _outcome_list(value: Any, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise UsageError(f"{where}: {key} must be a list of outcome names, e.g. [\"odi\"], got {_show(value)}.")
    out = tuple(_outcome(v, where, key) for v in value)
    _no_duplicates(out, where, key)
    return out


def _no_duplicates(values: tuple[Any, ...], where: str, key: str) -> None:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise UsageError(f"{where}: {key} lists {_show(seen[0])} more than once; give each once.")


def _visits(value: Any, where: str, key: str) -> tuple[int, ...]:
    weeks = [_whole(v) for v in value] if isinstance(value, (list, tuple)) else [None]
    if not weeks or any(w is None or w < 0 for w in weeks):
        raise UsageError(f"{where}: {key} must be a non-empty list of whole numbers of weeks ≥ 0, "
                         f"e.g. [0, 2, 4, 6, 8, 12], got {_show(value)}.")
    out = tuple(sorted(w for w in weeks if w is not None))
    _no_duplicates(out, where, key)
    return out


def _positive_whole(what: str) -> Callable[[Any, str, str], int]:
    def check(value: Any, where: str, key: str) -> int:
        number = _whole(value)
        if number is None or number <= 0:
            raise UsageError(f"{where}: {key} must be a whole number of {what} > 0, got {_show(value)}.")
        return number
    return check


def _reference(value: Any, where: str, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: {key} must be the name of an arm (a schedule value) in quotes, "
                         f"got {_show(value)}; leave it out to use the first arm in sorted order.")
    return value


def _covariates(value: Any, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise UsageError(f"{where}: {key} must be a list of patients columns, e.g. [\"age_years\", \"sex\"], "
                         f"got {_show(value)}.")
    out = tuple(value)
    for name in out:
        if name in _NOT_COVARIATES:
            raise UsageError(f"{where}: {key} cannot include {_show(name)}: the arm (schedule) is always in "
                             f"the model and patient_id is not a covariate.")
    _no_duplicates(out, where, key)
    return out


def _choice(allowed: tuple[str, ...]) -> Callable[[Any, str, str], str]:
    def check(value: Any, where: str, key: str) -> str:
        if value not in allowed:
            raise UsageError(f"{where}: {key} = {_show(value)} is not allowed; use "
                             + " or ".join(_show(a) for a in allowed) + ".")
        return value
    return check


def _number_or_none(value: Any, where: str, key: str) -> float | None:
    if value is not None and not _is_number(value):
        raise UsageError(f"{where}: {key} must be a number, got {_show(value)}.")
    return value


def _name(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: {key} must be a non-empty name in quotes, e.g. \"improved\", got {_show(value)}.")
    return value


def _suggest(key: str, allowed: tuple[str, ...] | list[str]) -> str:
    """`` → did you mean "x"?`` for the closest allowed name (difflib, else a name it begins), or ``"."``."""
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if not close and len(key) >= 3:
        close = [a for a in allowed if a.startswith(key)][:1]
    return f" → did you mean {_show(close[0])}?" if close else "."


# ---------------------------------------------------------------------------
# responder definitions
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ResponderDefinition:
    """Who counts as a responder at the endpoint, for one outcome.

    Parameters
    ----------
    name : str
        The label of the responder table rows (e.g. ``"improved"``).
    outcome : str
        One of :data:`KNOWN_OUTCOMES`.
    change_at_most : float, optional
        Endpoint minus baseline, in the outcome's points, is at most this
        (``-2``: a fall of at least 2 points).
    pct_change_at_most : float, optional
        Change as a percent of baseline is at most this (``-30``: a fall of at least 30 %).
    endpoint_at_most : float, optional
        The endpoint value is at most this (``1``: NRS 0 or 1, pain-free or nearly;
        Ashar et al. 2022).
    combine : {"all", "any"}
        Whether all or any of the rules given must hold.
    missing : {"nonresponder", "exclude"}
        The primary handling of a patient without an endpoint value; both rates
        (every randomised patient, and those assessed) are always reported.

    At least one of the three rules must be given. Rules are written as upper
    bounds on the raw change, so they read the same for every instrument where
    a fall is an improvement.
    """

    name: str
    outcome: str
    change_at_most: float | None = None
    pct_change_at_most: float | None = None
    endpoint_at_most: float | None = None
    combine: Literal["all", "any"] = "all"
    missing: Literal["nonresponder", "exclude"] = "nonresponder"

    def __post_init__(self) -> None:
        _check_responder(self, "ResponderDefinition")

    @classmethod
    def from_rule(cls, name: str, outcome: str, rule: ResponderRule, *,
                  missing: Literal["nonresponder", "exclude"] = "nonresponder") -> ResponderDefinition:
        """The definition equivalent to an instrument's :class:`~outcomes.config.ResponderRule`
        (for an instrument where higher is worse; the inverse of :meth:`to_rule`)."""
        return cls(name=name, outcome=outcome,
                   change_at_most=None if rule.points is None else -rule.points,
                   pct_change_at_most=None if rule.percent is None else -rule.percent,
                   endpoint_at_most=rule.endpoint_at_most, combine=rule.combine, missing=missing)

    def to_rule(self, higher_is_worse: bool = True) -> ResponderRule:
        """This definition as a :class:`~outcomes.config.ResponderRule`.

        The mapping is ``points = -change_at_most``, ``percent =
        -pct_change_at_most``, ``endpoint_at_most`` unchanged and ``combine``
        unchanged: a rule measures improvement in the instrument's better
        direction, which for an instrument where higher is worse is a fall.
        ``missing`` has no counterpart in a rule (it is a reporting choice).

        Raises
        ------
        ValueError
            When ``higher_is_worse`` is False and a change rule is given: an
            upper bound on the change of such an instrument (e.g. straight-leg
            raise in degrees) is a bound on worsening, which a rule cannot express.
        """
        if not higher_is_worse and (self.change_at_most is not None or self.pct_change_at_most is not None):
            raise ValueError(f"responder {self.name!r}: change_at_most and pct_change_at_most bound a fall, "
                             f"which is a worsening for {self.outcome} (higher is better); only "
                             f"endpoint_at_most can be expressed as a ResponderRule for it.")
        return ResponderRule(
            points=None if self.change_at_most is None else -self.change_at_most,
            percent=None if self.pct_change_at_most is None else -self.pct_change_at_most,
            combine=self.combine, endpoint_at_most=self.endpoint_at_most)


_RESPONDER_CHECKS: dict[str, Callable[[Any, str, str], Any]] = {
    "name": _name,
    "outcome": _outcome,
    "change_at_most": _number_or_none,
    "pct_change_at_most": _number_or_none,
    "endpoint_at_most": _number_or_none,
    "combine": _choice(_COMBINE),
    "missing": _choice(_MISSING),
}
_RESPONDER_KEYS = tuple(f.name for f in dataclasses.fields(ResponderDefinition))


def _check_responder(rd: ResponderDefinition, where: str) -> None:
    for key, check in _RESPONDER_CHECKS.items():
        check(getattr(rd, key), where, key)
    if rd.change_at_most is None and rd.pct_change_at_most is None and rd.endpoint_at_most is None:
        raise UsageError(f"{where}: responder {_show(rd.name)} gives no rule; give at least one of "
                         f"change_at_most, pct_change_at_most, endpoint_at_most.")
    if rd.pct_change_at_most is not None and rd.pct_change_at_most < -100:
        raise UsageError(f"{where}: pct_change_at_most = {_show(rd.pct_change_at_most)} is below -100 %, "
                         f"which no change can reach; use a value ≥ -100, e.g. -30.")
    spec = DEFAULT_INSTRUMENTS.get(rd.outcome)
    if spec is not None and rd.endpoint_at_most is not None and not spec.low <= rd.endpoint_at_most <= spec.high:
        raise UsageError(f"{where}: endpoint_at_most = {_show(rd.endpoint_at_most)} is outside {rd.outcome}'s "
                         f"range {spec.low:g}–{spec.high:g}.")


def _default_responders(outcome: str) -> tuple[ResponderDefinition, ...]:
    """One ``"improved"`` definition from the instrument's published rule (none without an instrument)."""
    spec = DEFAULT_INSTRUMENTS.get(outcome)
    if spec is None or not spec.higher_is_worse:
        return ()
    return (ResponderDefinition.from_rule("improved", outcome, spec.responder),)


# ---------------------------------------------------------------------------
# the plan
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class AnalysisPlan:
    """What ``outcomes compare`` executes (DESIGN.md §5; field names fixed by issue 7).

    Parameters
    ----------
    outcome : str
        The primary outcome, one of :data:`KNOWN_OUTCOMES`.
    outcomes : sequence of str
        Secondary outcomes; each gets the same tables.
    visits : sequence of int
        Planned visit weeks (stored sorted).
    visit_window_days : int
        An assessment goes to the nearest planned visit within this many days.
    endpoint_week : int
        The endpoint for the ANCOVA and the responder definitions; one of ``visits``.
    reference : str or None
        The reference arm for contrasts; None means the first arm in sorted order.
    covariates : sequence of str
        Baseline covariates (patients columns) in every model.
    responders : sequence of ResponderDefinition, optional
        Responder definitions; by default one ``"improved"`` definition for the
        primary outcome from its instrument's published rule
        (:data:`outcomes.config.DEFAULT_INSTRUMENTS`; none for an outcome without one).

    Sequences are stored as tuples, so a plan is immutable and hashable;
    :meth:`to_dict` gives lists.
    """

    outcome: str = "leg_pain"
    outcomes: tuple[str, ...] = ()
    visits: tuple[int, ...] = (0, 2, 4, 6, 8, 12)
    visit_window_days: int = 7
    endpoint_week: int = 6
    reference: str | None = None
    covariates: tuple[str, ...] = ()
    responders: tuple[ResponderDefinition, ...] | None = None

    def __post_init__(self) -> None:
        where = "AnalysisPlan"
        for key, check in _PLAN_CHECKS.items():
            object.__setattr__(self, key, check(getattr(self, key), where, key))
        if self.responders is None:
            object.__setattr__(self, "responders", _default_responders(self.outcome))
        _check_plan(self, where)

    def to_toml(self) -> str:
        """The plan as a TOML document with a comment on every field (what ``DIR/plan.toml`` holds)."""
        return _render(self, example=False)

    def sha256(self) -> str:
        """Hex SHA-256 of :meth:`to_toml`, for the provenance."""
        return hashlib.sha256(self.to_toml().encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the plan's fields, sequences as lists, responders as dicts."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key in ("outcomes", "visits", "covariates"):
            out[key] = list(out[key])
        out["responders"] = [dataclasses.asdict(r) for r in self.responders or ()]
        return out

    def options(self, base: Options | None = None) -> Options:
        """``base`` (default :class:`~outcomes.config.Options`) with the plan's ``visits``,
        ``visit_window_days`` and ``endpoint_week``; everything else unchanged."""
        return dataclasses.replace(base if base is not None else Options(), visits=tuple(self.visits),
                                   visit_window_days=self.visit_window_days, endpoint_week=self.endpoint_week)

    @property
    def all_outcomes(self) -> tuple[str, ...]:
        """The primary outcome, the secondary ones, then any other outcome a responder definition names."""
        names = [self.outcome, *self.outcomes, *(r.outcome for r in self.responders or ())]
        return tuple(dict.fromkeys(names))


def _responder_list(value: Any, where: str, key: str) -> tuple[ResponderDefinition, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(r, ResponderDefinition) for r in value):
        raise UsageError(f"{where}: {key} must be a list of ResponderDefinition, got {_show(value)}.")
    return tuple(value)


_PLAN_CHECKS: dict[str, Callable[[Any, str, str], Any]] = {
    "outcome": _outcome,
    "outcomes": _outcome_list,
    "visits": _visits,
    "visit_window_days": _positive_whole("days"),
    "endpoint_week": _positive_whole("weeks"),
    "reference": _reference,
    "covariates": _covariates,
    "responders": _responder_list,
}
_PLAN_KEYS = tuple(f.name for f in dataclasses.fields(AnalysisPlan))


def _check_plan(plan: AnalysisPlan, where: str) -> None:
    """Checks across fields (each field is already valid on its own)."""
    if plan.outcome in plan.outcomes:
        raise UsageError(f"{where}: outcomes lists the primary outcome {_show(plan.outcome)}; "
                         f"list only secondary outcomes there.")
    if plan.endpoint_week not in plan.visits:
        raise UsageError(f"{where}: endpoint_week = {plan.endpoint_week} is not one of the visits "
                         f"{list(plan.visits)}; add it to visits or choose one of them.")
    _no_duplicates(tuple(r.name for r in plan.responders or ()), where, "[[responders]] name")


def default_plan() -> AnalysisPlan:
    """The plan ``outcomes compare`` uses when none is given (DESIGN.md §5 defaults)."""
    return AnalysisPlan()


# ---------------------------------------------------------------------------
# TOML out
# ---------------------------------------------------------------------------

_HEADER = """\
# Analysis plan for `outcomes compare DATA --plan FILE` (DESIGN.md §5).
# Lines starting with # are comments. A key left out takes its default; the
# plan actually used, defaults filled in, is written beside the results.
"""

_PLAN_COMMENTS = {
    "outcome": "primary outcome: " + ", ".join(KNOWN_OUTCOMES),
    "outcomes": "secondary outcomes; each gets the same tables",
    "visits": "planned visit weeks (whole weeks since enrolment)",
    "visit_window_days": "an assessment goes to the nearest visit within this many days",
    "endpoint_week": "endpoint for the ANCOVA and responders; one of the visits",
    "reference": "reference arm for contrasts (a schedule value)",
    "covariates": "baseline covariates (patients columns), in every model",
}

_RESPONDER_COMMENTS = {
    "name": "label of this definition in the responder table",
    "outcome": "the outcome it applies to",
    "change_at_most": "points: endpoint minus baseline at most this",
    "pct_change_at_most": "percent: change / baseline x 100 at most this",
    "endpoint_at_most": "a state at the endpoint (e.g. pain-free or nearly)",
    "combine": '"all" or "any" of the rules given',
    "missing": '"nonresponder" or "exclude"; both rates are always reported',
}

#: Shown (commented out) for a rule a definition does not use.
_RULE_EXAMPLES = {"change_at_most": -2, "pct_change_at_most": -30, "endpoint_at_most": 1}

_EXAMPLE_HEADER = """\

# A second definition, e.g. pain-free or nearly at the endpoint (Ashar et al.
# 2022). Remove the leading "# " from the five lines below to use it.
# [[responders]]
"""
_EXAMPLE = {"name": "pain_free", "outcome": "leg_pain", "endpoint_at_most": 1, "missing": "nonresponder"}


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def _line(key: str, value: Any, comment: str, *, commented: bool = False) -> str:
    text = f"{'# ' if commented else ''}{key} = {_toml_value(value)}"
    return f"{text:<33} # {comment}"


def _render(plan: AnalysisPlan, *, example: bool) -> str:
    lines = [_HEADER]
    for key, comment in _PLAN_COMMENTS.items():
        value = getattr(plan, key)
        if key == "reference" and value is None:
            lines.append(_line(key, "name", "not set: the first arm in sorted order is the reference",
                               commented=True))
        else:
            lines.append(_line(key, value, comment))
    if not plan.responders:
        lines.append(_line("responders", [], "no responder definitions"))
    for rd in plan.responders or ():
        lines += ["", "[[responders]]"]
        for key, comment in _RESPONDER_COMMENTS.items():
            value = getattr(rd, key)
            if value is None:
                lines.append(_line(key, _RULE_EXAMPLES[key], f"not used; {comment}", commented=True))
            else:
                lines.append(_line(key, value, comment))
    if example:
        lines.append(_EXAMPLE_HEADER.rstrip("\n"))
        lines += [_line(k, v, _RESPONDER_COMMENTS[k], commented=True) for k, v in _EXAMPLE.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# TOML in
# ---------------------------------------------------------------------------

def _unknown_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> list[str]:
    return [f"{where}: unknown key {_show(k)}{_suggest(k, allowed)} Allowed keys: {', '.join(allowed)}."
            for k in table if k not in allowed]


def _checked(table: dict[str, Any], checks: dict[str, Callable[[Any, str, str], Any]], where: str,
             problems: list[str]) -> dict[str, Any]:
    """The known keys of ``table``, each checked; problems are appended, not raised."""
    out = {}
    for key, value in table.items():
        if key in checks:
            try:
                out[key] = checks[key](value, where, key)
            except UsageError as exc:
                problems.append(str(exc))
    return out


def _plan_from_mapping(data: dict[str, Any], where: str) -> AnalysisPlan:
    """Build a plan from parsed TOML, gathering every problem into one UsageError."""
    problems = _unknown_keys(data, _PLAN_KEYS, where)
    top = _checked({k: v for k, v in data.items() if k != "responders"}, _PLAN_CHECKS, where, problems)
    raw = data.get("responders")
    if raw is not None:
        if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
            problems.append(f"{where}: responders must be written as one [[responders]] table per definition "
                            f"(or responders = [] for none), got {_show(raw)}.")
        else:
            defs = []
            for i, table in enumerate(raw, start=1):
                label = f"{where} [[responders]] #{i}"
                before = len(problems)
                problems += _unknown_keys(table, _RESPONDER_KEYS, label)
                values = _checked(table, _RESPONDER_CHECKS, label, problems)
                needed = [k for k in ("name", "outcome") if k not in table]
                if needed:
                    problems.append(f"{label}: {' and '.join(needed)} missing; every definition needs "
                                    f"a name and an outcome.")
                if len(problems) > before:
                    continue
                try:
                    defs.append(_build(ResponderDefinition, values, label))
                except UsageError as exc:
                    problems.append(str(exc))
            top["responders"] = tuple(defs)
    if problems:
        raise UsageError("\n".join(dict.fromkeys(problems)))
    return _build(AnalysisPlan, top, where)


def _build(cls: Any, values: dict[str, Any], where: str) -> Any:
    """``cls(**values)``, with the constructor's messages re-labelled with ``where`` (the file)."""
    try:
        return cls(**values)
    except UsageError as exc:
        raise UsageError(str(exc).replace(cls.__name__, where, 1)) from None


def load_plan(path: str | os.PathLike[str]) -> AnalysisPlan:
    """Read and validate a plan file.

    Returns
    -------
    AnalysisPlan
        With every key left out set to its default.

    Raises
    ------
    UsageError
        (exit code 2) when the file is missing or unreadable, is not TOML (with
        the line tomllib reports), has an unknown key (with the closest valid
        one), a value of the wrong type or outside what is allowed, or names an
        unknown outcome; every problem in the file is listed.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"Plan file {path} does not exist or is not a file; "
                         f"`outcomes plan --write {path}` writes a default one.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Plan file {path} cannot be read as UTF-8 text: {exc}.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}.") from None
    return _plan_from_mapping(data, str(path))


def write_plan(plan: AnalysisPlan, path: str | os.PathLike[str]) -> Path:
    """Write ``plan.to_toml()`` to ``path`` atomically (the folder must exist); returns the path."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"Cannot write the plan to {path}: the folder {path.parent} does not exist.")
    atomic_write_text(path, plan.to_toml())
    return path


def write_default_plan(path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write :data:`DEFAULT_PLAN_TOML` to ``path``; an existing file is kept unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise UsageError(f"{path} already exists; choose another name or allow overwriting it.")
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name for the plan, e.g. {path / 'plan.toml'}.")
    if not path.parent.is_dir():
        raise UsageError(f"Cannot write the plan to {path}: the folder {path.parent} does not exist.")
    atomic_write_text(path, DEFAULT_PLAN_TOML)
    return path


#: What ``outcomes plan --write FILE`` writes: :func:`default_plan` with a comment on
#: every field and a commented example of a second responder definition.
DEFAULT_PLAN_TOML: str = _render(default_plan(), example=True)


# ---------------------------------------------------------------------------
# the plan against the data
# ---------------------------------------------------------------------------

def check_plan_against(plan: AnalysisPlan, cohort: Cohort) -> list[str]:
    """Check that ``cohort`` can be analysed as ``plan`` says.

    Raises
    ------
    UsageError
        (every problem together) when an outcome the plan names has no value
        in the assessments, the reference arm is not in the data (the arms are
        listed), a covariate is not a patients column or has a single value, or
        there is only one arm.

    Returns
    -------
    list of str
        Remarks on softer issues: the reference taken by default, patients
        without an arm or with a missing covariate, arms with no one assessed
        at the endpoint.
    """
    patients, assessments = cohort.patients, cohort.assessments
    problems: list[str] = []
    remarks: list[str] = []

    arm_of = patients["schedule"] if "schedule" in patients.columns else None
    arms = sorted(arm_of.dropna().astype(str).unique()) if arm_of is not None else []
    if len(arms) < 2:
        problems.append(f"The data hold {'only one arm (' + arms[0] + ')' if arms else 'no arm (schedule)'}; "
                        f"a comparison needs at least two.")
    if arm_of is not None and arm_of.isna().any():
        remarks.append(f"{int(arm_of.isna().sum())} patients have no arm (schedule) and are left out of contrasts.")
    if plan.reference is not None and plan.reference not in arms:
        problems.append(f"The plan's reference arm {_show(plan.reference)} is not in the data"
                        f"{_suggest(plan.reference, arms)} Arms in the data: {', '.join(arms) or 'none'}.")
    elif plan.reference is None and arms:
        remarks.append(f"No reference arm in the plan: first in sorted order: {arms[0]}.")

    for name in plan.all_outcomes:
        if name not in assessments.columns or not assessments[name].notna().any():
            problems.append(f"The plan names the outcome {name}, but the assessments hold no {name} value.")

    for name in plan.covariates:
        if name not in patients.columns:
            problems.append(f"The plan's covariate {_show(name)} is not a patients column"
                            f"{_suggest(name, list(patients.columns))} Columns: {', '.join(patients.columns)}.")
            continue
        values = patients[name]
        if values.nunique(dropna=True) < 2:
            problems.append(f"The plan's covariate {_show(name)} has a single value in the data "
                            f"({_show(str(values.dropna().iloc[0])) if values.notna().any() else 'all missing'}); "
                            f"it cannot adjust anything, so leave it out.")
        elif values.isna().any():
            remarks.append(f"Covariate {name} is missing for {int(values.isna().sum())} patients; "
                           f"they are left out of the adjusted models.")
    if problems:
        raise UsageError("\n".join(problems))

    if "week" in assessments.columns and plan.outcome in assessments.columns:
        near = assessments.loc[((assessments["week"] - plan.endpoint_week).abs() * 7 <= plan.visit_window_days)
                               & assessments[plan.outcome].notna(), "patient_id"]
        assessed = set(patients.loc[patients["patient_id"].isin(near), "schedule"].dropna().astype(str))
        for arm in arms:
            if arm not in assessed:
                remarks.append(f"No one in arm {arm} has {plan.outcome} assessed at the endpoint "
                               f"(week {plan.endpoint_week} ± {plan.visit_window_days} days).")
    return remarks
