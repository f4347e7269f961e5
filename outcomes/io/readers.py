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

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

# the CSV and Excel readers (and their limits) live in ._csv and ._xlsx; imported here for one entry point
from ._csv import _read_csv
from ._frames import MAX_COLUMNS, ReadResult, _check_duplicate_header, _check_width, _finish  # noqa: F401
from ._xlsx import MAX_XLSX_ROWS, MAX_XLSX_UNPACKED, _read_xlsx  # noqa: F401
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

    def header_check(names: list[str], sheet: str | None) -> None:
        """The required columns, checked on the header before the rows are read (a large file is slow to read)."""
        from .validate import required_columns_present

        head = ReadResult(export=schema.name, path=path, frame=pd.DataFrame(columns=names), rows_read=0,
                          blank_skipped=0, file_format=suffix.lstrip("."), sheet=sheet)
        _apply_names(head, schema, column_map or ColumnMap())
        required_columns_present(head, schema)

    if suffix == ".csv":
        result = _read_csv(path, schema.name, header_check)
    elif suffix == ".xlsx":
        result = _read_xlsx(path, schema.name, header_check)
    elif suffix == ".parquet":
        result = _read_parquet(path, schema.name, header_check)
    else:
        raise FileRejected(
            str(path), f"has the extension {path.suffix!r}, which is not supported.",
            "Save the export as .csv, .xlsx or .parquet.",
        )
    _apply_names(result, schema, column_map or ColumnMap())
    _apply_value_maps(result, (column_map or ColumnMap()).values_for(schema.name))
    return result


# ----------------------------------------------------------------------- Parquet


def parquet_integers(arrow_type: Any) -> Any:
    """pandas' nullable integer type for an Arrow integer column (``to_pandas(types_mapper=...)``).

    Without it a whole-number column with a missing value becomes float64 and its values are
    shown as ``8.0``; and a slice of the column without a missing value would say ``8``.
    """
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        return pd.api.types.pandas_dtype(("U" if pa.types.is_unsigned_integer(arrow_type) else "")
                                         + f"Int{arrow_type.bit_width}")
    return None


def _read_parquet(path: Path, export: str, header_check: Any = None) -> ReadResult:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # the column names are in the footer: checked before the rows are read
        header = [str(c).strip() for c in pq.ParquetFile(path).schema_arrow.names]
        _check_width(path, len(header))
        _check_duplicate_header(path, header, "column")
        if header_check is not None:
            header_check(header, None)
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise FileRejected(
            str(path), f"is not a readable Parquet file ({exc}).",
            "Write the export again, or export it as CSV.",
        ) from None
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
        # DATE columns as datetime64, not date objects; whole numbers stay whole where some are missing
        frame = table.to_pandas(date_as_object=False, types_mapper=parquet_integers)
    except (pa.ArrowException, ValueError, OverflowError) as exc:
        raise FileRejected(str(path), f"holds values that cannot be converted ({exc}).",
                           "Write the export again with plain types (text, numbers, dates), or as CSV.") from None
    frame.columns = header
    lines = np.arange(2, len(frame) + 2, dtype=np.int64)
    return _finish(path, export, frame, lines, "parquet", notes)


# ------------------------------------------------------------------------ names


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

