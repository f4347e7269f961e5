"""Layouts ``long`` and ``wide``: one file read into the contract's patients and assessments.

(Layouts ``redcap`` and ``adam`` are read by :mod:`outcomes.io.redcap` and :mod:`outcomes.io.adam`,
which reuse these steps; :func:`read_declared` dispatches.)

A :class:`~outcomes.io.description.DatasetDescription` says how. The file is read
by the same readers as the exports (encodings, delimiters, Excel, Parquet, blank
rows), then, in this order:

1. **filters** (``[[filter]]``): a row is kept only when every filter holds; the
   rows each filter drops are counted (the first filter a row fails counts it);
2. **names** (``[columns]``, the outcomes' ``column``, the time column → ``time``);
3. **values** (``[values.<column>]``): a code matches a value equal to it as text or
   as a number (``"1"`` matches ``1`` and ``1.0``);
4. **time** (``[time]``): visit codes become times through ``[time.visits]``; a code
   not listed there is a :class:`~outcomes.io.errors.UsageError`;
5. **split and validate**: the patient-level columns (every patients-contract column,
   the covariates and each outcome's ``baseline_column``) go to *patients*, the rest
   to *assessments*; both go through :func:`~outcomes.io.validate.validate_read`
   with the contract's schemas, extended by the declared outcomes (range-checked
   like the built-ins), the covariates (typed) and, for a non-date time unit, a
   required ``time`` column that replaces the dates. Quarantine and reconciliation
   are the same mechanism as for the exports.

Long file: a row per patient and time. The patients rows are built from the
file's rows (one per ``patient_id``, numbered by its first line); a patient whose
patient-level values differ between rows is quarantined with the values and
lines, and so, through the link to patients, are its assessments. A row with no
outcome value at all is a visit without an assessment (a missed visit, or a row of
another form in a REDCap export): it is not quarantined but counted in the
reconciliation under :data:`NO_OUTCOME`, like a filter. Several
assessments on one day are fine when the unit is finer than a day: with a
non-date unit the key is (patient_id, time), not the date.

Wide file: a row per patient. Each outcome's ``columns`` (column → time) are
validated in place (a bad value names its line and column and quarantines the
row, which is the patient), then the accepted rows are turned into one
assessment per patient and time; a (patient, time) with no value is not an
assessment and is counted as blank.

Non-date time: there are no dates, so the loader sets ``enrolled_on`` to the
nominal day :data:`NOMINAL_DAY_ZERO` and ``assessed_on`` to that day plus the
time (exactly, as a datetime; a visit counts as a week, so week = visit number).
These nominal dates exist only so the date-based measures work unchanged; every
output carries ``time`` in the dataset's unit and ``week`` derived from it, and
the dataset's notes say the dates are nominal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._layout_steps import _apply_filters, _missing, _read_file, _recode, _rename, _text, _visit_times
from .dates import DateOrder, DatePolicy
from .description import DatasetDescription, check_columns, _suggest
from .errors import UsageError
from .readers import ReadResult
from .schema import Field, TableSchema
from .validate import ERROR_COLUMNS, ExportResult, _settle, validate_read

__all__ = ["NOMINAL_DAY_ZERO", "NO_OUTCOME", "DeclaredExportResult", "extend_schemas", "read_declared"]

#: Steps that moved to :mod:`outcomes.io._layout_steps`, still importable from here.
_MOVED = ("_is_number_text", "_matches", "_sheet")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from . import _layout_steps

        return getattr(_layout_steps, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: The nominal enrolment day of data timed in minutes, hours, days, weeks, months or visits.
NOMINAL_DAY_ZERO = pd.Timestamp("2000-01-01")


@dataclass
class DeclaredExportResult(ExportResult):
    """An :class:`~outcomes.io.validate.ExportResult` read through a description.

    ``filtered`` counts the rows each ``[[filter]]`` dropped (by the filter's text);
    the reconciliation is rows read = accepted + quarantined + blank + filtered.
    ``source_rows`` says what a row read is (e.g. "patients found in the long file").
    """

    filtered: dict[str, int] = field(default_factory=dict)
    source_rows: str = ""

    @property
    def filtered_total(self) -> int:
        return int(sum(self.filtered.values()))

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.accepted + self.quarantined + self.blank_skipped + self.filtered_total


# --------------------------------------------------------------------------- schemas


def extend_schemas(schemas: dict[str, TableSchema], description: DatasetDescription
                   ) -> dict[str, TableSchema]:
    """The contract's schemas extended by a description: extra missing spellings, declared outcomes
    (range-checked), typed covariates and, for a non-date unit, ``time`` in place of the dates."""
    missing = tuple(description.missing)
    out = {name: dataclasses.replace(s, missing_values=tuple(dict.fromkeys((*s.missing_values, *missing))))
           for name, s in schemas.items()}
    a, p = out["assessments"], out["patients"]
    extra_a = [_outcome_field(o) for o in description.outcomes if o.name not in a.field_names]
    a_fields = list(a.fields) + extra_a
    p_fields = list(p.fields)
    for name, kind in description.covariates.items():
        if name not in p.field_names:
            p_fields.append(Field(name=name, type="number" if kind == "numeric" else "string", title=name))
    key = a.primary_key
    if not description.time.dated:
        a_fields = [dataclasses.replace(f, required=False) if f.name == "assessed_on" else f for f in a_fields]
        a_fields.insert(2, Field(name="time", type="number", title="Time since enrolment", required=True,
                                 minimum=0, unit=description.time.unit))
        p_fields = [dataclasses.replace(f, required=False) if f.name == "enrolled_on" else f for f in p_fields]
        key = ("patient_id", "time")
    out["assessments"] = dataclasses.replace(
        a, fields=tuple(a_fields), primary_key=key,
        at_least_one_of=tuple(dict.fromkeys((*a.at_least_one_of, *(f.name for f in extra_a)))))
    out["patients"] = dataclasses.replace(p, fields=tuple(p_fields))
    return out


def _outcome_field(o: Any, name: str | None = None) -> Field:
    return Field(name=name or o.name, type="integer" if o.integer else "number", title=o.label or o.name,
                 unit=o.unit, minimum=o.min, maximum=o.max)


# --------------------------------------------------------------------------- reading
# (the shared steps: :mod:`outcomes.io._layout_steps`)


# --------------------------------------------------------------------------- public


def read_declared(description: DatasetDescription, schemas: dict[str, TableSchema], *,
                  date_order: DateOrder | None = None, dates: DatePolicy | None = None
                  ) -> tuple[dict[str, ExportResult], list[str]]:
    """Read a long, wide, REDCap or ADaM dataset into the contract's exports, validated.

    Parameters
    ----------
    description : DatasetDescription
        Layout ``"long"``, ``"wide"``, ``"redcap"`` (:mod:`outcomes.io.redcap`) or ``"adam"``
        (:mod:`outcomes.io.adam`).
    schemas : dict
        The contract's schemas (already extended by :func:`extend_schemas`).
    date_order : {"dayfirst", "monthfirst"}, optional
        As in :func:`~outcomes.io.dataset.load_dataset`.
    dates : DatePolicy, optional
        Plausible dates and the clinic's time zone, handed to
        :func:`~outcomes.io.validate.validate_read` for every table.

    Returns
    -------
    exports : dict
        :class:`DeclaredExportResult` for patients and assessments; prescriptions and
        sessions absent (optional).
    notes : list of str
        Dataset-level sentences (nominal dates, visits as weeks).

    Raises
    ------
    UsageError
        A column the description names is absent (the closest and the columns the file
        has are named), a visit code is not in ``[time.visits]``, two columns would get
        one name.
    """
    validate_options = {"dates": dates}
    notes: list[str] = []
    if description.layout == "redcap":
        from .redcap import read_redcap

        exports, notes = read_redcap(description, schemas, date_order=date_order, dates=dates)
    elif description.layout == "adam":
        from .adam import read_adam

        exports, notes = read_adam(description, schemas, date_order=date_order, dates=dates)
    else:
        read = _read_file(description)
        check_columns(description, [str(c) for c in read.frame.columns], file_label=read.path.name)
        missing_values = schemas["assessments"].missing_values
        frame, filtered = _apply_filters(read.frame, description, missing_values)
        if description.layout == "long":
            exports = _long(read, frame, filtered, description, schemas, date_order, validate_options)
        else:
            exports = _wide(read, frame, filtered, description, schemas, date_order, validate_options)
    for name in ("prescriptions", "sessions"):
        if name in exports:
            continue
        exports[name] = ExportResult(export=name, path=None, status="absent_optional",
                                     notes=[f"no {name}: a {description.layout} file holds patients and "
                                            "assessments only"])
    exports = {k: exports[k] for k in ("patients", "prescriptions", "sessions", "assessments")}
    unit = description.time.unit
    if unit != "date":
        notes.append(f"Time is in {unit}s since enrolment (column time); there are no dates, so enrolled_on is "
                     f"the nominal day {NOMINAL_DAY_ZERO.date()} and assessed_on that day plus the time."
                     + (" A visit counts as one week: week = visit number." if unit == "visit" else ""))
    return exports, notes


def _names(description: DatasetDescription) -> dict[str, str]:
    renames = {src: contract for contract, src in description.columns.items()}
    if description.layout == "long":
        for o in description.outcomes:
            if o.column is not None:
                renames[o.column] = o.name
        if description.time.column is not None and not description.time.dated:
            renames[description.time.column] = "time"
    return renames


def _patient_columns(frame: pd.DataFrame, description: DatasetDescription, schemas: dict[str, TableSchema]
                     ) -> list[str]:
    patient_fields = set(schemas["patients"].field_names) - {"patient_id"}
    cols = [c for c in frame.columns if c in patient_fields or c in description.covariates]
    cols += [o.baseline_column for o in description.outcomes if o.baseline_column and o.baseline_column in frame]
    return list(dict.fromkeys(cols))


def _baseline_schema(schema: TableSchema, description: DatasetDescription, assessments: TableSchema
                     ) -> TableSchema:
    """Patients schema with each outcome's baseline_column range-checked like the outcome."""
    extra = []
    for o in description.outcomes:
        if o.baseline_column:
            extra.append(_outcome_like(o, o.baseline_column, assessments))
    return dataclasses.replace(schema, fields=schema.fields + tuple(extra)) if extra else schema


def _outcome_like(o: Any, column: str, assessments: TableSchema) -> Field:
    if o.name in assessments.field_names:
        return dataclasses.replace(assessments.field(o.name), name=column, required=False)
    return _outcome_field(o, column)


def _with_errors(result: ExportResult, errors: list[dict[str, Any]]) -> None:
    if not errors:
        return
    new = pd.DataFrame(errors, columns=ERROR_COLUMNS)
    result.errors = pd.concat([result.errors, new], ignore_index=True).sort_values(
        ["line", "column"], kind="stable", ignore_index=True)
    _settle(result)


def _declared(result: ExportResult, **extra: Any) -> DeclaredExportResult:
    values = {f.name: getattr(result, f.name) for f in dataclasses.fields(ExportResult)}
    return DeclaredExportResult(**values, **extra)


def _read_like(read: ReadResult, frame: pd.DataFrame, rows_read: int, blank: int, notes: list[str],
               export: str, extra_columns: list[str]) -> ReadResult:
    return ReadResult(export=export, path=read.path, frame=frame, rows_read=rows_read, blank_skipped=blank,
                      file_format=read.file_format, encoding=read.encoding, delimiter=read.delimiter,
                      decimal=read.decimal, sheet=read.sheet, notes=notes, extra_columns=extra_columns)


def _nominal_dates(patients: ExportResult, assessments: ExportResult, description: DatasetDescription) -> None:
    """Nominal enrolled_on / assessed_on from time (see the module notes)."""
    if description.time.dated:
        return
    day = description.time.days
    if patients.data is not None:
        patients.data["enrolled_on"] = pd.Series(NOMINAL_DAY_ZERO, index=patients.data.index).astype(
            "datetime64[us]")
    if assessments.data is not None:
        t = assessments.data["time"].to_numpy(dtype=float)
        offset = pd.to_timedelta(np.round(t * day * 86400e6), unit="us")
        assessments.data["assessed_on"] = (NOMINAL_DAY_ZERO + offset).astype("datetime64[us]")
    if assessments.original is not None and "assessed_on" not in assessments.original.columns:
        # the enrolment-window check quotes the file's assessed_on; here it is the nominal date
        original = assessments.original.copy()
        text = np.full(len(original), NOMINAL_DAY_ZERO.isoformat(), dtype=object)
        if assessments.data is not None:
            stamps = assessments.data["assessed_on"].to_numpy(dtype="datetime64[s]")
            text[original.index.get_indexer(assessments.data.index)] = np.datetime_as_string(stamps, unit="s")
        original["assessed_on"] = text
        assessments.original = original


#: How the reconciliation names a row of a long file that holds no outcome value.
NO_OUTCOME = "no outcome value (a missed visit or another form's row, not an assessment)"


def _long(read: ReadResult, frame: pd.DataFrame, filtered: dict[str, int], description: DatasetDescription,
          schemas: dict[str, TableSchema], date_order: DateOrder | None, validate_options: dict[str, Any],
          *, cell_errors: list[dict[str, Any]] | None = None) -> dict[str, ExportResult]:
    """``cell_errors`` (line, column after renaming, value, rule, reason) are failures found before
    validation (e.g. a REDCap choice code): a patient-level column's quarantines the patient, another
    column's the row."""
    notes = list(read.notes)
    frame = _rename(frame.copy(), _names(description), description)
    frame = _recode(frame, description, notes)
    missing_values = schemas["assessments"].missing_values
    if not description.time.dated and description.time.visits is not None:
        frame["time"] = _visit_times(_text(frame["time"]).str.strip(), description, missing_values)
    if "patient_id" not in frame.columns:
        raise UsageError(f"{description.label}: no patient_id column in {read.path.name}; map yours in [columns] "
                         f"(patient_id = \"...\").{_suggest('patient_id', [str(c) for c in frame.columns])}")
    pcols = _patient_columns(frame, description, schemas)
    # ---- patients: one row per patient_id, numbered by its first line
    pid = _text(frame["patient_id"]).str.strip()
    known = ~_missing(pid, missing_values)
    rows = frame.loc[known, pcols]
    ids = pid[known]
    first_line = pd.Series(ids.index, index=ids.index).groupby(ids.to_numpy(), sort=False).min()
    conflicts: list[dict[str, Any]] = []
    values = {}
    for col in pcols:
        text = _text(rows[col]).str.strip()
        present = text.where(~_missing(text, missing_values))
        g = present.groupby(ids.to_numpy(), sort=False)
        values[col] = g.first().reindex(first_line.index).fillna("")
        n = g.nunique()
        varying = n.index[n.to_numpy() > 1]
        if len(varying):
            conflicts += _conflicts(col, present, ids, varying, first_line)
    patients_frame = pd.DataFrame({"patient_id": first_line.index.astype(str), **{c: values[c].to_numpy()
                                   for c in pcols}}, index=pd.Index(first_line.to_numpy(dtype=np.int64), name="line"))
    p_schema = _baseline_schema(schemas["patients"], description, schemas["assessments"])
    p_extra = [c for c in pcols if c not in p_schema.field_names]
    p_read = _read_like(read, patients_frame, len(patients_frame), 0,
                        [f"one row per patient_id, from {len(frame):,} rows of {read.path.name} "
                         f"(numbered by the patient's first line)"], "patients", p_extra)
    patients = validate_read(p_read, p_schema, date_order=date_order, **validate_options)
    cell_errors = cell_errors or []
    patient_level = [e for e in cell_errors if e["column"] in pcols]
    row_level = [e for e in cell_errors if e["column"] not in pcols]
    if patient_level:  # a bad patient-level value quarantines the patient (numbered by its first line)
        owner = dict(zip(ids.index, ids.to_numpy()))
        for e in patient_level:
            e["line"] = int(first_line.get(owner.get(e["line"], ""), e["line"]))
    _with_errors(patients, conflicts + patient_level)
    # ---- assessments: the file's rows without the patient-level columns
    a_frame = frame.drop(columns=[c for c in pcols if c != "patient_id"])
    a_schema = schemas["assessments"]
    # a row with no outcome value at all is a visit without an assessment, not a bad record
    outcome_cols = [c for c in a_schema.at_least_one_of if c in a_frame.columns]
    if outcome_cols:
        empty = np.logical_and.reduce([_missing(_text(a_frame[c]).str.strip(), missing_values)
                                       for c in outcome_cols])
        empty &= ~a_frame.index.isin([e["line"] for e in row_level])
        if empty.any():
            a_frame = a_frame.loc[~empty]
            filtered = {**filtered, NO_OUTCOME: int(empty.sum())}
    a_extra = [c for c in a_frame.columns if c not in a_schema.field_names]
    if a_extra:
        notes.append(f"extra columns kept: {', '.join(map(str, a_extra))}")
    a_read = _read_like(read, a_frame, read.rows_read, read.blank_skipped, notes, "assessments", a_extra)
    assessments = validate_read(a_read, a_schema, date_order=date_order, **validate_options)
    _with_errors(assessments, row_level)
    assessments.detected = {**assessments.detected, **read.detected()}
    patients = _declared(patients, source_rows=f"patients found in {read.path.name}")
    assessments = _declared(assessments, filtered=filtered, source_rows=f"rows of {read.path.name}")
    if filtered:
        assessments.notes.append("rows dropped by the filters: " + "; ".join(
            f"{n:,} by {text}" for text, n in filtered.items()))
    _nominal_dates(patients, assessments, description)
    _add_baselines(patients, assessments, description)
    return {"patients": patients, "assessments": assessments}


def _conflicts(col: str, present: pd.Series, ids: pd.Series, varying: pd.Index, first_line: pd.Series
               ) -> list[dict[str, Any]]:
    """One failure per patient whose ``col`` takes several values: each value with its first line."""
    sel = present.notna().to_numpy() & ids.isin(varying).to_numpy()
    seen = pd.DataFrame({"pid": ids[sel].to_numpy(), "value": present[sel].to_numpy(),
                         "line": present.index[sel].to_numpy()}).drop_duplicates(["pid", "value"])
    out = []
    for pid, group in seen.groupby("pid", sort=False):
        listing = ", ".join(f"{v!r} (line {ln})" for v, ln in zip(group["value"], group["line"]))
        out.append({"line": int(first_line[pid]), "column": col, "value": " | ".join(map(str, group["value"])),
                    "rule": "patient_level_varies",
                    "reason": (f"{col} differs between rows of patient {pid!r}: {listing}; a patient-level column "
                               "must be the same on every row of a patient. Correct it at the source; the "
                               "patient's assessments are held back with it.")})
    return out


def _add_baselines(patients: ExportResult, assessments: ExportResult, description: DatasetDescription) -> None:
    """Long file: each outcome's baseline_column becomes its value at time 0 (filled into the time-0 row
    when there is one, else a new assessment); counted in a note."""
    cols = [(o.name, o.baseline_column) for o in description.outcomes if o.baseline_column]
    if not cols or patients.data is None or assessments.data is None:
        return
    data = assessments.data
    pdata = patients.data.set_index("patient_id")
    time_col = "time" if "time" in data.columns else None
    if time_col is None:
        patients.notes.append("baseline_column needs a time unit (time 0 = baseline); it was not used.")
        return
    at_zero = data[time_col] == 0
    have_zero = set(data.loc[at_zero, "patient_id"])
    made = pd.DataFrame({"patient_id": [p for p in pdata.index if p not in have_zero]})
    made["time"] = 0.0
    filled = 0
    for name, col in cols:
        base = data["patient_id"].map(pdata[col])
        if name not in data.columns:
            data[name] = np.nan
        fill = at_zero & data[name].isna() & base.notna()
        filled += int(fill.sum())
        data.loc[fill, name] = base[fill]
        made[name] = made["patient_id"].map(pdata[col])
    made = made[made[[n for n, _ in cols]].notna().any(axis=1)]
    if len(made):
        made.index = pd.Index(-np.arange(1, len(made) + 1, dtype=np.int64), name="line")
        made["assessed_on"] = (NOMINAL_DAY_ZERO if not description.time.dated else pd.NaT)
        assessments.data = pd.concat([data, made], sort=False)
        assessments.rows_read += len(made)
    assessments.notes.append(f"baseline from {', '.join(c for _, c in cols)}: {len(made):,} time-0 assessment(s) "
                             f"added (numbered -1, -2, …), {filled:,} time-0 value(s) filled in")
    patients.data = patients.data.drop(columns=[c for _, c in cols if c in patients.data.columns])


def _wide(read: ReadResult, frame: pd.DataFrame, filtered: dict[str, int], description: DatasetDescription,
          schemas: dict[str, TableSchema], date_order: DateOrder | None, validate_options: dict[str, Any]
          ) -> dict[str, ExportResult]:
    notes = list(read.notes)
    frame = _rename(frame.copy(), _names(description), description)
    frame = _recode(frame, description, notes)
    if "patient_id" not in frame.columns:
        raise UsageError(f"{description.label}: no patient_id column in {read.path.name}; map yours in [columns] "
                         f"(patient_id = \"...\").{_suggest('patient_id', [str(c) for c in frame.columns])}")
    a_schema = schemas["assessments"]
    cells: list[tuple[str, str, float]] = []  # (outcome, column, time)
    for o in description.outcomes:
        for col, t in o.columns or ():
            cells.append((o.name, col, t))
        if o.baseline_column:
            if any(t == 0 for _, c, t in cells if _ == o.name):
                raise UsageError(f"{description.label}: [outcomes.{o.name}] gives a column at time 0 and a "
                                 "baseline_column; give one of them.")
            cells.append((o.name, o.baseline_column, 0.0))
    if not cells:
        raise UsageError(f"{description.label}: a wide file needs at least one [outcomes.NAME] with columns = "
                         "{ \"your column\" = time, ... }.")
    out_fields = {col: _outcome_like(description.outcome(name), col, a_schema) for name, col, _ in cells}
    p_schema = schemas["patients"]
    p_schema = dataclasses.replace(p_schema, fields=p_schema.fields + tuple(
        f for c, f in out_fields.items() if c not in p_schema.field_names))
    extra = [c for c in frame.columns if c not in p_schema.field_names]
    p_read = _read_like(read, frame, read.rows_read, read.blank_skipped, notes, "patients", extra)
    if extra:
        notes.append(f"extra columns kept: {', '.join(map(str, extra))}")
    patients = validate_read(p_read, p_schema, date_order=date_order, **validate_options)
    patients = _declared(patients, filtered=filtered, source_rows=f"rows of {read.path.name}")
    if filtered:
        patients.notes.append("rows dropped by the filters: " + "; ".join(
            f"{n:,} by {text}" for text, n in filtered.items()))
    # ---- one assessment per accepted patient and time
    data = patients.data if patients.data is not None else pd.DataFrame(columns=["patient_id"])
    times = sorted({t for _, _, t in cells})
    names = list(dict.fromkeys(n for n, _, _ in cells))
    parts = []
    n = len(data)
    for t in times:
        part = {"patient_id": data["patient_id"].to_numpy(), "time": np.full(n, t)}
        for name in names:
            col = next((c for o, c, tt in cells if o == name and tt == t), None)
            part[name] = (data[col].to_numpy(dtype=float, na_value=np.nan) if col is not None
                          else np.full(n, np.nan))
        parts.append(pd.DataFrame(part))
    records = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["patient_id", "time"])
    order = np.argsort(np.tile(np.arange(n), len(times)), kind="stable")  # patient by patient, in time order
    records = records.iloc[order].reset_index(drop=True)
    empty = records[names].isna().all(axis=1).to_numpy()
    built = len(records)
    records = records.loc[~empty]
    records.index = pd.Index(np.flatnonzero(~empty) + 1, name="line")
    for name in names:
        if name in a_schema.field_names and a_schema.field(name).type == "integer":
            records[name] = records[name].round().astype("Int64")
    assessments = DeclaredExportResult(
        export="assessments", path=read.path, status="ok", rows_read=built, blank_skipped=int(empty.sum()),
        data=records, original=records, detected=read.detected(),
        notes=[f"built from the accepted rows of {read.path.name}: one record per patient and time "
               f"({len(times)} time(s): {', '.join(f'{t:g}' for t in times)}); {int(empty.sum()):,} "
               "(patient, time) without any value are not assessments (counted as blank)"],
        source_rows=f"(patient, time) cells of the accepted rows of {read.path.name}")
    patients.data = data.drop(columns=[c for c in out_fields if c in data.columns])
    _nominal_dates(patients, assessments, description)
    return {"patients": patients, "assessments": assessments}
