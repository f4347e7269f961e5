"""Layout ``redcap``: a REDCap records export and its data dictionary read into the contract.

A REDCap project exports its records as one CSV (raw codes: ``Export > CSV / Microsoft Excel (raw
data)``) and describes every field in its **data dictionary** (``Project Setup > Data Dictionary``,
a CSV with the headers ``Variable / Field Name``, ``Form Name``, ``Field Type``, ``Field Label``,
``Choices, Calculations, OR Slider Labels``, ``Text Validation Type OR Show Slider Number``,
``Text Validation Min``, ``Text Validation Max`` …; the API's ``field_name``, ``form_name`` … are
read too). The description names both::

    [source]
    layout = "redcap"
    file = "records.csv"
    dictionary = "dictionary.csv"

What the reader does, in this order:

1. **the two files must agree**: the records' first column is the dictionary's first field (the
   record id, the patient); every other column is a dictionary field, a checkbox choice
   (``field___code``), a form's ``<form>_complete`` status, a survey timestamp or one of REDCap's
   own columns (``redcap_event_name``, ``redcap_repeat_instrument``, ``redcap_repeat_instance``,
   ``redcap_data_access_group``, ``redcap_survey_identifier``). A column the dictionary does not
   define, a checkbox choice it does not list, or a field the description names that is in the
   dictionary but not in the export is a :class:`~outcomes.io.errors.UsageError`. Dictionary
   fields absent from a partial export are listed in a note;
2. ``[[filter]]`` on the raw columns (counted in the reconciliation);
3. **events**: with a time unit other than "date", ``redcap_event_name`` is the visit and
   ``[time.visits]`` gives each unique event name its time; an event not listed is a
   UsageError naming it and its first line;
4. **choices decoded**: radio, dropdown, yes/no and true/false fields become their labels from
   the dictionary ("1, TAU | 2, BtheB" → "TAU", "BtheB"); a checkbox field's ``field___code``
   columns become one column ``field`` holding the ticked labels (``"; "``-separated). A field
   used as a number (an outcome, a numeric covariate, a numeric contract column) keeps its
   code. A code that is not a choice of its field quarantines the row (or, for a patient-level
   field, the patient) with the file's line, the field, the value and the choices;
5. then as a long file (:mod:`outcomes.io.layouts`): the first field is ``patient_id``
   (unless ``[columns]`` says otherwise); in a multi-arm project the column ``redcap_arm`` (the
   number ending each event name, ``…_arm_2``) can be mapped to ``schedule``; patient-level fields (arm, demographics, covariates),
   usually filled on one event only, are carried to the patient (differing values quarantine
   the patient); ``redcap_data_access_group`` can be mapped to ``site_id``; rows of repeating
   instruments are rows of their own; a row with no outcome value (an event or instrument
   without the outcome) is not an assessment and is counted as such.

Declared outcomes take their label and range from the dictionary (a text field's label and
validation min/max, a choice field's codes) unless the description gives them
(:func:`with_dictionary`). Calculated fields are read as the numbers REDCap stored, with a note.
REDCap's missing-data codes (``UNK``, ``NASK`` …) are listed in ``[source] missing``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .description import DatasetDescription, DeclaredOutcome, _listing, _show, _suggest, check_columns
from .errors import FileRejected, UsageError
from .schema import TableSchema

__all__ = ["RedcapDictionary", "RedcapField", "read_dictionary", "read_redcap", "with_dictionary"]

#: REDCap's own columns in a records export.
SYSTEM_COLUMNS = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
                  "redcap_data_access_group", "redcap_survey_identifier")
#: Field types that hold one coded choice.
CHOICE_TYPES = ("radio", "dropdown", "yesno", "truefalse")
_FIXED_CHOICES = {"yesno": {"1": "Yes", "0": "No"}, "truefalse": {"1": "True", "0": "False"}}
#: Field types that are not in a records export.
_NOT_EXPORTED = ("descriptive",)
#: Data-dictionary headers (the CSV download and the API's metadata) → our names.
_HEADERS = {
    "variable / field name": "name", "field_name": "name",
    "form name": "form", "form_name": "form",
    "field type": "type", "field_type": "type",
    "field label": "label", "field_label": "label",
    "choices, calculations, or slider labels": "choices", "select_choices_or_calculations": "choices",
    "text validation type or show slider number": "validation",
    "text_validation_type_or_show_slider_number": "validation",
    "text validation min": "min", "text_validation_min": "min",
    "text validation max": "max", "text_validation_max": "max",
}
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class RedcapField:
    """One row of a REDCap data dictionary.

    ``choices`` (code → label) for radio, dropdown, yes/no, true/false and checkbox fields;
    ``min``/``max`` from a numeric text validation (or 0–100 for a slider); ``line`` is the
    dictionary's line.
    """

    name: str
    form: str
    type: str
    label: str
    choices: dict[str, str] | None
    validation: str
    min: float | None
    max: float | None
    line: int

    @property
    def numeric(self) -> bool:
        """A number field: integer or number validation, a slider or a calculation."""
        return self.type in ("slider", "calc") or self.validation == "integer" or self.validation.startswith("number")

    @property
    def choices_text(self) -> str:
        return " | ".join(f"{c}, {v}" for c, v in (self.choices or {}).items())


@dataclass(frozen=True)
class RedcapDictionary:
    """A REDCap project's data dictionary: its fields in order (the first is the record id)."""

    path: Path
    fields: dict[str, RedcapField]

    @property
    def first(self) -> str:
        return next(iter(self.fields))

    @property
    def forms(self) -> set[str]:
        return {f.form for f in self.fields.values()}

    def checkbox_columns(self, name: str) -> dict[str, str]:
        """A checkbox field's export columns: ``field___code`` → code (REDCap writes a code in
        lower case with every character other than a letter, digit or '_' as '_')."""
        f = self.fields[name]
        return {f"{name}___{re.sub(r'[^a-z0-9_]', '_', code.lower())}": code for code in f.choices or {}}


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _choices(text: str, name: str, kind: str, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for piece in text.split("|"):
        piece = piece.strip()
        if not piece:
            continue
        code, sep, label = piece.partition(",")
        if not sep:
            raise UsageError(f"{where}: the {kind} field {name!r} has the choice {piece!r} without a code; REDCap "
                             "writes choices as \"1, Label | 2, Label\".")
        out[code.strip()] = _TAGS.sub("", label).strip()
    if not out:
        raise UsageError(f"{where}: the {kind} field {name!r} lists no choices.")
    return out


def read_dictionary(path: str | Path) -> RedcapDictionary:
    """Read a REDCap data dictionary (CSV download or API metadata).

    Raises
    ------
    UsageError
        The file is missing or not a data dictionary (its headers are named), a field is listed
        twice, or a choice list cannot be read (the line and field are named).
    """
    from .readers import _read_csv

    path = Path(path)
    if not path.is_file():
        listing = (f" (the folder holds: {_listing(sorted(p.name for p in path.parent.iterdir()))})"
                   if path.parent.is_dir() else "")
        raise UsageError(f"[source] dictionary {path} does not exist{listing}. Download it from REDCap: "
                         "Project Setup > Data Dictionary > Download the current Data Dictionary.")
    try:
        read = _read_csv(path, "dictionary")
    except FileRejected as exc:
        raise UsageError(f"The REDCap data dictionary {path.name} cannot be read: {exc}") from None
    names = {str(c): _HEADERS.get(str(c).strip().lower()) for c in read.frame.columns}
    have = {v: k for k, v in names.items() if v is not None}
    lacking = [h for h in ("name", "form", "type") if h not in have]
    if lacking:
        want = {"name": "Variable / Field Name", "form": "Form Name", "type": "Field Type"}
        raise UsageError(f"{path.name} is not a REDCap data dictionary: it has no column "
                         f"{', '.join(_show(want[h]) for h in lacking)} (its columns: "
                         f"{_listing([str(c) for c in read.frame.columns])}). Download it from REDCap: Project "
                         "Setup > Data Dictionary.")
    frame = read.frame.rename(columns={k: v for k, v in names.items() if v is not None})
    fields: dict[str, RedcapField] = {}
    for line, row in zip(frame.index, frame.to_dict("records")):
        def get(key: str) -> str:
            v = row.get(key)
            return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()

        name, kind = get("name"), get("type").lower()
        if not name:
            continue
        where = f"{path.name} line {line}"
        if name in fields:
            raise UsageError(f"{where}: the field {name!r} is listed twice (first at line {fields[name].line}).")
        validation = get("validation").lower()
        choices = None
        if kind in ("radio", "dropdown", "checkbox"):
            choices = _choices(get("choices"), name, kind, where)
        elif kind in _FIXED_CHOICES:
            choices = dict(_FIXED_CHOICES[kind])
        low = high = None
        if kind == "slider":
            low, high = 0.0, 100.0
        if validation == "integer" or validation.startswith("number"):
            low, high = _number(get("min")), _number(get("max"))
        if choices and kind != "checkbox":
            codes = [_number(c) for c in choices]
            if all(c is not None for c in codes):
                low, high = min(codes), max(codes)  # type: ignore[type-var]
        fields[name] = RedcapField(name=name, form=get("form"), type=kind, label=_TAGS.sub("", get("label")).strip(),
                                   choices=choices, validation=validation, min=low, max=high, line=int(line))
    if not fields:
        raise UsageError(f"{path.name} lists no fields.")
    return RedcapDictionary(path=path, fields=fields)


def with_dictionary(outcomes: tuple[DeclaredOutcome, ...], dictionary: Path | None, where: str
                    ) -> tuple[DeclaredOutcome, ...]:
    """Declared outcomes with the label, range and whole-number rule their REDCap field gives,
    where the description does not give them (a built-in outcome keeps its instrument's)."""
    from ..measures.instruments import BUILTIN_OUTCOMES

    if dictionary is None:
        return outcomes
    d = read_dictionary(dictionary)
    out = []
    for o in outcomes:
        field = o.column or o.name
        f = d.fields.get(field)
        if f is None:
            raise UsageError(f"{where}: [outcomes.{o.name}] is the field {field!r}, which {d.path.name} does not "
                             f"define.{_suggest(field, list(d.fields))} Give its field with column = \"...\".")
        if o.name in BUILTIN_OUTCOMES:
            out.append(o)
            continue
        whole = f.validation == "integer" or (f.type in CHOICE_TYPES and f.min is not None
                                              and all(float(c).is_integer() for c in f.choices or {}))
        low = o.min if o.min is not None else f.min
        high = o.max if o.max is not None else f.max
        if low is not None and high is not None and low >= high:
            raise UsageError(f"{where}: [outcomes.{o.name}] has min = {low:g} and max = {high:g} (from the description "
                             f"and {d.path.name}); min must be below max.")
        out.append(dataclasses.replace(o, label=o.label or f.label or None, min=low, max=high,
                                       integer=bool(o.integer or whole)))
    return tuple(out)


# --------------------------------------------------------------------------- reading


def _roles(header: list[str], d: RedcapDictionary, records: str) -> tuple[dict[str, str], list[str]]:
    """Each column's role (field, checkbox:<field>, system, status) and the problems found."""
    boxes = {col: name for name, f in d.fields.items() if f.type == "checkbox" for col in d.checkbox_columns(name)}
    roles: dict[str, str] = {}
    problems = []
    forms = d.forms
    for col in header:
        if col in d.fields:
            roles[col] = "field"
        elif col in boxes:
            roles[col] = f"checkbox:{boxes[col]}"
        elif col in SYSTEM_COLUMNS:
            roles[col] = "system"
        elif col.endswith("_complete") and col[: -len("_complete")] in forms:
            roles[col] = "status"
        elif col.endswith("_timestamp") and col[: -len("_timestamp")] in forms:
            roles[col] = "status"
        elif "___" in col and col.split("___")[0] in d.fields:
            field, code = col.split("___", 1)
            f = d.fields[field]
            problems.append(f"{records} has the checkbox column {col!r}, but {d.path.name} lists no choice {code!r} "
                            f"for {field} ({f.choices_text or 'not a checkbox field'}).")
        else:
            problems.append(f"{records} has the column {col!r}, which {d.path.name} does not define."
                            f"{_suggest(col, list(d.fields))}")
    return roles, problems


def _named_by(description: DatasetDescription) -> dict[str, str]:
    """Fields the description names → where it names them."""
    out: dict[str, str] = {}
    for key, col in description.columns.items():
        out.setdefault(col, f"[columns] {key}")
    for i, f in enumerate(description.filters, start=1):
        out.setdefault(f.column, f"[[filter]] #{i}")
    for o in description.outcomes:
        out.setdefault(o.column or o.name, f"[outcomes.{o.name}]")
        if o.baseline_column:
            out.setdefault(o.baseline_column, f"[outcomes.{o.name}] baseline_column")
    for name in description.covariates:
        source = description.columns.get(name, name)
        out.setdefault(source, f"[covariates] {name}")
    return out


def _numeric_fields(description: DatasetDescription, schemas: dict[str, TableSchema]) -> set[str]:
    """Fields whose codes are kept (they are used as numbers)."""
    out = {o.column or o.name for o in description.outcomes}
    out |= {o.baseline_column for o in description.outcomes if o.baseline_column}
    out |= {description.columns.get(n, n) for n, kind in description.covariates.items() if kind == "numeric"}
    for contract, col in description.columns.items():
        for name in ("patients", "assessments"):
            if contract in schemas[name].field_names and schemas[name].field(contract).type in ("integer", "number"):
                out.add(col)
    from ..measures.instruments import BUILTIN_OUTCOMES

    out |= set(BUILTIN_OUTCOMES.names)
    return out


#: Contract columns that are codes (letters, digits, '_' and '-'): a label with other characters is
#: written as such a code ("Usual care" → "Usual_care"), and said.
_CODE_COLUMNS = ("schedule", "site_id", "clinician_id")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _as_code(label: str, code: str) -> str:
    return label if _CODE.match(label) else (re.sub(r"[^A-Za-z0-9_-]+", "_", label).strip("_")[:64] or code)


def _decode(frame: pd.DataFrame, d: RedcapDictionary, roles: dict[str, str], keep: set[str],
            missing: tuple[str, ...], records: str, coded: set[str] = frozenset()  # type: ignore[assignment]
            ) -> tuple[pd.DataFrame, list[dict[str, Any]], list[str]]:
    """Choice codes → labels (checkboxes → one column); bad codes as cell errors (file column names).
    Fields in ``coded`` (mapped to a code column such as the arm) get their labels as codes."""
    from .layouts import _text

    errors: list[dict[str, Any]] = []
    decoded, kept, boxes = [], [], []
    notes_codes: list[str] = []
    out = frame.copy()
    for col in [c for c in frame.columns if roles.get(c) == "field"]:
        f = d.fields[col]
        if f.type not in CHOICE_TYPES:
            continue
        text = _text(frame[col]).str.strip()
        absent = text.isin(missing).to_numpy(dtype=bool, copy=True)
        known = text.isin(list(f.choices or {})).to_numpy(dtype=bool, copy=True)
        numeric = pd.to_numeric(text, errors="coerce")
        if not known.all():  # "1.0" for "1" (an export through a spreadsheet)
            as_code = numeric.map(lambda v: str(int(v)) if pd.notna(v) and float(v).is_integer() else None)
            fix = ~known & as_code.isin(list(f.choices or {})).to_numpy()
            text = text.where(~fix, as_code)
            known |= fix
        bad = ~known & ~absent
        labels = set((f.choices or {}).values()) - set(f.choices or {})
        if bad.any() and not known[~absent].any() and set(text[bad]) <= labels:
            raise UsageError(f"{records}: {col} holds {_show(text[bad].iloc[0])}, a label of the field, not its code: "
                             "this is a labels export. Export the records as \"CSV / Microsoft Excel (raw data)\" "
                             "(the codes are decoded here from the dictionary).")
        for line, value in zip(frame.index[bad], text[bad]):
            errors.append(_choice_error(line, col, value, f, d, records))
        if col in keep:
            out[col] = text
            kept.append(col)
        else:
            choices = dict(f.choices or {})
            if col in coded:
                renamed = {c: _as_code(v, c) for c, v in choices.items()}
                changed = [f"{choices[c]!r} → {v!r}" for c, v in renamed.items() if v != choices[c]]
                if changed:
                    notes_codes.append(f"{col}: labels written as codes: {', '.join(changed)}")
                choices = renamed
            out[col] = text.map(choices).where(known, text).where(~absent, "")
            decoded.append(col)
    by_field: dict[str, list[str]] = {}
    for col, role in roles.items():
        if role.startswith("checkbox:"):
            by_field.setdefault(role.split(":", 1)[1], []).append(col)
    for name, cols in by_field.items():
        f = d.fields[name]
        codes = d.checkbox_columns(name)
        ticked = pd.Series("", index=frame.index, dtype=object)
        for col in cols:
            text = _text(frame[col]).str.strip()
            bad = ~text.isin(["0", "1", *missing]).to_numpy()
            for line, value in zip(frame.index[bad], text[bad]):
                errors.append({"line": int(line), "column": col, "value": value, "rule": "redcap_choice",
                               "reason": f"{col} = {value!r}: a checkbox column of {name} holds 1 (ticked) or 0, "
                                         f"not {value!r}. Correct it in REDCap."})
            hit = (text == "1").to_numpy()
            label = (f.choices or {})[codes[col]]
            ticked = ticked.where(~hit, ticked.where(ticked == "", ticked + "; ") + label)
        out[name] = ticked
        boxes.append(name)
    notes = []
    if decoded:
        notes.append(f"choice fields decoded to their labels from {d.path.name}: {', '.join(decoded)}")
    if kept:
        notes.append(f"choice fields kept as their codes (used as numbers), each code checked against "
                     f"{d.path.name}: {', '.join(kept)}")
    if boxes:
        notes.append("checkbox fields as one column of the ticked labels ('; '-separated): " + ", ".join(boxes))
    return out, errors, notes + notes_codes


def _choice_error(line: int, col: str, value: str, f: RedcapField, d: RedcapDictionary, records: str
                  ) -> dict[str, Any]:
    return {"line": int(line), "column": col, "value": value, "rule": "redcap_choice",
            "reason": (f"{records} line {line}: {col} = {value!r} is not a choice of {col} in {d.path.name} "
                       f"({f.choices_text}). Correct the record in REDCap, or add the choice to the field and "
                       "download the dictionary again.")}


def read_redcap(description: DatasetDescription, schemas: dict[str, TableSchema], *,
                date_order: Any = None, dates: Any = None) -> tuple[dict[str, Any], list[str]]:
    """Read a REDCap records export and its dictionary into the contract's exports, validated.

    Returns and raises as :func:`outcomes.io.layouts.read_declared` (see the module notes for
    what is checked, decoded and carried).
    """
    from .layouts import _apply_filters, _long, _read_file, _text

    d = read_dictionary(description.dictionary)  # type: ignore[arg-type]
    read = _read_file(description)
    records = read.path.name
    header = [str(c) for c in read.frame.columns]
    if not header or header[0] != d.first:
        raise UsageError(f"{records}: its first column is {_show(header[0] if header else '')}, but the first field "
                         f"of {d.path.name} (the record id) is {_show(d.first)}. Export the records and the "
                         "dictionary from the same project.")
    roles, problems = _roles(header, d, records)
    named = _named_by(description)
    for col, what in named.items():
        if col not in header and col in d.fields and d.fields[col].type != "checkbox":
            problems.append(f"{description.label}: {what} names the field {col!r}; {d.path.name} defines it (form "
                            f"{d.fields[col].form!r}) but {records} does not have it. Export that form too.")
    if problems:
        raise UsageError("\n".join(problems))
    absent = [n for n, f in d.fields.items() if f.type not in _NOT_EXPORTED and n not in header
              and not (f.type == "checkbox" and any(c in header for c in d.checkbox_columns(n)))]
    missing_values = schemas["assessments"].missing_values
    time = description.time
    if time.dated:
        lacking = [k for k in ("enrolled_on", "assessed_on") if k not in description.columns]
        if lacking:
            raise UsageError(f"{description.label}: a REDCap export timed by dates needs [columns] "
                             f"{' and '.join(lacking)} = \"<date field>\"; or time it by event with [time] unit "
                             "(e.g. \"week\") and [time.visits] (unique event name = time).")
    elif time.column not in header:
        raise UsageError(f"{records} has no {time.column} column, so its events cannot be timed: export a "
                         "longitudinal project with its events, or map dates ([columns] assessed_on).")
    frame = read.frame
    if "redcap_arm" in named and "redcap_event_name" in frame.columns:  # the arm is in every event's name
        arm = _text(frame["redcap_event_name"]).str.strip().str.extract(r"_arm_(\d+)$", expand=False)
        if arm.notna().all() and "redcap_arm" not in frame.columns:
            frame = frame.assign(redcap_arm=arm.astype(str))
    frame, filtered = _apply_filters(frame, description, missing_values)
    notes = [n for n in read.notes]
    if not time.dated:
        _check_events(frame, description, records, missing_values)
    keep = _numeric_fields(description, schemas)
    coded = {description.columns[k] for k in _CODE_COLUMNS if k in description.columns}
    frame, cell_errors, decode_notes = _decode(frame, d, roles, keep, missing_values, records, coded)
    notes += decode_notes
    calcs = [n for n in header if n in d.fields and d.fields[n].type == "calc"]
    if calcs:
        notes.append(f"calculated fields read as the numbers REDCap stored (not recomputed): {', '.join(calcs)}")
    if "redcap_repeat_instrument" in frame.columns:
        inst = _text(frame["redcap_repeat_instrument"]).str.strip()
        counts = inst[inst != ""].value_counts()
        if len(counts):
            notes.append("rows of repeating instruments are rows of their own: " + ", ".join(
                f"{k} {v:,}" for k, v in counts.items()))
    if absent:
        notes.append(f"{len(absent)} field(s) of {d.path.name} are not in {records} (a partial export): "
                     f"{_listing(absent, 12)}")
    columns = dict(description.columns)
    columns.setdefault("patient_id", d.first)
    check_columns(dataclasses.replace(description, layout="long", columns=columns, filters=()),
                  [str(c) for c in frame.columns], file_label=records)
    session_log = None
    if description.sessions:
        frame, session_log, cell_errors = _sessions(read, frame, description, d, columns, schemas, cell_errors,
                                                    date_order, dates)
        filtered[f"rows of the {description.sessions} instrument (read as sessions)"] = session_log.rows_read
    s_only = set(schemas["sessions"].field_names) - set(schemas["patients"].field_names) \
        - set(schemas["assessments"].field_names)
    columns = {k: v for k, v in columns.items() if k not in s_only}
    as_long = dataclasses.replace(description, layout="long", columns=columns, filters=())
    renames = {src: dst for dst, src in columns.items()}
    for e in cell_errors:
        e["column"] = renames.get(e["column"], e["column"])
    read = dataclasses.replace(read, notes=notes)
    exports = _long(read, frame, filtered, as_long, schemas, date_order, {"dates": dates},
                    cell_errors=cell_errors)
    exports["patients"].source_rows = f"records found in {records}"
    if session_log is not None:
        exports["sessions"] = session_log
    return exports, []


def _sessions(read: Any, frame: pd.DataFrame, description: DatasetDescription, d: RedcapDictionary,
              columns: dict[str, str], schemas: dict[str, TableSchema], cell_errors: list[dict[str, Any]],
              date_order: Any, dates: Any) -> tuple[pd.DataFrame, Any, list[dict[str, Any]]]:
    """The rows of the session-log instrument as the sessions export (validated); the other rows."""
    from .layouts import _declared, _read_like, _text, _with_errors
    from .validate import validate_read

    inst, records = description.sessions, read.path.name
    forms = sorted(d.forms)
    if inst not in forms:
        raise UsageError(f"{description.label}: [source] sessions = {_show(inst)} is not an instrument of "
                         f"{d.path.name}.{_suggest(str(inst), forms)} Its instruments: {_listing(forms)}.")
    if not description.time.dated:
        raise UsageError(f"{description.label}: a session log is dated, so reading the {inst} instrument as sessions "
                         "needs the records timed by dates too: [time] unit = \"date\" with [columns] enrolled_on "
                         "and assessed_on.")
    if "redcap_repeat_instrument" not in frame.columns:
        raise UsageError(f"{records} has no redcap_repeat_instrument column, so it holds no repeating instrument "
                         f"{inst!r}; export the records with that instrument.")
    is_log = (_text(frame["redcap_repeat_instrument"]).str.strip() == inst).to_numpy(dtype=bool, copy=True)
    log = frame.loc[is_log]
    schema = schemas["sessions"]
    renames = {src: dst for dst, src in columns.items() if dst in schema.field_names}
    log = log.rename(columns=renames)
    if "session_id" not in renames.values():
        event = (_text(log["redcap_event_name"]).str.strip() + "-") if "redcap_event_name" in log.columns else ""
        log = log.assign(session_id=_text(log["patient_id"]).str.strip() + "-" + event
                         + _text(log["redcap_repeat_instance"]).str.strip())
    own = [c for c in log.columns if c in d.fields and d.fields[c].form == inst]
    log = log[list(dict.fromkeys(["session_id", "patient_id", *renames.values(), *own]))]
    extra = [c for c in log.columns if c not in schema.field_names]
    notes = [f"the rows of the repeating instrument {inst} ({int(is_log.sum()):,}) are the session log"]
    result = validate_read(_read_like(read, log, int(is_log.sum()), 0, notes, "sessions", extra), schema,
                           date_order=date_order, dates=dates)
    lines = set(log.index)
    mine = [dict(e, column=renames.get(e["column"], e["column"])) for e in cell_errors if e["line"] in lines]
    _with_errors(result, mine)
    result = _declared(result, source_rows=f"rows of the {inst} instrument in {records}")
    return frame.loc[~is_log], result, [e for e in cell_errors if e["line"] not in lines]


def _check_events(frame: pd.DataFrame, description: DatasetDescription, records: str,
                  missing_values: tuple[str, ...]) -> None:
    from .layouts import _text

    column = description.time.column
    listed = [c for c, _ in description.time.visits or ()]
    text = _text(frame[column]).str.strip()
    unknown = ~text.isin(listed) & ~text.isin(missing_values)
    if unknown.any():
        first = text[unknown].groupby(text[unknown].to_numpy(), sort=False).apply(lambda s: s.index[0])
        shown = ", ".join(f"{_show(ev)} (first at line {ln})" for ev, ln in list(first.items())[:8])
        raise UsageError(f"{records}: {column} = {shown} {'is' if len(first) == 1 else 'are'} not in [time.visits] of "
                         f"{description.label} (it lists {_listing(listed, 12)}). Give each event its time since "
                         f"enrolment there, or drop its rows with [[filter]] column = \"{column}\" drop = [...].")
    empty = text.isin(missing_values)
    if empty.any():
        raise UsageError(f"{records} line {int(text.index[empty.to_numpy()][0])}: {column} is empty; every row of a "
                         "longitudinal export names its event.")
