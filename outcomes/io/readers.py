"""Readers for real-world exports: ``.csv``, ``.xlsx`` and ``.parquet``.

A reader turns a file into a frame of *original* values (text for CSV and
Excel, native types for Parquet) with canonical column names, and says what it
did: encoding, delimiter, decimal mark, sheet, renamed and extra columns, blank
rows skipped. It never changes a value's meaning: type conversion and every
check happen in :mod:`outcomes.io.validate`, so a quarantined row can show the
value exactly as the file held it.

Line numbers are those a person sees: in a CSV file the header is line 1 and
a record spanning several lines (a quoted line break) is numbered by its first
line; in an Excel sheet, the sheet's row number; in Parquet, the row number
plus one (as if the header were line 1).
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .errors import FileRejected, UsageError
from .schema import EXPORTS, TableSchema

__all__ = [
    "SUFFIXES",
    "ColumnMap",
    "ReadResult",
    "find_export",
    "load_column_map",
    "read_export",
]

#: File types a dataset may use, in order of preference when several exist.
SUFFIXES: tuple[str, ...] = (".csv", ".xlsx", ".parquet")
_CHUNK = 1 << 22  # bytes read at a time while checking the encoding
_SPARE, _N_SPARE = "__surplus_field_", 16
#: Resource limits: an export wider than this is not a table of records (10,000 columns took minutes).
MAX_COLUMNS = 1000
#: Excel's own row limit; a sheet claiming more was not written by a spreadsheet.
MAX_XLSX_ROWS = 1_048_576
#: Uncompressed size of an .xlsx beyond which it is refused (a "zip bomb" unpacks to gigabytes).
MAX_XLSX_UNPACKED = 1 << 30


@dataclass(frozen=True)
class ColumnMap:
    """Source-name → canonical-name mappings and value maps from ``--columns map.json``.

    The file is a JSON object. Its simplest form maps source column names to
    canonical names for every export::

        {"Pain pre": "pain_before", "Pt code": "patient_id"}

    Keys that are export names (or ``"*"`` for all) hold a mapping for that
    export only, and an optional ``"values"`` key maps coded values per
    column::

        {"sessions": {"ID": "session_id"},
         "values": {"patients": {"sex": {"1": "male", "2": "female"}}}}
    """

    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    path: str | None = None

    def columns_for(self, export: str) -> dict[str, str]:
        return {**self.columns.get("*", {}), **self.columns.get(export, {})}

    def values_for(self, export: str) -> dict[str, dict[str, str]]:
        merged: dict[str, dict[str, str]] = {}
        for scope in ("*", export):
            for col, mapping in self.values.get(scope, {}).items():
                merged.setdefault(col, {}).update(mapping)
        return merged


def load_column_map(path: str | os.PathLike[str], schemas: Mapping[str, TableSchema]) -> ColumnMap:
    """Read and check a column-mapping file; every mistake is a :class:`UsageError`."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"Column map {p} is a folder; give the JSON file to --columns.")
    if p.exists() and not p.is_file():
        raise UsageError(f"Column map {p} is not a regular file (a device or pipe); give the JSON file to --columns.")
    try:
        with open(p, "rb") as fh:
            data = fh.read((1 << 20) + 1)
        if len(data) > 1 << 20:
            raise UsageError(f"Column map {p} is over 1 MB; a column map is a short JSON object.")
        raw = json.loads(data.decode("utf-8-sig"))
    except FileNotFoundError:
        raise UsageError(f"Column map {p} not found. Check the path given to --columns.") from None
    except OSError as exc:
        raise UsageError(f"Column map {p} cannot be read ({exc.strerror}).") from None
    except RecursionError:
        raise UsageError(f"Column map {p} is nested too deeply to be a column map; it must be an object "
                         'such as {"Pain pre": "pain_before"}.') from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(
            f"Column map {p} is not valid JSON ({exc}). It must be an object such as "
            '{"Pain pre": "pain_before"}.'
        ) from None
    if not isinstance(raw, dict):
        raise UsageError(f"Column map {p} must be a JSON object mapping source names to canonical names.")
    scopes = set(EXPORTS) | {"*"}
    columns: dict[str, dict[str, str]] = {}
    values: dict[str, dict[str, dict[str, str]]] = {}
    all_fields = {f for s in schemas.values() for f in s.field_names}

    def check_target(scope: str, src: Any, dst: Any) -> None:
        if not isinstance(src, str) or not isinstance(dst, str):
            raise UsageError(f"Column map {p}: {src!r} → {dst!r} must map a name to a name (both text).")
        known = all_fields if scope == "*" else set(schemas[scope].field_names)
        if dst not in known:
            close = difflib.get_close_matches(dst, sorted(known), n=1)
            tip = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(
                f"Column map {p}: {src!r} is mapped to {dst!r}, which is not a column of "
                f"{'any export' if scope == '*' else scope}.{tip}"
            )

    for key, val in raw.items():
        if key == "values":
            if not isinstance(val, dict):
                raise UsageError(f'Column map {p}: "values" must be an object.')
            for scope, cols in val.items():
                target = scope if scope in scopes else "*"
                cols = cols if scope in scopes else {scope: cols}
                if not isinstance(cols, dict):
                    raise UsageError(
                        f'Column map {p}: "values" → {scope!r} must map columns to code maps, e.g. '
                        '{"sex": {"1": "male"}}; got ' + type(cols).__name__ + ".")
                for col, mapping in cols.items():
                    if not isinstance(mapping, dict):
                        raise UsageError(
                            f'Column map {p}: "values" for {col!r} must map codes to values, '
                            'e.g. {"1": "male"}.'
                        )
                    values.setdefault(target, {})[col] = {str(k): str(v) for k, v in mapping.items()}
        elif key in scopes and isinstance(val, dict):
            for src, dst in val.items():
                check_target(key, src, dst)
            columns.setdefault(key, {}).update(val)
        else:
            check_target("*", key, val)
            columns.setdefault("*", {})[key] = val
    return ColumnMap(columns=columns, values=values, path=str(p))


