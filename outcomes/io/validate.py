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
from typing import Any, Callable

import numpy as np
import pandas as pd

from .dates import PROBLEMS, DateColumn, DateOrder, DatePolicy, infer_date_order
from .errors import FileRejected
from .readers import ReadResult
from .schema import Field, TableSchema

__all__ = ["ERROR_COLUMNS", "ExportResult", "validate_read", "check_links"]

ERROR_COLUMNS = ["line", "column", "value", "rule", "reason"]

#: Hints ending each reason, by rule.
_FIX = {
    "required": "Fill it in, or remove the row if it is not a real record.",
    "type": "Correct the value, or leave the cell empty if it is unknown.",
    "range": "Correct the value, or leave the cell empty if it is unknown.",
    "enum": "Use one of the allowed values, or map your codes with --columns.",
}

#: Patterns used by the schemas, in words.
_PATTERN_WORDS = {
    r"^[A-Za-z0-9_-]{1,64}$": "codes are 1 to 64 letters, digits, '_' or '-' (no spaces, dots or slashes)",
}


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
        rows = self.original.loc[grouped.index]
        out = rows.astype(str).replace({"nan": "", "NaT": "", "<NA>": "", "None": ""})
        taken = {"line", "rules", "reasons"}  # a file's own column of that name keeps its values, renamed
        out = out.rename(columns={c: f"{c} (column in the file)" for c in out.columns if c in taken})
        out = out.assign(rules=grouped["rules"], reasons=grouped["reasons"])
        return out.reset_index()


# --------------------------------------------------------------------- per row


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or pd.api.types.is_string_dtype(s.dtype)


def _arrow_text(s: pd.Series) -> Any:
    """The Arrow data behind a pandas ``str`` column (no copy), or None for other columns."""
    if isinstance(s.dtype, pd.StringDtype) and hasattr(s.array, "__arrow_array__"):
        return s.array.__arrow_array__()
    return None


def _isin(s: pd.Series, values: Any) -> np.ndarray:
    """``s.isin(values).to_numpy()`` for text values; Arrow's hash lookup on Arrow-backed text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _arrow_text(s)
    if arr is None:
        return s.isin(list(values)).to_numpy(dtype=bool)
    text = list(dict.fromkeys(v for v in values if isinstance(v, str)))
    if len(text) == 1:  # the usual missing value "": a plain comparison is 3x faster than a hash lookup
        return np.asarray(pc.fill_null(pc.equal(arr, text[0]), False).to_numpy(), dtype=bool)
    hit = pc.is_in(arr, value_set=pa.array(text, type=arr.type))
    return np.asarray(hit.to_numpy(), dtype=bool)  # a missing value is in no set of text


def _missing_mask(s: pd.Series, missing_values: tuple[str, ...]) -> np.ndarray:
    if _is_text(s):  # "" is always among missing_values (see schema.load_schema)
        return s.isna().to_numpy(dtype=bool) | _isin(s, missing_values)
    return s.isna().to_numpy(dtype=bool)


def _fmt_value(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return str(v)


class _Collector:
    """Gathers failures for one export as small frames, joined once at the end."""

    def __init__(self, file_label: str, original: pd.DataFrame) -> None:
        self.file = file_label
        self.original = original
        self.parts: list[pd.DataFrame] = []

    def add(self, mask: np.ndarray | pd.Series, column: str, rule: str,
            reason: Callable[[str, int], str], values: pd.Series | None = None) -> None:
        """Record a failure for each row in ``mask``; ``reason(value, line)`` words it."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        idx = self.original.index[mask]
        if values is None:
            values = self.original[column] if column in self.original.columns else None
        vals = (["" for _ in idx] if values is None
                else [_fmt_value(v) for v in values.loc[idx].tolist()])
        self.parts.append(pd.DataFrame({
            "line": idx.to_numpy(dtype=np.int64), "column": column, "value": vals, "rule": rule,
            "reason": [reason(v, ln) for v, ln in zip(vals, idx.tolist())],
        }))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "line" else object)
                                 for c in ERROR_COLUMNS})
        return pd.concat(self.parts, ignore_index=True).sort_values(
            ["line", "column"], kind="stable", ignore_index=True)


