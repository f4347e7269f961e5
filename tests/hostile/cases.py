"""Build each hostile dataset of issue 16 into a temporary folder, run one command on it, check it.

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

    from hostile.cases import CASES, run_and_check
    for case in CASES:
        env, result, problems = run_and_check(case, Path(tempfile.mkdtemp()))
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import hashlib
import io
import json
import os
import re
import resource
import shutil
import stat
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

__all__ = [
    "CASES",
    "Case",
    "Env",
    "Result",
    "csv_record_count",
    "injection_problems",
    "run_and_check",
    "run_case",
    "snapshot",
]

N_PATIENTS = 20
ISSUE = "issue 16"
PAYLOAD_SCRIPT = "<script>hx_pwn()</script>"
PAYLOAD_IMG = "<img src=x onerror=hx_pwn()>"
FORMULA_HEADER = "=2+5+cmd|' /C calc'!A0"
FORMULA_CELLS = ("=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(1)", "\tx", "\r=1", "=1+1")

# --------------------------------------------------------------------------- data types


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


# --------------------------------------------------------------------------- independent checks


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


# --------------------------------------------------------------------------- running


def _in_process(argv: list[str]) -> Result:
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
    _SIZE[0] = case.patients
    try:
        return case.build(tmp)
    finally:
        _SIZE[0] = N_PATIENTS


def run_case(case: Case, tmp: Path) -> tuple[Env, Result]:
    """Build ``case`` under ``tmp`` and run its command (in-process unless ``case.subprocess``)."""
    env = build(case, tmp)
    argv = env.fmt(case.argv)
    result = _subprocess(argv, case, tmp) if case.subprocess else _in_process(argv)
    return env, result


def run_and_check(case: Case, tmp: Path) -> tuple[Env, Result, list[str]]:
    """Build, snapshot inputs, run, then every generic check and the case's own; returns the problems."""
    env = build(case, tmp)
    before = snapshot(env.inputs)
    argv = env.fmt(case.argv)
    result = _subprocess(argv, case, tmp) if case.subprocess else _in_process(argv)
    problems: list[str] = []
    if result.crash:
        problems.append(f"crashed: {result.head(12)}")
    elif "Traceback" in result.stderr or "Traceback" in result.stdout:
        problems.append(f"traceback printed: {result.head(12)}")
    if result.code not in case.expect:
        problems.append(f"exit code {result.code}, expected {sorted(case.expect)}")
    if result.code in (2, 3) and not result.stderr.strip():
        problems.append(f"exit {result.code} with nothing said on stderr")
    if result.code in (2, 3) and len(result.stderr.strip().splitlines()) > 8:
        problems.append(f"exit {result.code} with {len(result.stderr.strip().splitlines())} lines on stderr "
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


# --------------------------------------------------------------------------- building datasets


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


_SIZE = [N_PATIENTS]  # the base cohort size of the case being built


def write_base(folder: Path, *, n: int | None = None, format: str = "csv") -> Path:
    """A tiny valid cohort (the first ``n`` patients of data/example) as the four exports in ``folder``.

    ``format="parquet"`` converts each file with pyarrow's CSV reader (types inferred).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for export, raw in _subset(n or _SIZE[0]).items():
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


# --------------------------------------------------------------------------- builders


def b_plain(tmp: Path) -> Env:
    return base_env(tmp)


def b_out_is_data(tmp: Path) -> Env:
    env = base_env(tmp)
    env.out = env.data
    return env


def b_out_inside_data(tmp: Path) -> Env:
    env = base_env(tmp)
    env.out = env.data / "sub"
    return env


def b_data_inside_out(tmp: Path) -> Env:
    outer = tmp / "outer"
    data = write_base(outer / "data")
    return Env(tmp=tmp, data=data, out=outer, inputs=[outer])


def b_out_symlink_to_data(tmp: Path) -> Env:
    env = base_env(tmp)
    link = tmp / "link"
    link.symlink_to(env.data, target_is_directory=True)
    env.out = link
    env.inputs.append(link)
    return env


def b_out_data_dotdot(tmp: Path) -> Env:
    """--out spelled as a path that resolves to the data folder through '..'."""
    env = base_env(tmp)
    (tmp / "elsewhere").mkdir()
    env.out = tmp / "elsewhere" / ".." / "data"
    return env


def b_out_foreign(tmp: Path) -> Env:
    env = base_env(tmp)
    env.out.mkdir()
    (env.out / "my_notes.txt").write_text("not written by outcomes\n")
    env.info["foreign"] = (env.out / "my_notes.txt").read_bytes()
    return env


def _check_foreign_kept(res: Result, env: Env) -> None:
    kept = [p for p in env.tmp.rglob("my_notes.txt") if p.read_bytes() == env.info["foreign"]]
    assert kept, "--force deleted a file the tool did not write (my_notes.txt is gone)"


def _previous_run(command: str, extra: Sequence[str] = ()) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        first = _in_process([command, str(env.data), "--out", str(env.out), *extra])
        assert first.code in (0, 1) and not first.crash, f"first run failed: {first.head()}"
        env.info["first"] = sorted(str(p.relative_to(env.out)) for p in env.out.rglob("*"))
        return env
    return build


def _prev_then(mutate: Callable[[Env], None]) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = _previous_run("validate")(tmp)
        mutate(env)
        return env
    return build


def _name_is_folder(env: Env) -> None:
    target = env.out / "validation.json"
    target.unlink()
    target.mkdir()
    (target / "keep.txt").write_text("x")


def _name_is_symlink_out(env: Env) -> None:
    outside = env.tmp / "outside.txt"
    outside.write_text("precious, outside the output folder\n")
    (env.out / "patients.csv").unlink()
    (env.out / "patients.csv").symlink_to(outside)
    env.inputs.append(outside)


def b_long_out(length: int) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        env.out = tmp / ("o" * length)
        return env
    return build


def b_simulate_over_exports(tmp: Path) -> Env:
    env = base_env(tmp)
    env.out = env.data
    return env


def b_quoted_newline(terminator: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> None:
            i = h.index("note")
            b[4][i] = "first line\nsecond line"
            b[9][i] = "tight,\r\nthen \"better\"\n\nafter a blank line"
        edit(env.data, "sessions", fn, terminator=terminator)
        raw = (env.data / "sessions.csv").read_bytes()
        env.info["physical_lines"] = raw.count(b"\n")
        env.info["records"] = csv_record_count(env.data / "sessions.csv")
        assert env.info["records"] < env.info["physical_lines"] - 1
        return env
    return build


def _check_sessions_all_accepted(res: Result, env: Env) -> None:
    s = validate_records(res)["sessions"]
    assert s["quarantined"] == 0 and s["status"] != "rejected", (
        f"sessions: {s['quarantined']} quarantined, status {s['status']}; first errors {s['errors'][:2]}")


def b_unclosed_quote(tmp: Path) -> Env:
    env = base_env(tmp)
    path = env.data / "sessions.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    line = len(lines) - 30  # 1-based line number of the broken record, ~29 records before the end
    assert lines[line - 1].endswith(",")  # empty note: the quote opens the last field
    lines[line - 1] += '"felt a pull behind the knee'
    path.write_text("\n".join(lines), encoding="utf-8", newline="")
    env.info["line"] = line
    return env


def _mentions_line(rec: dict[str, Any], line: int) -> bool:
    text = json.dumps(rec)
    if re.search(rf"\bline {line}\b", text):
        return True
    rej = rec.get("rejection") or {}
    return rej.get("line") == line or any(e.get("line") == line for e in rec.get("errors", []))


def _check_unclosed_quote(res: Result, env: Env) -> None:
    s = validate_records(res)["sessions"]
    text = json.dumps(s).lower()
    assert "quote" in text, f"sessions record does not speak of a quote: {text[:300]}"
    assert _mentions_line(s, env.info["line"]), f"the quote's line {env.info['line']} is not named"


def b_blank_rows(tmp: Path) -> Env:
    env = base_env(tmp)
    path = env.data / "sessions.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    ncol = lines[0].count(",")
    lines.insert(10, "")
    lines.insert(20, "," * ncol)
    lines.insert(30, " " + "," * ncol)
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8", newline="")
    return env


def b_cell(export: str, edits: Sequence[tuple[int, str, str]], *, key: str = "lines") -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        env.info[key] = [set_cell(env.data, export, r, c, v) for r, c, v in edits]
        env.info["export"] = export
        env.info["columns"] = [c for _, c, _ in edits]
        return env
    return build


def _check_quarantined_lines(res: Result, env: Env) -> None:
    rec = validate_records(res)[env.info["export"]]
    got = {(e["line"], e["column"]) for e in rec["errors"]}
    for line, col in zip(env.info["lines"], env.info["columns"]):
        assert (line, col) in got, (f"{env.info['export']} line {line} ({col}) is not quarantined; errors "
                                    f"{rec['errors'][:4]}")
    avoid = env.info.get("not_reason")
    if avoid:
        wrong = [e for e in rec["errors"] if e["line"] in env.info["lines"] and avoid in e["reason"].lower()]
        assert not wrong, f"quarantined for the wrong reason (the date was completed first): {wrong[:2]}"


def b_partial(export: str) -> Callable[[Path], Env]:
    """A year-only and a year-month date; the year-month one would be a valid date if completed to the 1st."""
    column = {"assessments": "assessed_on", "sessions": "performed_at"}[export]

    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        ph, pb = read_csv_rows(env.data / "patients.csv")
        enrolled = {r[ph.index("patient_id")]: r[ph.index("enrolled_on")] for r in pb}
        h, b = read_csv_rows(env.data / f"{export}.csv")
        pid, col = h.index("patient_id"), h.index(column)
        taken = {(r[pid], r[col][:10]) for r in b}
        month_row = next(i for i, r in enumerate(b) if i > 3 and r[col][8:10] > "01"
                         and enrolled[r[pid]] <= r[col][:8] + "01" and (r[pid], r[col][:8] + "01") not in taken)
        b[month_row][col] = b[month_row][col][:7]
        b[2][col] = b[2][col][:4]
        write_csv_rows(env.data / f"{export}.csv", h, b)
        env.info.update(export=export, lines=[4, month_row + 2], columns=[column, column], not_reason="enrol")
        return env
    return build


def b_far_date(export: str, column: str, value: str) -> Callable[[Path], Env]:
    """One implausible date for a patient never discharged, so no discharge window catches it first."""
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        h, b = read_csv_rows(env.data / f"{export}.csv")
        row = min(40, len(b) - 1) if export == "sessions" else 3
        pid = b[row][h.index("patient_id")]
        b[row][h.index(column)] = value
        write_csv_rows(env.data / f"{export}.csv", h, b)

        def undischarge(ph: list[str], pb: list[list[str]]) -> None:
            for r in pb:
                if r[ph.index("patient_id")] == pid:
                    r[ph.index("discharged_on")] = r[ph.index("discharge_reason")] = ""
        edit(env.data, "patients", undischarge)
        env.info.update(export=export, lines=[row + 2], columns=[column])
        return env
    return build


def _check_audit_not_2199(res: Result, env: Env) -> None:
    doc = json.loads((env.out / "kpis.json").read_text(encoding="utf-8"))
    assert not str(doc.get("as_of", "")).startswith("2199"), f"the audit is 'as of' {doc.get('as_of')}"
    html = (env.out / "audit.html").read_text(encoding="utf-8")
    assert not re.search(r"as of\W+2199", html), "audit.html says 'as of 2199'"


def b_tz(kind: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> None:
            i = h.index("performed_at")
            if kind == "all_z":
                for r in b:
                    r[i] += "Z"
                return
            done = 0
            for r in b:
                hour = int(r[i][11:13])
                if 6 <= hour <= 18:
                    r[i] += ("+01:00", "Z", "-05:00", "+00:00")[done % 4]
                    done += 1
                if done == 8:
                    break
        edit(env.data, "sessions", fn)
        return env
    return build


def b_header_only(export: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        header_only(env.data, export)
        return env
    return build


def b_all_patients_quarantined(tmp: Path) -> Env:
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> None:
        for r in b:
            r[h.index("schedule")] = ""
    edit(env.data, "patients", fn)
    return env


def b_parquet_list(where: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        import pyarrow as pa
        import pyarrow.parquet as pq

        env = base_env(tmp, format="parquet")
        export, column = ("sessions", "tags") if where == "extra" else ("assessments", "patient_id")
        path = env.data / f"{export}.parquet"
        table = pq.read_table(path)
        values = pa.array([["a", "b"] if i % 3 else [] for i in range(table.num_rows)], pa.list_(pa.string()))
        if column in table.column_names:
            table = table.set_column(table.column_names.index(column), column, values)
        else:
            table = table.append_column(column, values)
        pq.write_table(table, path)
        return env
    return build


def b_chmod000(tmp: Path) -> Env:
    env = base_env(tmp)
    os.chmod(env.data / "sessions.csv", 0)
    return env


def _root() -> str | None:
    return ("tests run as root: chmod 000 does not stop root from reading"
            if hasattr(os, "geteuid") and os.geteuid() == 0 else None)


def b_sessions_special(kind: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        p = env.data / "sessions.csv"
        p.unlink()
        if kind == "folder":
            p.mkdir()
            (p / "x.csv").write_text("a\n1\n")
        elif kind == "fifo":
            os.mkfifo(p)
        elif kind == "dangling":
            p.symlink_to(tmp / "nowhere.csv")
        elif kind == "link_to_dev":
            p.symlink_to("/dev/zero")
        return env
    return build


def _check_not_called_absent(res: Result, env: Env) -> None:
    text = (res.stdout + res.stderr).lower()
    assert "sessions" in text, "the message does not name sessions.csv"
    assert "not supplied" not in text, "sessions.csv exists but is reported as not supplied (optional)"


def b_map(content: bytes | str | None, *, folder: bool = False) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        (tmp / "maps").mkdir()
        path = tmp / "maps" / "map.json"  # not beside --out: that is a case of its own
        if folder:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content or "", encoding="utf-8")
        env.vars["map"] = str(path)
        env.inputs.append(path)
        return env
    return build


def b_plan(content: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        (tmp / "plans").mkdir()
        path = tmp / "plans" / "plan.toml"  # not beside --out: that is a case of its own
        path.write_text(content, encoding="utf-8")
        env.vars["plan"] = str(path)
        env.inputs.append(path)
        return env
    return build


def _many_responders(n: int) -> str:
    blocks = "".join(f'[[responders]]\nname = "r{i}"\noutcome = "leg_pain"\nchange_at_most = -{1 + i % 5}\n\n'
                     for i in range(n))
    return 'outcome = "leg_pain"\nendpoint_week = 6\n\n' + blocks


def b_many_bad_rows(tmp: Path) -> Env:
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> None:
        for r in b[:12]:
            r[h.index("pain_after")] = "14"
    edit(env.data, "sessions", fn)
    return env


def _check_max_errors(n: int) -> Callable[[Result, Env], None]:
    def check(res: Result, env: Env) -> None:
        s = validate_records(res)["sessions"]
        assert s["errors_total"] >= 12, s["errors_total"]
        assert len(s["errors"]) == n, f"--max-errors {n} listed {len(s['errors'])} errors"
        assert s["errors_truncated"] is True
    return check


def b_formula_header(tmp: Path) -> Env:
    env = base_env(tmp)

    def add(col: str, value: str) -> Callable[[list[str], list[list[str]]], Any]:
        def fn(h: list[str], b: list[list[str]]) -> Any:
            return h + [col], [r + [value] for r in b]
        return fn
    edit(env.data, "sessions", add(FORMULA_HEADER, "x"))
    edit(env.data, "patients", add("@SUM(1)", "-y"))
    edit(env.data, "assessments", add("+extra", "=1"))
    return env


def b_formula_cells(tmp: Path) -> Env:
    env = base_env(tmp)

    def notes(h: list[str], b: list[list[str]]) -> None:
        for k, payload in enumerate(FORMULA_CELLS):
            b[3 * k][h.index("note")] = payload
            b[3 * k + 1][h.index("exercise")] = payload

    def patients(h: list[str], b: list[list[str]]) -> None:
        for k, payload in enumerate(FORMULA_CELLS):
            b[k][h.index("diagnosis")] = payload
        b[len(FORMULA_CELLS)][h.index("discharge_reason")] = "=cmd|' /C calc'!A0"

    def prescriptions(h: list[str], b: list[list[str]]) -> None:
        for k, payload in enumerate(FORMULA_CELLS):
            b[k][h.index("exercise")] = payload
    edit(env.data, "sessions", notes)
    edit(env.data, "patients", patients)
    edit(env.data, "prescriptions", prescriptions)
    return env


def b_codes(tmp: Path) -> Env:
    """Patient, site and clinician codes starting with '-' (valid) and '=' '@' (invalid)."""
    env = base_env(tmp)
    ids = patient_ids(env.data)
    rename_ids(env.data, {ids[0]: "-rf", ids[1]: "-P02", ids[2]: "=cmd", ids[3]: "@x", ids[4]: "--help"})

    def fn(h: list[str], b: list[list[str]]) -> None:
        for r in b:
            r[h.index("site_id")] = "-" + r[h.index("site_id")]
            r[h.index("clinician_id")] = "-" + r[h.index("clinician_id")]
    edit(env.data, "patients", fn)
    env.info["ids"] = ["-rf", "-P02", "--help"]
    return env


def b_arms_formula(tmp: Path) -> Env:
    """Arm (schedule) codes starting with '-': valid codes, and they head columns in several tables."""
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> None:
        i = h.index("schedule")
        for r in b:
            r[i] = {"weekly": "-weekly", "guided": "-guided"}.get(r[i], r[i])
    edit(env.data, "patients", fn)
    return env


def _check_patient_report(pid: str) -> Callable[[Result, Env], None]:
    def check(res: Result, env: Env) -> None:
        found = [p for p in env.out.rglob("*") if p.is_file() and pid in p.name]
        assert found, f"no report file for patient {pid!r} in {sorted(x.name for x in env.out.rglob('*'))[:8]}"
    return check


def b_scripts(tmp: Path) -> Env:
    env = base_env(tmp)

    def sessions(h: list[str], b: list[list[str]]) -> Any:
        b[2][h.index("note")] = PAYLOAD_SCRIPT
        b[5][h.index("note")] = PAYLOAD_IMG
        b[7][h.index("exercise")] = PAYLOAD_SCRIPT
        return h + [PAYLOAD_SCRIPT], [r + ["y"] for r in b]

    def patients(h: list[str], b: list[list[str]]) -> None:
        b[0][h.index("diagnosis")] = PAYLOAD_SCRIPT
        b[1][h.index("site_id")] = PAYLOAD_SCRIPT  # invalid code: quarantined, shown in validation.html
        b[2][h.index("discharge_reason")] = PAYLOAD_IMG
        b[3][h.index("schedule")] = PAYLOAD_IMG
    edit(env.data, "sessions", sessions)
    edit(env.data, "patients", patients)
    return env


def b_patient_index(tmp: Path) -> Env:
    env = base_env(tmp, n=8)
    ids = patient_ids(env.data)
    rename_ids(env.data, {ids[0]: "index", ids[1]: "INDEX"})
    env.info["n"] = 8
    return env


def _check_patient_index(res: Result, env: Env) -> None:
    html = [p for p in env.out.rglob("*.html")]
    pdf = [p for p in env.out.rglob("*.pdf")]
    assert len(pdf) == env.info["n"], f"{len(pdf)} PDFs for {env.info['n']} patients"
    assert len(html) == env.info["n"] + 1, (f"{len(html)} HTML files for {env.info['n']} patients + the index: "
                                            "a report was lost (to index.html?)")


def b_nul(tmp: Path) -> Env:
    env = base_env(tmp)
    path = env.data / "sessions.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    line = 31
    lines[line - 1] += "bad\x00byte"
    path.write_text("\n".join(lines), encoding="utf-8", newline="")
    env.info["line"] = line
    return env


def _check_nul(res: Result, env: Env) -> None:
    s = validate_records(res)["sessions"]
    assert _mentions_line(s, env.info["line"]), (f"the NUL byte's line {env.info['line']} is not named: "
                                                 f"{json.dumps(s.get('rejection'))[:300]}")
    if s["status"] != "rejected":
        assert s["accepted"] >= s["rows_read"] - 1, "one NUL byte quarantined more than its own row"


def b_utf16(tmp: Path) -> Env:
    env = base_env(tmp)
    p = env.data / "sessions.csv"
    p.write_bytes(p.read_text(encoding="utf-8").encode("utf-16"))
    return env


def _check_utf16(res: Result, env: Env) -> None:
    s = validate_records(res)["sessions"]
    if s["status"] == "rejected":
        assert "utf-16" in json.dumps(s).lower(), f"UTF-16 file rejected without naming UTF-16: {s['rejection']}"
    else:
        assert s["accepted"] == csv_record_count(env.data / "sessions.csv"), (
            f"UTF-16 sessions read but only {s['accepted']} rows accepted")


def _csv_to_xlsx(csv_path: Path, xlsx_path: Path, formula: tuple[int, str, str] | None = None) -> int | None:
    import openpyxl

    header, body = read_csv_rows(csv_path)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = csv_path.stem
    ws.append(header)
    for r in body:
        ws.append([int(v) if v.isdigit() else (v if v != "" else None) for v in r])
    line = None
    if formula is not None:
        row, col, text = formula
        ws.cell(row=row + 2, column=header.index(col) + 1).value = text  # openpyxl stores no cached value
        line = row + 2
    wb.save(xlsx_path)
    csv_path.unlink()
    return line


def b_xlsx_formula(tmp: Path) -> Env:
    env = base_env(tmp)
    env.info["line"] = _csv_to_xlsx(env.data / "patients.csv", env.data / "patients.xlsx", (2, "age_years", "=40+1"))
    return env


def _check_xlsx_formula(res: Result, env: Env) -> None:
    p = validate_records(res)["patients"]
    assert "formula" in json.dumps(p).lower(), ("an xlsx formula cell without a cached value is not mentioned "
                                                "(silently read as blank?)")


def b_xlsx_wide(tmp: Path) -> Env:
    import openpyxl

    env = base_env(tmp)
    header, body = read_csv_rows(env.data / "patients.csv")
    extra = [f"c{i}" for i in range(10_000 - len(header))]
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("patients")
    ws.append(header + extra)
    for r in body:
        ws.append(r + [1] * len(extra))
    wb.save(env.data / "patients.xlsx")
    (env.data / "patients.csv").unlink()
    return env


def _check_mentions(*words: str) -> Callable[[Result, Env], None]:
    def check(res: Result, env: Env) -> None:
        text = (res.stdout + res.stderr).lower()
        missing = [w for w in words if w.lower() not in text]
        assert not missing, f"output does not mention {missing}: {res.stderr.strip()[:300] or res.stdout[:300]}"
    return check


def _check_stderr_mentions(*words: str) -> Callable[[Result, Env], None]:
    def check(res: Result, env: Env) -> None:
        text = res.stderr.lower()
        missing = [w for w in words if w.lower() not in text]
        assert not missing, f"stderr does not mention {missing}: {res.stderr.strip()[:300]}"
    return check


def b_privacy(tmp: Path) -> Env:
    env = base_env(tmp)
    ids = patient_ids(env.data)
    rename_ids(env.data, {pid: f"hxq{pid[1:]}" for pid in ids})
    set_cell(env.data, "patients", 3, "age_years", "7373")
    set_cell(env.data, "assessments", 5, "leg_pain", "9191")
    set_cell(env.data, "sessions", 8, "pain_after", "8383")
    return env


_COUNT_KEYS = {"quarantined", "blank_skipped", "count", "n", "numerator", "events", "rows", "patients_affected"}


def _small_counts(doc: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in _COUNT_KEYS and isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10:
                found.append(f"{path}/{k}={v}")
            found += _small_counts(v, f"{path}/{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += _small_counts(v, f"{path}[{i}]")
    return found


def _check_privacy(res: Result, env: Env) -> None:
    texts = {}
    for p in env.out.rglob("*"):
        if p.suffix in (".json", ".html", ".csv"):
            texts[p.name] = p.read_text(encoding="utf-8", errors="replace")
        elif p.suffix == ".xlsx":
            import openpyxl
            wb = openpyxl.load_workbook(p, read_only=True)
            texts[p.name] = "\n".join(str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                                      for c in row if c is not None)
            wb.close()
    leaks = [f"{name}: {m.group(0)}" for name, t in texts.items()
             for m in re.finditer(r"hxq\d+|\b(7373|9191|8383)\b", t)]
    assert not leaks, f"the audit quotes identifiers or raw values: {leaks[:5]}"
    small = _small_counts(json.loads(texts["kpis.json"])) if "kpis.json" in texts else []
    assert not small, f"kpis.json shows counts between 1 and 10: {small[:5]}"
    m = re.search(r"\b([1-9]|10) patient\(s\)", texts.get("audit.html", ""))
    assert not m, f"audit.html shows a small count: {m.group(0)!r}"


# --------------------------------------------------------------------------- the matrix


def _c(name: str, item: str, build: Callable[[Path], Env], argv: Sequence[str], expect: Iterable[int],
       check: Callable[[Result, Env], None] | None = None, **kw: Any) -> Case:
    return Case(name, item, build, tuple(argv), frozenset(expect), check, **kw)


V = ("validate", "{data}", "--format", "json")
VO = ("validate", "{data}", "--out", "{out}", "--format", "json")
A = ("audit", "{data}", "--out", "{out}")
C = ("compare", "{data}", "--out", "{out}")
P = ("patients", "{data}", "--out", "{out}", "--jobs", "1")
CMDS = {"validate": VO, "audit": A, "compare": C, "patients": P}
DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_TOML = "x = " + "[" * 50_000 + "]" * 50_000 + "\n"
GB = 1 << 30
PATIENTS_RUN = 10  # cohort size for `patients` runs (each report costs ~0.2 s)


def _all(name: str, item: str, build: Callable[[Path], Env], expect: Iterable[int], commands: Iterable[str],
         overrides: dict[str, Iterable[int]] | None = None, **kw: Any) -> list[Case]:
    overrides = {k: frozenset(v) for k, v in (overrides or {}).items()}
    expect = frozenset(expect)
    return [_c(f"{name}-{cmd}", item, build, CMDS[cmd], overrides.get(cmd, expect), slow=cmd != "validate",
               patients=PATIENTS_RUN if cmd == "patients" else N_PATIENTS, **kw) for cmd in commands]


def _cases() -> list[Case]:
    cases: list[Case] = [
        # 0. the clean cohort: every generic check must pass here, or the matrix is broken
        *_all("clean", "baseline", b_plain, {0}, ("validate", "audit", "compare", "patients")),

        # 1. inputs are untouchable
        _c("out-is-data", "1", b_out_is_data, VO, {2}, _check_stderr_mentions("input")),
        _c("out-is-data-force", "1", b_out_is_data, VO + ("--force",), {2}),
        _c("out-inside-data", "1", b_out_inside_data, VO, {2}, _check_stderr_mentions("input")),
        _c("out-holds-data", "1", b_data_inside_out, VO, {2}),
        _c("out-holds-data-audit", "1", b_data_inside_out, A, {2}, slow=True),
        _c("out-symlink-to-data", "1", b_out_symlink_to_data, VO, {2}),
        _c("out-dotdot-to-data", "1", b_out_data_dotdot, VO, {2}),
        _c("out-is-data-patients", "1", b_out_is_data, P, {2}, patients=PATIENTS_RUN),
        _c("simulate-over-exports", "1", b_simulate_over_exports,
           ("simulate", "--patients", "5", "--out", "{out}"), {2}),
        _c("out-foreign-files", "1", b_out_foreign, VO, {2}),
        _c("out-foreign-files-force", "1", b_out_foreign, VO + ("--force",), {0}, _check_foreign_kept),
        _c("rerun-into-own-output", "1", _previous_run("validate"), VO, {0}),
        _c("rerun-into-own-output-audit", "1", _previous_run("audit"), A, {0}, slow=True),

        # 2. every record counted
        _c("quoted-newline-note", "2", b_quoted_newline("\n"), VO, {0}, _check_sessions_all_accepted),
        _c("quoted-newline-note-crlf", "2", b_quoted_newline("\r\n"), VO, {0}, _check_sessions_all_accepted),
        _c("unclosed-quote", "2", b_unclosed_quote, VO, {1}, _check_unclosed_quote),
        _c("blank-rows", "2", b_blank_rows, VO, {0, 1}),

        # 3. plausible dates
        _c("session-2199", "3", b_far_date("sessions", "performed_at", "2199-01-01T10:00"), VO, {1},
           _check_quarantined_lines),
        _c("session-2199-audit", "3", b_far_date("sessions", "performed_at", "2199-01-01T10:00"), A, {1},
           _check_audit_not_2199, slow=True),
        _c("session-2199-patients", "3", b_far_date("sessions", "performed_at", "2199-01-01T10:00"), P, {1},
           subprocess=True, timeout=30, slow=True, patients=PATIENTS_RUN),
        _c("assessment-2199", "3", b_far_date("assessments", "assessed_on", "2199-01-01"), VO, {1},
           _check_quarantined_lines),
        _c("enrolment-0001", "3", b_cell("patients", [(3, "enrolled_on", "0001-01-01")]), VO, {1},
           _check_quarantined_lines),
        _c("enrolment-0001-audit", "3", b_cell("patients", [(3, "enrolled_on", "0001-01-01")]), A, {1},
           subprocess=True, timeout=30, slow=True),
        _c("enrolment-0001-patients", "3", b_cell("patients", [(3, "enrolled_on", "0001-01-01")]), P, {1},
           subprocess=True, timeout=30, slow=True, patients=PATIENTS_RUN),
        _c("partial-dates", "3", b_partial("assessments"), VO, {1}, _check_quarantined_lines),
        _c("partial-dates-sessions", "3", b_partial("sessions"), VO, {1}, _check_quarantined_lines),

        # 4. time zones
        # the clinic zone is given: the machine's own zone could move a morning session before enrolment
        _c("timestamps-with-offsets", "4", b_tz("some"), VO + ("--timezone", "UTC"), {0},
           _check_sessions_all_accepted),
        _c("timestamps-all-z", "4", b_tz("all_z"), VO + ("--timezone", "UTC"), {0}, _check_sessions_all_accepted),

        # 5. no tracebacks
        _c("age-1e20", "5", b_cell("patients", [(0, "age_years", "1e20"), (1, "age_years", "9223372036854775808"),
                                                (2, "age_years", "-9223372036854775809")]), VO, {1},
           _check_quarantined_lines),
        *_all("header-only-patients", "5", b_header_only("patients"), {1},
              ("validate", "audit", "compare", "patients")),
        *_all("all-patients-quarantined", "5", b_all_patients_quarantined, {1},
              ("validate", "audit", "compare", "patients")),
        *_all("header-only-assessments", "5", b_header_only("assessments"), {0, 1},
              ("validate", "audit", "compare", "patients"), overrides={"compare": {1}}),
        _c("parquet-list-column-extra", "5", b_parquet_list("extra"), VO, {0, 1}),
        _c("parquet-list-column-extra-audit", "5", b_parquet_list("extra"), A, {0, 1}, slow=True),
        _c("parquet-list-column-patient-id", "5", b_parquet_list("patient_id"), VO, {1}),
        _c("unreadable-file-chmod-000", "5", b_chmod000, VO, {1}, _check_mentions("sessions"), skip=_root),
        _c("sessions-dangling-symlink", "5", b_sessions_special("dangling"), VO, {1, 2}, _check_not_called_absent),
        _c("sessions-is-a-folder", "8", b_sessions_special("folder"), VO, {1, 2}, _check_not_called_absent),
        _c("sessions-is-a-fifo", "8", b_sessions_special("fifo"), VO, {1, 2}, _check_not_called_absent,
           subprocess=True, timeout=60),
        _c("sessions-links-to-dev-zero", "8", b_sessions_special("link_to_dev"), VO, {1, 2},
           _check_not_called_absent, subprocess=True, timeout=30, limit_as=2 * GB),
        _c("columns-map-list", "5", b_map('["patient_id", "x"]'), V + ("--columns", "{map}"), {2}),
        _c("columns-map-folder", "5", b_map(None, folder=True), V + ("--columns", "{map}"), {2}),
        _c("columns-map-values-malformed", "5", b_map('{"values": {"patients": "x"}}'),
           V + ("--columns", "{map}"), {2}),
        _c("columns-map-100k-deep", "5", b_map(DEEP_JSON), V + ("--columns", "{map}"), {2}),
        _c("columns-map-not-utf8", "5", b_map(b"\xff\xfe{\x00\x81"), V + ("--columns", "{map}"), {2}),
        _c("columns-map-dev-zero", "5", b_plain, V + ("--columns", "/dev/zero"), {2},
           subprocess=True, timeout=30, limit_as=2 * GB),
        _c("plan-50k-deep", "5", b_plan(DEEP_TOML), C + ("--plan", "{plan}"), {2}),
        _c("plan-check-50k-deep", "5", b_plan(DEEP_TOML), ("plan", "--check", "{plan}"), {2}),
        _c("plan-10000-responders", "8", b_plan(_many_responders(10_000)), C + ("--plan", "{plan}"), {2},
           subprocess=True, timeout=20, slow=True),
        _c("grace-days-huge", "5", b_plain, V + ("--grace-days", "99999999999999999999"), {2}),
        _c("simulate-1e11-patients", "5", b_plain,
           ("simulate", "--patients", "100000000000", "--out", "{tmp}/sim"), {2, 3},
           subprocess=True, timeout=60, limit_as=4 * GB),
        _c("stdout-to-full-device", "5", b_plain, V, {3},
           subprocess=True, stdout_to="/dev/full", timeout=60),
        _c("stdout-text-to-full-device", "5", b_plain, ("validate", "{data}"), {3},
           subprocess=True, stdout_to="/dev/full", timeout=60),
        _c("out-name-is-a-folder", "5", _prev_then(_name_is_folder), VO, {0, 2, 3}),
        _c("out-name-symlink-out-of-folder", "5", _prev_then(_name_is_symlink_out), VO, {0, 2, 3}),
        _c("out-component-300-chars", "5", b_long_out(300), VO, {2, 3}),
        _c("out-component-255-chars", "5", b_long_out(255), VO, {0, 2, 3}),
        _c("out-under-a-file", "5", b_plain, VO[:3] + ("{data}/patients.csv/sub",) + VO[4:], {2, 3}),
        _c("out-under-dev-null", "5", b_devices, VO[:3] + ("{null}/x",) + VO[4:], {2, 3}, skip=_cannot_mknod),
        _c("out-is-dev-null", "1", b_devices, VO[:3] + ("{null}",) + VO[4:], {2}, skip=_cannot_mknod),

        # 6. whole output sets: tests/test_outputs_atomic.py

        # 7. privacy in aggregate outputs
        _c("audit-privacy", "7", b_privacy, A + ("--format", "json"), {1}, _check_privacy, slow=True),

        # 8. injection, names, limits (validate per case; the reports once on every injection together)
        _c("formula-header", "8", b_formula_header, VO, {0, 1}),
        _c("formula-cells", "8", b_formula_cells, VO, {0, 1}),
        _c("codes-starting-with-dash", "8", b_codes, VO, {1}),
        _c("arm-names-formula-like", "8", b_arms_formula, VO, {0, 1}),
        _c("script-payloads", "8", b_scripts, VO, {1}),
        *_all("all-injections", "8", compose(b_codes, b_formula_header, b_formula_cells, b_arms_formula, b_scripts),
              {1}, ("audit", "compare", "patients")),
        _c("all-injections-export-adam", "8",
           compose(b_codes, b_formula_header, b_formula_cells, b_arms_formula, b_scripts),
           ("export", "adam", "{data}", "--out", "{out}"), {0, 1}, slow=True),
        _c("all-injections-describe", "8",
           compose(b_codes, b_formula_header, b_formula_cells, b_arms_formula, b_scripts),
           ("describe", "{data}", "--write", "{tmp}/desc.toml"), {0, 1, 2}),
        _c("patients-option-dash-id", "8", b_codes, P + ("--patient", "-rf"), {1}, _check_patient_report("-rf"),
           slow=True, patients=PATIENTS_RUN),
        _c("patients-option-dash-id-equals", "8", b_codes, P + ("--patient=-rf",), {1},
           _check_patient_report("-rf"), slow=True, patients=PATIENTS_RUN),
        _c("patient-called-index", "8", b_patient_index, P, {0}, _check_patient_index, slow=True),
        _c("nul-byte", "8", b_nul, VO, {1}, _check_nul),
        _c("utf16-file", "8", b_utf16, VO, {0, 1}, _check_utf16),
        _c("xlsx-formula-without-cached-value", "8", b_xlsx_formula, VO, {0, 1}, _check_xlsx_formula),
        _c("max-errors-negative", "8", b_many_bad_rows, V + ("--max-errors", "-5"), {2}),
        _c("max-errors-3", "8", b_many_bad_rows, V + ("--max-errors", "3"), {1}, _check_max_errors(3)),
        _c("xlsx-10000-columns", "8", b_xlsx_wide, V, {1, 2}, _check_mentions("column"),
           subprocess=True, timeout=20, slow=True),
    ]
    cases += _batch2() + _batch3()
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return cases


# --------------------------------------------------------------------------- batch 2: beyond the issue's list


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


def _extra_columns(names: Sequence[str], bad_row: bool = True) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> Any:
            if bad_row:
                b[3][h.index("pain_after")] = "14"
            return h + list(names), [r + [f"v{i}" for i in range(len(names))] for r in b]
        edit(env.data, "sessions", fn)
        return env
    return build


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _too_many_fields(text: str) -> str:
    lines = _lines(text)
    lines[5] += ",x,y,z"
    lines[9] = ",".join(lines[9].split(",")[:5])
    return "\n".join(lines)


def _cp1252(text: str) -> bytes:
    lines = _lines(text)
    lines[6] = lines[6] + "caf\u00e9 na\u00efve"
    raw = "\n".join(lines).encode("cp1252")
    return raw.replace("na\u00efve".encode("cp1252"), b"na\x81ve", 1)


def _bom_middle(text: str) -> str:
    lines = _lines(text)
    lines[7] = lines[7] + "\ufeffnote"
    lines[8] = "\ufeff" + lines[8]
    return "\n".join(lines)


def _header_newline(text: str) -> str:
    lines = _lines(text)
    lines[0] = lines[0].replace("note", '"no\nte"')
    return "\n".join(lines)


def _unclosed_last(text: str) -> str:
    lines = [ln for ln in _lines(text) if ln]
    lines[-1] += '"never closed'
    return "\n".join(lines) + "\n"


def _huge_note(text: str) -> str:
    lines = _lines(text)
    lines[4] += "x" * (5 << 20)
    return "\n".join(lines)


def b_ids(mapping_fn: Callable[[list[str]], dict[str, str]], exports: Sequence[str] | None = None,
          n: int | None = None) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp, n=n)
        mapping = mapping_fn(patient_ids(env.data))
        if exports is None:
            rename_ids(env.data, mapping)
        else:
            for export in exports:
                def fn(h: list[str], b: list[list[str]]) -> None:
                    i = h.index("patient_id")
                    for r in b:
                        r[i] = mapping.get(r[i], r[i])
                edit(env.data, export, fn)
        return env
    return build


def _duplicate_patient(tmp: Path) -> Env:
    env = base_env(tmp)
    edit(env.data, "patients", lambda h, b: (h, b + [list(b[0])]))
    return env


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


def _offset_variants(prefix: str) -> list[str]:
    return [f"{prefix}T10:00+14:00", f"{prefix}T10:00-12:00", f"{prefix}T10:00+25:00", f"{prefix}T10:00+01",
            f"{prefix}T10:00:00.123456789Z", f"{prefix} 10:00 UTC", f"{prefix}T24:00", f"{prefix}T23:59:60",
            f"{prefix}T10:00+01:00[Europe/Paris]", f"{prefix}T10:00z"]


def b_session_dates(values_fn: Callable[[str], Sequence[str]]) -> Callable[[Path], Env]:
    """Replace performed_at of rows 3, 10, 17, ... by variants of the row's own date."""
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> None:
            i = h.index("performed_at")
            for k, v in enumerate(values_fn(b[3][i][:10])):
                b[3 + 7 * k][i] = v
        edit(env.data, "sessions", fn)
        return env
    return build


def b_dst(tmp: Path) -> Env:
    """Naive times inside the spring-forward gap and the autumn fold, beside offset timestamps."""
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> None:
        i = h.index("performed_at")
        for k, v in enumerate(["2025-03-30T01:30", "2025-10-26T01:30", "2025-03-30T01:30+01:00"]):
            b[5 + 3 * k][i] = v
        b[30][i] += "Z"
    edit(env.data, "sessions", fn)
    # move those sessions' patients' enrolment early enough and discharge late enough
    def keep(h: list[str], b: list[list[str]]) -> None:
        for r in b:
            r[h.index("enrolled_on")] = "2025-01-01"
            r[h.index("discharged_on")] = r[h.index("discharge_reason")] = ""
    edit(env.data, "patients", keep)
    return env


def _xlsx_from_rows(path: Path, sheet: str, header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> None:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    wb.save(path)


def b_xlsx_serials(tmp: Path) -> Env:
    """sessions.xlsx whose performed_at holds Excel serials out of any range."""
    env = base_env(tmp)
    h, b = read_csv_rows(env.data / "sessions.csv")
    i = h.index("performed_at")
    odd = [99999999, -5, 1e300, 2958466, 0, 60]
    rows = []
    for k, r in enumerate(b):
        r = [int(v) if v.isdigit() else (v or None) for v in r]
        if k % 50 == 7:
            r[i] = odd[(k // 50) % len(odd)]
        rows.append(r)
    _xlsx_from_rows(env.data / "sessions.xlsx", "sessions", h, rows)
    (env.data / "sessions.csv").unlink()
    return env


def b_xlsx_million_rows(tmp: Path) -> Env:
    """patients.xlsx of 1,000,000 one-cell rows (~150 KB zipped), written directly as XML."""
    import zipfile

    env = base_env(tmp)
    (env.data / "patients.csv").unlink()
    rows = "".join(f'<row r="{i}"><c r="A{i}"><v>1</v></c></row>' for i in range(2, 1_000_002))
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             '<row r="1"><c r="A1" t="inlineStr"><is><t>patient_id</t></is></c></row>' + rows
             + '</sheetData></worksheet>')
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="patients" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": sheet,
    }
    with zipfile.ZipFile(env.data / "patients.xlsx", "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return env


def b_bytes(export: str, suffix: str, raw: bytes) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        (env.data / f"{export}.csv").unlink()
        (env.data / f"{export}{suffix}").write_bytes(raw)
        return env
    return build


def b_parquet_edit(export: str, fn: Callable[[Any], Any]) -> Callable[[Path], Env]:
    """Parquet dataset with ``fn(table) -> table`` applied to one export."""
    def build(tmp: Path) -> Env:
        import pyarrow.parquet as pq

        env = base_env(tmp, format="parquet")
        path = env.data / f"{export}.parquet"
        pq.write_table(fn(pq.read_table(path)), path)
        return env
    return build


def _pq_set(column: str, array_fn: Callable[[int], Any]) -> Callable[[Any], Any]:
    def fn(table: Any) -> Any:
        i = table.column_names.index(column)
        return table.set_column(i, column, array_fn(table.num_rows))
    return fn


def _pq_year_3000(n: int) -> Any:
    import datetime as dt

    import pyarrow as pa

    base = dt.datetime(2025, 2, 1, 10, 0)
    values = [dt.datetime(3000, 1, 1) if i == 5 else base + dt.timedelta(hours=i) for i in range(n)]
    return pa.array(values, pa.timestamp("us"))


def _pq_uint64(n: int) -> Any:
    import pyarrow as pa

    return pa.array([2**64 - 1 if i == 2 else 40 for i in range(n)], pa.uint64())


def _pq_inf(n: int) -> Any:
    import pyarrow as pa

    return pa.array([float("inf") if i == 1 else float("nan") if i == 2 else -1e308 if i == 3 else 50.0
                     for i in range(n)], pa.float64())


def _pq_binary_note(n: int) -> Any:
    import pyarrow as pa

    return pa.array([b"\xff\xfe bad" if i % 9 == 0 else b"ok" for i in range(n)], pa.binary())


def _pq_struct(n: int) -> Any:
    import pyarrow as pa

    return pa.array([{"a": i, "b": "x"} for i in range(n)])


def _pq_decimal(n: int) -> Any:
    import decimal

    import pyarrow as pa

    return pa.array([decimal.Decimal("45.5") for _ in range(n)], pa.decimal128(10, 2))


def _pq_tz(table: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    i = table.column_names.index("performed_at")
    col = table.column(i)
    if not pa.types.is_timestamp(col.type):
        col = pc.strptime(col, format="%Y-%m-%dT%H:%M", unit="us")
    return table.set_column(i, "performed_at", col.cast(pa.timestamp("us", tz="UTC")))


def _pq_duplicate_column(table: Any) -> Any:
    return table.append_column("patient_id", table.column("patient_id"))


def b_both_formats(tmp: Path) -> Env:
    env = base_env(tmp)
    write_base(tmp / "pq", format="parquet")
    shutil.copy(tmp / "pq" / "patients.parquet", env.data / "patients.parquet")
    return env


def b_special(name: str, kind: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        p = env.data / name
        p.unlink(missing_ok=True)
        if kind == "loop":
            p.symlink_to(p.name)
        elif kind == "empty":
            p.write_bytes(b"")
        elif kind == "bom":
            p.write_bytes(codecs.BOM_UTF8)
        elif kind == "newlines":
            p.write_bytes(b"\n\n\n")
        elif kind == "folder":
            p.mkdir()
        elif kind == "fifo":
            os.mkfifo(p)
        return env
    return build


def b_toml(text: str | bytes | None, *, kind: str = "file", where: str = "data") -> Callable[[Path], Env]:
    """A dataset description: DATA/dataset.toml (where='data') or a --dataset file (where='option')."""
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        path = env.data / "dataset.toml" if where == "data" else tmp / "desc.toml"
        if kind == "folder":
            path.mkdir()
        elif kind == "fifo":
            os.mkfifo(path)
        elif isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text or "", encoding="utf-8")
        env.vars["desc"] = str(path)
        if where != "data":
            env.inputs.append(path)
        return env
    return build


def _cannot_mknod() -> str | None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        try:
            os.mknod(os.path.join(d, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except OSError:
            return "cannot create device nodes here (needs root): the device cases use private copies"
    return None


def b_devices(tmp: Path) -> Env:
    """Private copies of /dev/null and /dev/full in ``tmp`` ({null}, {full}), so a tool that replaces a
    device it was told to write to replaces these, not the machine's; they count as inputs."""
    env = base_env(tmp)
    for name, minor in (("null", 3), ("full", 7)):
        node = tmp / name
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
        env.vars[name] = str(node)
        env.inputs.append(node)
    return env


def b_demo_inside(tmp: Path) -> Env:
    env = base_env(tmp)
    env.out = env.data / "demo"
    return env


def b_write_target(name: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        env.vars["target"] = str(env.data / name)
        return env
    return build


def _check_line_quarantined(export: str, lines: Sequence[int]) -> Callable[[Result, Env], None]:
    def check(res: Result, env: Env) -> None:
        rec = validate_records(res)[export]
        got = {e["line"] for e in rec["errors"]}
        missing = [ln for ln in lines if ln not in got]
        assert not missing, f"{export} lines {missing} not quarantined; errors {rec['errors'][:3]}"
    return check


DEEP_TOML_DESC = "[source]\nlayout = " + "[" * 50_000 + "]" * 50_000 + "\n"


def _batch2() -> list[Case]:
    VA = ("validate", "{data}", "--format", "json")
    return [
        # CSV structure
        _c("extra-columns-named-like-quarantine-fields", "extra",
           _extra_columns(["line", "reason", "rule", "column", "value", "export"]), VO, {1}),
        _c("extra-columns-named-like-quarantine-fields-audit", "extra",
           _extra_columns(["line", "reason", "rule", "column", "value", "export"]), A, {1}, slow=True),
        _c("duplicate-header", "extra", b_raw("sessions", lambda t: t.replace(",note\n", ",note,note\n", 1)),
           VO, {0, 1}),
        _c("empty-and-blank-header-names", "extra", _extra_columns(["", "  ", "Unnamed: 3"], bad_row=False),
           VO, {0, 1}),
        _c("rows-with-too-many-and-too-few-fields", "2", b_raw("sessions", _too_many_fields), VO, {1},
           _check_line_quarantined("sessions", [6, 10])),
        _c("cr-only-line-endings", "2", b_raw("sessions", lambda t: t.replace("\n", "\r")), VO, {0, 1}),
        _c("mixed-line-endings", "2", b_raw("sessions", lambda t: "".join(
            ln + ("\r\n" if i % 2 else "\n") for i, ln in enumerate(t.rstrip("\n").split("\n")))), VO, {0}),
        _c("bare-cr-inside-unquoted-field", "2", b_raw("sessions", lambda t: "\n".join(
            ln + ("a\rb" if i in (5, 9) else "") for i, ln in enumerate(t.split("\n")))), VO, {0, 1}),
        _c("cp1252-with-undefined-byte", "8", b_raw("sessions", _cp1252), VO, {0, 1}),
        _c("bom-in-the-middle", "8", b_raw("sessions", _bom_middle), VO, {0, 1}),
        _c("quoted-newline-in-header", "2", b_raw("sessions", _header_newline), VO, {0, 1}),
        _c("unclosed-quote-on-last-line", "2", b_raw("sessions", _unclosed_last), VO, {1}),
        _c("five-mb-note", "8", b_raw("sessions", _huge_note), VO, {0, 1}, timeout=30),
        _c("sessions-empty-file", "5", b_special("sessions.csv", "empty"), VO, {0, 1}),
        _c("patients-empty-file", "5", b_special("patients.csv", "empty"), VO, {1}),
        _c("patients-only-bom", "5", b_special("patients.csv", "bom"), VO, {1}),
        _c("patients-only-newlines", "5", b_special("patients.csv", "newlines"), VO, {1}),
        _c("patients-empty-file-audit", "5", b_special("patients.csv", "empty"), A, {1}, slow=True),
        _c("sessions-symlink-loop", "8", b_special("sessions.csv", "loop"), VO, {1, 2}, _check_not_called_absent),
        _c("patients-is-a-folder", "8", b_special("patients.csv", "folder"), VO, {1, 2}),
        _c("patients-is-a-fifo", "8", b_special("patients.csv", "fifo"), VO, {1, 2}, subprocess=True, timeout=30),
        _c("patients-csv-and-parquet", "extra", b_both_formats, VO, {1, 2}),
        # identifiers
        _c("id-64-and-65-characters", "8", b_ids(lambda ids: {ids[0]: "A" * 64, ids[1]: "B" * 65}), VO, {1},
           _check_line_quarantined("patients", [3])),
        _c("id-64-characters-patients", "8", b_ids(lambda ids: {ids[0]: "A" * 64}, n=PATIENTS_RUN), P, {0, 1},
           _check_patient_report("A" * 64), slow=True, patients=PATIENTS_RUN),
        _c("id-trailing-space-in-sessions", "extra", b_ids(lambda ids: {ids[0]: ids[0] + " "}, ["sessions"]),
           VO, {0, 1}),
        _c("duplicate-patient-row", "extra", _duplicate_patient, VO, {1}),
        _c("patients-unknown-id", "8", b_plain, P + ("--patient", "NOPE"), {1, 2}, patients=PATIENTS_RUN),
        # dates and times
        _c("invalid-calendar-dates", "3", b_values("assessments", "assessed_on",
                                                   ["2025-02-29", "2025-13-01", "2025-00-10", "2025-04-31"]),
           VO, {1}, _check_line_quarantined("assessments", [5, 12, 19, 26])),
        _c("offset-and-time-variants", "4", b_session_dates(_offset_variants), VO, {0, 1}),
        _c("dst-gap-and-fold", "4", b_dst, VO + ("--timezone", "Europe/London"), {0, 1}),
        _c("timezone-bogus", "4", b_plain, VA + ("--timezone", "Mars/Olympus"), {2}),
        _c("timezone-path-traversal", "4", b_plain, VA + ("--timezone", "../../../../etc/passwd"), {2}),
        _c("latest-date-partial", "3", b_plain, VA + ("--latest-date", "2025"), {2}),
        _c("earliest-after-latest", "3", b_plain, VA + ("--earliest-date", "2026-01-01", "--latest-date", "2025-01-01"),
           {2}),
        _c("latest-date-9999-with-far-session", "3", b_far_date("sessions", "performed_at", "9000-01-01T10:00"),
           VO + ("--latest-date", "9999-12-31"), {0, 1}),
        _c("earliest-date-0001-with-ancient-enrolment", "3", b_far_date("patients", "enrolled_on", "0002-01-01"),
           VO + ("--earliest-date", "0001-01-01"), {0, 1}),
        _c("grace-days-max", "5", b_plain, VO + ("--grace-days", "36500"), {0}),
        _c("grace-days-over-max", "5", b_plain, VA + ("--grace-days", "36501"), {2}),
        # xlsx
        _c("xlsx-serials-out-of-range", "3", b_xlsx_serials, VO, {1}),
        _c("xlsx-million-rows", "8", b_xlsx_million_rows, VA, {1, 2}, subprocess=True, timeout=20,
           limit_as=4 * GB, slow=True),
        _c("xlsx-not-a-zip", "5", b_bytes("patients", ".xlsx", b"patient_id,enrolled_on\nP1,2025-01-01\n"), VO, {1}),
        _c("xlsx-empty-file", "5", b_bytes("patients", ".xlsx", b""), VO, {1}),
        _c("xlsx-truncated-zip", "5", b_bytes("patients", ".xlsx", b"PK\x03\x04" + b"\x00" * 40), VO, {1}),
        # parquet
        _c("parquet-garbage", "5", b_bytes("patients", ".parquet", b"PAR1" + os.urandom(200) + b"PAR1"), VO, {1}),
        _c("parquet-empty-file", "5", b_bytes("patients", ".parquet", b""), VO, {1}),
        _c("parquet-timestamp-year-3000", "3", b_parquet_edit("sessions", _pq_set("performed_at", _pq_year_3000)),
           VO, {1}),
        _c("parquet-age-uint64-max", "5", b_parquet_edit("patients", _pq_set("age_years", _pq_uint64)), VO, {1}),
        _c("parquet-age-inf-nan", "5", b_parquet_edit("patients", _pq_set("age_years", _pq_inf)), VO, {1}),
        _c("parquet-note-invalid-utf8-binary", "8", b_parquet_edit("sessions", _pq_set("note", _pq_binary_note)),
           VO, {0, 1}),
        _c("parquet-struct-column", "5", b_parquet_edit("sessions", _pq_set("note", _pq_struct)), VO, {0, 1}),
        _c("parquet-decimal-age", "5", b_parquet_edit("patients", _pq_set("age_years", _pq_decimal)), VO, {0, 1}),
        _c("parquet-tz-aware-timestamps", "4", b_parquet_edit("sessions", _pq_tz), VO, {0}),
        _c("parquet-duplicate-column-names", "5", b_parquet_edit("patients", _pq_duplicate_column), VO, {1, 2}),
        # paths and options
        _c("data-is-a-file", "5", b_plain, ("validate", "{data}/patients.csv"), {2}),
        _c("data-is-dev-null", "5", b_plain, ("validate", "/dev/null"), {2}),
        _c("data-empty-string", "5", b_plain, ("validate", ""), {1, 2}),  # reads the current folder, writes nothing
        _c("out-empty-string", "5", b_plain, ("validate", "{data}", "--out", ""), {2}, subprocess=True),
        _c("out-with-newline-in-name", "5", b_plain, ("validate", "{data}", "--out", "{tmp}/a\nb"), {0, 2}),
        _c("dataset-toml-50k-deep", "5", b_toml(DEEP_TOML_DESC), VA, {2}),
        _c("dataset-toml-binary", "5", b_toml(b"\x00\xff\xfe[[[\x81"), VA, {2}),
        _c("dataset-toml-is-a-folder", "5", b_toml(None, kind="folder"), VA, {1, 2}),
        _c("dataset-toml-file-is-dev-zero", "5", b_toml('[source]\nlayout = "long"\nfile = "/dev/zero"\n'), VA, {2},
           subprocess=True, timeout=30, limit_as=2 * GB),
        _c("dataset-toml-file-is-a-fifo", "5", b_toml(None, kind="fifo"), VA, {1, 2}, subprocess=True, timeout=30),
        _c("dataset-option-fifo", "5", b_toml(None, kind="fifo", where="option"), VA + ("--dataset", "{desc}"),
           {2}, subprocess=True, timeout=30),
        _c("export-adam-out-is-data", "1", b_plain, ("export", "adam", "{data}", "--out", "{data}"), {2}),
        _c("export-adam-out-inside-data", "1", b_plain, ("export", "adam", "{data}", "--out", "{data}/adam"), {2}),
        _c("demo-out-inside-data", "1", b_demo_inside, ("demo", "--data", "{data}", "--out", "{data}/demo"), {2},
           subprocess=True, timeout=60),
        _c("describe-write-over-an-export", "1", b_write_target("patients.csv"),
           ("describe", "{data}", "--write", "{target}", "--force"), {2}),
        _c("plan-write-over-an-export", "1", b_write_target("patients.csv"), ("plan", "--write", "{target}"), {2}),
        _c("plan-write-to-dev-full", "1", b_devices, ("plan", "--write", "{full}", "--force"), {2, 3},
           skip=_cannot_mknod),
        _c("plan-write-to-dev-null", "1", b_devices, ("plan", "--write", "{null}", "--force"), {2, 3},
           skip=_cannot_mknod),
        _c("describe-write-to-dev-full", "1", b_devices, ("describe", "{data}", "--write", "{full}", "--force"),
           {2, 3}, skip=_cannot_mknod),
        _c("simulate-out-is-dev-null", "1", b_devices, ("simulate", "--patients", "3", "--out", "{null}"), {2},
           skip=_cannot_mknod),
        _c("audit-out-is-dev-null", "1", b_devices, A[:3] + ("{null}",), {2}, skip=_cannot_mknod),
        _c("simulate-seed-huge", "5", b_plain, ("simulate", "--patients", "3", "--seed", "1" + "0" * 30, "--out",
                                                "{tmp}/sim"), {0, 2}),
        _c("simulate-out-is-a-file", "5", b_plain, ("simulate", "--patients", "3", "--out", "{data}/patients.csv"),
           {2}),
        _c("compare-endpoint-nan", "5", b_plain, C + ("--endpoint-week", "nan"), {2}),
        _c("compare-endpoint-inf", "5", b_plain, C + ("--endpoint-week", "inf"), {2}),
        _c("compare-reference-unknown", "5", b_plain, C + ("--reference", "NOPE"), {2}),
        _c("audit-min-cell-huge", "5", b_plain, A + ("--min-cell", "1" + "0" * 30), {0, 1, 2}, slow=True),
    ]


# --------------------------------------------------------------------------- batch 3: odd but valid data


def b_drop(*exports: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        for export in exports:
            (env.data / f"{export}.csv").unlink()
        return env
    return build


def b_one_arm(tmp: Path) -> Env:
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> None:
        for r in b:
            r[h.index("schedule")] = "weekly"
    edit(env.data, "patients", fn)
    return env


def b_drop_columns(export: str, columns: Sequence[str]) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> Any:
            keep = [i for i, c in enumerate(h) if c not in columns]
            return [h[i] for i in keep], [[r[i] for i in keep] for r in b]
        edit(env.data, export, fn)
        return env
    return build


def b_baseline_only(tmp: Path) -> Env:
    """Every patient has one assessment, on the enrolment day: no follow-up at all."""
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> Any:
        seen, out = set(), []
        for r in b:
            if r[h.index("patient_id")] not in seen:
                seen.add(r[h.index("patient_id")])
                out.append(r)
        return h, out
    edit(env.data, "assessments", fn)
    return env


def b_all_sessions_bad(tmp: Path) -> Env:
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> None:
        for r in b:
            r[h.index("level")] = "-1"
    edit(env.data, "sessions", fn)
    return env


NUMERIC_ODDITIES = ("1_000", "\u0663", "\uff11\uff12", "0x10", "inf", "1e20", "--3", "3-", "²")


def _check_not_accepted(export: str, column: str, values: Sequence[str]) -> Callable[[Result, Env], None]:
    """Each odd value must be quarantined (named in the errors) or at least not appear accepted as a number."""
    def check(res: Result, env: Env) -> None:
        rec = validate_records(res)[export]
        flagged = {e["value"] for e in rec["errors"] if e["column"] == column}
        missing = [v for v in values if v not in flagged]
        assert not missing, (f"{export}.{column} values {missing!r} were not quarantined "
                             f"(read as numbers?); flagged {sorted(flagged)!r}")
    return check


def _repeated_header(text: str) -> str:
    lines = _lines(text)
    lines.insert(50, lines[0])
    return "\n".join(lines)


def b_blank_column(export: str, column: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> None:
            for r in b:
                r[h.index(column)] = ""
        edit(env.data, export, fn)
        return env
    return build


def b_patients_column(column: str, value_fn: Callable[[int, str], str]) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> None:
            for k, r in enumerate(b):
                r[h.index(column)] = value_fn(k, r[h.index(column)])
        edit(env.data, "patients", fn)
        return env
    return build


PLAN_HEAD = 'outcome = "leg_pain"\nendpoint_week = 6\n'
PLAN_INJECTION = (PLAN_HEAD + '\n[[responders]]\nname = "=HYPERLINK(\\"http://x\\")"\noutcome = "leg_pain"\n'
                  'change_at_most = -2\n\n[[responders]]\nname = "<script>hx_pwn()</script>"\noutcome = "leg_pain"\n'
                  'change_at_most = -3\n\n[estimand]\npopulation = "<img src=x onerror=hx_pwn()>"\n'
                  'summary = "-cmd"\n')


def b_beside(kind: str) -> Callable[[Path], Env]:
    """A valid plan / column map / description in the folder that also holds DATA and --out (the usual
    project layout: run from the project folder with plan.toml beside data/ and reports/)."""
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        if kind == "plan":
            path = tmp / "plan.toml"
            path.write_text(PLAN_HEAD, encoding="utf-8")
        elif kind == "columns":
            path = tmp / "map.json"
            path.write_text('{"sessions": {"Pain after": "pain_after"}}', encoding="utf-8")
        else:
            path = tmp / "dataset.toml"
            path.write_text("[source]\nlayout = \"exports\"\n", encoding="utf-8")
        env.vars["file"] = str(path)
        env.inputs.append(path)
        return env
    return build


def _batch3() -> list[Case]:
    three = ("audit", "compare", "patients")
    return [
        *_all("single-patient", "extra", lambda tmp: base_env(tmp, n=1), {0, 1, 2}, three),
        _c("one-arm-compare", "extra", b_one_arm, C, {1, 2}, slow=True),
        *_all("assessments-only", "extra", b_drop("sessions", "prescriptions"), {0}, three),
        _c("no-prescriptions-audit", "extra", b_drop("prescriptions"), A, {0}, slow=True),
        *_all("no-leg-pain-column", "extra", b_drop_columns("assessments", ["leg_pain"]), {0, 1, 2},
              ("audit", "compare")),
        *_all("baseline-only", "extra", b_baseline_only, {0, 1}, ("audit", "compare"), overrides={"compare": {1}}),
        _c("all-sessions-quarantined-audit", "extra", b_all_sessions_bad, A, {1}, slow=True),
        *_all("leg-pain-all-blank", "extra", b_blank_column("assessments", "leg_pain"), {0, 1, 2},
              ("audit", "compare"), overrides={"compare": {1, 2}}),
        _c("every-patient-own-site-audit", "extra", b_patients_column("site_id", lambda k, v: f"S{k:03d}"), A,
           {0, 1}, slow=True),
        _c("arm-of-one-pairwise", "extra", b_patients_column(
            "schedule", lambda k, v: "solo" if k == 0 else v), C + ("--pairwise",), {0, 1}, slow=True),
        _c("arm-per-patient", "extra", b_patients_column("schedule", lambda k, v: f"arm{k}"), C, {1, 2},
           slow=True),
        _c("plan-file-beside-the-output-folder", "1", b_beside("plan"), C + ("--plan", "{file}"), {0, 1}, slow=True),
        _c("columns-map-beside-the-output-folder", "1", b_beside("columns"), VO + ("--columns", "{file}"), {0, 1}),
        _c("dataset-file-beside-the-output-folder", "1", b_beside("dataset"), VO + ("--dataset", "{file}"), {0, 1}),
        _c("plan-nan-window", "5", b_plan(PLAN_HEAD + "visit_window_days = nan\n"), C + ("--plan", "{plan}"), {2}),
        _c("plan-inf-endpoint", "5", b_plan('outcome = "leg_pain"\nendpoint_week = inf\n'), C + ("--plan", "{plan}"),
           {2}),
        _c("plan-nan-responder-rule", "5", b_plan(PLAN_HEAD + '\n[[responders]]\nname = "r"\noutcome = "leg_pain"\n'
                                                              'change_at_most = nan\n'), C + ("--plan", "{plan}"), {2}),
        _c("plan-100k-visits", "5", b_plan('outcome = "leg_pain"\nendpoint_week = 6\nvisits = ['
                                           + ", ".join(str(i) for i in range(100_000)) + "]\n"),
           C + ("--plan", "{plan}"), {2}, subprocess=True, timeout=30, slow=True),
        _c("plan-unknown-covariate", "5", b_plan(PLAN_HEAD + 'covariates = ["shoe_size"]\n'), C + ("--plan", "{plan}"),
           {1, 2}),
        _c("plan-injection-in-names", "8", b_plan(PLAN_INJECTION), C + ("--plan", "{plan}"), {0, 1, 2}, slow=True),
        _c("numeric-oddities", "extra", b_values("sessions", "level", NUMERIC_ODDITIES), VO, {1},
           _check_not_accepted("sessions", "level", NUMERIC_ODDITIES)),
        _c("boolean-spellings", "extra", b_values("sessions", "stopped_early",
                                                  ["TRUE", "yes", "1", "Y", "ja", "t", "2", "-1"]), VO, {0, 1}),
        _c("header-repeated-mid-file", "2", b_raw("sessions", _repeated_header), VO, {1},
           _check_line_quarantined("sessions", [51])),
        _c("tab-delimited-csv", "extra", b_raw("sessions", lambda t: t.replace(",", "\t")), VO, {0, 1}),
        _c("columns-map-two-to-one", "5", b_map('{"sessions": {"note": "exercise"}}'),
           VO + ("--columns", "{map}"), {1, 2}),
        _c("columns-map-swap-ids", "5", b_map('{"sessions": {"patient_id": "session_id", "session_id": "patient_id"}}'),
           VO + ("--columns", "{map}"), {0, 1, 2}),
    ]


CASES: list[Case] = _cases()


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a dataset folder (used by the benchmark to reuse one build)."""
    shutil.copytree(src, dst, symlinks=True)
