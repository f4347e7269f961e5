"""Large exports validated in slices, so a file's text is never held whole (issue 14: memory).

A large export (a CSV of ``CSV_CHUNK_BYTES`` or more, a Parquet file of ``PARQUET_CHUNK_ROWS``
rows or more) is read and checked slice by slice: each slice's text is converted, checked
row by row and then let go, keeping only its typed rows and the text of its quarantined
rows. The rules that need the whole file (primary keys, exact duplicates) then run on the
typed rows, and the text of rows they quarantine is read again from the file (which is
never modified) by line number.

The result is the same :class:`~outcomes.io.validate.ExportResult` as the whole-file path's
(``tests/test_chunks.py`` checks it on clean and damaged files). Slices are taken only in the
plain case: a UTF-8 CSV with commas and balanced quotes in which no value holds a line break
(so one record is one line), or a Parquet file without nested columns; with no column map
and no forced date order, and ISO date columns. Anything else
(quoted values, other encodings or delimiters, day/month dates to infer) returns None and
the caller reads the whole file as before.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from ..files import arrow_offsets
from ..progress import status
from ._csv import _as_text, _detect_encoding, _read_header
from ._convert import _Collector, _convert_columns, tidy_categories
from ._frames import ReadResult, _arrow_text, _check_duplicate_header, _check_width, _finish
from .dates import DatePolicy
from .readers import ColumnMap, _apply_names, parquet_integers
from .schema import TableSchema

__all__ = ["CSV_CHUNK_BYTES", "PARQUET_CHUNK_ROWS", "validate_in_slices"]

#: CSV files at least this large are validated in slices (64 MiB: about 600,000 session rows).
CSV_CHUNK_BYTES = 64 << 20
#: Parquet files with at least this many rows are validated in slices.
PARQUET_CHUNK_ROWS = 1_000_000
#: Bytes of CSV text per slice (pyarrow's streaming reader block size; 16 MiB: ~150,000 session rows, 8 % faster
#: than 8 MiB at 20,000 patients for ~100 MB more held while reading).
CSV_BLOCK_BYTES = 16 << 20
#: Rows per Parquet slice.
PARQUET_BATCH_ROWS = 1 << 18
#: Freed memory is handed back to the system every this many slices (~256 MiB of CSV), not after each:
#: a hand-back costs its pages being faulted in again (at 20,000 patients, one a slice cost 0.36 s of
#: 2.6 s loading, for 0.2 GB less held), and a smaller file is held whole anyway.
TRIM_EVERY_SLICES = 16
#: Columns this long are joined with memory handed back after each (a copy of the column is freed).
TRIM_JOIN_ROWS = 4_000_000

_ISO_NOTE = "ISO (YYYY-MM-DD)"
#: Notes a slice's reader writes about that slice alone (the whole file's are written at the end).
_SLICE_NOTE = re.compile(r"^(\d+ blank rows? skipped|the file has column names but no rows)$")


def give_back_memory() -> None:
    """Return freed memory to the operating system (Arrow's pool and, on glibc, malloc's arenas).

    Freed slices otherwise stay resident: at 20,000 patients 660 MB stayed resident for 160 MB
    of frames; with this, 430 MB.
    """
    global _LIBC
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # pragma: no cover - an allocator without release: nothing to give back
        pass
    if _LIBC is None:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        try:
            _LIBC = ctypes.CDLL(name) if name else False
        except OSError:  # pragma: no cover
            _LIBC = False
    if _LIBC and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


_LIBC = None


class _NotPlain(Exception):
    """The file needs the whole-file path (found while reading a slice)."""


def _csv_slices(path: Path, export: str) -> Iterator[Callable[[], ReadResult]] | None:
    import pyarrow.csv as pv

    if path.stat().st_size < CSV_CHUNK_BYTES:
        return None
    encoding, label, breaks, quotes = _detect_encoding(path)
    if label not in ("UTF-8", "UTF-8 with BOM") or quotes % 2:
        return None
    delimiter, names = _read_header(path, encoding)  # a bad header is rejected as by the whole-file reader
    if delimiter != ",":
        return None

    irregular: list[Any] = []

    def on_invalid(row: Any) -> str:
        irregular.append(row)  # a record whose field count differs: the careful reader numbers it
        return "skip"

    def slices() -> Iterator[Callable[[], ReadResult]]:
        reader = pv.open_csv(
            path,
            read_options=pv.ReadOptions(column_names=names, skip_rows=1, block_size=CSV_BLOCK_BYTES),
            parse_options=pv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=on_invalid,
                                          newlines_in_values=bool(quotes)),
            convert_options=_as_text(names),
        )
        first = 2
        for batch in reader:
            if irregular:
                raise _NotPlain
            start, first = first, first + batch.num_rows
            status(f"{path.name}: {first - 2:,} of about {max(breaks - 1, first - 2):,} rows read")

            def make(batch: Any = batch, start: int = start) -> ReadResult:
                if quotes and any(_holds_line_break(col) for col in batch.columns):
                    raise _NotPlain  # a record spans lines: the whole-file reader numbers them
                frame = batch.to_pandas()
                lines = np.arange(start, start + len(frame), dtype=np.int64)
                return _finish(path, export, frame, lines, "csv", [], encoding=label, delimiter=",", decimal=".")

            yield make
            del batch, make
        if irregular:
            raise _NotPlain

    return slices()


def _holds_line_break(arr: Any) -> bool:
    """Whether any value of a large-string Arrow array holds a line break (read from its bytes)."""
    data = arr.buffers()[2]
    if data is None:
        return False
    pos = arrow_offsets(arr)
    raw = memoryview(data)[int(pos[0]):int(pos[-1])].tobytes()  # bytes.find is memchr: ~20x a regex here
    return raw.find(b"\n") >= 0 or raw.find(b"\r") >= 0


def _parquet_slices(path: Path, export: str) -> Iterator[Callable[[], ReadResult]] | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError):
        return None  # the whole-file reader words the rejection
    if pf.metadata.num_rows < PARQUET_CHUNK_ROWS or any(pa.types.is_nested(f.type) for f in pf.schema_arrow):
        return None
    header = [str(c).strip() for c in pf.schema_arrow.names]
    _check_width(path, len(header))
    _check_duplicate_header(path, header, "column")

    def slices() -> Iterator[Callable[[], ReadResult]]:
        first = 2
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            start, first = first, first + batch.num_rows
            status(f"{path.name}: {first - 2:,} of {pf.metadata.num_rows:,} rows read")

            def make(batch: Any = batch, start: int = start) -> ReadResult:
                try:
                    frame = batch.to_pandas(date_as_object=False, types_mapper=parquet_integers)
                except (pa.ArrowException, ValueError, OverflowError):
                    raise _NotPlain from None
                frame.columns = header
                lines = np.arange(start, start + len(frame), dtype=np.int64)
                return _finish(path, export, frame, lines, "parquet", [])

            yield make
            del batch, make

    return slices()


def _slices(path: Path, export: str) -> Iterator[Callable[[], ReadResult]] | None:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_slices(path, export)
    if suffix == ".parquet":
        return _parquet_slices(path, export)
    return None


def validate_in_slices(path: Path, schema: TableSchema, *, column_map: ColumnMap | None,
                       date_order: str | None, dates: DatePolicy) -> Any:
    """Validate a large export slice by slice; None when the file needs the whole-file path.

    Returns an :class:`~outcomes.io.validate.ExportResult` whose ``original`` holds the text of
    the quarantined rows only (set :attr:`recover` to read more of them back).
    """
    from .validate import ExportResult, _key_rules, _row_rules, _settle, required_columns_present

    import pyarrow as pa

    if column_map is not None or date_order is not None or not path.is_file():
        return None
    slices = _slices(path, schema.name)
    if slices is None:
        return None
    typed_parts: dict[str, list[pd.Series]] = {}
    error_parts: list[pd.DataFrame] = []
    kept_text: list[pd.DataFrame] = []
    rows_read = blank = serials = converted = 0
    first: ReadResult | None = None
    detected: dict[str, Any] = {}
    key = list(schema.primary_key)
    key_hashes: list[np.ndarray] | None = []  # 64-bit hashes of a one-column key, slice by slice
    n_slices = 0

    def check(read: ReadResult | Callable[[], ReadResult]) -> tuple:
        """One slice read and its per-row rules (run in a worker thread: Arrow and numpy release the GIL)."""
        if callable(read):
            read = read()
            _apply_names(read, schema, ColumnMap())
        errs = _Collector(path.name, read.frame)
        typed, found = _convert_columns(read, schema, errs, None, dates)
        _row_rules(schema, typed, errs)
        errors = errs.frame()
        h = _text_hash(typed[key[0]]) if len(key) == 1 and key[0] in typed.columns else None
        text = read.frame.loc[read.frame.index.isin(errors["line"].unique())] if not errors.empty else None
        return read.rows_read, read.blank_skipped, typed, found, errors, h, text

    from concurrent.futures import ThreadPoolExecutor

    pending: list[Any] = []
    pool = ThreadPoolExecutor(2, thread_name_prefix="outcomes-slice")
    try:
        def collect(future: Any) -> bool:
            nonlocal rows_read, blank, serials, converted, key_hashes
            n_read, n_blank, typed, found, errors, h, text = future.result()
            if found.get("date_order_note", _ISO_NOTE) != _ISO_NOTE:
                return False  # day/month dates: their order is inferred from the whole file
            serials += found.pop("excel_serials", 0)
            converted += found.pop("utc_offsets_converted", 0)
            detected.update(found)
            rows_read += n_read
            blank += n_blank
            key_hashes = None if h is None or key_hashes is None else [*key_hashes, h]
            for col in typed.columns:
                typed_parts.setdefault(col, []).append(typed[col])
            error_parts.append(errors)
            if text is not None:
                kept_text.append(text)
            return True

        for make in slices:
            read = make
            if first is None:  # the first slice is read here: its columns are checked before any work
                read = make()
                _apply_names(read, schema, ColumnMap())
                required_columns_present(read, schema)
                first = ReadResult(export=read.export, path=read.path, frame=read.frame.iloc[:0].copy(),
                                   rows_read=0, blank_skipped=0, file_format=read.file_format,
                                   encoding=read.encoding, delimiter=read.delimiter, decimal=read.decimal,
                                   renamed=read.renamed, extra_columns=read.extra_columns,
                                   notes=[n for n in read.notes if not _SLICE_NOTE.match(n)])
            pending.append(pool.submit(check, read))
            del read, make
            if len(pending) >= 2 and not collect(pending.pop(0)):
                return None
            n_slices += 1
            if n_slices % TRIM_EVERY_SLICES == 0:
                give_back_memory()
        while pending:
            if not collect(pending.pop(0)):
                return None
    except (_NotPlain, pa.ArrowException):
        return None  # the whole-file path finds and words the problem
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True)
    if first is None:
        return None
    status(f"{path.name}: {rows_read:,} rows read; checking that keys are unique")
    typed = _join(typed_parts)
    errs = _Collector(path.name, typed)
    rows = _rows_sharing_a_hash(typed[key[0]], key_hashes) if key_hashes else None
    if rows is None:  # no hashes to go by (a key of several columns): the exact rules on every row
        _key_rules(schema, typed, errs)
    elif len(rows):  # rows sharing a key share its hash: the exact rules on those rows give every failure
        sub = typed.iloc[rows]
        found = _Collector(path.name, sub)
        _key_rules(schema, sub, found)
        errs.parts += found.parts
    del key_hashes
    errors = pd.concat([*error_parts, errs.frame()], ignore_index=True)
    errors = errors.sort_values(["line", "column"], kind="stable", ignore_index=True)
    original = pd.concat(kept_text) if kept_text else first.frame.iloc[:0]
    if serials:
        detected["excel_serials"] = serials
    if converted:
        detected["utc_offsets_converted"] = converted
    notes = list(first.notes)
    if blank:
        notes.append(f"{blank} blank row{'s' if blank != 1 else ''} skipped")
    if rows_read == 0:
        notes.append("the file has column names but no rows")
    result = ExportResult(
        export=schema.name, path=path, status="ok", rows_read=rows_read, blank_skipped=blank,
        original=original, data=typed, errors=errors, detected={**first.detected(), **detected},
        renamed=first.renamed, extra_columns=first.extra_columns,
        absent_columns=[f.name for f in schema.fields if f.name not in first.frame.columns], notes=notes,
    )
    if serials:
        result.notes.append(f"{serials} Excel date serial(s) converted to dates")
    if converted:
        result.notes.append(f"{converted} timestamp(s) with a UTC offset converted to clinic time "
                            f"({detected.get('timezone')}; set another with --timezone)")
    _settle(result)
    tidy_categories(result.data)
    # the text of rows quarantined by the key rules is read back later, in one pass with the rows the
    # cross-file rules quarantine (recover_original_text; load_dataset calls it after the links)
    result.recover = lambda lines: recover_original_text(result, schema, lines)
    return result


def _join(parts: dict[str, list[pd.Series]]) -> pd.DataFrame:
    """One frame from the slices' columns, a column at a time, so the copy made by joining
    never holds more than one column twice; the line numbers are joined once and shared (joining
    Series gave each column its own copy of them: 2 GB at 200,000 patients)."""
    columns: dict[str, Any] = {}
    index = None
    long_ = sum(len(p) for p in next(iter(parts.values()), [])) >= TRIM_JOIN_ROWS
    for col in list(parts):
        pieces = parts.pop(col)
        if index is None:
            index = pd.Index(np.concatenate([p.index.to_numpy() for p in pieces]), name=pieces[0].index.name)
        if len(pieces) > 1 and all(isinstance(p.dtype, pd.CategoricalDtype) for p in pieces):
            columns[col] = union_categoricals([p.array for p in pieces])  # slices found different categories
        else:
            columns[col] = (pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]).array
        del pieces
        if long_:
            give_back_memory()
    return pd.DataFrame(columns, index=index, copy=False)  # the joined columns are new: no second copy


def _rows_sharing_a_hash(key: pd.Series, parts: list[np.ndarray]) -> np.ndarray | None:
    """Positions of the rows whose key hash some other row has (empty: the key is proven distinct);
    None when the hashes do not line up with the filled values of ``key``."""
    filled = key.notna().to_numpy(dtype=bool)
    ordered = np.concatenate(parts)
    if int(filled.sum()) != len(ordered):
        return None
    ordered.sort()  # in place: at a million patients the hashes alone are 0.8 GB
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if not len(repeated):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(filled)[np.isin(np.concatenate(parts), repeated)]


_MULT = np.uint64(0x9E3779B97F4A7C15)
#: Keys no longer than this are hashed a byte position at a time (a pass per position over the
#: values; session codes are 2-10 bytes), longer ones a byte at a time over all their bytes.
_GATHER_BYTES = 24


def _text_hash(s: pd.Series) -> np.ndarray | None:
    """A 64-bit hash of each filled text value, from the Arrow bytes (None when ``s`` is not Arrow text).

    A polynomial over the bytes mixed with the length, then a 64-bit finaliser (splitmix64);
    missing values are left out. Used only to prove a key has no repeats, never to find them.
    """
    arr = _arrow_text(s)
    if arr is None:
        return None
    out = []
    for chunk in getattr(arr, "chunks", [arr]):
        if chunk.null_count:
            chunk = chunk.drop_null()
        if len(chunk) == 0:
            continue
        pos = arrow_offsets(chunk)
        buf = chunk.buffers()[2]
        data = np.frombuffer(buf, np.uint8) if buf is not None else np.zeros(0, np.uint8)
        start, length = pos[:-1] - pos[0], np.diff(pos)
        seg = data[pos[0]:pos[-1]]
        h = length.astype(np.uint64) * _MULT
        longest = int(length.max()) if len(length) else 0
        if len(seg) and longest <= _GATHER_BYTES:  # short codes: the j-th byte of every value at once
            powers = np.cumprod(np.full(longest, 0x100000001B3, dtype=np.uint64))
            last = len(seg) - 1
            for j in range(longest):
                byte = seg[np.minimum(start + j, last)].astype(np.uint64)
                h += np.where(length > j, byte * powers[j], np.uint64(0))
        elif len(seg):
            seg = seg.astype(np.uint64)
            within = np.arange(len(seg), dtype=np.int64) - np.repeat(start, length)
            powers = np.cumprod(np.full(longest, 0x100000001B3, dtype=np.uint64))
            terms = seg * powers[within]
            filled = length > 0
            h[filled] += np.add.reduceat(terms, start[filled])
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
        out.append(h)
    return np.concatenate(out) if out else np.zeros(0, np.uint64)


def recover_original_text(result: Any, schema: TableSchema, lines: Any = None) -> None:
    """Read back, from the file, the text of quarantined rows (and of ``lines``) that ``result.original`` lacks.

    Every quarantined row still without its text comes back in the same pass as ``lines``: a read
    of a large file is paid once.
    """
    if (lines is None and result.errors.empty) or result.path is None:
        return
    wanted = result.errors["line"].unique() if not result.errors.empty else np.zeros(0, dtype=np.int64)
    if lines is not None:
        wanted = np.union1d(wanted, np.asarray(lines))
    want = np.setdiff1d(wanted, result.original.index.to_numpy())
    if not len(want):
        return
    found = []
    read = _csv_lines(result.path, schema.name, want) if result.path.suffix.lower() == ".csv" else None
    if read is not None:  # only the lines wanted, found by their line breaks
        _apply_names(read, schema, ColumnMap())
        found.append(read.frame.loc[read.frame.index.isin(want)])
    else:
        for make in _slices(result.path, schema.name) or ():
            read = make()
            _apply_names(read, schema, ColumnMap())
            hit = read.frame.index.isin(want)
            if hit.any():
                found.append(read.frame.loc[hit])
    result.original = pd.concat([result.original, *found]).sort_index()


def _csv_lines(path: Path, export: str, want: np.ndarray) -> ReadResult | None:
    """The given lines of a CSV export read in slices, as a read of those lines alone; None when
    its lines cannot be told apart by line feeds alone (a carriage return on its own).

    A file validated in slices has one record a line (no line break inside a value), so line ``n``
    is the text after the ``n - 1``-th line feed: the file is scanned for line feeds (a fifth of the
    time of parsing it) and only the wanted lines are parsed.
    """
    import pyarrow as pa
    import pyarrow.csv as pv

    want = np.unique(np.asarray(want, dtype=np.int64))
    want = want[want >= 2]
    _, names = _read_header(path, "utf-8-sig")
    starts = np.zeros(len(want), dtype=np.int64)
    ends = np.full(len(want), -1, dtype=np.int64)
    breaks = 0  # line feeds before the block
    offset = 0
    with open(path, "rb") as fh:
        while block := fh.read(CSV_BLOCK_BYTES):
            if block.count(b"\r") != block.count(b"\r\n"):
                return None  # a lone carriage return (or one split from its line feed): parse instead
            feeds = np.flatnonzero(np.frombuffer(block, np.uint8) == 10) + offset
            # line n starts after feed n - 1 (the (n-1)-th feed overall) and ends after feed n
            lo, hi = breaks + 1, breaks + len(feeds)  # the numbers of this block's line feeds
            a, b = np.searchsorted(want, lo + 1), np.searchsorted(want, hi + 1, side="right")
            starts[a:b] = feeds[want[a:b] - 1 - lo] + 1  # lines whose previous feed is here
            a, b = np.searchsorted(want, lo), np.searchsorted(want, hi, side="right")
            ends[a:b] = feeds[want[a:b] - lo] + 1  # lines whose own feed is here
            breaks += len(feeds)
            offset += len(block)
    ends[ends < 0] = offset  # the last line, without a final line feed
    keep = starts > 0
    want, starts, ends = want[keep], starts[keep], ends[keep]
    parts = []
    with open(path, "rb") as fh:
        for a, b in zip(starts.tolist(), ends.tolist()):
            fh.seek(a)
            line = fh.read(b - a)
            parts.append(line if line.endswith(b"\n") else line + b"\n")
    if not parts:
        return None
    try:
        table = pv.read_csv(
            pa.py_buffer(b"".join(parts)),
            read_options=pv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pv.ParseOptions(ignore_empty_lines=False),
            convert_options=_as_text(names),
        )
    except pa.ArrowException:
        return None  # the slices' reader words it
    if table.num_rows != len(want):
        return None
    return _finish(path, export, table.to_pandas(), want, "csv", [], encoding="UTF-8", delimiter=",", decimal=".")
