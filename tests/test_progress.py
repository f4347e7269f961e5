"""Progress lines of a long run (outcomes.progress): what is said, when, and where."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
from pathlib import Path

from outcomes import progress
from outcomes._resources import example_dir
from outcomes.io import _chunks, load_dataset, write_validation


class _Recorder:
    """Stands in for the reporter: keeps every status the library sets, in order."""

    def __init__(self) -> None:
        self.said: list[str] = []

    @property
    def text(self) -> str:
        return self.said[-1] if self.said else ""

    @text.setter
    def text(self, value: str) -> None:
        self.said.append(value)


def _lines(stream: io.StringIO, n: int, timeout: float = 5.0) -> list[str]:
    """The stream's lines once it holds ``n`` of them (polled: a busy machine may run the thread late)."""
    end = time.monotonic() + timeout
    while len(stream.getvalue().splitlines()) < n and time.monotonic() < end:
        time.sleep(0.01)
    return stream.getvalue().splitlines()


def test_a_line_when_the_status_changes_and_again_when_it_lasts():
    stream = io.StringIO()
    with progress.reporting(stream, prefix="outcomes validate", delay=0.05, every=0.02, repeat=0.8) as rep:
        progress.status("")  # nothing to say: no line
        time.sleep(0.15)
        assert stream.getvalue() == ""
        progress.status("sessions.csv: 100 of about 1,000 rows read")
        assert len(_lines(stream, 1)) == 1
        time.sleep(0.2)  # unchanged, not yet repeated
        assert len(stream.getvalue().splitlines()) == 1
        progress.status("sessions.csv: 200 of about 1,000 rows read")
        assert len(_lines(stream, 2)) == 2
        progress.status("writing sessions.csv (990 accepted rows)")
        lines = _lines(stream, 4)  # a long step: said, then said again after `repeat`
    assert rep.lines == len(lines) >= 4
    assert all(line.startswith("outcomes validate, ") and " s: " in line for line in lines)
    assert [line.split(" s: ", 1)[1] for line in lines[:4]] == [
        "sessions.csv: 100 of about 1,000 rows read", "sessions.csv: 200 of about 1,000 rows read",
        "writing sessions.csv (990 accepted rows)", "writing sessions.csv (990 accepted rows)"]
    progress.status("after the run")  # reporting is off again: nothing happens
    time.sleep(0.1)
    assert stream.getvalue().splitlines() == lines and progress._current is None


def test_a_short_run_says_nothing():
    stream = io.StringIO()
    with progress.reporting(stream, delay=30, every=30):
        progress.status("reading patients.csv")
    assert stream.getvalue() == ""


def test_a_closed_stream_does_not_stop_the_run():
    stream = io.StringIO()
    stream.close()
    with progress.reporting(stream, delay=0, every=0.01) as rep:
        progress.status("reading")
        time.sleep(0.05)
    assert rep.lines == 0


def test_the_loader_and_writer_say_where_they_are(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    shutil.copytree(example_dir(), folder)
    monkeypatch.setattr(_chunks, "CSV_CHUNK_BYTES", 0)
    monkeypatch.setattr(_chunks, "CSV_BLOCK_BYTES", 1 << 16)  # the example's sessions in 30+ slices
    rec = _Recorder()
    monkeypatch.setattr(progress, "_current", rec)
    ds = load_dataset(folder)
    write_validation(ds, tmp_path / "out")
    n = ds.exports["sessions"].rows_read
    counts = [s for s in rec.said if s.startswith("sessions.csv: ") and " rows read" in s and "of about" in s]
    assert len(counts) >= 30
    first, last = counts[0], counts[-1]
    assert int(first.split(": ")[1].split(" of")[0].replace(",", "")) < n
    done, about = (int(x.replace(",", "")) for x in last.split(": ")[1].split(" rows")[0].split(" of about "))
    assert done == n and abs(about - n) <= 2  # line feeds minus the header: the rows, near enough
    assert f"sessions.csv: {n:,} rows read; checking that keys are unique" in rec.said
    assert "sessions.csv: checking every row's patient and enrolment window" in rec.said
    assert f"writing sessions.csv ({ds.exports['sessions'].accepted:,} accepted rows)" in rec.said
    assert rec.said[-1] == "writing validation.json and validation.html"
    order = [rec.said.index(s) for s in ("reading and checking patients.csv", "reading and checking sessions.csv",
                                         "writing validation.json and validation.html")]
    assert order == sorted(order)


def test_the_command_line_keeps_stdout_clean_and_a_quick_run_quiet(tmp_path, cli_env):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "outcomes", "validate", str(example_dir()), "--out", str(out),
                           "--format", "json"], capture_output=True, text=True, env=cli_env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lstrip().startswith("{") and "outcomes validate, " not in proc.stderr


def test_the_command_line_says_it_on_stderr(tmp_path, cli_env):
    """A line once the run is long enough (forced here with a zero delay), on stderr."""
    code = ("import sys, functools; from outcomes import progress; from outcomes.cli import main; "
            "progress.reporting = functools.partial(progress.reporting, delay=0, every=0.05); "
            f"sys.exit(main(['audit', {str(example_dir())!r}, '--out', {str(tmp_path / 'o')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    said = [line.split(" s: ", 1)[1] for line in proc.stderr.splitlines() if line.startswith("outcomes audit, ")]
    assert "writing audit.pdf" in said, proc.stderr
    assert len(said) == len(set(said))  # each step once (none lasted a minute)
    assert Path(tmp_path / "o" / "audit.html").is_file() and "outcomes audit, " not in proc.stdout


def test_the_demo_says_its_own_steps_without_progress_lines():
    from outcomes.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["demo"]).progress is False
    assert getattr(parser.parse_args(["validate", "somewhere"]), "progress", True) is True
