"""Table Schema files: loading them and describing each export's contract.

The schema files ``<export>.schema.json`` (the repository's ``data/schemas/``, installed
with the package; see `outcomes._resources`) follow the Frictionless
Table Schema specification (fields with types and constraints, ``missingValues``,
``primaryKey``, ``foreignKeys``). They are the single source of truth: the
validator compiles them into vectorised checks and ``docs/data-dictionary.md`` is
generated from them. Two custom properties are used and documented here:

``unit`` (on a field)
    The unit of measurement shown in the data dictionary and in messages.
``x-atLeastOneOf`` (on a schema)
    Columns of which at least one must be present in the file and filled in
    every row (assessments need at least one outcome).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._resources import schema_dir as _schema_dir
from ..errors import UsageError

__all__ = [
    "EXPORTS",
    "REQUIRED_EXPORTS",
    "SCHEMA_DIR",
    "Field",
    "ForeignKey",
    "TableSchema",
    "load_schema",
    "load_schemas",
]

#: The four exports of a dataset, in the order they are read and reported.
EXPORTS: tuple[str, ...] = ("patients", "prescriptions", "sessions", "assessments")
#: Exports a dataset must contain: who was enrolled, and their outcome assessments.
REQUIRED_EXPORTS: tuple[str, ...] = ("patients", "assessments")

#: Where the schema files live: ``$OUTCOMES_SCHEMA_DIR``, else the copies installed with the package.
SCHEMA_DIR = _schema_dir()

_TYPES = {"string", "integer", "number", "boolean", "date", "datetime"}
# Spellings accepted for booleans when a field declares no trueValues/falseValues
# (compared case-insensitively).
_DEFAULT_TRUE = ("true", "t", "yes", "y", "1")
_DEFAULT_FALSE = ("false", "f", "no", "n", "0")


@dataclass(frozen=True)
class Field:
    """One column of an export, as declared in its schema."""

    name: str
    type: str
    title: str = ""
    description: str = ""
    unit: str | None = None
    required: bool = False
    unique: bool = False
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    max_length: int | None = None
    true_values: tuple[str, ...] = _DEFAULT_TRUE
    false_values: tuple[str, ...] = _DEFAULT_FALSE

    @property
    def range_text(self) -> str:
        """The allowed range as people write it, e.g. ``0–10``."""
        lo = "" if self.minimum is None else _fmt(self.minimum)
        hi = "" if self.maximum is None else _fmt(self.maximum)
        if lo and hi:
            return f"{lo}–{hi}"
        return f"at least {lo}" if lo else f"at most {hi}"


@dataclass(frozen=True)
class ForeignKey:
    """``fields`` of this export must exist as ``reference_fields`` in ``resource``."""

    fields: tuple[str, ...]
    resource: str
    reference_fields: tuple[str, ...]


@dataclass(frozen=True)
class TableSchema:
    """The contract of one export."""

    name: str
    title: str
    description: str
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    missing_values: tuple[str, ...] = ("",)
    at_least_one_of: tuple[str, ...] = ()
    path: Path | None = field(default=None, compare=False)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns that must be present in the file (a required value implies a required column)."""
        return tuple(f.name for f in self.fields if f.required)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _parse_field(raw: dict[str, Any], where: str) -> Field:
    try:
        name, type_ = raw["name"], raw.get("type", "string")
    except KeyError:
        raise UsageError(f"{where}: a field has no 'name'.") from None
    if type_ not in _TYPES:
        raise UsageError(
            f"{where}: field {name!r} has type {type_!r}; supported types are {sorted(_TYPES)}."
        )
    c = raw.get("constraints", {})
    return Field(
        name=name,
        type=type_,
        title=raw.get("title", name),
        description=raw.get("description", ""),
        unit=raw.get("unit"),
        required=bool(c.get("required", False)),
        unique=bool(c.get("unique", False)),
        minimum=c.get("minimum"),
        maximum=c.get("maximum"),
        enum=tuple(c["enum"]) if "enum" in c else None,
        pattern=c.get("pattern"),
        max_length=c.get("maxLength"),
        true_values=tuple(raw.get("trueValues", _DEFAULT_TRUE)),
        false_values=tuple(raw.get("falseValues", _DEFAULT_FALSE)),
    )


def load_schema(path: str | os.PathLike[str]) -> TableSchema:
    """Read one Table Schema JSON file.

    Raises
    ------
    UsageError
        When the file is missing, is not JSON or declares an unsupported type.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"Schema file {path} not found.") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"Schema file {path} is not valid JSON: {exc}.") from None
    fks = tuple(
        ForeignKey(
            fields=_as_tuple(fk["fields"]),
            resource=fk["reference"]["resource"],
            reference_fields=_as_tuple(fk["reference"]["fields"]),
        )
        for fk in raw.get("foreignKeys", [])
    )
    return TableSchema(
        name=raw.get("name", path.name.split(".")[0]),
        title=raw.get("title", ""),
        description=raw.get("description", ""),
        fields=tuple(_parse_field(f, str(path)) for f in raw["fields"]),
        primary_key=_as_tuple(raw.get("primaryKey")),
        foreign_keys=fks,
        missing_values=tuple(dict.fromkeys(["", *raw.get("missingValues", [""])])),
        at_least_one_of=_as_tuple(raw.get("x-atLeastOneOf")),
        path=path,
    )


def load_schemas(schema_dir: str | os.PathLike[str] | None = None) -> dict[str, TableSchema]:
    """Read the schema of every export from ``schema_dir`` (default :data:`SCHEMA_DIR`)."""
    folder = Path(schema_dir) if schema_dir is not None else SCHEMA_DIR
    return {name: load_schema(folder / f"{name}.schema.json") for name in EXPORTS}
