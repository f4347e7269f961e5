"""Steps shared by every single-file layout (long, wide, redcap, adam): read, filter, recode, rename.

:func:`_read_file` reads the description's file with the exports' readers (CSV, ``.xlsx`` sheet,
Parquet); :func:`_apply_filters` applies ``[[filter]]`` and counts the rows each drops;
:func:`_recode` applies ``[values.<column>]``; :func:`_rename` applies ``[columns]``;
:func:`_visit_times` maps visit codes through ``[time.visits]``. The layouts themselves are in
:mod:`outcomes.io.layouts` (long and wide), :mod:`outcomes.io.redcap` and :mod:`outcomes.io.adam`;
``outcomes.io.layouts`` re-exports these names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._description_types import DatasetDescription, _listing, _show, _suggest
from .errors import UsageError
from .readers import ReadResult, _read_csv, _read_parquet, _read_xlsx

__all__: list[str] = []


def _read_file(description: DatasetDescription) -> ReadResult:
    path = description.file
    if path is None or not path.is_file():
        raise UsageError(f"{description.label}: [source] file {_show(str(path))} does not exist"
                         + (f" (the folder holds: {_listing(sorted(p.name for p in path.parent.iterdir()))})."
                            if path is not None and path.parent.is_dir() else "."))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        read = _read_csv(path, "data")
    elif suffix == ".xlsx":
        read = _read_xlsx(path, _sheet(path, description))
    elif suffix == ".parquet":
        read = _read_parquet(path, "data")
    else:
        raise UsageError(f"{description.label}: [source] file {path.name} has the extension {path.suffix!r}; "
                         "use a .csv, .xlsx or .parquet file.")
    if description.sheet and suffix != ".xlsx":
        raise UsageError(f"{description.label}: [source] sheet is only for .xlsx files; {path.name} is not one.")
    return read


def _sheet(path: Path, description: DatasetDescription) -> str:
    if not description.sheet:
        return "data"
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True)
        names = list(wb.sheetnames)
        wb.close()
    except Exception:  # noqa: BLE001  (an unreadable workbook is rejected by the reader with its reason)
        return description.sheet.strip().lower()
    if description.sheet not in names:
        raise UsageError(f"{description.label}: [source] sheet {_show(description.sheet)} is not in {path.name}."
                         f"{_suggest(description.sheet, names)} Its sheets: {', '.join(names)}.")
    if sum(n.strip().lower() == description.sheet.strip().lower() for n in names) > 1:
        raise UsageError(f"{description.label}: {path.name} has several sheets named like "
                         f"{_show(description.sheet)} (ignoring case); rename one.")
    return description.sheet.strip().lower()


def _text(s: pd.Series) -> pd.Series:
    """A column as stripped text ("" for missing)."""
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        return s.fillna("").astype(str)
    out = s.astype(object).where(s.notna(), "")
    return out.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))


def _matches(text: pd.Series, keys: tuple[Any, ...] | list[Any]) -> np.ndarray:
    """Values equal to a key as text or as a number."""
    as_text = {str(k) if not (isinstance(k, float) and k.is_integer()) else str(int(k)) for k in keys}
    numbers = set()
    for k in keys:
        try:
            numbers.add(float(k))
        except (TypeError, ValueError):
            continue
    hit = text.isin(as_text).to_numpy(dtype=bool, copy=True)
    if numbers and not hit.all():
        num = pd.to_numeric(text, errors="coerce")
        hit |= num.isin(numbers).to_numpy(dtype=bool)
    return hit


def _missing(text: pd.Series, missing_values: tuple[str, ...]) -> np.ndarray:
    return text.isin(missing_values).to_numpy(dtype=bool, copy=True)


def _apply_filters(frame: pd.DataFrame, description: DatasetDescription, missing_values: tuple[str, ...]
                   ) -> tuple[pd.DataFrame, dict[str, int]]:
    counts: dict[str, int] = {}
    inverse = description.columns
    for f in description.filters:
        column = f.column if f.column in frame.columns else inverse.get(f.column, f.column)
        text = _text(frame[column]).str.strip()
        absent = _missing(text, missing_values)
        ok = np.ones(len(frame), dtype=bool)
        if f.keep is not None:
            ok &= _matches(text, f.keep) & ~absent
        if f.drop is not None:
            ok &= ~(_matches(text, f.drop) & ~absent)
        if f.at_least is not None or f.at_most is not None:
            num = pd.to_numeric(text.where(~absent), errors="coerce").to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                if f.at_least is not None:
                    ok &= num >= f.at_least
                if f.at_most is not None:
                    ok &= num <= f.at_most
        if f.not_missing:
            ok &= ~absent
        counts[f.text] = counts.get(f.text, 0) + int((~ok).sum())
        frame = frame.loc[ok]
    return frame, counts


def _recode(frame: pd.DataFrame, description: DatasetDescription, notes: list[str]) -> pd.DataFrame:
    for col, mapping in description.values.items():
        text = _text(frame[col]).str.strip()
        out = text.copy()
        hits = 0
        for code, value in mapping.items():
            hit = _matches(text, [code] if not _is_number_text(code) else [code, float(code)])
            hits += int(hit.sum())
            out[hit] = value
        frame[col] = out
        notes.append(f"{col}: {hits} value{'s' if hits != 1 else ''} recoded by [values.{col}]")
    return frame


def _is_number_text(code: str) -> bool:
    try:
        float(code)
    except ValueError:
        return False
    return True


def _rename(frame: pd.DataFrame, renames: dict[str, str], description: DatasetDescription) -> pd.DataFrame:
    targets: dict[str, str] = {}
    for src, dst in renames.items():
        if dst in targets and targets[dst] != src:
            raise UsageError(f"{description.label}: the columns {_show(targets[dst])} and {_show(src)} would both "
                             f"become {_show(dst)}; map only one of them.")
        targets[dst] = src
    for dst, src in targets.items():
        if dst in frame.columns and dst not in renames and dst != src:
            raise UsageError(f"{description.label}: the file already has a column {_show(dst)}, so {_show(src)} "
                             f"cannot be renamed to it; map {_show(dst)} instead, or rename one in the file.")
    return frame.rename(columns={s: d for s, d in renames.items() if s != d})


def _visit_times(text: pd.Series, description: DatasetDescription, missing_values: tuple[str, ...]
                 ) -> pd.Series:
    """Visit codes → times through [time.visits]; an unlisted code is a UsageError."""
    visits = description.time.visits or ()
    out = pd.Series("", index=text.index, dtype=object)
    done = _missing(text, missing_values)
    for code, time in visits:
        hit = _matches(text, [code] if not _is_number_text(code) else [code, float(code)]) & ~done
        out[hit] = f"{time:g}"
        done |= hit
    if not done.all():
        codes = sorted(pd.unique(text[~done]).tolist(), key=str)
        raise UsageError(f"{description.label}: the time column {_show(description.time.column)} holds the code"
                         f"{'s' if len(codes) > 1 else ''} {', '.join(_show(c) for c in codes[:10])}, not listed in "
                         f"[time.visits] ({', '.join(c for c, _ in visits)}). Add "
                         f"{'them' if len(codes) > 1 else 'it'} with its time, or filter those rows out.")
    return out