@dataclass
class ReadResult:
    """What a reader produced and what it did to get there."""

    export: str
    path: Path
    frame: pd.DataFrame  # original values, canonical names; index = line number
    rows_read: int
    blank_skipped: int
    file_format: str
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str = "."
    sheet: str | None = None
    renamed: dict[str, str] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Lines of records with more fields than the header (quarantined by the validator).
    surplus_lines: list[int] = field(default_factory=list)
    #: Records that swallowed following lines through an unclosed quote: first line → (last line, column).
    unclosed_quotes: dict[int, tuple[int, str]] = field(default_factory=dict)

    def detected(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.file_format}
        if self.encoding:
            out["encoding"] = self.encoding
        if self.delimiter:
            out["delimiter"] = self.delimiter
            out["decimal"] = self.decimal
        if self.sheet:
            out["sheet"] = self.sheet
        return out


def find_export(folder: Path, export: str) -> Path | None:
    """The file holding ``export`` in ``folder``, or None.

    Raises :class:`UsageError` when the same export exists in several formats
    (which one is right cannot be guessed).
    """
    # a folder, pipe or broken link under an export's name is returned too: read_export rejects it by name
    found = [folder / f"{export}{s}" for s in SUFFIXES
             if (folder / f"{export}{s}").exists() or (folder / f"{export}{s}").is_symlink()]
    # Exports saved with capitalised names or suffixes (Patients.CSV) are common.
    if not found:
        wanted = {f"{export}{s}" for s in SUFFIXES}
        found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower() in wanted)
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise UsageError(
            f"{folder}: {export} exists more than once ({names}). Keep one file per export."
        )
    return found[0] if found else None


