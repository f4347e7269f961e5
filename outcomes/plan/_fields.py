"""Checks of a plan's fields, shared by the constructors and the file reader.

Each check takes ``(value, where, key)`` and returns the value normalised (lists
become sorted or plain tuples) or raises a `UsageError` naming ``where`` (the
class or the file), the key and what is allowed.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable
from typing import Any

from ..errors import UsageError

__all__ = ["KNOWN_OUTCOMES"]

KNOWN_OUTCOMES: tuple[str, ...] = ("leg_pain", "back_pain", "odi", "rmdq", "numbness", "slr_deg", "pgic")

_COMBINE = ("all", "any")
_MISSING = ("nonresponder", "exclude")
#: Analyses the brief can lead with: ANCOVA at the endpoint, the MMRM, the linear mixed
#: model of time × arm, or the endpoint regressed on arm and covariates (no baseline).
PRIMARY = ("ancova", "mmrm", "lmm", "regression")
MULTIPLICITY = ("holm", "bonferroni", "none")
RANDOM = ("intercept_slope", "intercept")
BASELINE = ("response", "covariate")
TIME = ("linear", "visit")
COVARIANCE = ("unstructured", "compound_symmetry", "ar1")
#: Columns that cannot be covariates: the arm is always in the model, the id is not a covariate.
_NOT_COVARIATES = ("schedule", "patient_id")


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
    """A built-in outcome, or a name that may be an outcome declared in the dataset's description
    (``[outcomes.NAME]`` of dataset.toml; checked against the data by `check_plan_against`). A name
    close to a built-in one is taken for a typo of it."""
    if isinstance(value, str) and value in KNOWN_OUTCOMES:
        return value
    hint = _suggest(value, KNOWN_OUTCOMES) if isinstance(value, str) else "."
    if isinstance(value, str) and value.isidentifier() and hint == ".":
        return value
    raise UsageError(f"{where}: {key} = {_show(value)} is not a known outcome{hint} "
                     f"Known outcomes: {', '.join(KNOWN_OUTCOMES)} (or one declared in the dataset's "
                     f"[outcomes] table, a name of letters, digits and _).")


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


#: More planned visits than any trial schedules; 100,000 of them took minutes of table building.
MAX_VISITS = 100


def _visits(value: Any, where: str, key: str) -> tuple[float, ...]:
    """Planned visit times ≥ 0 (weeks for dated data, else the dataset's time unit), sorted; whole
    numbers are kept as ints."""
    if isinstance(value, (list, tuple)) and len(value) > MAX_VISITS:
        raise UsageError(f"{where}: {key} lists {len(value):,} visits; a plan has at most {MAX_VISITS} planned "
                         "visits (unscheduled assessments need no visit: the mixed model keeps them).")
    times = [v if _is_number(v) else None for v in value] if isinstance(value, (list, tuple)) else [None]
    if not times or any(t is None or t < 0 for t in times):
        raise UsageError(f"{where}: {key} must be a non-empty list of times ≥ 0 (weeks for dated data, else in "
                         f"the dataset's time unit), e.g. [0, 2, 4, 6, 8, 12], got {_show(value)}.")
    out = tuple(sorted(int(t) if float(t).is_integer() else float(t) for t in times if t is not None))
    _no_duplicates(out, where, key)
    return out


def _positive_number(what: str, *, zero: bool = False) -> Callable[[Any, str, str], float | None]:
    """A number > 0 (≥ 0 with ``zero``) or None; whole numbers kept as ints."""
    def check(value: Any, where: str, key: str) -> float | None:
        if value is None:
            return None
        if not _is_number(value) or value < 0 or (value == 0 and not zero):
            raise UsageError(f"{where}: {key} must be a number {'≥' if zero else '>'} 0 {what}, got {_show(value)}.")
        return int(value) if float(value).is_integer() else float(value)
    return check


def _whole_or_none(what: str) -> Callable[[Any, str, str], int | None]:
    """A whole number ≥ 0 of ``what`` (0: the exact time only), or None (not given)."""
    def check(value: Any, where: str, key: str) -> int | None:
        if value is None:
            return None
        number = _whole(value)
        if number is None or number < 0:
            raise UsageError(f"{where}: {key} must be a whole number of {what} ≥ 0, got {_show(value)}.")
        return number
    return check


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


def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{where}: {key} must be text in quotes, got {_show(value)}.")
    return value.strip()


def _imputations(value: Any, where: str, key: str) -> int:
    number = _whole(value)
    if number is None or not 0 <= number <= 1000:
        raise UsageError(f"{where}: {key} must be a whole number of imputed datasets from 0 (no multiple "
                         f"imputation) to 1000, e.g. 50, got {_show(value)}.")
    return number


def _deltas(value: Any, where: str, key: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or not all(_is_number(v) and v >= 0 for v in value):
        raise UsageError(f"{where}: {key} must be a list of shifts ≥ 0 in the outcome's units, e.g. [0, 1, 2, 3] "
                         f"([] for none), got {_show(value)}.")
    out = tuple(sorted(float(v) for v in value))
    _no_duplicates(out, where, key)
    return out
