"""Reading Excel (.xlsx) exports: one sheet as text, dates as ISO, formula cells without a saved
result shown as their formula, and limits on size, rows and columns."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._frames import ReadResult, _check_duplicate_header, _check_width, _finish
from .errors import FileRejected

#: Excel's own row limit; a sheet claiming more was not written by a spreadsheet.
MAX_XLSX_ROWS = 1_048_576
#: Uncompressed size of an .xlsx beyond which it is refused (a "zip bomb" unpacks to gigabytes).
MAX_XLSX_UNPACKED = 1 << 30


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


def _read_xlsx(path: Path, export: str, header_check: Any = None) -> ReadResult:
    """Read one sheet; ``header_check(names, sheet)`` (optional) runs on the column names before any row
    is read, so a sheet of a million rows without a required column is refused at once."""
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
        if header_check is not None:
            header_check([h if h else f"unnamed_{i + 1}" for i, h in enumerate(header)], chosen)
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