def read_export(
    path: str | os.PathLike[str],
    schema: TableSchema,
    *,
    column_map: ColumnMap | None = None,
) -> ReadResult:
    """Read one export file into original values with canonical column names.

    Raises
    ------
    FileRejected
        When the file cannot be used at all: empty, not the format its name
        says, duplicate column names, or a record that does not fit the header.
    """
    path = Path(path)
    if not path.is_file():
        kind = ("a folder" if path.is_dir() else "a broken link" if path.is_symlink()
                else "missing" if not path.exists() else "not a regular file (a pipe or device)")
        raise FileRejected(str(path), f"is {kind}, not an export file.",
                           f"Put the {schema.name} export itself there as a file, or remove {path.name}.",
                           rule="not_a_file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        result = _read_csv(path, schema.name)
    elif suffix == ".xlsx":
        result = _read_xlsx(path, schema.name)
    elif suffix == ".parquet":
        result = _read_parquet(path, schema.name)
    else:
        raise FileRejected(
            str(path), f"has the extension {path.suffix!r}, which is not supported.",
            "Save the export as .csv, .xlsx or .parquet.",
        )
    _apply_names(result, schema, column_map or ColumnMap())
    _apply_value_maps(result, (column_map or ColumnMap()).values_for(schema.name))
    return result


# --------------------------------------------------------------------------- CSV


def _open_binary(path: Path):
    try:
        return open(path, "rb")
    except OSError as exc:
        raise FileRejected(str(path), f"cannot be read ({exc.strerror}).",
                           "Check the file's permissions, or copy it somewhere readable.",
                           rule="unreadable") from None


def _detect_encoding(path: Path) -> tuple[str, str, int, int]:
    """Return (codec, description, line breaks, double quotes) after checking the whole file decodes."""
    with _open_binary(path) as fh:
        head = fh.read(_CHUNK)
    if not head.strip():
        raise FileRejected(str(path), "is empty.", "Export the data again; the file has no header and no rows.")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16"
        try:
            with open(path, "rb") as fh:
                text = fh.read().decode(codec)
        except UnicodeDecodeError as exc:
            raise FileRejected(str(path), f"starts as UTF-16 text but byte {exc.start} is not UTF-16.",
                               "Save it again as 'CSV UTF-8' from your spreadsheet or database.",
                               rule="encoding") from None
        return codec, "UTF-16", text.count("\n"), text.count('"')
    bom = head.startswith(codecs.BOM_UTF8)
    for codec, label in (("utf-8", "UTF-8 with BOM" if bom else "UTF-8"), ("cp1252", "Windows-1252")):
        decoder = codecs.getincrementaldecoder(codec)()
        breaks = quotes = 0
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    if b"\x00" in chunk:
                        _reject_nul(path, breaks + chunk[:chunk.index(b"\x00")].count(b"\n") + 1)
                    decoder.decode(chunk)
                    breaks += chunk.count(b"\n")
                    quotes += chunk.count(b'"')
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return ("utf-8-sig" if codec == "utf-8" else codec), label, breaks, quotes
    line = _first_undecodable_line(path)
    raise FileRejected(
        str(path), "is neither UTF-8 nor Windows-1252 text" + (f" (line {line} is the first that is not)"
                                                             if line else "") + ".",
        "Save it again as 'CSV UTF-8' from your spreadsheet or database.", line=line, rule="encoding",
    )


def _reject_nul(path: Path, line: int) -> None:
    raise FileRejected(
        str(path), "is not a text file: it contains a NUL byte (binary data), which no text export holds.",
        "Check that this is the CSV export and not another file renamed to .csv; if only this line "
        "is damaged, delete the stray character and save again.", line=line, rule="encoding",
    )


def _first_undecodable_line(path: Path) -> int | None:
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                try:
                    raw.decode("cp1252")
                except UnicodeDecodeError:
                    return n
    return None


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv(path: Path, export: str) -> ReadResult:
    encoding, enc_label, breaks, quotes = _detect_encoding(path)
    with open(path, encoding=encoding, newline="") as fh:
        first = fh.readline()
    header_line = first.rstrip("\r\n")
    if not header_line.strip():
        raise FileRejected(
            str(path), "line 1 is blank.",
            "The first line must hold the column names; remove blank lines above the header.",
            line=1,
        )
    delimiter = _sniff_delimiter(header_line)
    header = next(csv.reader([header_line], delimiter=delimiter))
    header = [h.strip().lstrip("\ufeff") for h in header]
    _check_width(path, len(header))
    _check_duplicate_header(path, header, "column")
    names = [h if h else f"unnamed_{i + 1}" for i, h in enumerate(header)]
    frame = _read_csv_fast(path, encoding, delimiter, names)
    surplus = None
    if frame is None:
        frame, surplus = _read_csv_careful(path, encoding, delimiter, names)
    decimal = "," if delimiter == ";" else "."
    notes = []
    if enc_label != "UTF-8":
        notes.append(f"read as {enc_label}")
    if delimiter != ",":
        notes.append(f"delimiter {delimiter!r}" + (" with decimal commas" if decimal == "," else ""))
    # One record per line unless quoted values hold line breaks (then count them).
    lines = (np.arange(2, len(frame) + 2, dtype=np.int64) if breaks <= len(frame) + 1
             else _csv_line_numbers(frame))
    swallowed = {} if breaks <= len(frame) + 1 else _swallowed_records(frame, lines, delimiter, len(names))
    if quotes % 2 and len(frame):  # a quote still open at the end of the file: the last record holds it
        last = int(lines[-1]) + sum(str(v).rstrip("\r\n").count("\n") for v in frame.iloc[-1])
        swallowed.setdefault(int(lines[-1]), (last, "(unknown)"))
    if swallowed:
        first = min(swallowed)
        notes.append(f"{len(swallowed)} record(s) hold a quote that is not closed on its own line (first at "
                     f"line {first}): the lines up to the closing quote were read as one value")
    result = _finish(path, export, frame, lines, "csv", notes, encoding=enc_label,
                     delimiter=delimiter, decimal=decimal, surplus=surplus)
    result.unclosed_quotes = {ln: end for ln, end in swallowed.items() if ln in result.frame.index}
    return result


def _swallowed_records(frame: pd.DataFrame, lines: np.ndarray, delimiter: str, width: int
                       ) -> dict[int, tuple[int, str]]:
    """Records whose quoted value runs over lines that look like whole records of their own.

    An unclosed quote makes the parser read every following line, delimiters and all, into one
    value until the next quote; that value then holds line breaks followed by lines with nearly
    as many delimiters as the header. Returns ``{first line: (last line, column)}``.
    """
    need = max(1, width - 2)
    found: dict[int, tuple[int, str]] = {}
    for col in frame.columns:
        s = frame[col]
        if not _is_text(s):
            continue
        multi = s.str.contains("\n", regex=False).fillna(False).to_numpy(dtype=bool)
        for i in np.flatnonzero(multi):
            parts = str(s.iat[i]).split("\n")
            if any(p.count(delimiter) >= need for p in parts[1:]):
                start = int(lines[i])
                found.setdefault(start, (start + sum(str(v).count("\n") for v in frame.iloc[i]), str(col)))
    return found


def _read_csv_fast(path: Path, encoding: str, delimiter: str, names: list[str]) -> pd.DataFrame | None:
    """Multi-threaded pyarrow parse of every field as text; None when a record's field count
    differs from the header's (the careful reader then finds and numbers those records)."""
    import pyarrow as pa
    import pyarrow.csv as pv

    irregular = []

    def on_invalid(row: Any) -> str:
        irregular.append(row)
        return "skip"

    try:
        table = pv.read_csv(
            path,
            read_options=pv.ReadOptions(column_names=names, skip_rows=1,
                                        encoding="utf8" if encoding == "utf-8-sig" else encoding),
            parse_options=pv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                          ignore_empty_lines=False, invalid_row_handler=on_invalid),
            convert_options=pv.ConvertOptions(column_types={n: pa.string() for n in names},
                                              strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError):
        return None
    if irregular:
        return None
    return table.to_pandas()


def _read_csv_careful(path: Path, encoding: str, delimiter: str, names: list[str]
                      ) -> tuple[pd.DataFrame, np.ndarray]:
    """pandas C parser with spare columns: records with more fields than the header are kept
    and flagged (pandas alone would shift them into the index or drop the surplus silently)."""
    spare = [f"{_SPARE}{i}" for i in range(_N_SPARE)]
    try:
        frame = pd.read_csv(
            path, sep=delimiter, header=None, skiprows=1, names=names + spare, dtype=str,
            keep_default_na=False, na_filter=False, skip_blank_lines=False,
            encoding=encoding, engine="c", quotechar='"', index_col=False,
        )
    except pd.errors.ParserError as exc:
        if "EOF inside string" in str(exc):
            start = _last_record_start(path, encoding, delimiter)
            raise FileRejected(
                str(path), "a quote opened on this line is never closed, so every line after it would be "
                "read as one value.",
                'Find the stray double quote (") on that line: close it, or remove it, and export again.',
                line=start, rule="unclosed_quote",
            ) from None
        bad = _overlong_records(path, encoding, delimiter, len(names))
        also = ", ".join(str(n) for n in bad[1:6]) + (" …" if len(bad) > 6 else "")
        raise FileRejected(
            str(path), f"this record has more fields than the header's {len(names)}"
            + (f" (so do lines {also})." if also else "."),
            f"A value probably contains the delimiter {delimiter!r} without quotes: put that value in "
            "double quotes or remove the stray delimiter.",
            line=bad[0] if bad else None, rule="field_count",
        ) from None
    surplus = np.zeros(len(frame), dtype=bool)
    for col in spare:
        s = frame[col]
        if s.notna().any():
            surplus |= (s.fillna("").str.strip() != "").to_numpy(dtype=bool)
    return frame.drop(columns=spare), surplus


def _last_record_start(path: Path, encoding: str, delimiter: str) -> int | None:
    """Physical line on which the file's last record starts (where an unclosed quote opened)."""
    start = None
    with open(path, encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        line = 1
        try:
            for _row in reader:
                start = line
                line = reader.line_num + 1
        except csv.Error:
            return line
        return line if reader.line_num >= line else start


def _overlong_records(path: Path, encoding: str, delimiter: str, width: int) -> list[int]:
    """Physical line numbers of records with more fields than the header."""
    bad = []
    with open(path, encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        start = 1
        for row in reader:
            if len(row) > width:
                bad.append(start)
            start = reader.line_num + 1
    return bad


def _csv_line_numbers(frame: pd.DataFrame) -> np.ndarray:
    """Physical line number of each record; quoted line breaks push later records down."""
    n = len(frame)
    extra = np.zeros(n, dtype=np.int64)
    for col in frame.columns:
        s = frame[col]
        has_nl = s.str.contains("\n", regex=False).fillna(False).to_numpy(dtype=bool)
        if has_nl.any():
            extra += np.where(has_nl, s.str.count("\n").fillna(0).to_numpy(dtype=np.int64), 0)
    lines = np.arange(2, n + 2, dtype=np.int64)
    if extra.any():
        lines = lines + np.concatenate([[0], np.cumsum(extra)[:-1]])
    return lines


# ------------------------------------------------------------------------- Excel


def _excel_cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, _dt.datetime):
        return v.date().isoformat() if v.time() == _dt.time(0) else v.isoformat(timespec="seconds")
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, _dt.time):
        return v.isoformat()
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v)


