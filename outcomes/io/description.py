"""Dataset descriptions: ``dataset.toml`` says once how to read an export into the contract.

A description names the layout of the data (``exports``: the
four contract files; ``long``: one file, a row per patient and time; ``wide``:
one file, a row per patient; ``redcap``: a REDCap records export with its data
dictionary, see :mod:`outcomes.io.redcap`; ``adam``: CDISC ADaM ADSL and a BDS
dataset, see :mod:`outcomes.io.adam`), the files, extra spellings of missing values, the
columns that hold contract fields, value recodes, row filters, the time axis,
declared outcomes and typed covariates. :func:`load_description` parses and
checks one without reading the data; :func:`check_columns` checks it against a
file's column names. Every mistake is a :class:`~outcomes.io.errors.UsageError`
(exit code 2) naming the file, the key and what is allowed, with the closest
valid name; all mistakes in a file are reported together.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from ._description_types import (DESCRIPTION_FILE, LAYOUTS, TIME_UNITS, UNIT_DAYS, DatasetDescription,
                                 DeclaredOutcome, RowFilter, TimeAxis, _listing, _number, _Problems, _show,
                                 _suggest)
from .errors import UsageError
from .schema import TableSchema, load_schemas

__all__ = [
    "DESCRIPTION_FILE",
    "LAYOUTS",
    "TIME_UNITS",
    "UNIT_DAYS",
    "DatasetDescription",
    "DeclaredOutcome",
    "RowFilter",
    "TimeAxis",
    "check_columns",
    "find_description",
    "load_description",
    "parse_description",
]

_COVARIATE_KINDS = ("numeric", "categorical")
_FILE_WHAT = {"long": "the long file", "wide": "the wide file", "redcap": "the REDCap records export (raw codes)",
              "adam": "the ADaM BDS dataset, e.g. adqs.csv"}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

_SECTIONS = ("source", "columns", "values", "filter", "time", "outcomes", "covariates")
_SOURCE_KEYS = ("layout", "file", "sheet", "missing", "dictionary", "subjects", "sessions")
_FILTER_KEYS = ("column", "keep", "drop", "at_least", "at_most", "not_missing")
_TIME_KEYS = ("unit", "column", "visits")
_OUTCOME_KEYS = ("label", "unit", "min", "max", "higher_is_better", "integer", "mcid", "column", "columns",
                 "baseline_column", "paramcd")
#: Layouts that read one file of rows per patient and time (an outcome is a column of it).
_ROW_LAYOUTS = ("long", "redcap")
#: Keys a built-in outcome may not change: its scale and direction are fixed by its instrument.
_FIXED_FOR_BUILTINS = ("min", "max", "higher_is_better", "integer")
#: Columns of the assessments contract that are not outcomes.
_NOT_OUTCOMES = ("patient_id", "assessed_on", "time", "week", "day", "week_index", "schedule")


# (the values and the message helpers: :mod:`outcomes.io._description_types`)


def _contract_fields(schemas: dict[str, TableSchema], layout: str) -> list[str]:
    names = {"exports": list(schemas), "redcap": ["patients", "assessments", "sessions"]}.get(
        layout, ["patients", "assessments"])
    return list(dict.fromkeys(f for n in names for f in schemas[n].field_names))


# --------------------------------------------------------------------------- parsing


def find_description(folder: str | os.PathLike[str]) -> Path | None:
    """``folder/dataset.toml`` when it exists (a file), else None."""
    path = Path(folder) / DESCRIPTION_FILE
    if path.is_file():
        return path
    if path.exists() or path.is_symlink():
        raise UsageError(f"{path} is not a file (a folder, pipe or broken link); the dataset description must be "
                         "a TOML file. Remove it or replace it with the description.")
    return None


def load_description(path: str | os.PathLike[str], *, schemas: dict[str, TableSchema] | None = None
                     ) -> DatasetDescription:
    """Read and check a ``dataset.toml``.

    Raises
    ------
    UsageError
        The file is missing or not TOML (with the line), or has unknown keys,
        values of the wrong type, or inconsistent tables; every problem is listed.
    """
    path = Path(path)
    if path.is_dir():
        path = path / DESCRIPTION_FILE
    if not path.is_file():
        raise UsageError(f"Dataset description {path} does not exist; `outcomes describe DATA --write {path}` "
                         "writes a starter from the data.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Dataset description {path} cannot be read as UTF-8 text: {exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}.") from None
    return parse_description(data, path=path, schemas=schemas)


def parse_description(data: dict[str, Any], *, path: Path | None = None,
                      schemas: dict[str, TableSchema] | None = None) -> DatasetDescription:
    """Check a description already parsed from TOML (see :func:`load_description`)."""
    schemas = schemas or load_schemas()
    where = str(path) if path is not None else "dataset description"
    problems = _Problems(where)
    if not isinstance(data, dict):
        raise UsageError(f"{where}: a description is a TOML document of tables.")
    problems.unknown(data, _SECTIONS, "top level")
    source = _table(data, "source", problems)
    problems.unknown(source, _SOURCE_KEYS, "[source]")
    layout = source.get("layout", "exports")
    if layout not in LAYOUTS:
        problems.add(f"[source] layout = {_show(layout)} is not a layout.{_suggest(str(layout), LAYOUTS)} "
                     f"Layouts: {', '.join(LAYOUTS)}.")
        layout = "exports"
    base = path.parent if path is not None else Path(".")
    files: dict[str, Path | None] = {}
    for key, needed_by, what in (("file", ("long", "wide", "redcap", "adam"), _FILE_WHAT),
                                 ("dictionary", ("redcap",), {"redcap": "REDCap's data dictionary CSV"}),
                                 ("subjects", ("adam",), {"adam": "the ADSL subject-level dataset"})):
        files[key] = None
        if key in source:
            if not isinstance(source[key], str) or not source[key].strip():
                problems.add(f"[source] {key} must be a file name in quotes, got {_show(source[key])}.")
            elif layout not in needed_by:
                problems.add(f"[source] {key} is only for layout "
                             f"{' or '.join(_show(n) for n in needed_by)}"
                             + ("; the exports layout reads patients, assessments, sessions and prescriptions "
                                "from the folder." if layout == "exports" else "."))
            else:
                given = Path(source[key])
                files[key] = given if given.is_absolute() else (base / given).resolve()
        elif layout in needed_by:
            problems.add(f"[source] layout = {_show(layout)} needs {key} = \"...\" ({what[layout]}, relative "
                         "to this description).")
    file = files["file"]
    sessions = source.get("sessions")
    if sessions is not None:
        if layout != "redcap":
            problems.add("[source] sessions is only for layout \"redcap\" (the repeating instrument holding the "
                         "session log).")
        elif not isinstance(sessions, str) or not sessions.strip():
            problems.add(f"[source] sessions must be an instrument name in quotes, e.g. \"session_log\", got "
                         f"{_show(sessions)}.")
    sheet = source.get("sheet")
    if sheet is not None and (not isinstance(sheet, str) or not sheet.strip()):
        problems.add(f"[source] sheet must be a sheet name in quotes, got {_show(sheet)}.")
    missing = source.get("missing", [])
    if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
        problems.add(f"[source] missing must be a list of texts, e.g. [\"NaN\", \"<undefined>\"], "
                     f"got {_show(missing)}.")
        missing = []

    fields = _contract_fields(schemas, layout)
    columns = _table(data, "columns", problems)
    if layout == "redcap" and sessions is None:
        session_only = [k for k in columns if k in schemas["sessions"].field_names
                        and k not in _contract_fields(schemas, "long")]
        if session_only:
            problems.add(f"[columns] {session_only[0]} is a sessions column: name the session-log instrument with "
                         "[source] sessions = \"...\".")
    for key, value in columns.items():
        if key not in fields:
            problems.add(f"[columns]: {_show(key)} is not a contract column.{_suggest(key, fields)} "
                         f"Keys are contract names (contract name = your column): {_listing(fields)}.")
        if not isinstance(value, str) or not value.strip():
            problems.add(f"[columns] {key} must be the name of your column in quotes, got {_show(value)}.")
    if len(set(columns.values())) < len(columns):
        twice = sorted({v for v in columns.values() if list(columns.values()).count(v) > 1})
        problems.add(f"[columns] maps the column {_show(twice[0])} to more than one contract name; "
                     "give each column one name.")

    values: dict[str, dict[str, str]] = {}
    for col, mapping in _table(data, "values", problems).items():
        if not isinstance(mapping, dict):
            problems.add(f"[values.{col}] must be a table of code = value, e.g. \"1\" = \"female\".")
            continue
        bad = [k for k, v in mapping.items() if not isinstance(v, (str, int, float)) or isinstance(v, bool)]
        if bad:
            problems.add(f"[values.{col}] {_show(bad[0])} must map to a text or a number.")
        values[col] = {str(k): _as_text(v) for k, v in mapping.items()}

    filters = _filters(data.get("filter", []), problems)
    time = _time(_table(data, "time", problems), layout, problems)
    outcomes = _outcomes(_table(data, "outcomes", problems), layout, schemas, problems)
    covariates = {}
    for name, kind in _table(data, "covariates", problems).items():
        if kind not in _COVARIATE_KINDS:
            problems.add(f"[covariates] {name} = {_show(kind)} is not allowed; use \"numeric\" or \"categorical\".")
        elif not name.isidentifier():
            problems.add(f"[covariates] {_show(name)} cannot be a covariate name: models need letters, digits "
                         "and '_' only. Rename the column in the file.")
        elif name in ("patient_id", "schedule"):
            problems.add(f"[covariates] {name} cannot be a covariate: the arm is always in the model and the "
                         "patient id is not a covariate.")
        else:
            covariates[name] = kind
    if layout == "wide" and time.dated:
        problems.add("[source] layout = \"wide\" needs [time] unit (minute, hour, day, week, month or visit): "
                     "each outcome's columns map a column to a time in that unit.")
    if layout == "exports" and filters:
        problems.add("[[filter]] is for a single-file layout (long, wide, redcap, adam); filter exports at the "
                     "source.")
    if not time.dated and layout == "exports":
        problems.add(f"[time] unit = {_show(time.unit)} needs a single-file layout (long, wide, redcap, adam): "
                     "the exports layout is dated (enrolled_on / assessed_on).")
    problems.raise_if_any()
    if layout == "redcap":
        from .redcap import with_dictionary

        outcomes = with_dictionary(outcomes, files["dictionary"], where)
    return DatasetDescription(path=path, layout=layout, file=file, sheet=sheet, missing=tuple(missing),
                              dictionary=files["dictionary"], subjects=files["subjects"],
                              sessions=sessions if layout == "redcap" else None,
                              columns=dict(columns), values=values, filters=filters, time=time,
                              outcomes=outcomes, covariates=covariates)


def _as_text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _table(data: dict[str, Any], key: str, problems: _Problems) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.add(f"[{key}] must be a table (a [{key}] header followed by key = value lines), "
                     f"got {_show(value)}.")
        return {}
    return value


def _filters(raw: Any, problems: _Problems) -> tuple[RowFilter, ...]:
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        problems.add("filters are written as [[filter]] tables, one per filter.")
        return ()
    out = []
    for i, t in enumerate(raw, start=1):
        label = f"[[filter]] #{i}"
        before = len(problems.items)
        problems.unknown(t, _FILTER_KEYS, label)
        column = t.get("column")
        if not isinstance(column, str) or not column.strip():
            problems.add(f"{label}: column = \"...\" is required (the column the filter tests).")
        conditions = [k for k in _FILTER_KEYS[1:] if k in t]
        if not conditions:
            problems.add(f"{label}: give a condition: keep = [...], drop = [...], at_least = x, at_most = y "
                         "or not_missing = true.")
        for k in ("keep", "drop"):
            if k in t and (not isinstance(t[k], list) or not t[k]
                           or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in t[k])):
                problems.add(f"{label}: {k} must be a non-empty list of values, e.g. [1] or [\"yes\"], "
                             f"got {_show(t[k])}.")
        for k in ("at_least", "at_most"):
            if k in t and not _number(t[k]):
                problems.add(f"{label}: {k} must be a number, got {_show(t[k])}.")
        if "not_missing" in t and not isinstance(t["not_missing"], bool):
            problems.add(f"{label}: not_missing must be true or false, got {_show(t['not_missing'])}.")
        if len(problems.items) > before:
            continue
        out.append(RowFilter(column=column, keep=tuple(t["keep"]) if "keep" in t else None,
                             drop=tuple(t["drop"]) if "drop" in t else None,
                             at_least=t.get("at_least"), at_most=t.get("at_most"),
                             not_missing=bool(t.get("not_missing", False))))
    return tuple(out)


def _time(t: dict[str, Any], layout: str, problems: _Problems) -> TimeAxis:
    problems.unknown(t, _TIME_KEYS, "[time]")
    # ADaM is timed by AVISITN unless told otherwise; REDCap by the event (redcap_event_name)
    unit = t.get("unit", "visit" if layout == "adam" else "date")
    if unit not in TIME_UNITS:
        problems.add(f"[time] unit = {_show(unit)} is not a unit.{_suggest(str(unit), TIME_UNITS)} "
                     f"Units: {', '.join(TIME_UNITS)}.")
        unit = "date"
    column = t.get("column")
    if column is not None and (not isinstance(column, str) or not column.strip()):
        problems.add(f"[time] column must be a column name in quotes, got {_show(column)}.")
        column = None
    if column is None and unit != "date" and layout in ("redcap", "adam"):
        column = {"redcap": "redcap_event_name", "adam": "AVISITN"}[layout]
    if layout == "redcap" and unit != "date" and "visits" not in t:
        problems.add(f"[time] unit = {_show(unit)} in a REDCap export needs [time.visits]: each unique event name "
                     "with its time since enrolment, e.g. \"baseline_arm_1\" = 0, \"week_4_arm_1\" = 4.")
    if unit != "date" and layout == "long" and column is None:
        problems.add(f"[time] unit = {_show(unit)} in a long file needs column = \"...\": the column holding "
                     "the time since enrolment (or the visit code).")
    if unit == "date" and column is not None:
        problems.add("[time] column is for a time since enrolment; with unit = \"date\" map assessed_on in "
                     "[columns] instead.")
    visits = None
    if "visits" in t:
        raw = t["visits"]
        if not isinstance(raw, dict) or not raw or not all(_number(v) for v in raw.values()):
            problems.add("[time.visits] must map each visit code to its time since enrolment in the unit, "
                         f"e.g. \"1\" = 0, \"2\" = 4; got {_show(raw)}.")
        else:
            visits = tuple((str(k), float(v)) for k, v in raw.items())
            times = [v for _, v in visits]
            # REDCap: several events may share a time (enrolment and baseline); a patient's rows still
            # must not, which the (patient, time) key checks
            if len(set(times)) < len(times) and layout != "redcap":
                problems.add("[time.visits] gives two visit codes the same time; give each visit its own time.")
        if unit == "date":
            problems.add("[time.visits] needs a time unit (e.g. unit = \"visit\" or \"week\"), not dates.")
    return TimeAxis(unit=unit, column=column, visits=visits)


def _outcomes(raw: dict[str, Any], layout: str, schemas: dict[str, TableSchema],
              problems: _Problems) -> tuple[DeclaredOutcome, ...]:
    from ..measures.instruments import BUILTIN_OUTCOMES

    out = []
    patient_fields = set(schemas["patients"].field_names)
    for name, t in raw.items():
        label = f"[outcomes.{name}]"
        if not isinstance(t, dict):
            problems.add(f"{label} must be a table of keys ({', '.join(_OUTCOME_KEYS)}).")
            continue
        before = len(problems.items)
        problems.unknown(t, _OUTCOME_KEYS, label)
        builtin = name in BUILTIN_OUTCOMES
        if not _NAME.match(name):
            problems.add(f"{label}: an outcome name is lower-case letters, digits and '_', starting with a "
                         "letter (it becomes a column and a model term).")
        elif name in _NOT_OUTCOMES or name in patient_fields:
            problems.add(f"{label}: {name} is a contract column, not an outcome; give the outcome another name.")
        if builtin:
            fixed = [k for k in _FIXED_FOR_BUILTINS if k in t]
            if fixed:
                spec = BUILTIN_OUTCOMES[name]
                problems.add(f"{label}: {name} is built in ({spec.range_text}, "
                             f"{'higher' if spec.higher_is_better else 'lower'} is better), so "
                             f"{', '.join(fixed)} cannot be changed; declare your measure under its own name.")
        else:
            if "higher_is_better" not in t:
                problems.add(f"{label}: say which way is better: higher_is_better = true or false "
                             "(responders, flags and reports follow it).")
        for k in ("label", "unit", "column", "baseline_column"):
            if k in t and (not isinstance(t[k], str) or not t[k].strip()):
                problems.add(f"{label}: {k} must be a text in quotes, got {_show(t[k])}.")
        for k in ("min", "max", "mcid"):
            if k in t and not _number(t[k]):
                problems.add(f"{label}: {k} must be a number, got {_show(t[k])}.")
        for k in ("higher_is_better", "integer"):
            if k in t and not isinstance(t[k], bool):
                problems.add(f"{label}: {k} must be true or false, got {_show(t[k])}.")
        if _number(t.get("min")) and _number(t.get("max")) and t["min"] >= t["max"]:
            problems.add(f"{label}: min = {t['min']} must be below max = {t['max']}.")
        if "mcid" in t and _number(t["mcid"]) and t["mcid"] <= 0:
            problems.add(f"{label}: mcid is a size of improvement and must be > 0, got {t['mcid']}.")
        if "paramcd" in t:
            if layout != "adam":
                problems.add(f"{label}: paramcd is for layout \"adam\" (the PARAMCD of the outcome's records).")
            elif not isinstance(t["paramcd"], str) or not t["paramcd"].strip():
                problems.add(f"{label}: paramcd must be a PARAMCD in quotes, e.g. \"BDI\", got {_show(t['paramcd'])}.")
        if layout == "adam":
            for k in ("column", "columns", "baseline_column"):
                if k in t:
                    problems.add(f"{label}: {k} is not for layout \"adam\": an outcome is the AVAL of the records "
                                 "with its paramcd = \"...\" (default: the name in capitals).")
        columns = None
        if "columns" in t:
            c = t["columns"]
            if layout != "wide":
                problems.add(f"{label}: columns (column = time) is for layout \"wide\"; in a {layout} layout "
                             "use column = \"...\".")
            elif not isinstance(c, dict) or not c or not all(_number(v) for v in c.values()):
                problems.add(f"{label}: columns must map each of your columns to its time, e.g. "
                             f"{{ \"{name}.pre\" = 0, \"{name}.2m\" = 2 }}; got {_show(c)}.")
            else:
                columns = tuple((str(k), float(v)) for k, v in c.items())
                times = [v for _, v in columns]
                if len(set(times)) < len(times):
                    problems.add(f"{label}: columns gives two columns the same time.")
        if layout == "wide" and "columns" not in t and "baseline_column" not in t:
            problems.add(f"{label}: a wide file needs columns = {{ \"your column\" = time, ... }} for "
                         f"{name}.")
        if "column" in t and layout == "wide":
            problems.add(f"{label}: column is for a long file; a wide file uses columns = {{ ... }}.")
        if len(problems.items) > before:
            continue
        out.append(DeclaredOutcome(
            name=name, label=t.get("label"), unit=t.get("unit"),
            min=None if builtin else t.get("min"), max=None if builtin else t.get("max"),
            higher_is_better=None if builtin else t.get("higher_is_better"),
            integer=None if builtin else t.get("integer", False), mcid=t.get("mcid"),
            column=t.get("column"), columns=columns, baseline_column=t.get("baseline_column"),
            paramcd=(t.get("paramcd") or name.upper()) if layout == "adam" else None))
    return tuple(out)


# --------------------------------------------------------------------------- against a file


def check_columns(description: DatasetDescription, header: list[str], *, file_label: str | None = None) -> None:
    """Check every column the description names against a file's column names.

    Raises
    ------
    UsageError
        Naming each absent column, the closest column of the file and the columns it has.
    """
    problems = _Problems(description.label)
    have = [str(h) for h in header]
    where = file_label or (description.file.name if description.file else "the file")

    def need(column: str, what: str) -> None:
        if column not in have:
            problems.add(f"{what} names the column {_show(column)}, which {where} does not have."
                         f"{_suggest(column, have)} Its columns: {_listing(have)}.")

    for key, col in description.columns.items():
        need(col, f"[columns] {key}")
    renamed = [_renamed(description, h) for h in have]
    for i, f in enumerate(description.filters, start=1):
        if f.column not in have and f.column not in description.columns:
            need(f.column, f"[[filter]] #{i}")
    if description.time.column is not None:
        need(description.time.column, "[time] column")
    for o in description.outcomes:
        if description.layout in _ROW_LAYOUTS:
            col = o.column or description.columns.get(o.name) or o.name
            if col not in have and not (o.column is None and o.baseline_column is not None):
                need(col, f"[outcomes.{o.name}] column" if o.column else
                     f"[outcomes.{o.name}] (no column given, so its name)")
        for col, _ in o.columns or ():
            need(col, f"[outcomes.{o.name}] columns")
        if o.baseline_column is not None:
            need(o.baseline_column, f"[outcomes.{o.name}] baseline_column")
    for col in description.values:
        if col not in renamed:
            problems.add(f"[values.{col}]: there is no column {_show(col)} (after renaming by [columns])."
                         f"{_suggest(col, renamed)} Columns: {_listing(renamed)}.")
    for col in description.covariates:
        if col not in renamed:
            problems.add(f"[covariates] {col}: there is no column {_show(col)} (after renaming by [columns])."
                         f"{_suggest(col, renamed)} Columns: {_listing(renamed)}.")
    problems.raise_if_any()


def _renamed(description: DatasetDescription, column: str) -> str:
    for contract, source in description.columns.items():
        if source == column:
            return contract
    return column
