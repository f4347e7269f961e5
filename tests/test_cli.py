"""The command line in a subprocess: exit codes, JSON shape, outputs, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import SESSIONS, replace_line, write_dataset


def run(*args: str, env=None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "outcomes", *args], capture_output=True, text=True,
                          env=env, timeout=400)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout
    return proc


def test_clean_dataset_exits_0_and_writes_outputs(valid_dir, tmp_path, cli_env):
    out = tmp_path / "out"
    p = run("validate", str(valid_dir), "--out", str(out), env=cli_env)
    assert p.returncode == 0, p.stderr
    assert "All rows accepted." in p.stdout
    assert sorted(f.name for f in out.iterdir()) == sorted(
        ["patients.csv", "prescriptions.csv", "sessions.csv", "assessments.csv", "validation.json",
         "validation.html", "outcomes-run.json"])
    s = pd.read_csv(out / "sessions.csv", dtype=str, keep_default_na=False)
    assert s["performed_at"].iloc[0] == "2026-01-05T08:30:00"
    assert s["stopped_early"].tolist()[:3] == ["false", "false", "true"]
    doc = json.loads((out / "validation.json").read_text())
    assert doc["ok"] is True and len(doc["provenance"]["inputs"]["sessions"]["sha256"]) == 64
    assert not list(out.glob(".*tmp"))  # no temporary files left behind


def test_accepted_rows_as_parquet(valid_dir, tmp_path, cli_env):
    out = tmp_path / "out"
    p = run("validate", str(valid_dir), "--out", str(out), "--out-format", "parquet", env=cli_env)
    assert p.returncode == 0, p.stderr
    assert "sessions.parquet" in p.stdout and not list(out.glob("sessions.csv"))
    s = pd.read_parquet(out / "sessions.parquet")
    assert str(s["performed_at"].dtype).startswith("datetime64") and s["stopped_early"].tolist()[:3] == [
        False, False, True]
    doc = json.loads((out / "validation.json").read_text())
    assert doc["outputs"]["sessions"].endswith("sessions.parquet")
    bad = run("validate", str(valid_dir), "--out", str(out), "--out-format", "xlsx", env=cli_env)
    assert bad.returncode == 2 and "--out-format" in bad.stderr


def test_problems_exit_1_json_shape_and_quarantine_file(tmp_path, cli_env):
    bad = replace_line(SESSIONS, 3, "X2,P001,2026-01-05T19:00,=1+1,slider,seated,1,2,20,5,14,same,false,"
                                    "<b>hi</b>")
    d = write_dataset(tmp_path / "d", {"sessions": bad})
    before = {f.name: f.read_bytes() for f in d.iterdir()}
    out = tmp_path / "out"
    p = run("validate", str(d), "--format", "json", "--out", str(out), env=cli_env)
    assert p.returncode == 1
    doc = json.loads(p.stdout)  # stdout is exactly one JSON document
    rec = {r["export"]: r for r in doc["exports"]}
    s = rec["sessions"]
    for key in ("export", "path", "rows_read", "accepted", "quarantined", "blank_skipped", "errors", "detected"):
        assert key in s
    assert (s["rows_read"], s["accepted"], s["quarantined"], s["blank_skipped"]) == (5, 4, 1, 0)
    assert s["errors"] == [{"line": 3, "column": "pain_after", "value": "14", "rule": "minimum/maximum",
                            "reason": s["errors"][0]["reason"]}]
    assert s["detected"]["encoding"] == "UTF-8" and s["detected"]["delimiter"] == ","
    q = pd.read_csv(out / "sessions.quarantine.csv", dtype=str, keep_default_na=False)
    assert q.loc[0, "line"] == "3" and q.loc[0, "exercise"] == "'=1+1" and q.loc[0, "pain_after"] == "14"
    html = (out / "validation.html").read_text()
    assert "<b>hi</b>" not in html and "pain_after = 14 is outside the allowed range 0–10" in html
    assert {f.name: f.read_bytes() for f in d.iterdir()} == before  # inputs byte-identical


def test_rejected_file_exits_1_with_one_clear_message(tmp_path, cli_env):
    d = write_dataset(tmp_path / "d", {"sessions": SESSIONS.replace("level", "lvl", 1)})
    p = run("validate", str(d), env=cli_env)
    assert p.returncode == 1
    assert "REJECTED" in p.stdout and "sessions.csv" in p.stdout and "'level' is missing" in p.stdout


@pytest.mark.parametrize("args, words", [
    (["validate", "/no/such/folder"], "no such folder"),
    (["validate"], "required: DATA"),
    (["validate", ".", "--format", "xml"], "invalid choice"),
    (["validate", ".", "--dayfirst", "--monthfirst"], "not allowed with"),
    (["validate", ".", "--grace-days", "-3"], "must be 0 or more"),
    (["simulate", "--patients", "0", "--out", "x"], "at least 1"),
    (["frobnicate"], "invalid choice"),
    ([], "usage"),
])
def test_usage_errors_exit_2_without_traceback(args, words, cli_env):
    p = run(*args, env=cli_env)
    assert p.returncode == 2
    assert words in p.stderr


def test_bad_column_map_exits_2(valid_dir, tmp_path, cli_env):
    m = tmp_path / "map.json"
    m.write_text('{"Pain": "pain_nope"}')
    p = run("validate", str(valid_dir), "--columns", str(m), env=cli_env)
    assert p.returncode == 2 and "not a column of any export" in p.stderr
    p = run("validate", str(valid_dir), "--columns", str(tmp_path / "missing.json"), env=cli_env)
    assert p.returncode == 2 and "not found" in p.stderr


def test_out_that_is_a_file_exits_2(valid_dir, tmp_path, cli_env):
    f = tmp_path / "file"
    f.write_text("x")
    p = run("validate", str(valid_dir), "--out", str(f), env=cli_env)
    assert p.returncode == 2 and "is a file" in p.stderr


def test_help_documents_exit_codes(cli_env):
    p = run("validate", "--help", env=cli_env)
    assert p.returncode == 0 and "exit codes" in p.stdout and "--dayfirst" in p.stdout


def test_demo_runs_on_the_bundled_example(tmp_path, cli_env):
    p = run("demo", "--out", str(tmp_path / "demo"), env=cli_env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "validation report" in p.stdout
    assert (tmp_path / "demo" / "validation" / "validation.html").is_file()


_HEAVY = ("pandas", "numpy", "pyarrow", "matplotlib", "scipy", "statsmodels", "jinja2", "weasyprint")


def _modules_after(code: str, cli_env) -> set[str]:
    probe = (f"import sys, io, contextlib\nfrom outcomes.cli import main\n{code}\n"
             f"print(' '.join(m for m in {_HEAVY!r} if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=cli_env, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    return set(lines[-1].split()) if lines else set()


def test_help_imports_no_data_library(cli_env):
    # every command's --help (and the parser itself) must answer without loading pandas or matplotlib
    code = ("from outcomes.cli import build_parser\np = build_parser()\n"
            "for c in ('validate', 'audit', 'compare', 'patients', 'describe', 'export', 'plan', 'simulate', 'demo'):\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        try: main([c, '--help'])\n"
            "        except SystemExit: pass")
    assert _modules_after(code, cli_env) == set()


def test_validate_loads_no_modelling_or_plotting_library(valid_dir, cli_env):
    code = f"with contextlib.redirect_stdout(io.StringIO()): main(['validate', {str(valid_dir)!r}])"
    loaded = _modules_after(code, cli_env)
    assert {"pandas", "pyarrow"} <= loaded  # the probe sees what is loaded
    assert not loaded & {"matplotlib", "scipy", "statsmodels", "jinja2", "weasyprint"}


def test_documents_name_the_outputs_where_they_are(tmp_path, cli_env):
    """validation.json and kpis.json list their companions by name (they are beside them), and the JSON on
    stdout lists them where they are: never the staging folder the set was written in, which is gone."""
    from outcomes._resources import example_dir

    for command, doc_name in (("validate", "validation.json"), ("audit", "kpis.json")):
        out = tmp_path / command
        p = run(command, str(example_dir()), "--out", str(out), "--format", "json", env=cli_env)
        assert p.returncode == 0, p.stderr
        on_disk = json.loads((out / doc_name).read_text())["outputs"]
        assert on_disk and all((out / name).is_file() and "/" not in name for name in on_disk.values()), on_disk
        printed = json.loads(p.stdout)["outputs"]
        assert printed.keys() == on_disk.keys()
        assert all(Path(path).is_file() and Path(path).parent == out for path in printed.values()), printed
        assert ".incomplete" not in p.stdout + (out / doc_name).read_text()
