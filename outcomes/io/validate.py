"""Validation: compile a Table Schema into vectorised checks and collect every failure.

Checks run in three layers and every failure is kept, never just the first:

1. **per row**: type (integer, number, boolean, date, datetime), ``required``,
   ``minimum``/``maximum``, ``enum``, ``pattern``, ``maxLength``, the
   ``x-atLeastOneOf`` rule and a few cross-column rules (a discharge before
   enrolment);
2. **per file**: primary-key uniqueness and exact duplicate rows;
3. **across files** (:func:`check_links`): every ``patient_id`` exists in
   patients and was accepted there; sessions, prescriptions and assessments
   fall inside the enrolment window (``enrolled_on`` to ``discharged_on`` plus
   a grace period).

A failure is one row of a frame with the columns ``line, column, value,
rule, reason``. A row with any failure is quarantined; the rest are
accepted, typed and returned.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._convert import ERROR_COLUMNS, _Collector, _arrow_text, _convert_columns, _fmt_value, tidy_categories
from .dates import DateOrder, DatePolicy
from .errors import FileRejected
from .readers import ReadResult
from .schema import TableSchema

__all__ = ["ERROR_COLUMNS", "ExportResult", "validate_read", "check_links"]

#: Helpers that moved to :mod:`outcomes.io._convert`, still importable from here (e.g. ``_isin``).
_MOVED = ("_FIX", "_MAX_EXACT_INT", "_PATTERN_WORDS", "_convert_boolean", "_convert_number", "_convert_string",
          "_fmt_value", "_is_text", "_isin", "_missing_mask", "_text_to_float")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from . import _convert

        return getattr(_convert, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class ExportResult:
    """The outcome of reading and validating one export."""

    export: str
    path: Path | None
    status: str  # "ok", "problems", "rejected" or "absent"
    rows_read: int = 0
    blank_skipped: int = 0
    data: pd.DataFrame | None = None  # accepted rows, typed; index = line
    original: pd.DataFrame | None = None  # every read row as it was in the file; index = line
    errors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ERROR_COLUMNS))
    detected: dict[str, Any] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)
    absent_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejection: FileRejected | None = None
    #: Reads back the file's text of the given lines into ``original`` (set for exports read in slices).
    recover: Any = field(default=None, repr=False, compare=False)

    @property
    def quarantined(self) -> int:
        return 0 if self.errors.empty else int(self.errors["line"].nunique())

    @property
    def accepted(self) -> int:
        return 0 if self.data is None else len(self.data)

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.accepted + self.quarantined + self.blank_skipped

    def quarantine(self) -> pd.DataFrame:
        """Quarantined rows with their original values, then ``rules`` and ``reasons``."""
        if self.original is None or self.errors.empty:
            return pd.DataFrame(columns=["line", "rules", "reasons"])
        grouped = self.errors.groupby("line", sort=True).agg(
            rules=("rule", lambda r: "; ".join(dict.fromkeys(r))),
            reasons=("reason", lambda r: " | ".join(r)),
        )
        rows = self.original.reindex(grouped.index)  # (a row whose text could not be read back: blank)
        out = rows.astype(str).replace({"nan": "", "NaT": "", "<NA>": "", "None": ""})
        taken = {"line", "rules", "reasons"}  # a file's own column of that name keeps its values, renamed
        out = out.rename(columns={c: f"{c} (column in the file)" for c in out.columns if c in taken})
        out = out.assign(rules=grouped["rules"], reasons=grouped["reasons"])
        return out.reset_index()



# --------------------------------------------------------------------- per row
# (per-column conversion: :mod:`outcomes.io._convert`)


def _row_rules(schema: TableSchema, typed: pd.DataFrame, errs: _Collector) -> None:
    if schema.name == "patients" and {"enrolled_on", "discharged_on"} <= set(typed.columns):
        bad = (typed["discharged_on"] < typed["enrolled_on"]).fillna(False).to_numpy(dtype=bool)
        enrolled = typed["enrolled_on"].dt.strftime("%Y-%m-%d")
        errs.add(bad, "discharged_on", "discharged_before_enrolled",
                 lambda v, ln: (f"discharged_on = {v} is before enrolled_on = {enrolled[ln]}. "
                                "Correct one of the two dates."))


# -------------------------------------------------------------------- per file


def _all_distinct(s: pd.Series) -> bool:
    """True when no two filled values are equal (pyarrow's hash set; the common, clean case)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = _arrow_text(s)
        arr = (pa.array(s, from_pandas=True) if arr is None else arr).drop_null()
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return len(pc.unique(arr)) == len(arr)


def _key_rules(schema: TableSchema, typed: pd.DataFrame, errs: _Collector) -> None:
    """Primary-key duplicates: exact repeats quarantine the later copies; conflicting
    records sharing a key are all quarantined (which one is right cannot be known)."""
    key = [c for c in schema.primary_key if c in typed.columns]
    if not key:
        return
    if len(key) == 1 and _all_distinct(typed[key[0]]):
        return
    codes = np.zeros(len(typed), dtype=np.int64)
    complete = np.ones(len(typed), dtype=bool)
    for c in key:  # one integer code per key (factorize is far faster than hashing text rows)
        col_codes, uniques = pd.factorize(typed[c])
        complete &= col_codes >= 0
        codes = codes * (len(uniques) + 1) + col_codes + 1
    dup = pd.Series(codes).duplicated(keep=False).to_numpy() & complete
    if not dup.any():
        return
    rows = typed.loc[dup]
    line = pd.Series(rows.index, index=rows.index)
    exact_later = rows.duplicated(keep="first")
    first_line = line.groupby([rows[c] for c in rows.columns], dropna=False, sort=False).transform("min")
    label = ", ".join(key)
    exact_mask = np.zeros(len(typed), dtype=bool)
    exact_mask[np.flatnonzero(dup)[exact_later.to_numpy()]] = True
    firsts = dict(zip(rows.index[exact_later.to_numpy()], first_line[exact_later].tolist()))
    errs.add(exact_mask, key[0], "duplicate_row",
             lambda _v, ln: f"this row repeats line {firsts[ln]} exactly. Remove the copy.")
    # remaining conflicts: rows sharing a key that are not exact copies of an earlier row
    remaining = rows.loc[~exact_later.to_numpy()]
    conflict = remaining[key].duplicated(keep=False)
    if conflict.any():
        conflicted = remaining.loc[conflict.to_numpy()]
        lines_by_key = pd.Series(conflicted.index, index=conflicted.index).groupby(
            [conflicted[c] for c in key], sort=False).transform(lambda x: ", ".join(map(str, x)))
        mask = np.isin(typed.index.to_numpy(), conflicted.index.to_numpy())
        shown = lines_by_key.to_dict()
        errs.add(mask, key[0], "unique",
                 lambda _v, ln: (f"{label} is not unique: lines {shown[ln]} share it with different "
                                 "values. Keep the correct record and remove or re-key the others."))


# ------------------------------------------------------------------ public API


def _unclosed_reason(line: int, last: int, column: str) -> str:
    where = f" in column {column}" if column != "(unknown)" else ""
    span = (f"is not closed until line {last}, so lines {line}–{last} were read as one record"
            if last > line else "is never closed")
    return f'a quote opened{where} on line {line} {span}. Close or remove the stray double quote (") and export again.'


def required_columns_present(read: ReadResult, schema: TableSchema) -> None:
    """Reject the file (:class:`FileRejected`) when a required column, or every outcome column, is missing."""
    present = set(read.frame.columns)
    for col in schema.required_columns:
        if col not in present:
            close = difflib.get_close_matches(col, [str(c) for c in read.frame.columns], n=1, cutoff=0.75)
            tip = (f" The file has a column {close[0]!r}: if that is it, map it with --columns "
                   f'(e.g. {{"{close[0]}": "{col}"}}).' if close else
                   " Add the column, or map the file's own name for it with --columns map.json.")
            raise FileRejected(str(read.path), f"the required column {col!r} is missing.", tip.strip(),
                               column=col, line=1, rule="required_column")
    if schema.at_least_one_of and not present & set(schema.at_least_one_of):
        raise FileRejected(
            str(read.path), "has no outcome column.",
            f"Include at least one of: {', '.join(schema.at_least_one_of)} (or map yours with --columns).",
            line=1, rule="required_column",
        )


def validate_read(read: ReadResult, schema: TableSchema, *, date_order: DateOrder | None = None,
                  dates: DatePolicy | None = None) -> ExportResult:
    """Validate one export read by :func:`outcomes.io.readers.read_export`.

    ``dates`` sets the plausible window and the clinic's time zone (default :class:`DatePolicy`).

    Raises
    ------
    FileRejected
        When a required column is missing (the whole file is rejected).
    """
    label = read.path.name
    present = set(read.frame.columns)
    required_columns_present(read, schema)
    errs = _Collector(label, read.frame)
    if read.unclosed_quotes:
        spans = read.unclosed_quotes
        errs.add(read.frame.index.isin(list(spans)), "(row)", "unclosed_quote",
                 lambda _v, ln: _unclosed_reason(ln, *spans[ln]))
    if read.surplus_lines:
        width = len(read.frame.columns)
        errs.add(read.frame.index.isin(read.surplus_lines) & ~read.frame.index.isin(list(read.unclosed_quotes)),
                 "(row)", "field_count",
                 lambda _v, _ln: (f"the record has more fields than the header's {width}: a value "
                                  f"probably contains the delimiter {read.delimiter!r} without quotes. "
                                  "Put that value in double quotes or remove the stray delimiter."))
    typed, detected = _convert_columns(read, schema, errs, date_order, dates or DatePolicy())
    _row_rules(schema, typed, errs)
    _key_rules(schema, typed, errs)
    result = ExportResult(
        export=schema.name, path=read.path, status="ok", rows_read=read.rows_read,
        blank_skipped=read.blank_skipped, original=read.frame, data=typed,
        errors=errs.frame(), detected={**read.detected(), **detected}, renamed=read.renamed,
        extra_columns=read.extra_columns,
        absent_columns=[f.name for f in schema.fields if f.name not in present],
        notes=list(read.notes),
    )
    if detected.get("excel_serials"):
        result.notes.append(f"{detected['excel_serials']} Excel date serial(s) converted to dates")
    if detected.get("utc_offsets_converted"):
        result.notes.append(f"{detected['utc_offsets_converted']} timestamp(s) with a UTC offset converted to "
                            f"clinic time ({detected['timezone']}; set another with --timezone)")
    _settle(result)
    tidy_categories(result.data)
    return result


def _settle(result: ExportResult) -> None:
    """Split accepted from quarantined rows and set the status."""
    if result.data is None:
        return
    if not result.errors.empty:
        bad = np.isin(result.data.index.to_numpy(), result.errors["line"].unique())
        result.data = result.data.loc[~bad]
    result.status = "ok" if result.errors.empty else "problems"


#: Rows checked at a time by the cross-file rules (their temporaries stay ~50 MB at any size).
_LINK_BLOCK = 1 << 21


def _window_rules(errs: _Collector, data: pd.DataFrame, res: ExportResult, col: str,
                  row_of: np.ndarray, known: np.ndarray, enrolled: np.ndarray,
                  discharged: np.ndarray | None, grace_days: int) -> None:
    """Dated rows must fall between enrolment and discharge plus grace (``row_of``: patient row)."""
    n = len(data)
    early = np.zeros(n, dtype=bool)
    late = np.zeros(n, dtype=bool)
    grace = np.timedelta64(grace_days, "D")
    stamps = data[col]
    for a in range(0, n, _LINK_BLOCK):  # in blocks: a 20-million-row session log needs no 1 GB of temporaries
        b = min(n, a + _LINK_BLOCK)
        day = stamps.iloc[a:b].dt.normalize().to_numpy()
        safe = np.maximum(row_of[a:b], 0)
        early[a:b] = known[a:b] & (day < enrolled[safe])
        if discharged is not None:
            end = discharged[safe]
            late[a:b] = known[a:b] & ~np.isnat(end) & (day > end + grace)
    # reasons quote the file's text; rows of unknown patients are read back in the same pass (an export
    # read in slices), so their quarantine shows the file's text without a second read of the file
    as_written = _as_written(res, data, col, early | late | ~known)

    def patient_row(ln: int) -> int:
        return int(max(row_of[data.index.get_loc(ln)], 0))

    def early_reason(v: str, ln: int) -> str:
        return (f"{col} = {v} is before the patient enrolled ({_day(enrolled[patient_row(ln)])}). "
                "Correct the date, or the patient's enrolled_on.")

    errs.add(early, col, "enrolment_window", early_reason, values=as_written)
    if discharged is None:
        return

    def late_reason(v: str, ln: int) -> str:
        return (f"{col} = {v} is after the patient was discharged ({_day(discharged[patient_row(ln)])}) "
                f"plus {grace_days} days' grace. Correct the date, or the patient's discharged_on "
                "(or re-run with a longer --grace-days).")

    errs.add(late, col, "enrolment_window", late_reason, values=as_written)


def _as_written(res: ExportResult, data: pd.DataFrame, col: str, flagged: np.ndarray) -> pd.Series:
    """The file's text of ``col``; rows whose text was let go (an export read in slices) are read back."""
    original = res.original
    if original is None:
        return data[col]
    lines = data.index.to_numpy()[flagged]
    missing = lines[~np.isin(lines, original.index.to_numpy())]
    if len(missing) and res.recover is not None:
        res.recover(missing)
        original = res.original
    text = original[col].reindex(lines).astype(object)
    gone = text.isna().to_numpy()
    if gone.any():  # text not to be had (the file changed under us?): the value as read, not a KeyError
        text[gone] = [_fmt_value(v) for v in data[col].loc[lines[gone]]]
    return text


def _day(value: np.datetime64) -> str:
    return str(np.datetime_as_string(value, unit="D"))


def _row_of(pid: pd.Series, accepted_ids: pd.Index) -> np.ndarray:
    """Position of each ``pid`` in ``accepted_ids`` (unique), -1 where absent: Arrow's hash lookup
    for Arrow-backed text, else ``Index.get_indexer``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(pid.dtype, pd.CategoricalDtype):  # each distinct code looked up once, spread by the row codes
        cats = _row_of(pd.Series(pid.cat.categories.astype("str")), accepted_ids)
        codes = pid.cat.codes.to_numpy()
        return np.where(codes >= 0, cats.astype(np.int32)[np.maximum(codes, 0)], -1).astype(np.int32)
    arr, ids = _arrow_text(pid), _arrow_text(pd.Series(accepted_ids))
    if arr is None or ids is None or not accepted_ids.is_unique:
        found = pid.isin(accepted_ids).to_numpy()
        return np.where(found, accepted_ids.get_indexer(pid) if len(accepted_ids) else -1, -1)
    idx = pc.index_in(arr, value_set=ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids)
    return pc.fill_null(idx, -1).to_numpy()  # int32: half the memory of int64 on a 20-million-row log


_WINDOW_COLUMN = {"prescriptions": "valid_from", "sessions": "performed_at", "assessments": "assessed_on"}


def check_links(results: dict[str, ExportResult], *, grace_days: int = 14) -> None:
    """Cross-file rules, applied in place to the accepted rows of each export.

    * every ``patient_id`` exists in patients, and its patient row was accepted;
    * dated rows fall on or after ``enrolled_on`` and on or before ``discharged_on``
      plus ``grace_days`` (late entries and follow-up visits soon after discharge).
    """
    patients = results.get("patients")
    if patients is None or patients.data is None:
        return
    pdata = patients.data
    accepted_ids = pd.Index(pdata["patient_id"])
    quarantined_lines: dict[str, str] = {}
    if patients.original is not None and "patient_id" in patients.original.columns and not patients.errors.empty:
        q = patients.original.loc[patients.errors["line"].unique(), "patient_id"]
        quarantined_lines = {str(pid): str(line) for line, pid in q.items()}
    enrolled = pdata["enrolled_on"].to_numpy(dtype="datetime64[us]")
    discharged = (pdata["discharged_on"].to_numpy(dtype="datetime64[us]")
                  if "discharged_on" in pdata.columns else None)
    pfile = patients.path.name if patients.path else "patients"
    for name, col in _WINDOW_COLUMN.items():
        res = results.get(name)
        if res is None or res.data is None or res.data.empty:
            continue
        data = res.data
        errs = _Collector(res.path.name if res.path else name, data)
        pid = data["patient_id"]
        row_of = _row_of(pid, accepted_ids)  # the patient's row in pdata, -1 where unknown
        known = row_of >= 0

        def orphan_reason(v: str, _ln: int) -> str:
            if v in quarantined_lines:
                return (f"patient_id {v!r} is in {pfile} but that row (line {quarantined_lines[v]}) "
                        "was quarantined. Fix the patient's row first.")
            return (f"patient_id {v!r} is not in {pfile}. Add the patient or correct the code.")

        errs.add(~known, "patient_id", "foreign_key", orphan_reason)
        if len(accepted_ids):
            _window_rules(errs, data, res, col, row_of, known,
                          enrolled, discharged, grace_days)
        new = errs.frame()
        if not new.empty:
            res.errors = pd.concat([res.errors, new], ignore_index=True).sort_values(
                ["line", "column"], kind="stable", ignore_index=True)
            _settle(res)
            tidy_categories(res.data)  # an unknown patient's code is no category of the accepted rows
