"""The hostile matrix's machinery: cases, running a command, and the checks every run must pass.

Every case starts from a tiny valid cohort (the first 20 patients of ``data/example`` and their
rows, as the contract's CSV files) and breaks one thing. Nothing here is committed as data: the
files are made on the fly in the folder given (pytest's ``tmp_path``).

A :class:`Case` is one command on one broken dataset with the exit codes it may give. Whatever
the case, every run must also pass the checks of :func:`run_and_check`:

- no Python traceback (in-process: no exception escapes ``outcomes.cli.main``; subprocess: no
  ``Traceback`` on stderr) and an exit code the case allows;
- no input file (data folder, mapping file, plan) changed, added or removed;
- no output CSV/XLSX cell, header included, starting with ``=``, ``+``, ``-``, ``@``, tab or CR
  unless it is a plain number, and no HTML output with a ``<script`` or event handler from the data;
- for ``validate --format json``: ``rows_read == accepted + quarantined + blank_skipped (+ filtered)``
  for every export, ``rows_read`` equal to the record count of Python's ``csv`` module (minus
  the header) for every CSV export that was read, and the accepted / quarantined files of
  ``--out`` holding exactly those many records;
- the run takes less than the case's time limit (90 s by default).

Usage outside pytest::

    from hostile.cases import CASES
    from hostile.core import run_and_check
    for case in CASES:
        env, result, problems = run_and_check(case, Path(tempfile.mkdtemp()))
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import json
import os
import re
import resource
import stat
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence


__all__ = [
    "COHORT_SIZE",
    "Case",
    "Env",
    "ISSUE",
    "N_PATIENTS",
    "Result",
    "build",
    "csv_record_count",
    "csv_records",
    "decode_bytes",
    "injection_problems",
    "message_lines",
    "reconciliation_problems",
    "risky_cell",
    "run_and_check",
    "run_case",
    "run_in_process",
    "snapshot",
    "validate_records",
]


N_PATIENTS = 20
ISSUE = "issue 16"


@dataclass
class Env:
    """A built case: where its data is, where outputs go, what must not change."""

    tmp: Path
    data: Path
    out: Path
    inputs: list[Path] = field(default_factory=list)
    vars: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def fmt(self, argv: Sequence[str]) -> list[str]:
        values = {"data": str(self.data), "out": str(self.out), "tmp": str(self.tmp), **self.vars}
        return [a.format(**values) for a in argv]


@dataclass
class Result:
    """One command run: its arguments, exit code, output and time; ``crash`` holds any traceback."""

    argv: list[str]
    code: int | None
    stdout: str
    stderr: str
    seconds: float
    crash: str | None = None

    def head(self, lines: int = 5) -> str:
        """The first lines of stderr, or of a crash its first and last lines (where the exception is)."""
        text = (self.crash or self.stderr).strip().splitlines()
        if self.crash and len(text) > lines:
            return "\n".join(text[:1] + ["  ..."] + text[-(lines - 1):])
        return "\n".join(text[:lines])


@dataclass(frozen=True)
class Case:
    """One hostile run.

    Attributes
    ----------
    name : str
        Test id.
    item : str
        The item of issue 16 it covers ("1".."9", or "extra").
    build : callable
        ``build(tmp) -> Env``.
    argv : tuple of str
        Command line after ``outcomes``; ``{data}``, ``{out}``, ``{tmp}`` and the env's vars are
        filled in.
    expect : frozenset of int
        Exit codes allowed.
    check : callable, optional
        ``check(result, env)`` raising AssertionError with a message when the case-specific
        promise is broken.
    subprocess : bool
        Run ``python -m outcomes`` in a child process (needed for hangs, devices and memory limits).
    timeout : float
        Seconds allowed for the run (the run is also checked against it).
    stdout_to : str, optional
        Subprocess only: a path stdout is opened on (e.g. ``/dev/full``).
    limit_as : int, optional
        Subprocess only: address-space limit in bytes (RLIMIT_AS).
    slow : bool
        More than a few seconds (marked ``slow`` in pytest).
    skip : callable, optional
        ``skip() -> reason or None``.
    patients : int
        Size of the base cohort the case is built from.
    """

    name: str
    item: str
    build: Callable[[Path], Env]
    argv: tuple[str, ...]
    expect: frozenset[int]
    check: Callable[[Result, Env], None] | None = None
    subprocess: bool = False
    timeout: float = 90.0
    stdout_to: str | None = None
    limit_as: int | None = None
    slow: bool = False
    skip: Callable[[], str | None] | None = None
    patients: int = 20


def decode_bytes(raw: bytes) -> str:
    """Text of a CSV export as a reader should see it: BOM-marked UTF-16/UTF-8, else UTF-8, else cp1252."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    if raw.startswith(codecs.BOM_UTF8):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def csv_records(path: str | os.PathLike[str]) -> list[list[str]]:
    """Every record Python's ``csv`` module reads from ``path`` (header included).

    A quoted field spanning lines is one record; the delimiter is ``;`` when the first line holds
    more ``;`` than ``,``.
    """
    text = decode_bytes(Path(path).read_bytes())
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    old = csv.field_size_limit(1 << 30)  # a 5 MB note is one field; restored so the tool sees the default
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    finally:
        csv.field_size_limit(old)


