"""Plan files: reading one (every problem reported together) and writing one."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..files import atomic_write_text, check_toml_target
from ._fields import _show, _suggest
from ._toml import _render
from .spec import (
    MAX_RESPONDERS,
    TABLES,
    _PLAN_CHECKS,
    _PLAN_KEYS,
    _RESPONDER_CHECKS,
    _RESPONDER_KEYS,
    AnalysisPlan,
    ResponderDefinition,
    default_plan,
)

__all__ = ["DEFAULT_PLAN_TOML", "MAX_PLAN_BYTES", "MAX_PLAN_DEPTH", "MAX_RESPONDERS", "load_plan",
           "write_default_plan", "write_plan"]

#: A plan file is a page of settings: more than this is not a plan (issue: resource limits).
MAX_PLAN_BYTES = 1_000_000
#: Deepest nesting of brackets and braces a plan may use: the format needs 2 (a [[responders]] table
#: header, a list value inside a table); a little room is left for inline tables.
MAX_PLAN_DEPTH = 4


def _nesting(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` outside strings and comments (a linear scan, no recursion)."""
    depth = deepest = 0
    quote = ""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return deepest


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
    top = _checked({k: v for k, v in data.items() if k != "responders" and k not in TABLES}, _PLAN_CHECKS, where,
                   problems)
    for key, (cls, checks) in TABLES.items():
        if key not in data:
            continue
        label = f"{where} [{key}]"
        if not isinstance(data[key], dict):
            problems.append(f"{where}: {key} must be written as a [{key}] table with its keys "
                            f"({', '.join(checks)}), got {_show(data[key])}.")
            continue
        before = len(problems)
        problems += _unknown_keys(data[key], tuple(checks), label)
        values = _checked(data[key], checks, label, problems)
        if len(problems) == before:
            try:
                top[key] = _build(cls, values, label)
            except UsageError as exc:
                problems.append(str(exc))
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
        size = path.stat().st_size
        if size > MAX_PLAN_BYTES:
            raise UsageError(f"Plan file {path} is {size:,} bytes; a plan is at most {MAX_PLAN_BYTES:,} bytes "
                             f"(a page of settings): check that this is the plan file.")
        with path.open("rb") as fh:
            raw = fh.read(MAX_PLAN_BYTES + 1)  # the file may have grown since stat
        if len(raw) > MAX_PLAN_BYTES:
            raise UsageError(f"Plan file {path} is over {MAX_PLAN_BYTES:,} bytes; a plan is at most "
                             f"{MAX_PLAN_BYTES:,} bytes (a page of settings): check that this is the plan file.")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Plan file {path} cannot be read as UTF-8 text: {exc}.") from None
    deepest = _nesting(text)
    if deepest > MAX_PLAN_DEPTH:
        raise UsageError(f"Plan file {path} nests brackets {deepest} deep; a plan needs at most {MAX_PLAN_DEPTH} "
                         f"(lists of numbers or names, [[responders]] tables): check that this is the plan file.")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}.") from None
    except RecursionError:
        raise UsageError(f"Plan file {path} nests too deeply to be a plan; check that this is the plan file.") from None
    responders = data.get("responders")
    if isinstance(responders, list) and len(responders) > MAX_RESPONDERS:
        raise UsageError(f"Plan file {path} has {len(responders):,} responder definitions; a plan may have at most "
                         f"{MAX_RESPONDERS} ([[responders]] tables). Keep the ones the protocol pre-specifies.")
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
    path = check_toml_target(path, overwrite=overwrite, what="plan")
    atomic_write_text(path, DEFAULT_PLAN_TOML)
    return path


#: What ``outcomes plan --write FILE`` writes: :func:`default_plan` with a comment on
#: every field and a commented example of a second responder definition.
#: The reference is written explicitly ("weekly", the time-based schedule of the built-in
#: program and the example data) so that a first plan compares in the same direction as the demo.
DEFAULT_PLAN_TOML: str = _render(default_plan(), example=True, reference="weekly")
