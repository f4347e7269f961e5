"""Writing outputs safely: whole output sets, atomic files, names inside the folder, formula-safe cells.

Every command that writes a folder does it through :func:`output_set`: the files go into a
hidden sibling folder marked incomplete, and only when the run has finished is that folder
swapped into place (one atomic ``renameat2(RENAME_EXCHANGE)`` on Linux). A reader therefore
sees the previous complete set or the new one, never a mixture; a killed run leaves the previous
set untouched beside a folder whose ``INCOMPLETE.txt`` says what it is. The folder is refused
when it is, holds or lies inside an input folder, or holds files the tool did not write.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as _dt
import io
import itertools
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import numpy as np
import pandas as pd

from .errors import EnvironmentFailure, UsageError

__all__ = [
    "INCOMPLETE_MARKER",
    "MANIFEST",
    "OutputSet",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_toml_target",
    "frame_to_csv_text",
    "neutralise_formulas",
    "output_path",
    "output_set",
    "prepare_out_dir",
    "write_frame_csv",
]

#: Written last into every complete output folder: the command, the time and every file with its size.
MANIFEST = "outcomes-run.json"
#: Present only in a folder whose run has not finished (a killed or failed run).
INCOMPLETE_MARKER = "INCOMPLETE.txt"

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def arrow_offsets(arr) -> np.ndarray:
    """Where each value of an Arrow string array starts and ends in its data buffer: ``len(arr) + 1``
    byte positions (int64; no copy for ``large_string``). Value ``i`` is ``data[pos[i]:pos[i + 1]]``."""
    import pyarrow as pa

    width = np.int32 if pa.types.is_string(arr.type) or pa.types.is_binary(arr.type) else np.int64
    pos = np.frombuffer(arr.buffers()[1], width)[arr.offset: arr.offset + len(arr) + 1]
    return pos if width is np.int64 else pos.astype(np.int64)


def prepare_out_dir(path: str | os.PathLike[str]) -> Path:
    """Create the output folder (and parents) or say clearly why it cannot be used."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is {_kind(out)}; give a folder for the outputs.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvironmentFailure(f"Cannot create the output folder {out}: {exc.strerror}.") from None
    if not os.access(out, os.W_OK):
        raise EnvironmentFailure(f"The output folder {out} is not writable.")
    return out


