"""Issue 16 at the unit level: record counts, plausible dates, file-level rejections, output sets.

The hostile-input matrix through every command lives in tests/test_hostile.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from outcomes.errors import EXIT_ENVIRONMENT, EnvironmentFailure, UsageError
from outcomes.files import INCOMPLETE_MARKER, MANIFEST, output_set
from outcomes.io import load_dataset
from outcomes.io.dates import DateColumn, DatePolicy

PATIENTS = ("patient_id,enrolled_on,schedule\n"
            "P001,2026-01-05,weekly\nP002,2026-01-06,guided\nP003,2026-01-07,weekly\n")
ASSESSMENTS = "patient_id,assessed_on,leg_pain\nP001,2026-01-05,7\nP002,2026-01-06,6\nP003,2026-01-07,5\n"
SESSIONS_HEAD = "session_id,patient_id,performed_at,level,note\n"


def _dataset(tmp_path, sessions: str | bytes, **files: str):
    d = tmp_path / "d"
    d.mkdir()
    (d / "patients.csv").write_text(files.get("patients", PATIENTS))
    (d / "assessments.csv").write_text(files.get("assessments", ASSESSMENTS))
    (d / "sessions.csv").write_bytes(sessions if isinstance(sessions, bytes) else sessions.encode())
    return d


def _csv_records(path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


# ---------------------------------------------------------------- every record counted


def test_quoted_line_breaks_are_one_record_each_and_reconcile(tmp_path):
    rows = [f'S{i},P00{1 + i % 3},2026-01-{10 + i % 9}T08:00,1,"a note\nover two lines, with a comma"'
            for i in range(6)]
    d = _dataset(tmp_path, SESSIONS_HEAD + "\n".join(rows) + "\n")
    r = load_dataset(d).exports["sessions"]
    assert r.rows_read == _csv_records(d / "sessions.csv") == 6
    assert r.accepted == 6 and r.reconciles
    assert list(r.data.index) == [2, 4, 6, 8, 10, 12]  # lines as a person counts them


def test_unclosed_quote_is_reported_as_such_with_its_lines(tmp_path):
    good = [f"S{i},P001,2026-01-{10 + i}T08:00,1,fine" for i in range(8)]
    good[2] = 'S2,P001,2026-01-12T08:00,1,"this note never closes'
    good[6] = 'S6,P001,2026-01-16T08:00,1,closes here"'
    d = _dataset(tmp_path, SESSIONS_HEAD + "\n".join(good) + "\n")
    r = load_dataset(d).exports["sessions"]
    assert r.rows_read == _csv_records(d / "sessions.csv") == 4
    assert r.reconciles
    e = r.errors
    hit = e[e["rule"] == "unclosed_quote"]
    assert hit["line"].tolist() == [4]
    assert "not closed until line 8" in hit["reason"].iat[0]
    assert "field_count" not in set(e.loc[e["line"] == 4, "rule"])


def test_quote_open_at_end_of_file_quarantines_the_record_naming_its_line(tmp_path):
    d = _dataset(tmp_path, SESSIONS_HEAD + "S1,P001,2026-01-10T08:00,1,ok\nS2,P001,2026-01-11T08:00,1,\"open\n")
    r = load_dataset(d).exports["sessions"]
    assert r.reconciles and r.rows_read == 2 and r.errors["rule"].tolist() == ["unclosed_quote"]
    assert r.errors["line"].tolist() == [3] and "never closed" in r.errors["reason"].iat[0]


def test_nul_byte_rejection_names_the_line(tmp_path):
    d = _dataset(tmp_path, (SESSIONS_HEAD + "S1,P001,2026-01-10T08:00,1,ok\nS2,P001,2026-01-11T08:00,1,b\x00d\n"
                            ).encode())
    r = load_dataset(d).exports["sessions"]
    assert r.status == "rejected" and r.rejection.line == 3 and "NUL" in r.rejection.message


def test_utf16_is_read(tmp_path):
    text = SESSIONS_HEAD + "S1,P001,2026-01-10T08:00,1,café\n"
    d = _dataset(tmp_path, text.encode("utf-16"))
    r = load_dataset(d).exports["sessions"]
    assert r.status == "ok" and r.accepted == 1 and r.data["note"].iat[0] == "café"
    assert "UTF-16" in " ".join(r.notes)


def test_folder_named_like_an_export_is_rejected_not_called_absent(tmp_path):
    d = _dataset(tmp_path, SESSIONS_HEAD)
    (d / "sessions.csv").unlink()
    (d / "sessions.csv").mkdir()
    r = load_dataset(d).exports["sessions"]
    assert r.status == "rejected" and "is a folder" in r.rejection.message


def test_integer_far_beyond_int64_is_quarantined_not_a_crash(tmp_path):
    patients = PATIENTS.replace("patient_id,enrolled_on,schedule", "patient_id,enrolled_on,schedule,age_years")
    patients = patients.replace("weekly\nP002", "weekly,1e20\nP002").replace("guided\n", "guided,40\n")
    patients = patients.replace("P003,2026-01-07,weekly\n", "P003,2026-01-07,weekly,99999999999999999999999\n")
    d = _dataset(tmp_path, SESSIONS_HEAD, patients=patients)
    r = load_dataset(d).exports["patients"]
    assert r.quarantined == 2 and r.accepted == 1 and r.reconciles


# ---------------------------------------------------------------- plausible dates


@pytest.mark.parametrize("value, rule", [("2025", "partial_date"), ("2025-03", "partial_date"),
                                         ("2199-01-01", "plausible_date"), ("0001-01-01", "plausible_date")])
def test_partial_and_implausible_dates_are_quarantined(tmp_path, value, rule):
    d = _dataset(tmp_path, SESSIONS_HEAD, patients=PATIENTS.replace("P002,2026-01-06", f"P002,{value}"))
    r = load_dataset(d).exports["patients"]
    e = r.errors
    assert e.loc[e["column"] == "enrolled_on", "rule"].tolist() == [rule]
    assert r.accepted == 2


def test_one_timestamp_with_an_offset_does_not_sink_the_file(tmp_path):
    rows = [f"S{i},P001,2026-01-{10 + i}T08:00,1," for i in range(5)]
    rows[1] = "S1,P001,2026-01-11T08:00:00+01:00,1,"
    rows[2] = "S2,P001,2026-01-12T08:00:00Z,1,"
    d = _dataset(tmp_path, SESSIONS_HEAD + "\n".join(rows) + "\n")
    ds = load_dataset(d, dates=DatePolicy(timezone="Europe/London"))
    r = ds.exports["sessions"]
    assert r.accepted == 5, r.errors
    assert r.data["performed_at"].tolist()[1:3] == [pd.Timestamp("2026-01-11 07:00"), pd.Timestamp("2026-01-12 08:00")]
    assert any("Europe/London" in n for n in r.notes)


def test_offsets_follow_the_clinic_zone_including_summer_time():
    col = DateColumn.parse(pd.Series(["2026-07-01T12:00:00Z"]), ("",), timezone="Europe/Berlin")
    assert col.values.iat[0] == pd.Timestamp("2026-07-01 14:00")


def test_date_policy_checks_its_arguments():
    with pytest.raises(UsageError, match="time zone"):
        DatePolicy(timezone="Mars/Base")
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        DatePolicy(latest="tomorrow")
    with pytest.raises(UsageError, match="must not be after"):
        DatePolicy(earliest="2026-01-01", latest="2025-01-01")


def test_the_window_is_configurable(tmp_path):
    d = _dataset(tmp_path, SESSIONS_HEAD)
    r = load_dataset(d, dates=DatePolicy(earliest="2026-01-06", latest="2026-12-31")).exports["patients"]
    assert r.errors["line"].tolist() == [2] and r.errors["rule"].tolist() == ["plausible_date"]


# ---------------------------------------------------------------- output sets


def test_output_set_replaces_a_previous_run_whole(tmp_path):
    out = tmp_path / "out"
    with output_set(out, command="t") as o:
        (o.staging / "a.csv").write_text("1")
    with output_set(out, command="t") as o:
        (o.staging / "b.csv").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["b.csv", MANIFEST]
    assert json.loads((out / MANIFEST).read_text())["files"] == {"b.csv": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind


def test_failed_run_leaves_the_previous_set_untouched(tmp_path):
    out = tmp_path / "out"
    with output_set(out, command="t") as o:
        (o.staging / "a.csv").write_text("1")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(OSError):
        with output_set(out, command="t") as o:
            (o.staging / "a.csv").write_text("half")
            raise OSError(28, "No space left on device")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_refuses_inputs_and_foreign_files(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for out in (data, data / "sub", tmp_path):
        with pytest.raises(UsageError, match="input folder"):
            with output_set(out, command="t", inputs=[data]):
                pass
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("precious")
    with pytest.raises(UsageError, match="did not write"):
        with output_set(mine, command="t"):
            pass
    with output_set(mine, command="t", force=True) as o:
        (o.staging / "a.csv").write_text("1")
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("mine.replaced-")]
    assert len(aside) == 1 and (aside[0] / "thesis.docx").read_text() == "precious"


def test_unwritable_parent_is_an_environment_failure(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(EnvironmentFailure):
        with output_set(ro / "out", command="t"):
            pass


def test_killed_run_leaves_previous_set_and_a_marked_incomplete_folder(tmp_path):
    out = tmp_path / "out"
    with output_set(out, command="t") as o:
        (o.staging / "a.csv").write_text("1")
    code = (f"import os, sys\nfrom outcomes.files import output_set\n"
            f"with output_set({str(out)!r}, command='t') as o:\n"
            "    (o.staging / 'a.csv').write_text('new')\n"
            "    os.kill(os.getpid(), 9)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert p.returncode == -9
    assert (out / "a.csv").read_text() == "1" and (out / MANIFEST).exists()
    left = [p for p in tmp_path.iterdir() if p.name != "out"]
    assert len(left) == 1 and (left[0] / INCOMPLETE_MARKER).exists()


def test_full_stdout_is_exit_3_without_traceback(tmp_path):
    d = _dataset(tmp_path, SESSIONS_HEAD)
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "outcomes", "validate", str(d), "--format", "json"],
                           stdout=full, stderr=subprocess.PIPE, text=True)
    assert p.returncode == EXIT_ENVIRONMENT, p.stderr
    assert "Traceback" not in p.stderr and "No space left" in p.stderr


def test_validate_into_its_own_data_folder_is_refused_and_changes_nothing(tmp_path):
    d = _dataset(tmp_path, SESSIONS_HEAD + "S1,P001,2026-01-10T08:00,1,x\nS1,P001,2026-01-10T08:00,1,x\n")
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    from outcomes.cli import main

    err = io.StringIO()
    sys_stderr, sys.stderr = sys.stderr, err
    try:
        status = main(["validate", str(d), "--out", str(d)])
    finally:
        sys.stderr = sys_stderr
    assert status == 2 and "input folder" in err.getvalue()
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


@pytest.mark.parametrize("command", ["audit", "compare", "patients"])
def test_no_accepted_patient_is_one_sentence_and_exit_1(tmp_path, command, capsys):
    from outcomes.cli import main

    d = _dataset(tmp_path, SESSIONS_HEAD, patients="patient_id,enrolled_on,schedule\n")
    assert main([command, str(d), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "has column names but no rows" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_overlong_output_name_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="at most 255"):
        with output_set(tmp_path / ("x" * 300), command="t"):
            pass


def test_a_patient_code_starting_with_a_dash_is_a_value(tmp_path, capsys):
    from outcomes.cli import main

    d = _dataset(tmp_path, SESSIONS_HEAD)
    assert main(["patients", str(d), "--out", str(tmp_path / "o"), "--patient", "-rf", "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert "unknown patient id(s) '-rf'" in err


def test_a_column_map_that_is_a_device_is_refused(tmp_path, capsys):
    from outcomes.cli import main

    d = _dataset(tmp_path, SESSIONS_HEAD)
    assert main(["validate", str(d), "--columns", "/dev/zero"]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_a_plan_beside_the_outputs_is_fine_but_not_inside_them(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text("x")
    with output_set(tmp_path / "out", command="t", inputs=[plan]) as o:
        (o.staging / "a.csv").write_text("1")
    inner = tmp_path / "out" / "plan.toml"
    inner.write_text("x")
    with pytest.raises(UsageError, match="holds the input file"):
        with output_set(tmp_path / "out", command="t", inputs=[inner], force=True):
            pass
