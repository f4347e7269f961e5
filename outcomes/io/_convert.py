"""Per-column conversion for :mod:`outcomes.io.validate`: text → typed values, each failure collected.

One function per field type (number and integer, boolean, string with ``enum``/``pattern``/
``maxLength``, dates through :mod:`outcomes.io.dates`), the ``required`` and ``x-atLeastOneOf``
checks, and :class:`_Collector`, which gathers every failure as rows of ``line, column, value,
rule, reason``. The per-row, per-file and cross-file rules stay in :mod:`outcomes.io.validate`,
which re-exports these names.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from ._frames import _arrow_text
from .dates import PROBLEMS, DateColumn, DateOrder, DatePolicy, infer_date_order
from .readers import ReadResult
from .schema import Field, TableSchema

__all__: list[str] = []

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



# --------------------------------------------------------------------- per row


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or pd.api.types.is_string_dtype(s.dtype)


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


#: Text columns held as categories (a few distinct values repeated on millions of rows: a one- to
#: four-byte code a row instead of the text; the patient code alone was 1.9 GB at a million patients).
#: Session rows are 90 % of a dataset.
CATEGORICAL = {"sessions": ("patient_id", "exercise", "glide_type", "position", "response")}


def integer_dtype(f: Field) -> str:
    """The narrowest nullable integer type that keeps arithmetic on the field's values exact.

    Fields bounded within ±100 are ``Int16`` (a product of two such values stays below 10,000;
    pandas sums them as ``Int64``), within ±10**6 ``Int32``, else ``Int64``.
    """
    lo, hi = f.minimum, f.maximum
    if lo is None or hi is None:
        return "Int64"
    bound = max(abs(lo), abs(hi))
    return "Int16" if bound <= 100 else "Int32" if bound <= 1_000_000 else "Int64"


def tidy_categories(frame: pd.DataFrame | None) -> None:
    """Categories of the accepted rows only, sorted (the same whether the file was read whole or in slices)."""
    if frame is None:
        return
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = s.cat.categories
            codes = s.cat.codes.to_numpy()
            used = cats[np.bincount(codes[codes >= 0], minlength=len(cats)) > 0]  # a count, not a sort of the codes
            if len(used) == len(cats) and cats.is_monotonic_increasing:
                continue  # already tidy: nothing to recode (most large exports)
            frame[col] = s.cat.set_categories(sorted(used))


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
        ints = np.round(np.where(na, 0.0, values)).astype(integer_dtype(f).lower())
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


def _convert_field(s: pd.Series, f: Field, schema: TableSchema, decimal: str,
                   errs: _Collector) -> tuple[pd.Series, np.ndarray]:
    """One non-date column converted to its type (failures into ``errs``), and its missing mask."""
    m = _missing_mask(s, schema.missing_values)
    if f.type in ("integer", "number"):
        out = _convert_number(s, f, m, decimal, errs)
    elif f.type == "boolean":
        out = _convert_boolean(s, f, m, errs)
    else:
        out = _convert_string(s, f, m, errs)
        if f.name in CATEGORICAL.get(schema.name, ()):
            out = out.astype("category")
    return out, m


#: Columns at least this long are converted one distinct value at a time when they repeat enough.
_DISTINCT_MIN_ROWS = 5000


def _convert_distinct(s: pd.Series, f: Field, schema: TableSchema, decimal: str,
                      errs: _Collector) -> tuple[pd.Series, np.ndarray] | None:
    """:func:`_convert_field` run on each distinct text once, then spread to the rows (None: not worth it).

    A session log repeats a few dozen values per column over millions of rows (pain 0-10, a
    handful of exercises): converting 11 values instead of 2 million gives the same values,
    missing marks and failures, because every rule here reads one value at a time. A failure
    is reported on every row holding the value, with the same reason.
    """
    if len(s) < _DISTINCT_MIN_ROWS or _arrow_text(s) is None:
        return None
    codes, uniques = pd.factorize(s)  # Arrow's hash on Arrow text; a missing value (NaN) gets -1
    if len(uniques) > len(s) // 4:
        return None
    values = pd.Series(uniques, dtype=s.dtype)
    local = _Collector(errs.file, pd.DataFrame({f.name: values}))
    out, m = _convert_field(values, f, schema, decimal, local)
    filled = codes >= 0
    rows = np.where(filled, codes, 0)
    result = pd.Series(pd.api.extensions.take(out.array, codes, allow_fill=True), index=s.index)
    missing = np.where(filled, np.asarray(m, dtype=bool)[rows], True)
    for part in local.parts:  # one part per rule, in the order the rules ran
        failed = np.zeros(len(values), dtype=bool)
        failed[part["line"].to_numpy()] = True
        reasons = dict(zip(part["value"], part["reason"]))
        errs.add(filled & failed[rows], str(part["column"].iat[0]), str(part["rule"].iat[0]),
                 lambda v, _ln, r=reasons: r[v])
    return result, missing


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
        one_key = list(schema.primary_key) == [f.name]  # all different: nothing to gain by distinct values
        done = None if one_key else _convert_distinct(s, f, schema, read.decimal, errs)
        typed[f.name], missing[f.name] = done if done is not None else _convert_field(s, f, schema, read.decimal, errs)
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
