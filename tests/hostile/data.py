"""The base cohort every case starts from (the first patients of ``data/example``) and the helpers that edit it.
"""

from __future__ import annotations

import csv
import functools
import io
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .core import Env, COHORT_SIZE, csv_records

__all__ = [
    "EXAMPLE",
    "EXPORTS",
    "b_cell",
    "b_plain",
    "b_raw",
    "b_values",
    "base_env",
    "compose",
    "edit",
    "header_only",
    "patient_ids",
    "read_csv_rows",
    "rename_ids",
    "set_cell",
    "text_lines",
    "write_base",
    "write_csv_rows",
]


EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "example"
EXPORTS = ("patients", "prescriptions", "sessions", "assessments")


@functools.lru_cache(maxsize=8)
def _subset(n: int) -> dict[str, bytes]:
    """The first ``n`` patients of ``data/example`` and every row of theirs, as CSV bytes."""
    header, body = read_csv_rows(EXAMPLE / "patients.csv")
    keep = {r[0] for r in body[:n]}
    files = {}
    for export in EXPORTS:
        h, b = read_csv_rows(EXAMPLE / f"{export}.csv")
        i = h.index("patient_id")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(h)
        w.writerows(r for r in b if r[i] in keep)
        files[export] = buf.getvalue().encode("utf-8")
    return files


def write_base(folder: Path, *, n: int | None = None, format: str = "csv") -> Path:
    """A tiny valid cohort (the first ``n`` patients of data/example) as the four exports in ``folder``.

    ``format="parquet"`` converts each file with pyarrow's CSV reader (types inferred).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for export, raw in _subset(n or COHORT_SIZE[0]).items():
        if format == "csv":
            (folder / f"{export}.csv").write_bytes(raw)
        else:
            import pyarrow.csv as pacsv
            import pyarrow.parquet as pq

            pq.write_table(pacsv.read_csv(io.BytesIO(raw)), folder / f"{export}.parquet")
    return folder


_REUSE = [False]  # while composing builders: later ones edit the dataset the first one wrote


def base_env(tmp: Path, *, n: int | None = None, format: str = "csv") -> Env:
    if _REUSE[0] and (tmp / "data").is_dir():
        return Env(tmp=tmp, data=tmp / "data", out=tmp / "out", inputs=[tmp / "data"])
    data = write_base(tmp / "data", n=n, format=format)
    return Env(tmp=tmp, data=data, out=tmp / "out", inputs=[data])


def compose(*builders: Callable[[Path], Env]) -> Callable[[Path], Env]:
    """One dataset broken every way the builders break it (each edits what the previous one wrote)."""
    def build(tmp: Path) -> Env:
        env = builders[0](tmp)
        _REUSE[0] = True
        try:
            for b in builders[1:]:
                more = b(tmp)
                env.info.update(more.info)
        finally:
            _REUSE[0] = False
        return env
    return build


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = csv_records(path)
    return rows[0], rows[1:]


def write_csv_rows(path: Path, header: Sequence[str], body: Iterable[Sequence[str]],
                   *, terminator: str = "\n") -> None:
    def field(v: str) -> str:  # csv.writer leaves a lone CR unquoted when the line end is LF
        return '"' + v.replace('"', '""') + '"' if any(ch in v for ch in ',"\r\n') else v

    with open(path, "w", encoding="utf-8", newline="") as fh:
        for row in [header, *body]:
            fh.write(",".join(field(str(v)) for v in row) + terminator)


def edit(data: Path, export: str, fn: Callable[[list[str], list[list[str]]], Any],
         *, terminator: str = "\n") -> None:
    """Apply ``fn(header, body)`` (in place, or returning a new (header, body)) to an export's CSV."""
    path = data / f"{export}.csv"
    header, body = read_csv_rows(path)
    new = fn(header, body)
    if new is not None:
        header, body = new
    write_csv_rows(path, header, body, terminator=terminator)


def set_cell(data: Path, export: str, row: int, column: str, value: str) -> int:
    """Set one cell (``row`` 0-based among data rows); returns its 1-based line number."""
    def fn(h: list[str], b: list[list[str]]) -> None:
        b[row][h.index(column)] = value
    edit(data, export, fn)
    return row + 2


def rename_ids(data: Path, mapping: dict[str, str], column: str = "patient_id") -> None:
    for export in ("patients", "prescriptions", "sessions", "assessments"):
        if not (data / f"{export}.csv").exists():
            continue

        def fn(h: list[str], b: list[list[str]]) -> None:
            if column in h:
                i = h.index(column)
                for r in b:
                    r[i] = mapping.get(r[i], r[i])
        edit(data, export, fn)


def patient_ids(data: Path) -> list[str]:
    h, b = read_csv_rows(data / "patients.csv")
    return [r[h.index("patient_id")] for r in b]


def header_only(data: Path, export: str) -> None:
    h, _ = read_csv_rows(data / f"{export}.csv")
    write_csv_rows(data / f"{export}.csv", h, [])


def b_plain(tmp: Path) -> Env:
    return base_env(tmp)


def b_cell(export: str, edits: Sequence[tuple[int, str, str]], *, key: str = "lines") -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        env.info[key] = [set_cell(env.data, export, r, c, v) for r, c, v in edits]
        env.info["export"] = export
        env.info["columns"] = [c for _, c, _ in edits]
        return env
    return build


def b_raw(export: str, fn: Callable[[str], str | bytes]) -> Callable[[Path], Env]:
    """Rewrite an export's raw text with ``fn`` (text in, text or bytes out)."""
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        path = env.data / f"{export}.csv"
        new = fn(path.read_text(encoding="utf-8"))
        if isinstance(new, bytes):
            path.write_bytes(new)
        else:
            path.write_text(new, encoding="utf-8", newline="")
        return env
    return build


def text_lines(text: str) -> list[str]:
    return text.split("\n")


def b_values(export: str, column: str, values: Sequence[str], start: int = 3) -> Callable[[Path], Env]:
    """Put each of ``values`` into ``column`` of consecutive rows (every 7th row from ``start``)."""
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> None:
            for k, v in enumerate(values):
                b[start + 7 * k][h.index(column)] = v
        edit(env.data, export, fn)
        return env
    return build
