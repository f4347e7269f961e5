"""What every reader returns (:class:`ReadResult`) and the steps they share: header checks and
:func:`_finish` (strip text, count and drop blank rows, index by line number)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..files import arrow_offsets
from .errors import FileRejected

__all__ = ["MAX_COLUMNS", "ReadResult"]

#: Resource limits: an export wider than this is not a table of records (10,000 columns took minutes).
MAX_COLUMNS = 1000


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



def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or pd.api.types.is_string_dtype(s.dtype)


def _arrow_text(s: pd.Series) -> Any:
    """The Arrow data behind a pandas ``str`` column (no copy), or None for other columns."""
    if isinstance(s.dtype, pd.StringDtype) and hasattr(s.array, "__arrow_array__"):
        return s.array.__arrow_array__()
    return None


def _may_need_strip(s: pd.Series) -> bool:
    """False when no value of an Arrow-backed text column starts or ends with a byte that could be
    (part of) white space: every first and last byte is printable ASCII other than a space."""
    arr = _arrow_text(s)
    if arr is None:
        return True
    import pyarrow as pa

    for chunk in arr.chunks:
        if len(chunk) == 0:
            continue
        if not pa.types.is_large_string(chunk.type):
            return True
        data = chunk.buffers()[2]
        if data is None:
            continue
        pos = arrow_offsets(chunk)
        seg = np.frombuffer(data, np.uint8)[pos[0]:pos[-1]]
        if not len(seg):
            continue
        odd = (seg <= 0x20) | (seg >= 0x7F)
        if not odd.any():  # one pass over the bytes: codes and categories have no space at all
            continue
        start, end = pos[:-1] - pos[0], pos[1:] - pos[0]
        filled = end > start
        last = len(seg) - 1
        if (filled & (odd[np.minimum(start, last)] | odd[np.maximum(end - 1, 0)])).any():
            return True
    return False


def _blank_text(s: pd.Series) -> np.ndarray:
    """Which values of a text column are empty (read from the Arrow offsets when it has them)."""
    arr = _arrow_text(s)
    if arr is not None:
        import pyarrow as pa

        if not arr.null_count and all(pa.types.is_large_string(c.type) for c in arr.chunks):
            parts = [np.diff(arrow_offsets(c)) == 0 for c in arr.chunks]
            return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
    return (s.str.len() == 0).to_numpy(dtype=bool)


def _filled_text(s: pd.Series) -> pd.Series:
    """A text column with its missing values as "" (Arrow's fill on Arrow-backed text)."""
    arr = _arrow_text(s)
    if arr is not None:
        import pyarrow.compute as pc

        return pd.Series(pd.array(pc.fill_null(arr, ""), dtype=s.dtype), index=s.index)
    return s.fillna("").astype(str)


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
        changed = s.dtype == object or s.hasnans
        if s.dtype == object:
            if s.map(type).eq(bytes).any():  # Parquet binary: bytes shown, not decoded away
                s = s.map(lambda v: v.decode("utf-8", errors="backslashreplace") if isinstance(v, bytes) else v)
            s = s.fillna("").astype(str)
        elif changed:
            s = _filled_text(s)
        if _may_need_strip(s):  # else: nothing to strip, the column is kept as read (no copy)
            s, changed = s.str.strip(), True
        if changed:
            frame[col] = s
    # A blank row is empty in every column: narrow the candidates column by column.
    blank = np.ones(rows_read, dtype=bool)
    for col in frame.columns:
        if not blank.any():
            break
        cand = np.flatnonzero(blank)
        s = frame[col] if len(cand) == rows_read else frame[col].iloc[cand]
        empty = _blank_text(s) if col in text_cols else s.isna().to_numpy(dtype=bool)
        blank[cand[~empty]] = False
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


