"""Reading CSV exports: encoding (UTF-8, UTF-16, Windows-1252), delimiter, quoted line breaks,
unclosed quotes and records with more fields than the header, every record counted by the parser
that reads it."""

from __future__ import annotations

import codecs
import csv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._frames import ReadResult, _check_duplicate_header, _check_width, _finish, _is_text
from .errors import FileRejected

_CHUNK = 1 << 22  # bytes read at a time while checking the encoding
_SPARE, _N_SPARE = "__surplus_field_", 16


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
                    if not chunk.isascii():  # ASCII is valid in both (a split sequence still fails at the end)
                        decoder.decode(chunk)
                    raw = np.frombuffer(chunk, np.uint8)  # numpy's count is ~10x bytes.count
                    breaks += int(np.count_nonzero(raw == 10))
                    quotes += int(np.count_nonzero(raw == 34))
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


def _as_text(names: list[str]) -> Any:
    """pyarrow's convert options of every CSV reader here: each column as text, an empty field as ""
    (never null), so the whole-file, slice and line readers give the same values."""
    import pyarrow as pa
    import pyarrow.csv as pv

    return pv.ConvertOptions(column_types={n: pa.large_string() for n in names}, strings_can_be_null=False,
                             quoted_strings_can_be_null=False)


def _read_header(path: Path, encoding: str) -> tuple[str, list[str]]:
    """The delimiter and the column names of line 1 (a blank name becomes ``unnamed_<n>``).

    Raises :class:`FileRejected` for a blank first line, too many columns or a repeated name.
    """
    with open(path, encoding=encoding, newline="") as fh:
        header_line = fh.readline().rstrip("\r\n")
    if not header_line.strip():
        raise FileRejected(
            str(path), "line 1 is blank.",
            "The first line must hold the column names; remove blank lines above the header.",
            line=1,
        )
    delimiter = _sniff_delimiter(header_line)
    header = [h.strip().lstrip("\ufeff") for h in next(csv.reader([header_line], delimiter=delimiter))]
    _check_width(path, len(header))
    _check_duplicate_header(path, header, "column")
    return delimiter, [h if h else f"unnamed_{i + 1}" for i, h in enumerate(header)]


def _read_csv(path: Path, export: str, header_check: Any = None) -> ReadResult:
    """Read a CSV export whole; ``header_check(names, None)`` (optional) runs on line 1 before the rows."""
    encoding, enc_label, breaks, quotes = _detect_encoding(path)
    delimiter, names = _read_header(path, encoding)
    if header_check is not None:
        header_check(names, None)
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
            convert_options=_as_text(names),
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


