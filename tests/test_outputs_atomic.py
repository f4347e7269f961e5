"""Issue 16 item 6: an output folder holds one complete run, or is left as it was, or is marked incomplete.

- kill -9 at the first sign of writing and at random moments: ``--out DIR`` then holds the previous
  complete set (identical files) or the new complete set, never a mixture, and any folder the run
  left beside it is marked incomplete;
- a full disk (a small tmpfs) and a read-only output exit 3 with one message, no traceback, and the
  previous set is untouched;
- an address-space limit exits 3 with one message;
- two ``patients`` runs into one folder leave the second run's set only (no report of the first
  run linked or left behind).

The mount-based tests need root and tmpfs and are skipped otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile.core import run_in_process  # noqa: E402
from hostile.data import patient_ids, rename_ids, set_cell, write_base  # noqa: E402

try:  # the names the output-set code uses; the contract holds whatever they are
    from outcomes.files import INCOMPLETE_MARKER, MANIFEST
except ImportError:  # pragma: no cover - before the output-set swap exists
    INCOMPLETE_MARKER, MANIFEST = "INCOMPLETE.txt", "outcomes-run.json"

try:
    from outcomes.files import output_set

    AWAITING_SWAP = not callable(output_set)
except ImportError:  # pragma: no cover
    AWAITING_SWAP = True
xfail_swap = pytest.mark.xfail(AWAITING_SWAP, strict=False, reason="issue 16: awaiting output-set swap")


# --------------------------------------------------------------------------- helpers


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative name -> sha256); {} when the folder does not exist."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONWARNINGS="ignore")


def command(cmd: str, data: Path, out: Path) -> list[str]:
    argv = [sys.executable, "-m", "outcomes", cmd, str(data), "--out", str(out)]
    return argv + (["--jobs", "1"] if cmd == "patients" else [])


def datasets(tmp: Path, n: int = 12) -> tuple[Path, Path]:
    """Two small datasets whose outputs differ: A is clean, B has a quarantined row and other codes."""
    a = write_base(tmp / "A", n=n)
    b = write_base(tmp / "B", n=n)
    rename_ids(b, {pid: f"Q{pid[1:]}" for pid in patient_ids(b)})
    set_cell(b, "sessions", 3, "pain_after", "14")
    return a, b


def marked_incomplete(path: Path) -> bool:
    """A folder a reader cannot mistake for a finished run."""
    return ("incomplete" in path.name.lower() or (path / INCOMPLETE_MARKER).exists()
            or any("incomplete" in p.name.lower() for p in path.iterdir()))


def complete_set(folder: Path, names: set[str]) -> bool:
    """``folder`` holds exactly the files of a finished run: the expected names, and its manifest agrees."""
    files = tree(folder)
    if set(files) != names:
        return False
    manifest = folder / MANIFEST
    if manifest.is_file():
        listed = json.loads(manifest.read_text(encoding="utf-8")).get("files", {})
        sizes = listed if isinstance(listed, dict) else {name: None for name in listed}
        return (set(sizes) | {MANIFEST} == set(files)
                and all(size is None or (folder / name).stat().st_size == size for name, size in sizes.items()))
    return True


def runs_mixed(folder: Path, datasets: tuple[Path, ...]) -> list[str]:
    """Files of one run beside files of another: each text output names the dataset it came from."""
    seen: dict[str, set[str]] = {}
    for p in folder.rglob("*"):
        if p.is_file() and p.suffix in (".json", ".html", ".csv"):
            text = p.read_text(encoding="utf-8", errors="replace")
            for d in datasets:
                if str(d) in text:
                    seen.setdefault(d.name, set()).add(str(p.relative_to(folder)))
    return [f"{k}: {sorted(v)[:3]}" for k, v in seen.items()] if len(seen) > 1 else []


def state_problems(out: Path, previous: dict[str, str], new_names: set[str], keep: set[str],
                   datasets: tuple[Path, ...] = ()) -> list[str]:
    """What is wrong with ``out`` and its siblings after an interrupted run."""
    problems = []
    mixed = runs_mixed(out, datasets)
    if mixed:
        problems.append(f"{out.name} mixes outputs of different runs: {mixed}")
    now = tree(out)
    if now != previous and not complete_set(out, new_names):
        extra = sorted(set(now) - set(previous))[:4]
        changed = sorted(k for k in set(now) & set(previous) if now[k] != previous[k])[:4]
        missing = sorted(set(previous) - set(now))[:4]
        problems.append(f"{out.name} is neither the previous set nor a complete new one: new {extra}, "
                        f"changed {changed}, missing {missing}")
    for sibling in out.parent.iterdir():
        if sibling == out or sibling.name in keep or not sibling.is_dir():
            continue
        if not marked_incomplete(sibling):
            problems.append(f"left {sibling.name} beside the output folder, not marked incomplete")
    return problems


def start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def kill9(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the process and any report workers it spawned
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def watch_state(parent: Path) -> set[tuple[str, int]]:
    found = set()
    for p in parent.rglob("*"):
        try:
            found.add((str(p), p.stat().st_mtime_ns))
        except OSError:
            pass
    return found


# --------------------------------------------------------------------------- kill -9


@xfail_swap
@pytest.mark.slow
@pytest.mark.parametrize("cmd, random_kills, n", [("validate", 3, 12), ("audit", 1, 12), ("patients", 1, 5)])
def test_kill_9_leaves_the_previous_set_or_a_marked_incomplete_one(cmd, random_kills, n, tmp_path):
    a, b = datasets(tmp_path, n=n)
    runs = tmp_path / "runs"
    runs.mkdir()
    out, ref = runs / "out", tmp_path / "ref"
    keep = {"ref"}
    # the new run's complete set, and how long it takes
    t0 = time.perf_counter()
    done = subprocess.run(command(cmd, b, ref), env=env(), capture_output=True, text=True, timeout=120)
    duration = time.perf_counter() - t0
    assert done.returncode in (0, 1), done.stderr
    new_names = set(tree(ref))
    # the previous complete set
    first = subprocess.run(command(cmd, a, out), env=env(), capture_output=True, text=True, timeout=120)
    assert first.returncode in (0, 1), first.stderr
    previous = tree(out)
    assert previous

    rng = random.Random(16)
    moments = ["first write"] + [rng.uniform(0.4, 1.0) * duration for _ in range(random_kills)]
    report = []
    for moment in moments:
        before = watch_state(runs)
        proc = start(command(cmd, b, out))
        if moment == "first write":
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline and watch_state(runs) == before:
                time.sleep(0.002)
        else:
            time.sleep(moment)
        finished = proc.poll() is not None
        kill9(proc)
        problems = state_problems(out, previous, new_names, keep, (a, b))
        report.append((moment, finished, problems))
        assert not problems, f"kill -9 at {moment!r} (run finished first: {finished}): {problems}"
        if tree(out) != previous:  # the new set landed: it is now the previous one
            previous = tree(out)
    # after the kills a normal run still works and leaves one complete set
    last = subprocess.run(command(cmd, b, out), env=env(), capture_output=True, text=True, timeout=120)
    assert last.returncode in (0, 1) and "Traceback" not in last.stderr, last.stderr
    assert complete_set(out, new_names)


@xfail_swap
@pytest.mark.slow
def test_kill_9_during_a_first_run_leaves_no_output_folder_or_a_marked_one(tmp_path):
    a, _ = datasets(tmp_path)
    runs = tmp_path / "runs"
    runs.mkdir()
    out = runs / "out"
    proc = start(command("validate", a, out))
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and not any(runs.iterdir()):
        time.sleep(0.002)
    kill9(proc)
    if out.exists():
        ref = tmp_path / "ref"
        subprocess.run(command("validate", a, ref), env=env(), capture_output=True, timeout=120)
        assert complete_set(out, set(tree(ref))) or marked_incomplete(out), sorted(tree(out))
    for sibling in runs.iterdir():
        if sibling != out:
            assert marked_incomplete(sibling), sibling.name


# --------------------------------------------------------------------------- full disk, read-only


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs (root only)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): " + proc.stderr.decode()[:100])
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(mnt: Path, leave: int) -> None:
    """Fill the filesystem of ``mnt`` until ``leave`` bytes are free."""
    st = os.statvfs(mnt)
    free = st.f_bavail * st.f_frsize
    with open(mnt / "filler.bin", "wb") as fh:
        fh.write(b"\0" * max(free - leave, 0))


@pytest.mark.parametrize("cmd", ["validate", "audit"])
def test_full_disk_exits_3_and_keeps_the_previous_set(cmd, small_disk, tmp_path):
    a, b = datasets(tmp_path, n=8)
    out = small_disk / "out"
    first = subprocess.run(command(cmd, a, out), env=env(), capture_output=True, text=True, timeout=120)
    assert first.returncode in (0, 1), first.stderr
    previous = tree(out)
    fill(small_disk, leave=16 * 1024)
    proc = subprocess.run(command(cmd, b, out), env=env(), capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-500:])
    assert proc.stderr.strip() and len(proc.stderr.strip().splitlines()) <= 3, proc.stderr
    assert tree(out) == previous, "the previous output set was changed by the failed run"
    left = [p.name for p in small_disk.iterdir() if p.name not in ("out", "filler.bin")]
    assert all(marked_incomplete(small_disk / n) for n in left), left


def test_full_disk_on_a_first_run_leaves_nothing_misleading(small_disk, tmp_path):
    a, _ = datasets(tmp_path, n=8)
    fill(small_disk, leave=16 * 1024)
    out = small_disk / "out"
    proc = subprocess.run(command("validate", a, out), env=env(), capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-500:])
    assert not out.exists() or marked_incomplete(out), sorted(tree(out))


def test_read_only_output_exits_3(small_disk, tmp_path):
    a, _ = datasets(tmp_path, n=8)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    proc = subprocess.run(command("validate", a, small_disk / "out"), env=env(), capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-500:])
    assert "read-only" in proc.stderr.lower() or "writ" in proc.stderr.lower(), proc.stderr


def test_stdout_to_a_full_device_exits_3(tmp_path):
    a, _ = datasets(tmp_path, n=8)
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "outcomes", "validate", str(a), "--format", "json"],
                              env=env(), stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-500:])


# --------------------------------------------------------------------------- memory


def test_address_space_limit_exits_3_without_a_traceback(tmp_path):
    """simulate of 1,000,000 patients under a 1 GB address-space limit runs out of memory in Python."""
    limit = 1 << 30  # enough to start; the cohort needs several GB

    def cap() -> None:  # pragma: no cover - runs in the child
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.run([sys.executable, "-m", "outcomes", "simulate", "--patients", "1000000", "--out",
                           str(tmp_path / "sim")], env=env(), capture_output=True, text=True, timeout=300,
                          preexec_fn=cap)
    if proc.returncode in (127, 134, -6) and "Traceback" not in proc.stderr:
        pytest.skip("the C library aborted before Python could report: " + proc.stderr.strip()[:100])
    assert "Traceback" not in proc.stderr, proc.stderr[-800:]
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-500:])
    assert "memory" in proc.stderr.lower(), proc.stderr
    assert not (tmp_path / "sim").exists() or marked_incomplete(tmp_path / "sim")


# --------------------------------------------------------------------------- two runs, one folder


@xfail_swap
@pytest.mark.slow
def test_two_patients_runs_into_one_folder_leave_only_the_second(tmp_path):
    a, b = datasets(tmp_path, n=6)
    out = tmp_path / "out"
    for data in (a, b):
        res = run_in_process(["patients", str(data), "--out", str(out), "--jobs", "1"])
        assert res.code in (0, 1) and not res.crash, res.head()
    ids_a, ids_b = set(patient_ids(a)), set(patient_ids(b))
    names = {p.name for p in out.rglob("*") if p.is_file()}
    stale = sorted(n for n in names if any(pid in n for pid in ids_a))
    assert not stale, f"reports of the first run left behind: {stale}"
    missing = [pid for pid in ids_b if not any(pid in n and n.endswith(".html") for n in names)]
    assert not missing, f"no HTML report for {missing} of the second run: {sorted(names)[:6]}"
    index = (out / "index.html").read_text(encoding="utf-8")
    links = set(re.findall(r'href="([^"#?]+)"', index))
    broken = sorted(h for h in links if not h.startswith(("http:", "https:", "mailto:")) and not (out / h).exists())
    assert not broken, f"index.html links files that are not there: {broken[:5]}"
    assert not any(pid in index for pid in ids_a), "index.html still lists patients of the first run"


@pytest.mark.slow
def test_two_concurrent_runs_into_one_folder_leave_one_complete_set(tmp_path):
    a, b = datasets(tmp_path, n=8)
    runs = tmp_path / "runs"
    runs.mkdir()
    out = runs / "out"
    names = []
    for d in (a, b):
        ref = tmp_path / f"ref-{d.name}"
        subprocess.run(command("validate", d, ref), env=env(), capture_output=True, timeout=120)
        names.append(set(tree(ref)))
    procs = [start(command("validate", d, out)) for d in (a, b)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    for p, err in zip(procs, errs):
        assert "Traceback" not in err, err
        assert p.returncode in (0, 1, 2, 3), (p.returncode, err)
    assert any(p.returncode in (0, 1) for p in procs), errs
    assert not runs_mixed(out, (a, b)), runs_mixed(out, (a, b))
    assert any(complete_set(out, n) for n in names), sorted(tree(out))  # either run may win
    for sibling in runs.iterdir():
        if sibling != out:
            assert marked_incomplete(sibling), f"left {sibling.name} beside the output folder"