def _kind(path: Path) -> str:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _inside(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


@dataclass(frozen=True)
class OutputSet:
    """A run's output folder while it is being written.

    Attributes
    ----------
    target : Path
        The folder the user named (``--out``).
    staging : Path
        Where the files are written during the run; swapped into ``target`` at the end.
    """

    target: Path
    staging: Path

    def final(self, path: str | os.PathLike[str]) -> str:
        """Where ``path`` (written under :attr:`staging`) will be once the set is in place."""
        rel = Path(path).resolve().relative_to(self.staging.resolve())
        return str(self.target / rel)

    def finals(self, written: dict[str, str]) -> dict[str, str]:
        return {k: self.final(v) for k, v in written.items()}


def _tool_files(folder: Path) -> tuple[set[str] | None, list[str]]:
    """(files listed in the folder's manifest or None, files present) relative to ``folder``.

    Without a manifest only the folder's first few entries are named: a folder such as a home
    directory is not walked just to say that it was not written by outcomes.
    """
    try:
        listed = set(json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, sorted(p.name for p in itertools.islice(folder.iterdir(), 5))
    present = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())
    return listed | {MANIFEST}, present


def check_output_target(out: Path, *, inputs: Iterable[str | os.PathLike[str]] = (),
                        force: bool = False, option: str = "--out") -> None:
    """Refuse an output folder that would overwrite inputs or files the tool did not write.

    Raises
    ------
    UsageError
        ``out`` is not a folder; it is, holds or lies inside an input folder; or it holds files
        that no earlier run of ``outcomes`` wrote (unless ``force``).
    """
    too_long = [part for part in out.parts if len(os.fsencode(part)) > 255]
    if too_long:
        raise UsageError(f"{option}: the folder name {too_long[0][:40]}… is {len(os.fsencode(too_long[0]))} bytes "
                         "long; file systems allow at most 255. Choose a shorter name.")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UsageError(f"{option} {out} is {_kind(out)}; give a folder (new, empty, or written "
                         "by an earlier run) for the outputs.")
    resolved = out.resolve()
    for src in inputs:
        src_path = Path(src)
        if not src_path.exists():
            continue
        if not src_path.is_dir():  # a plan or map beside the outputs is fine; inside them it would be replaced
            if _inside(src_path.resolve(), resolved):
                raise UsageError(f"{option} {out} holds the input file {src_path}, which replacing the folder "
                                 "would remove. Give an output folder that does not contain your inputs.")
            continue
        folder = src_path.resolve()
        if _inside(resolved, folder) or _inside(folder, resolved):
            where = ("is the input folder" if resolved == folder else
                     "lies inside the input folder" if _inside(resolved, folder) else "holds the input folder")
            raise UsageError(f"{option} {out} {where} {src_path}; inputs are never written to. "
                             "Give an output folder outside the data folder.")
    if not out.exists() or force:
        return
    listed, present = _tool_files(out)
    foreign = present if listed is None else [p for p in present if p not in listed]
    if foreign:
        shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
        raise UsageError(f"{option} {out} already holds files outcomes did not write ({shown}); "
                         "choose a new or empty folder, or add --force to move them aside "
                         "(they are kept in a sibling folder, not deleted).")


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def _write_manifest(staging: Path, command: str) -> None:
    files = {str(p.relative_to(staging)): p.stat().st_size
             for p in sorted(staging.rglob("*")) if p.is_file() and p.name != INCOMPLETE_MARKER}
    from ._version import __version__

    doc = {"command": f"outcomes {command}", "version": __version__,
           "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "files": files}
    atomic_write_text(staging / MANIFEST, json.dumps(doc, indent=2) + "\n")


@contextlib.contextmanager
def output_set(out: str | os.PathLike[str], *, command: str,
               inputs: Iterable[str | os.PathLike[str]] = (), force: bool = False) -> Iterator[OutputSet]:
    """Write a whole output folder or nothing.

    Yields an :class:`OutputSet` whose ``staging`` folder receives the files. On success a
    manifest (:data:`MANIFEST`) is written and the staging folder is swapped into ``out``;
    the previous set is removed (or, with ``force`` and files the tool did not write, moved
    aside to ``<out>.replaced-<time>``). On failure the staging folder is deleted and ``out``
    is left exactly as it was; after a kill the staging folder stays, marked by
    :data:`INCOMPLETE_MARKER`.

    Raises
    ------
    UsageError
        See :func:`check_output_target`.
    EnvironmentFailure
        The parent folder cannot be created or written.
    """
    if not str(out).strip():
        raise UsageError("--out is empty; give the folder for the outputs.")
    target = Path(out)
    inputs = list(inputs)
    check_output_target(target, inputs=inputs, force=force)
    parent = target.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name[:60]}.incomplete-"))
    except OSError as exc:
        raise EnvironmentFailure(f"Cannot write the output folder {target}: {exc.strerror} "
                                 f"({parent}). Check the path and its permissions.") from None
    os.chmod(staging, 0o777 & ~_umask())
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    (staging / INCOMPLETE_MARKER).write_text(
        f"This folder is an unfinished run of `outcomes {command}` started at {started} "
        f"(process {os.getpid()}). It was stopped before it finished: do not use these files; "
        "delete the folder and run the command again.\n", encoding="utf-8")
    try:
        yield OutputSet(target=target, staging=staging)
        (staging / INCOMPLETE_MARKER).unlink()
        _write_manifest(staging, command)
        _swap_into_place(staging, target, force=force)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_into_place(staging: Path, target: Path, *, force: bool) -> None:
    if not target.exists():
        os.rename(staging, target)
        return
    listed, present = _tool_files(target)
    foreign = present if listed is None else [p for p in present if p not in listed]
    if foreign and force:  # keep what the tool did not write: move the old folder aside, whole
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        aside = target.with_name(f"{target.name}.replaced-{stamp}")
        os.rename(target, aside)
        os.rename(staging, target)
        print(f"outcomes: the previous contents of {target} were moved to {aside}.", file=sys.stderr)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the previous set
        return
    old = target.with_name(f".{target.name[:60]}.previous-{os.getpid()}")
    os.rename(target, old)
    os.rename(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def output_path(out_dir: Path, name: str) -> Path:
    """``out_dir / name`` for a name built from validated codes, refusing anything that escapes."""
    if not _SAFE_NAME.match(name) or name in (".", ".."):
        raise ValueError(f"unsafe output file name {name!r}")
    target = (out_dir / name).resolve()
    if target.parent != out_dir.resolve():
        raise ValueError(f"output file {name!r} would leave {out_dir}")
    return target


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    A reader never sees a half-written file, and a failure leaves the old file (if any) as it was.
    The new file gets the usual permissions (0666 less the umask), not mkstemp's 0600.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        raise UsageError(f"{path} is {_kind(path)}, not a file: it is never replaced. Give a file name.")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_toml_target(path: str | os.PathLike[str], *, overwrite: bool, what: str) -> Path:
    """Where a TOML file (a plan or a description) may be written, or a UsageError saying why not.

    An existing file is replaced only with ``overwrite``, and only when it is itself a ``.toml``
    file: a data export, a device or a folder is never replaced, whatever the option.
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name for the {what}, e.g. {path / 'plan.toml'}.")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise UsageError(f"{path} is {_kind(path)}, not a file: it is never replaced. Give a file name.")
        if path.suffix.lower() != ".toml":
            raise UsageError(f"{path} exists and is not a .toml file (it may be one of your exports): it is "
                             f"never replaced. Give the {what} a name ending in .toml.")
        if not overwrite:
            raise UsageError(f"{path} already exists; choose another name or add --force to overwrite it.")
    if not path.parent.is_dir():
        raise UsageError(f"Cannot write the {what} to {path}: the folder {path.parent} does not exist.")
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix ``'`` to text cells and column names a spreadsheet would run as a formula (OWASP CSV injection).

    Cells starting with ``=``, ``+``, ``-``, ``@``, tab or CR are neutralised, in text and categorical
    columns alike; plain numbers such as ``-3`` are left alone. Returns a new frame.
    """
    out = frame.copy()
    out.columns = [_neutral_name(c) for c in out.columns]
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        elif not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
            continue
        text = s.astype(str)
        risky = text.str.startswith(_FORMULA_START).fillna(False) & ~text.str.match(
            _PLAIN_NUMBER).fillna(False)
        risky &= s.notna()
        if risky.any():
            out[col] = s.where(~risky, "'" + text)
    return out


def _neutral_name(name: object) -> object:
    """A column name a spreadsheet would run as a formula, prefixed with ``'`` (headers come from data too)."""
    text = str(name)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return name


def _iso(s: pd.Series, unit: str) -> pd.Series:
    values = s.to_numpy(dtype=f"datetime64[{unit}]")
    text = np.datetime_as_string(values, unit=unit)
    return pd.Series(np.where(np.isnat(values), "", text), index=s.index, dtype=object)


def frame_to_csv_text(frame: pd.DataFrame, *, date_columns: tuple[str, ...] = (),
                      datetime_columns: tuple[str, ...] = ()) -> str:
    """CSV text with ISO dates, ``true``/``false`` booleans and formulas neutralised.

    The text is that of pandas' ``to_csv`` (minimal quoting, ``\\n`` line ends, floats as ``%.15g``,
    missing values empty); see :func:`write_frame_csv`, which writes the same bytes to a file.
    """
    buf = io.BytesIO()
    write_frame_csv(buf, frame, date_columns=date_columns, datetime_columns=datetime_columns)
    return buf.getvalue().decode("utf-8")


def write_frame_csv(fh: BinaryIO, frame: pd.DataFrame, *, date_columns: tuple[str, ...] = (),
                    datetime_columns: tuple[str, ...] = (), chunk_rows: int = 1 << 18) -> None:
    """Write ``frame`` as UTF-8 CSV to the binary handle ``fh``: the bytes of :func:`frame_to_csv_text`.

    Columns of the usual kinds (text, categories of text, integers, floats, booleans, and the
    dates and datetimes named) are turned into cell text with Arrow kernels and written in slices
    of ``chunk_rows`` rows, without a Python string of the whole file; any other frame goes
    through pandas' ``to_csv``. Both give the same text (tests/test_csv_writer.py).
    """
    if not _fast_csv_ok(frame, date_columns, datetime_columns):
        fh.write(_frame_to_csv_text_pandas(frame, date_columns=date_columns,
                                           datetime_columns=datetime_columns).encode("utf-8"))
        return
    names = [_csv_field(str(_neutral_name(c)), single=len(frame.columns) == 1) for c in frame.columns]
    fh.write((",".join(names) + "\n").encode("utf-8"))
    if len(frame) > 2 * _RUN_MIN_ROWS:  # a frame shorter than two slices: two halves, one a thread
        chunk_rows = min(chunk_rows, -(-len(frame) // 2))
    starts = range(0, len(frame), chunk_rows)

    def text(i: int):
        return _csv_slice(frame.iloc[i:i + chunk_rows], date_columns, datetime_columns)

    def put(lines) -> None:
        for chunk in lines.chunks:
            pos = arrow_offsets(chunk)
            fh.write(memoryview(chunk.buffers()[2])[pos[0]:pos[-1]])

    if len(starts) < 2:
        for i in starts:
            put(text(i))
        return
    # Two slices are turned into text at once (Arrow's kernels release the GIL), written in order;
    # at most two slices' text is held.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2, thread_name_prefix="outcomes-csv") as pool:
        pending = [pool.submit(text, i) for i in starts[:2]]
        for i in [*starts[2:], None]:
            put(pending.pop(0).result())
            if i is not None:
                pending.append(pool.submit(text, i))
        for fut in pending:
            put(fut.result())


def _csv_field(text: str, *, single: bool = False) -> str:
    """One field as Python's csv module writes it with minimal quoting (as pandas does)."""
    if any(ch in text for ch in ',"\n') or (single and not text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _is_textual(dtype: object) -> bool:
    return dtype == object or pd.api.types.is_string_dtype(dtype)


def _fast_csv_ok(frame: pd.DataFrame, date_columns: tuple[str, ...], datetime_columns: tuple[str, ...]) -> bool:
    """Whether every column is of a kind :func:`_csv_slice` writes exactly as pandas would."""
    if isinstance(frame.columns, pd.MultiIndex) or not frame.columns.is_unique or len(frame.columns) == 0:
        return False
    if not all(isinstance(c, str) for c in frame.columns):  # pandas' own header text for other labels
        return False
    for col in frame.columns:
        dtype = frame[col].dtype
        if _neutral_name(col) in date_columns or _neutral_name(col) in datetime_columns:  # as pandas' path
            if not (pd.api.types.is_datetime64_dtype(dtype) and isinstance(dtype, np.dtype)):
                return False
        elif isinstance(dtype, pd.CategoricalDtype):
            if not _is_textual(dtype.categories.dtype):
                return False
        elif dtype == object:  # text only (None/NaN missing); other objects are pandas' to format
            if pd.api.types.infer_dtype(frame[col], skipna=True) not in ("string", "empty"):
                return False
        elif _is_textual(dtype) or pd.api.types.is_bool_dtype(dtype):
            continue
        elif pd.api.types.is_integer_dtype(dtype):
            continue
        elif not (isinstance(dtype, np.dtype) and dtype == np.float64):
            return False
    return True


def _csv_slice(part: pd.DataFrame, date_columns: tuple[str, ...], datetime_columns: tuple[str, ...]):
    """The CSV lines (each ending in ``\\n``) of a slice of rows, as one Arrow large-string array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    single = len(part.columns) == 1
    sep, nl = pa.scalar(",", pa.large_string()), pa.scalar("\n", pa.large_string())
    cells = []
    few: dict[object, tuple[np.ndarray, int]] = {}
    for cols in _runs(part, few) if len(part) >= _RUN_MIN_ROWS else [[c] for c in part.columns]:
        if len(cols) == 1:
            cell = _cells(part[cols[0]], cols[0], date_columns, datetime_columns)
            if single:
                cell = pc.if_else(pc.equal(pc.fill_null(cell, ""), ""), pa.scalar('""', pa.large_string()), cell)
        else:  # columns of few values side by side: the text of each combination of values, made once
            codes, rows = _combinations([few[c] for c in cols])
            some = part.iloc[rows]
            text = pc.binary_join_element_wise(*[_cells(some[c], c, date_columns, datetime_columns) for c in cols],
                                               sep, null_handling="replace", null_replacement="")
            cell = text.take(pa.array(codes))
        cells.append(cell)
    # the line break joins the last cell (one column copied again, not the whole line)
    cells[-1] = pc.binary_join_element_wise(pc.fill_null(cells[-1], ""), pa.scalar("", pa.large_string()), nl)
    line = pc.binary_join_element_wise(*cells, sep, null_handling="replace", null_replacement="")
    return line if isinstance(line, pa.ChunkedArray) else pa.chunked_array([line])


#: Slices at least this long write runs of few-valued columns once per combination of values.
_RUN_MIN_ROWS = 10_000
#: A column with at most this many distinct codes (categories, booleans, integers within this range).
_FEW_VALUES = 4096


def _cells(s: pd.Series, col: object, date_columns: tuple[str, ...], datetime_columns: tuple[str, ...]):
    """One column's cell text (null where missing), as an Arrow large-string array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if _neutral_name(col) in date_columns:
        return _iso_cells(s, "D")
    if _neutral_name(col) in datetime_columns:
        return _iso_cells(s, "s")
    if isinstance(s.dtype, pd.CategoricalDtype) or _is_textual(s.dtype):
        return _text_cells(s)
    if pd.api.types.is_bool_dtype(s.dtype):
        arr = pa.array(s, from_pandas=True)
        return pc.if_else(arr, pa.scalar("true", pa.large_string()), pa.scalar("false", pa.large_string()))
    if pd.api.types.is_integer_dtype(s.dtype):
        return pc.cast(pa.array(s, from_pandas=True), pa.large_string())
    return _float_cells(s.to_numpy(dtype=np.float64))


def _few_codes(s: pd.Series) -> tuple[np.ndarray, int] | None:
    """Codes 0..k-1 of a column of few distinct values (0 = missing), or None for other columns."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        k = len(s.cat.categories) + 1
        return (s.cat.codes.to_numpy().astype(np.int64) + 1, k) if k <= _FEW_VALUES else None
    if not (pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype)):
        return None
    if isinstance(s.dtype, np.dtype):
        values, missing = s.to_numpy().astype(np.int64), np.zeros(len(s), dtype=bool)
    else:  # nullable integers and booleans
        missing = s.isna().to_numpy(dtype=bool)
        values = s.to_numpy(dtype=np.int64, na_value=0)
    if missing.all():
        return np.zeros(len(s), dtype=np.int64), 1
    lo, hi = int(values[~missing].min()), int(values[~missing].max())
    if hi - lo + 2 > _FEW_VALUES:
        return None
    return np.where(missing, 0, values - lo + 1), hi - lo + 2


def _runs(part: pd.DataFrame, few: dict[object, tuple[np.ndarray, int]]) -> list[list[object]]:
    """The columns in order, grouped: adjacent few-valued columns together (their codes put in ``few``),
    every other column alone."""
    runs: list[list[object]] = []
    few_before = False
    for col in part.columns:
        found = _few_codes(part[col])
        if found is not None:
            few[col] = found
        if found is not None and few_before:
            runs[-1].append(col)
        else:
            runs.append([col])
        few_before = found is not None
    return runs


def _combinations(columns: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the number of its combination of codes (one ``(codes, k)`` a column); and a row
    holding each combination."""
    combined = np.zeros(len(columns[0][0]), dtype=np.int64)
    size = 1
    for codes, k in columns:
        if size * k >= 1 << 62:  # renumber the combinations seen so far before they overflow
            combined, uniques = pd.factorize(combined)
            size = len(uniques)
        combined = combined * k + codes
        size *= k
    codes, uniques = pd.factorize(combined)
    rows = np.empty(len(uniques), dtype=np.int64)
    rows[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)  # the first row of each combination
    return codes.astype(np.int64), rows


def _text_cells(s: pd.Series):
    """Text cells: formulas neutralised (as :func:`neutralise_formulas`), quoted where needed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(s.dtype, pd.CategoricalDtype):  # each category made safe once, then spread by the codes
        cats = _text_cells(pd.Series(s.cat.categories.astype(object), dtype=object))
        codes = s.cat.codes.to_numpy()
        return cats.take(pa.array(codes, mask=codes < 0))
    arr = pa.array(s, type=pa.large_string(), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    idx = _formula_candidates(arr)
    if len(idx):
        cand = arr.take(pa.array(idx))
        plain = pc.match_substring_regex(cand, _PLAIN_NUMBER.pattern).to_numpy(zero_copy_only=False)
        risky = [i for i, v, ok in zip(idx.tolist(), cand.to_pylist(), plain) if not ok
                 and not _PLAIN_NUMBER.match(v)]  # Python's re: Unicode digits, "$" before a final newline
        if risky:
            mask = np.zeros(len(arr), dtype=bool)
            mask[risky] = True
            quoted = pc.binary_join_element_wise(pa.scalar("'", pa.large_string()), arr,
                                                 pa.scalar("", pa.large_string()))
            arr = pc.if_else(pa.array(mask), quoted, arr)
    data = arr.buffers()[2]
    if data is not None and len(arr):
        pos = arrow_offsets(arr)
        raw = np.frombuffer(data, np.uint8)[pos[0]:pos[-1]]
        hits = np.flatnonzero((raw == 44) | (raw == 34) | (raw == 10))  # ',', '"' or a line break
        if len(hits):  # the values holding them, found from the bytes' positions (a regex over all: 10x)
            rows = np.unique(np.searchsorted(pos, hits + pos[0], side="right") - 1)
            need = np.zeros(len(arr), dtype=bool)
            need[rows] = True
            some = arr.take(pa.array(rows))
            escaped = pc.binary_join_element_wise(pa.scalar('"', pa.large_string()),
                                                  pc.replace_substring(some, '"', '""'),
                                                  pa.scalar('"', pa.large_string()),
                                                  pa.scalar("", pa.large_string()))
            arr = pc.replace_with_mask(arr, pa.array(need), escaped)
    return arr


def _formula_candidates(arr) -> np.ndarray:
    """Positions of the values starting with ``=``, ``+``, ``-``, ``@``, tab or CR (read from the
    first byte of each value: all six are one-byte characters)."""
    data = arr.buffers()[2]
    if data is None or len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    pos = arrow_offsets(arr)
    start, filled = pos[:-1], pos[1:] > pos[:-1]
    first = np.zeros(len(arr), dtype=np.uint8)
    first[filled] = np.frombuffer(data, np.uint8)[start[filled]]
    hit = np.isin(first, np.frombuffer(b"=+-@\t\r", np.uint8))
    if arr.null_count:
        hit &= arr.is_valid().to_numpy(zero_copy_only=False)
    return np.flatnonzero(hit)


def _iso_cells(s: pd.Series, unit: str):
    """Dates (``unit="D"``) as YYYY-MM-DD, datetimes (``"s"``) as YYYY-MM-DDTHH:MM:SS, as :func:`_iso`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = s.to_numpy(dtype=f"datetime64[{unit}]")
    nat = np.isnat(values)
    ints = values.view(np.int64)
    lo, hi = {"D": (-719162, 2932896), "s": (-62135596800, 253402300799)}[unit]  # years 1 to 9999
    if len(ints) and not nat.all() and (ints[~nat].min() < lo or ints[~nat].max() > hi):
        text = np.where(nat, "", np.datetime_as_string(values, unit=unit))
        return pa.array(text.astype(object), type=pa.large_string())
    if unit == "D":
        days = pa.array(ints.astype(np.int32), type=pa.date32(), mask=nat)
        return pc.cast(days, pa.large_string())
    stamps = pa.array(ints, type=pa.timestamp("s"), mask=nat)  # cast gives "YYYY-MM-DD HH:MM:SS" (strftime: 8x slower)
    return pc.replace_substring(pc.cast(stamps, pa.large_string()), " ", "T", max_replacements=1)


def _float_cells(values: np.ndarray):
    """Floats as ``"%.15g" % v`` (what pandas writes with that float_format), missing as null."""
    import pyarrow as pa

    missing = np.isnan(values)
    bits = values.view(np.int64)  # -0.0 and 0.0 are written differently
    uniq, inverse = np.unique(np.where(missing, 0, bits), return_inverse=True)
    texts = pa.array(["%.15g" % v for v in uniq.view(np.float64)], type=pa.large_string())
    return texts.take(pa.array(inverse.astype(np.int64).ravel(), mask=missing))


def _frame_to_csv_text_pandas(frame: pd.DataFrame, *, date_columns: tuple[str, ...] = (),
                              datetime_columns: tuple[str, ...] = ()) -> str:
    """The reference writer: pandas' ``to_csv`` (used for frames the fast writer does not cover)."""
    out = neutralise_formulas(frame)
    for col in out.columns:
        if col in date_columns:
            out[col] = _iso(out[col], "D")
        elif col in datetime_columns:
            out[col] = _iso(out[col], "s")
        elif pd.api.types.is_bool_dtype(out[col].dtype):
            out[col] = out[col].map({True: "true", False: "false"}).astype(object)
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n", float_format="%.15g")
    return buf.getvalue()