def _read_xlsx(path: Path, export: str) -> ReadResult:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    if path.stat().st_size == 0:
        raise FileRejected(str(path), "is empty.", "Export the data again from your system.")
    formulas = _check_xlsx_archive(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise FileRejected(
            str(path), f"is not a readable Excel workbook ({type(exc).__name__}).",
            "Open it in Excel or LibreOffice and save it again as .xlsx, or export it as CSV.",
        ) from None
    try:
        sheet_names = wb.sheetnames
        chosen = next((s for s in sheet_names if s.strip().lower() == export), sheet_names[0])
        ws = wb[chosen]
        rows = ws.iter_rows(values_only=True)
        header_row = next(rows, None)
        if header_row is None or all(v is None for v in header_row):
            raise FileRejected(
                str(path), f"sheet {chosen!r} has no column names in row 1.",
                "Put the column names in the first row of the sheet.", line=1,
            )
        header = [_excel_cell_text(v).strip() for v in header_row]
        while header and not header[-1]:
            header.pop()
        _check_width(path, len(header))
        _check_duplicate_header(path, header, "column")
        width = len(header)
        data = []
        for r in rows:
            data.append([_excel_cell_text(v).strip() for v in r[:width]])
            if len(data) >= MAX_XLSX_ROWS:
                raise FileRejected(str(path), f"sheet {chosen!r} has more than {MAX_XLSX_ROWS:,} rows, more "
                                   "than Excel itself allows.", "Export the data as CSV or Parquet instead.",
                                   rule="too_many_rows")
        uncached = _uncached_formulas(path, chosen, width, data) if formulas else 0
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise FileRejected(
            str(path), f"could not be read as a workbook ({type(exc).__name__}: {exc}).",
            "Open it in Excel or LibreOffice and save it again as .xlsx, or export it as CSV.",
        ) from None
    finally:
        wb.close()
    names = [h if h else f"unnamed_{i + 1}" for i, h in enumerate(header)]
    data = [r + [""] * (width - len(r)) for r in data]
    frame = pd.DataFrame(data, columns=names, dtype=str) if data else pd.DataFrame(
        {n: pd.Series([], dtype=str) for n in names})
    notes = [f"sheet {chosen!r}" + (f" (of {len(sheet_names)})" if len(sheet_names) > 1 else "")]
    if uncached:
        notes.append(f"{uncached} formula cell(s) have no saved result (the workbook was not recalculated): "
                     "their formulas are shown as the values; open the file in Excel or LibreOffice, save it, "
                     "and run again")
    lines = np.arange(2, len(frame) + 2, dtype=np.int64)
    return _finish(path, export, frame, lines, "xlsx", notes, sheet=chosen)


def _check_xlsx_archive(path: Path) -> bool:
    """Refuse archives that unpack to more than :data:`MAX_XLSX_UNPACKED`; True when a sheet holds formulas."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            unpacked = sum(m.file_size for m in members)
            if unpacked > MAX_XLSX_UNPACKED:
                raise FileRejected(str(path), f"unpacks to {unpacked / 2**30:.1f} GB, more than the "
                                   f"{MAX_XLSX_UNPACKED / 2**30:.0f} GB an export can be.",
                                   "Export the data as CSV or Parquet instead.", rule="too_large")
            for m in members:
                if m.filename.startswith("xl/worksheets/") and m.filename.endswith(".xml"):
                    with zf.open(m) as fh:
                        while chunk := fh.read(1 << 20):
                            if b"<f>" in chunk or b"<f " in chunk:
                                return True
    except zipfile.BadZipFile:
        return False  # openpyxl says so, with the usual message
    return False


def _uncached_formulas(path: Path, sheet: str, width: int, data: list[list[str]]) -> int:
    """Put the formula text where a formula cell has no saved result; return how many."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=False)
    try:
        rows = wb[sheet].iter_rows(values_only=True)
        next(rows, None)
        n = 0
        for i, r in enumerate(rows):
            if i >= len(data):
                break
            for j, v in enumerate(r[:width]):
                if isinstance(v, str) and v.startswith("=") and data[i][j] == "":
                    data[i][j] = v
                    n += 1
        return n
    finally:
        wb.close()


# ----------------------------------------------------------------------- Parquet


def _read_parquet(path: Path, export: str) -> ReadResult:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise FileRejected(
            str(path), f"is not a readable Parquet file ({exc}).",
            "Write the export again, or export it as CSV.",
        ) from None
    header = [str(c).strip() for c in table.column_names]
    _check_width(path, len(header))
    _check_duplicate_header(path, header, "column")
    notes = []
    nested = [i for i, f in enumerate(table.schema) if pa.types.is_nested(f.type)]
    for i in nested:  # lists, structs and maps are not values of a table of records: keep them as text
        col = table.column(i)
        text = pa.array([None if v is None else json.dumps(v, default=str) for v in col.to_pylist()],
                        type=pa.string())
        table = table.set_column(i, table.schema.field(i).name, text)
    if nested:
        notes.append("nested column(s) read as text: " + ", ".join(header[i] for i in nested))
    try:
        frame = table.to_pandas(date_as_object=False)  # DATE columns as datetime64, not date objects
    except (pa.ArrowException, ValueError, OverflowError) as exc:
        raise FileRejected(str(path), f"holds values that cannot be converted ({exc}).",
                           "Write the export again with plain types (text, numbers, dates), or as CSV.") from None
    frame.columns = header
    lines = np.arange(2, len(frame) + 2, dtype=np.int64)
    return _finish(path, export, frame, lines, "parquet", notes)


# ------------------------------------------------------------------------ shared


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or pd.api.types.is_string_dtype(s.dtype)


def _check_width(path: Path, width: int) -> None:
    if width > MAX_COLUMNS:
        raise FileRejected(str(path), f"has {width:,} columns; an export has at most {MAX_COLUMNS:,}.",
                           "Check that this is the right file (a table of records, one per row), or keep only "
                           "the columns the analysis needs.", line=1, rule="too_many_columns")


def _check_duplicate_header(path: Path, header: list[str], what: str) -> None:
    seen: dict[str, int] = {}
    for i, h in enumerate(header, start=1):
        if not h:
            continue
        key = h.lower()
        if key in seen:
            raise FileRejected(
                str(path), f"the {what} name {h!r} appears twice (columns {seen[key]} and {i}).",
                "Each column must have its own name: remove or rename one of them.",
                column=h, line=1, rule="duplicate_header",
            )
        seen[key] = i


def _finish(path: Path, export: str, frame: pd.DataFrame, lines: np.ndarray, fmt: str,
            notes: list[str], surplus: np.ndarray | None = None, **detected: Any) -> ReadResult:
    """Strip text, drop blank rows (counted) and index the frame by line number."""
    rows_read = len(frame)
    text_cols = [c for c in frame.columns if _is_text(frame[c])]
    for col in text_cols:
        s = frame[col]
        if s.dtype == object or s.hasnans:
            s = s.fillna("").astype(str)
        frame[col] = s.str.strip()
    # A blank row is empty in every column: narrow the candidates column by column.
    blank = np.ones(rows_read, dtype=bool)
    for col in frame.columns:
        if not blank.any():
            break
        cand = np.flatnonzero(blank)
        s = frame[col].iloc[cand]
        empty = (s.str.len() == 0) if col in text_cols else s.isna()
        blank[cand[~empty.to_numpy(dtype=bool)]] = False
    # Columns without a header that hold nothing are export artefacts (trailing delimiters).
    empty_unnamed = [c for c in frame.columns if str(c).startswith("unnamed_")
                     and (frame[c].astype(str) == "").all()]
    if empty_unnamed:
        frame = frame.drop(columns=empty_unnamed)
    if surplus is not None:
        blank &= ~surplus
    blank_skipped = int(blank.sum())
    if blank_skipped:
        frame = frame.loc[~blank]
        lines = lines[~blank]
        notes.append(f"{blank_skipped} blank row{'s' if blank_skipped != 1 else ''} skipped")
    surplus_lines = [] if surplus is None else lines[surplus[~blank]].tolist()
    frame.index = pd.Index(lines, name="line")
    if rows_read == 0:
        notes.append("the file has column names but no rows")
    return ReadResult(
        export=export, path=path, frame=frame, rows_read=rows_read, blank_skipped=blank_skipped,
        file_format=fmt, notes=notes, surplus_lines=surplus_lines, **detected,
    )


def _apply_names(result: ReadResult, schema: TableSchema, column_map: ColumnMap) -> None:
    """Rename mapped and differently-cased columns to canonical names; list the extras."""
    canonical = {n.lower(): n for n in schema.field_names}
    mapping = column_map.columns_for(schema.name)
    mapping_ci = {k.strip().lower(): v for k, v in mapping.items()}
    renames: dict[str, str] = {}
    for col in result.frame.columns:
        src = str(col)
        if src in mapping:
            target = mapping[src]
        elif src.lower() in mapping_ci:
            target = mapping_ci[src.lower()]
        elif src.lower() in canonical:
            target = canonical[src.lower()]
        else:
            continue
        if target != src:
            renames[src] = target
    targets = list(renames.values()) + [c for c in result.frame.columns if c not in renames]
    dupes = {t for t in targets if targets.count(t) > 1}
    if dupes:
        t = sorted(dupes)[0]
        sources = [s for s in result.frame.columns if renames.get(s, s) == t]
        raise FileRejected(
            str(result.path), f"columns {', '.join(repr(s) for s in sources)} would all become {t!r}.",
            "Map only one source column to each canonical name (check --columns).",
            column=t, line=1, rule="duplicate_header",
        )
    if renames:
        result.frame = result.frame.rename(columns=renames)
        result.renamed = renames
    result.extra_columns = [c for c in result.frame.columns if c not in schema.field_names]
    if result.extra_columns:
        result.notes.append(f"extra columns kept: {', '.join(map(str, result.extra_columns))}")


def _apply_value_maps(result: ReadResult, value_maps: dict[str, dict[str, str]]) -> None:
    for col, mapping in value_maps.items():
        if col not in result.frame.columns:
            continue
        s = result.frame[col]
        if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
            s = s.astype(str).replace({"nan": "", "<NA>": ""})
        hits = int(s.isin(mapping.keys()).sum())
        result.frame[col] = s.replace(mapping)
        result.notes.append(f"{col}: {hits} value{'s' if hits != 1 else ''} recoded by the value map")