def csv_record_count(path: str | os.PathLike[str]) -> int:
    """Records in a CSV file by the ``csv`` module, minus the header (the independent row count)."""
    return max(len(csv_records(path)) - 1, 0)


def snapshot(paths: Iterable[Path]) -> dict[str, tuple]:
    """What each input path is and holds: files by sha256, folders by their entries, links by target.

    Symbolic links are not followed, so a link out of the folder is recorded as a link.
    """
    snap: dict[str, tuple] = {}

    def one(p: Path) -> None:
        try:
            st = p.lstat()
        except OSError:
            snap[str(p)] = ("missing",)
            return
        if stat.S_ISLNK(st.st_mode):
            snap[str(p)] = ("link", os.readlink(p))
        elif stat.S_ISDIR(st.st_mode):
            entries = sorted(os.listdir(p))
            snap[str(p)] = ("dir", tuple(entries))
            for e in entries:
                one(p / e)
        elif stat.S_ISREG(st.st_mode):
            try:
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
            except PermissionError:
                digest = "unreadable"
            snap[str(p)] = ("file", digest, st.st_size, stat.S_IMODE(st.st_mode))
        else:
            snap[str(p)] = ("special", stat.S_IFMT(st.st_mode))

    for p in paths:
        one(Path(p))
    return snap


_RISKY_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


_HTML_INJECTED = re.compile(r"<script[^<>]*>\s*hx_pwn|<img[^<>]*onerror\s*=\s*hx_pwn", re.I)


def risky_cell(value: Any) -> bool:
    """A text cell a spreadsheet would run as a formula: starts with = + - @ tab CR, not a plain number."""
    return (isinstance(value, str) and value.startswith(_RISKY_START)
            and not _PLAIN_NUMBER.match(value.strip()))


def injection_problems(folder: Path, *, limit: int = 5) -> list[str]:
    """Formula-looking CSV/XLSX cells (headers included) and injected HTML under ``folder``."""
    problems: list[str] = []
    if not folder.is_dir():
        return problems
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        rel = path.relative_to(folder)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            try:
                records = csv_records(path)
            except (csv.Error, OSError) as exc:
                problems.append(f"{rel}: unreadable CSV ({exc})")
                continue
            bad = [(i + 1, c) for i, row in enumerate(records) for c in row if risky_cell(c)]
            if bad:
                problems.append(f"{rel}: {len(bad)} formula-looking cell(s), first {bad[:3]!r}")
        elif suffix == ".xlsx":
            bad = _xlsx_risky(path)
            if bad:
                problems.append(f"{rel}: {len(bad)} formula-looking cell(s), first {bad[:3]!r}")
        elif suffix in (".html", ".htm", ".svg"):
            text = path.read_text(encoding="utf-8", errors="replace")
            m = _HTML_INJECTED.search(text)
            if m:
                problems.append(f"{rel}: unescaped markup from the data: {m.group(0)!r}")
    return problems[:limit] if limit else problems


def _xlsx_risky(path: Path) -> list[tuple[str, str]]:
    import openpyxl

    bad: list[tuple[str, str]] = []
    wb = openpyxl.load_workbook(path, read_only=False)  # read_only hides data_type 'f'
    try:
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if cell.data_type == "f" or risky_cell(cell.value):
                        bad.append((f"{ws.title}!{cell.coordinate}", str(cell.value)[:40]))
    finally:
        wb.close()
    return bad


def run_in_process(argv: list[str]) -> Result:
    from outcomes.cli import main

    out, err = io.StringIO(), io.StringIO()
    crash = None
    code: int | None
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - the point: nothing may escape main()
            code = None
            crash = traceback.format_exc()
    return Result(argv, code, out.getvalue(), err.getvalue(), time.perf_counter() - t0, crash)


def _subprocess(argv: list[str], case: Case, cwd: Path) -> Result:
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONHASHSEED="0")
    limit = case.limit_as

    def preexec() -> None:  # pragma: no cover - runs in the child
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    stdout_fh = open(case.stdout_to, "w") if case.stdout_to else subprocess.PIPE  # noqa: SIM115
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "outcomes", *argv], cwd=cwd, env=env, text=True,
                                stdout=stdout_fh, stderr=subprocess.PIPE, preexec_fn=preexec,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=case.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, err = proc.communicate()
            return Result(argv, None, out or "", err or "", time.perf_counter() - t0,
                          f"timed out after {case.timeout:g} s (killed)")
    finally:
        if case.stdout_to:
            stdout_fh.close()
    dt = time.perf_counter() - t0
    crash = err if "Traceback" in err else None
    return Result(argv, proc.returncode, out or "", err, dt, crash)


def build(case: Case, tmp: Path) -> Env:
    """Build ``case``'s dataset (and any earlier run it needs) under ``tmp``."""
    COHORT_SIZE[0] = case.patients
    try:
        return case.build(tmp)
    finally:
        COHORT_SIZE[0] = N_PATIENTS


