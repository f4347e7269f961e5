"""Writing a simulated dataset in the contract layout (`write_dataset`): CSV or Parquet, and truth.json."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..files import arrow_offsets, atomic_open, atomic_write_text
from .generate import _lit
from .truth import _DATE_COLUMNS, SimulatedDataset

__all__ = ["write_dataset"]


def write_dataset(
    dataset: SimulatedDataset, out_dir: str | os.PathLike[str], *, format: str = "csv"
) -> dict[str, Path]:
    """Write a simulated dataset in the contract layout, plus ``truth.json``.

    Parameters
    ----------
    dataset : SimulatedDataset
        Output of `simulate`.
    out_dir : path-like
        Folder to write into; created (with parents) if needed.
    format : {'csv', 'parquet'}, default 'csv'
        CSV: UTF-8, ``,``-separated, ``\\n`` line ends, dates 'YYYY-MM-DD',
        performed_at 'YYYY-MM-DDTHH:MM', booleans 'true'/'false', missing
        values empty, fields quoted only when they hold ``,``, ``"`` or a line
        break. Parquet: dates as DATE, performed_at as a timestamp.

    Returns
    -------
    dict of str to pathlib.Path
        Path of each file written, keyed 'patients', 'prescriptions',
        'sessions', 'assessments' and 'truth'.

    Notes
    -----
    Each file is written to a temporary file in ``out_dir`` and moved into
    place with ``os.replace``, so a reader never sees a half-written file.
    """
    if format not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', got {format!r}")
    if not isinstance(dataset, SimulatedDataset):
        raise TypeError(f"dataset must be a SimulatedDataset, got {type(dataset).__name__}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in dataset.frames().items():
        table = _to_arrow(frame)
        path = out / f"{name}.{format}"
        with atomic_open(path) as fh:
            if format == "parquet":
                pq.write_table(table, fh)
            else:
                _write_csv(table, fh)
        paths[name] = path
    paths["truth"] = out / "truth.json"
    atomic_write_text(paths["truth"], json.dumps(dataset.truth.to_dict(), indent=2) + "\n")
    return paths


# ------------------------------------------------------------------- writing


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table with contract dates as DATE (date32)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name in _DATE_COLUMNS:
        if name in table.column_names:
            i = table.column_names.index(name)
            table = table.set_column(i, name, pc.cast(table[name], pa.date32()))
    return table


def _csv_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """One column as CSV field text (nulls stay null, written as empty)."""
    if pa.types.is_timestamp(column.type):  # 'YYYY-MM-DD HH:MM:SS...' -> 'YYYY-MM-DDTHH:MM'
        text = pc.utf8_slice_codeunits(pc.cast(column, pa.large_string()), 0, 16)
        return pc.replace_substring(text, " ", "T")
    if pa.types.is_large_string(column.type):
        if not any(_has_special_bytes(chunk) for chunk in column.chunks):
            return column
        escaped = pc.replace_substring(column, '"', '""')
        quoted = pc.binary_join_element_wise(_lit('"'), escaped, _lit('"'), _lit(""))
        return pc.if_else(pc.match_substring_regex(column, '[",\r\n]'), quoted, column)
    return pc.cast(column, pa.large_string())


def _has_special_bytes(chunk: pa.Array) -> bool:
    """Whether a string chunk's data holds ',', '"', CR or LF (a cheap pre-check)."""
    data = chunk.buffers()[2]
    if data is None:
        return False
    b = np.frombuffer(data, np.uint8)
    return bool(((b == 44) | (b == 34) | (b == 10) | (b == 13)).any())


def _write_csv(table: pa.Table, handle: Any, chunk_rows: int = 1 << 20) -> None:
    """Stream ``table`` as CSV, building each chunk's lines with Arrow kernels."""
    handle.write((",".join(table.column_names) + "\n").encode("utf-8"))
    for start in range(0, table.num_rows, chunk_rows):
        part = table.slice(start, chunk_rows)
        cols = [pc.cast(_csv_text(part[c]), pa.large_string()) for c in part.column_names]
        line = pc.binary_join_element_wise(*cols, _lit(","), null_handling="replace",
                                           null_replacement="")
        line = pc.binary_join_element_wise(line, _lit(""), _lit("\n")).combine_chunks()
        pos = arrow_offsets(line)
        handle.write(memoryview(line.buffers()[2])[pos[0]:pos[-1]])
