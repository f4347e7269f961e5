"""Writing outputs safely: atomically, inside the output folder, neutralised for spreadsheets."""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import pandas as pd

from .errors import UsageError

__all__ = [
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "frame_to_csv_text",
    "neutralise_formulas",
    "output_path",
    "prepare_out_dir",
]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def prepare_out_dir(path: str | os.PathLike[str]) -> Path:
    """Create the output folder (and parents) or say clearly why it cannot be used."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the outputs.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"Cannot create the output folder {out}: {exc.strerror}.") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"The output folder {out} is not writable.")
    return out


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


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix ``'`` to text cells a spreadsheet would run as a formula (OWASP CSV injection).

    Plain numbers such as ``-3`` are left alone. Returns a new frame.
    """
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
            continue
        text = s.astype(str)
        risky = text.str.startswith(_FORMULA_START).fillna(False) & ~text.str.match(
            _PLAIN_NUMBER).fillna(False)
        risky &= s.notna()
        if risky.any():
            out[col] = s.where(~risky, "'" + text)
    return out


def _iso(s: pd.Series, unit: str) -> pd.Series:
    values = s.to_numpy(dtype=f"datetime64[{unit}]")
    text = np.datetime_as_string(values, unit=unit)
    return pd.Series(np.where(np.isnat(values), "", text), index=s.index, dtype=object)


def frame_to_csv_text(frame: pd.DataFrame, *, date_columns: tuple[str, ...] = (),
                      datetime_columns: tuple[str, ...] = ()) -> str:
    """CSV text with ISO dates, ``true``/``false`` booleans and formulas neutralised."""
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