def _text_to_float(s: pd.Series, missing: np.ndarray, decimal: str) -> pd.Series:
    """Text → float64 (NaN where missing or not a number).

    The fast path casts with pyarrow, which refuses the whole column at the first value that is
    not a number; only then does pandas coerce value by value.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _arrow_text(s)
    if arr is None:
        arr = pa.array(s, type=pa.large_string(), from_pandas=True)
    else:
        arr = arr.combine_chunks()
    arr = pc.if_else(pa.array(missing), pa.scalar(None, arr.type), arr)
    if decimal == ",":
        arr = pc.replace_substring(arr, ",", ".")
    try:
        values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        # pyarrow accepts "nan" and "inf" spellings; those are not measurements
        finite = np.isfinite(values) | np.isnan(values)
        if finite.all():
            return pd.Series(values, index=s.index)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    text = s.where(~missing)
    if decimal == ",":
        text = text.str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce").astype("float64")


#: Whole numbers beyond 2**53 cannot be held exactly (and beyond 2**63 not at all).
_MAX_EXACT_INT = 2.0**53


def _convert_number(s: pd.Series, f: Field, missing: np.ndarray, decimal: str,
                    errs: _Collector) -> pd.Series:
    if _is_text(s):
        num = _text_to_float(s, missing, decimal)
    else:
        num = pd.to_numeric(s, errors="coerce")
    values = num.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    bad = ~np.isfinite(values) & ~missing  # "inf" parses as a number but measures nothing
    kind = "a whole number" if f.type == "integer" else "a number"
    errs.add(bad, f.name, f"type:{f.type}",
             lambda v, _ln: f"{f.name} = {v!r} is not {kind}. {_FIX['type']}")
    values[bad] = np.nan
    if f.type == "integer":
        frac = ~np.isnan(values) & (values != np.floor(values))
        errs.add(frac, f.name, "type:integer",
                 lambda v, _ln: f"{f.name} = {v!r} is not a whole number. {_FIX['type']}")
        values[frac] = np.nan
    lo, hi = f.minimum, f.maximum
    out = np.zeros(len(values), dtype=bool)
    if lo is not None:
        out |= values < lo
    if hi is not None:
        out |= values > hi
    errs.add(out, f.name, "minimum/maximum",
             lambda v, _ln: f"{f.name} = {v} is outside the allowed range {f.range_text}. {_FIX['range']}")
    values[out] = np.nan  # quarantined anyway; keeps 1e20 away from the integer cast
    if f.type == "integer":
        huge = np.abs(values) > _MAX_EXACT_INT
        errs.add(huge, f.name, "minimum/maximum",
                 lambda v, _ln: f"{f.name} = {v} is far too large to be a count or a measurement. "
                                f"{_FIX['range']}")
        values[huge] = np.nan
        na = np.isnan(values)
        ints = np.round(np.where(na, 0.0, values)).astype(np.int64)
        return pd.Series(pd.arrays.IntegerArray(ints, na), index=s.index)
    return pd.Series(values, index=s.index)


def _convert_boolean(s: pd.Series, f: Field, missing: np.ndarray, errs: _Collector) -> pd.Series:
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("boolean")
    text = (s if _is_text(s) else s.astype(str)).str.lower()
    is_true = _isin(text, [v.lower() for v in f.true_values])
    is_false = _isin(text, [v.lower() for v in f.false_values])
    out = pd.array(is_true, dtype="boolean")
    out[~(is_true | is_false)] = pd.NA
    bad = ~(is_true | is_false | missing)
    allowed = "/".join(sorted({f.true_values[0], f.false_values[0]}))
    errs.add(bad, f.name, "type:boolean",
             lambda v, _ln: f"{f.name} = {v!r} is not yes/no ({allowed}, yes/no or 1/0). {_FIX['type']}")
    return pd.Series(out, index=s.index)


def _convert_string(s: pd.Series, f: Field, missing: np.ndarray, errs: _Collector) -> pd.Series:
    text = s.astype(str) if not _is_text(s) else s
    text = text.where(~missing).astype("str")
    present = ~missing
    if f.enum is not None and not (_isin(text, f.enum) | ~present).all():
        # spelled differently (e.g. "Slider"): compare case-insensitively, store the schema's spelling
        canon = {e.lower(): e for e in f.enum}
        mapped = text.str.lower().map(canon)
        bad = mapped.isna().to_numpy() & present
        allowed = ", ".join(f.enum)
        errs.add(bad, f.name, "enum",
                 lambda v, _ln: f"{f.name} = {v!r} is not one of: {allowed}. {_FIX['enum']}")
        text = mapped.where(~bad, text).astype("str")
    if f.pattern is not None:
        ok = text.str.fullmatch(f.pattern.strip("^$")).fillna(False).to_numpy(dtype=bool)
        rule = _PATTERN_WORDS.get(f.pattern, f"it must match the pattern {f.pattern}")
        errs.add(present & ~ok, f.name, "pattern",
                 lambda v, _ln: f"{f.name} = {v!r} is not a valid code: {rule}. Correct the code.")
    if f.max_length is not None:
        long_ = (text.str.len() > f.max_length).fillna(False).to_numpy(dtype=bool)
        errs.add(long_, f.name, "maxLength",
                 lambda v, _ln: f"{f.name} is {len(v)} characters long; at most {f.max_length} are allowed.")
    return text


def _convert_columns(read: ReadResult, schema: TableSchema, errs: _Collector,
                     date_order: DateOrder | None, policy: DatePolicy) -> tuple[pd.DataFrame, dict[str, Any]]:
    frame = read.frame
    typed: dict[str, pd.Series] = {}
    dates: dict[str, DateColumn] = {}
    missing: dict[str, np.ndarray] = {}
    for f in schema.fields:
        if f.name not in frame.columns:
            continue
        s = frame[f.name]
        if f.type in ("date", "datetime"):
            dates[f.name] = DateColumn.parse(s, schema.missing_values, timezone=policy.timezone)
            missing[f.name] = dates[f.name].missing
            continue
        m = _missing_mask(s, schema.missing_values)
        missing[f.name] = m
        if f.type in ("integer", "number"):
            typed[f.name] = _convert_number(s, f, m, read.decimal, errs)
        elif f.type == "boolean":
            typed[f.name] = _convert_boolean(s, f, m, errs)
        else:
            typed[f.name] = _convert_string(s, f, m, errs)
    order, order_note = infer_date_order(list(dates.values()), date_order)
    detected: dict[str, Any] = {}
    if dates:
        detected["date_order"] = order or ("iso" if order_note.startswith("ISO") else None)
        detected["date_order_note"] = order_note
    serials = converted = 0
    for name, col in dates.items():
        col.resolve(order)
        col.check_window(policy.earliest, policy.latest)
        serials += col.serials
        converted += col.converted
        f = schema.field(name)
        when = {"dayfirst": " in day-first order", "monthfirst": " in month-first order"}.get(order or "", "")
        reasons = {
            "not_a_date": lambda v, _ln, n=name: (f"{n} = {v!r} is not a date. Write dates as YYYY-MM-DD "
                                            "(or DD/MM/YYYY with --dayfirst)."),
            "impossible": lambda v, _ln, n=name: f"{n} = {v!r} is not a real calendar date{when}. Correct it.",
            "ambiguous": lambda v, _ln, n=name: (f"{n} = {v!r} could be read day-first or month-first and "
                                           "the file's dates do not settle which. Re-run with "
                                           "--dayfirst or --monthfirst."),
            "partial": lambda v, _ln, n=name: (f"{n} = {v!r} is not a whole date (year, month and day); "
                                         "it is not completed by guessing. Write the full date."),
            "implausible": lambda v, _ln, n=name: (f"{n} = {v!r} is outside the plausible dates "
                                             f"{policy.earliest} to {policy.latest}. Correct it (or widen "
                                             "the window with --earliest-date/--latest-date)."),
        }
        for code, reason in reasons.items():
            rule = {"ambiguous": "date_order", "partial": "partial_date",
                    "implausible": "plausible_date"}.get(code, f"type:{f.type}")
            errs.add(col.problem.to_numpy() == PROBLEMS[code], name, rule, reason)
        values = col.values
        typed[name] = values.dt.normalize() if f.type == "date" else values
    if serials:
        detected["excel_serials"] = serials
    if converted:
        detected["utc_offsets_converted"] = converted
        detected["timezone"] = policy.timezone
    for f in schema.fields:
        if f.required and f.name in missing:
            errs.add(missing[f.name], f.name, "required",
                     lambda v, _ln, n=f.name: f"{n} is empty but required. {_FIX['required']}")
    if schema.at_least_one_of:
        present = [c for c in schema.at_least_one_of if c in missing]
        none = np.logical_and.reduce([missing[c] for c in present]) if present else None
        if none is not None:
            errs.add(none, "(outcomes)", "atLeastOneOf",
                     lambda v, _ln: "the row has no outcome value at all. Fill in at least one of: "
                               f"{', '.join(present)}; or remove the row.")
    out = pd.DataFrame(typed, index=frame.index)
    ordered = [f.name for f in schema.fields if f.name in out.columns]
    extras = [c for c in frame.columns if c not in schema.field_names]
    out = out[ordered]
    for c in extras:
        out[c] = frame[c]
    return out, detected


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
    return result


def _settle(result: ExportResult) -> None:
    """Split accepted from quarantined rows and set the status."""
    if result.data is None:
        return
    if not result.errors.empty:
        bad = np.isin(result.data.index.to_numpy(), result.errors["line"].unique())
        result.data = result.data.loc[~bad]
    result.status = "ok" if result.errors.empty else "problems"


def _window_rules(errs: _Collector, data: pd.DataFrame, original: pd.DataFrame | None, col: str,
                  row_of: np.ndarray, known: np.ndarray, enrolled: np.ndarray,
                  discharged: np.ndarray | None, grace_days: int) -> None:
    """Dated rows must fall between enrolment and discharge plus grace (``row_of``: patient row)."""
    day = data[col].dt.normalize().to_numpy()
    safe = np.maximum(row_of, 0)
    as_written = (original if original is not None else data)[col]  # reasons quote the file's text
    start = enrolled[safe]
    early = known & (day < start)

    def early_reason(v: str, ln: int) -> str:
        return (f"{col} = {v} is before the patient enrolled ({_day(start[data.index.get_loc(ln)])}). "
                "Correct the date, or the patient's enrolled_on.")

    errs.add(early, col, "enrolment_window", early_reason, values=as_written)
    if discharged is None:
        return
    end = discharged[safe]
    late = known & ~np.isnat(end) & (day > end + np.timedelta64(grace_days, "D"))

    def late_reason(v: str, ln: int) -> str:
        return (f"{col} = {v} is after the patient was discharged ({_day(end[data.index.get_loc(ln)])}) "
                f"plus {grace_days} days' grace. Correct the date, or the patient's discharged_on "
                "(or re-run with a longer --grace-days).")

    errs.add(late, col, "enrolment_window", late_reason, values=as_written)


def _day(value: np.datetime64) -> str:
    return str(np.datetime_as_string(value, unit="D"))


def _row_of(pid: pd.Series, accepted_ids: pd.Index) -> np.ndarray:
    """Position of each ``pid`` in ``accepted_ids`` (unique), -1 where absent: Arrow's hash lookup
    for Arrow-backed text, else ``Index.get_indexer``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr, ids = _arrow_text(pid), _arrow_text(pd.Series(accepted_ids))
    if arr is None or ids is None or not accepted_ids.is_unique:
        found = pid.isin(accepted_ids).to_numpy()
        return np.where(found, accepted_ids.get_indexer(pid) if len(accepted_ids) else -1, -1)
    idx = pc.index_in(arr, value_set=ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids)
    return pc.fill_null(idx, -1).to_numpy().astype(np.int64)


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
            _window_rules(errs, data, res.original, col, row_of, known,
                          enrolled, discharged, grace_days)
        new = errs.frame()
        if not new.empty:
            res.errors = pd.concat([res.errors, new], ignore_index=True).sort_values(
                ["line", "column"], kind="stable", ignore_index=True)
            _settle(res)