def message_lines(stderr: str) -> list[str]:
    """The lines of stderr that are not argparse's usage block (``usage:`` and its indented lines)."""
    out, in_usage = [], False
    for line in stderr.strip().splitlines():
        if line.startswith("usage:"):
            in_usage = True
            continue
        if in_usage and line.startswith(" "):
            continue
        in_usage = False
        out.append(line)
    return out


def run_case(case: Case, tmp: Path) -> tuple[Env, Result]:
    """Build ``case`` under ``tmp`` and run its command (in-process unless ``case.subprocess``)."""
    env = build(case, tmp)
    argv = env.fmt(case.argv)
    result = _subprocess(argv, case, tmp) if case.subprocess else run_in_process(argv)
    return env, result


def run_and_check(case: Case, tmp: Path) -> tuple[Env, Result, list[str]]:
    """Build, snapshot inputs, run, then every generic check and the case's own; returns the problems."""
    env = build(case, tmp)
    before = snapshot(env.inputs)
    argv = env.fmt(case.argv)
    result = _subprocess(argv, case, tmp) if case.subprocess else run_in_process(argv)
    problems: list[str] = []
    if result.crash:
        problems.append(f"crashed: {result.head(12)}")
    elif "Traceback" in result.stderr or "Traceback" in result.stdout:
        problems.append(f"traceback printed: {result.head(12)}")
    if result.code not in case.expect:
        problems.append(f"exit code {result.code}, expected {sorted(case.expect)}")
    if result.code in (2, 3) and not result.stderr.strip():
        problems.append(f"exit {result.code} with nothing said on stderr")
    said = message_lines(result.stderr)
    if result.code in (2, 3) and len(said) > 4:
        problems.append(f"exit {result.code} with {len(said)} lines on stderr besides the usage "
                        "(one clear message expected)")
    if result.seconds > case.timeout:
        problems.append(f"took {result.seconds:.1f} s (limit {case.timeout:g} s)")
    after = snapshot(env.inputs)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        problems.append(f"input(s) changed: {changed[:5]}")
    for folder in _output_folders(env):
        problems += injection_problems(folder)
    if result.code in (0, 1) and argv and argv[0] == "validate" and "json" in argv:
        problems += reconciliation_problems(result, env)
    if case.check is not None and not problems:
        try:
            case.check(result, env)
        except AssertionError as exc:
            problems.append(f"check failed: {exc}")
    return env, result, problems


def _output_folders(env: Env) -> list[Path]:
    """The output folder and any sibling the tool made next to it (staging, moved-aside sets)."""
    try:
        folders = [env.out] if env.out.is_dir() else []
    except OSError:  # e.g. a name too long to exist
        folders = []
    parent = env.out.parent
    stem = env.out.name[:60]
    if parent.is_dir():
        for p in parent.iterdir():
            if p.is_dir() and not p.is_symlink() and p != env.out and p.name.lstrip(".").startswith(stem):
                folders.append(p)
    return folders


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def validate_records(result: Result) -> dict[str, dict[str, Any]]:
    doc = json.loads(result.stdout)
    return {r["export"]: r for r in doc["exports"]}


def reconciliation_problems(result: Result, env: Env) -> list[str]:
    """rows_read = accepted + quarantined + blank_skipped (+ filtered), against the csv module's count."""
    try:
        records = validate_records(result)
    except (ValueError, KeyError, TypeError) as exc:
        return [f"--format json did not print one JSON document with 'exports' ({exc})"]
    problems = []
    for name, r in records.items():
        if r.get("status") in ("absent_optional", "absent"):
            continue
        total = r["accepted"] + r["quarantined"] + r["blank_skipped"] + (r.get("filtered") or 0)
        if r["rows_read"] != total:
            problems.append(f"{name}: rows_read {r['rows_read']} != accepted {r['accepted']} + quarantined "
                            f"{r['quarantined']} + blank_skipped {r['blank_skipped']} + filtered "
                            f"{r.get('filtered') or 0}")
        path = Path(r["path"]) if r.get("path") else None
        if (r.get("status") != "rejected" and path is not None and path.suffix.lower() == ".csv"
                and path.is_file() and os.access(path, os.R_OK)):
            expected = csv_record_count(path)
            if r["rows_read"] != expected:
                problems.append(f"{name}: rows_read {r['rows_read']} but the csv module reads {expected} "
                                f"records (rows lost or invented)")
        out = env.out
        if "--out" in result.argv and _is_dir(out) and r.get("status") != "rejected":
            acc = out / f"{name}.csv"
            if acc.is_file() and csv_record_count(acc) != r["accepted"]:
                problems.append(f"{name}: {acc.name} holds {csv_record_count(acc)} records, accepted "
                                f"{r['accepted']}")
            q = out / f"{name}.quarantine.csv"
            if q.is_file() and csv_record_count(q) != r["quarantined"]:
                problems.append(f"{name}: {q.name} holds {csv_record_count(q)} records, quarantined "
                                f"{r['quarantined']}")
    return problems


COHORT_SIZE = [N_PATIENTS]  # the base cohort size of the case being built
