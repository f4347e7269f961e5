"""Validation rules: per row, per file and across files, each failure worded for a person."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import ASSESSMENTS, PATIENTS, PRESCRIPTIONS, SESSIONS, replace_line, write_dataset
from outcomes import load_dataset


def _errors(tmp_path, export, text, **kw):
    ds = load_dataset(write_dataset(tmp_path / "d", {export: text}), **kw)
    r = ds.exports[export]
    assert r.reconciles
    return ds, r, r.errors


S_HEAD = SESSIONS.splitlines()[0]


@pytest.mark.parametrize("row, column, rule, words", [
    ("X2,P001,2026-01-05T19:00,s,slider,seated,1,2,20,5,14,same,false,", "pain_after", "minimum/maximum",
     "pain_after = 14 is outside the allowed range 0–10"),
    ("X2,P001,2026-01-05T19:00,s,slider,seated,0,2,20,5,4,same,false,", "level", "minimum/maximum",
     "level = 0 is outside the allowed range 1–20"),
    ("X2,P001,2026-01-05T19:00,s,rocket,seated,1,2,20,5,4,same,false,", "glide_type", "enum",
     "glide_type = 'rocket' is not one of: slider, tensioner"),
    ("X2,P001,2026-01-05T19:00,s,slider,seated,1,2,20,five,4,same,false,", "pain_before", "type:integer",
     "pain_before = 'five' is not a whole number"),
    ("X2,P001,2026-01-05T19:00,s,slider,seated,1,2,20,4.5,4,same,false,", "pain_before", "type:integer",
     "pain_before = '4.5' is not a whole number"),
    ("X2,P001,2026-01-05T19:00,s,slider,seated,1,2,20,5,4,same,maybe,", "stopped_early", "type:boolean",
     "stopped_early = 'maybe' is not yes/no"),
    ("X2,P001,2026-02-30T19:00,s,slider,seated,1,2,20,5,4,same,false,", "performed_at", "type:datetime",
     "'2026-02-30T19:00' is not a real calendar date"),
    ("X2,P001,,s,slider,seated,1,2,20,5,4,same,false,", "performed_at", "required",
     "performed_at is empty but required"),
    ("X/2,P001,2026-01-05T19:00,s,slider,seated,1,2,20,5,4,same,false,", "session_id", "pattern",
     "session_id = 'X/2'"),
])
def test_row_rules_name_line_column_value_and_rule(tmp_path, row, column, rule, words):
    _, r, e = _errors(tmp_path, "sessions", replace_line(SESSIONS, 3, row))
    assert e[["line", "column", "rule"]].values.tolist() == [[3, column, rule]]
    assert words in e["reason"].iloc[0]
    assert r.accepted == 4 and r.quarantined == 1


def test_every_failure_of_a_row_is_collected_at_once(tmp_path):
    row = "X2,P001,2026-01-05T19:00,s,rocket,moon,0,2,20,11,-1,meh,maybe,"
    _, r, e = _errors(tmp_path, "sessions", replace_line(SESSIONS, 3, row))
    assert sorted(e["column"]) == sorted(["glide_type", "position", "level", "pain_before", "pain_after",
                                          "response", "stopped_early"])
    assert r.quarantined == 1
    q = r.quarantine()
    assert q.loc[0, "line"] == 3 and q.loc[0, "pain_after"] == "-1"
    assert q.loc[0, "reasons"].count("|") == 6


def test_enum_is_case_insensitive_and_canonicalised(tmp_path):
    text = SESSIONS.replace(",slider,seated,1,2,20,5,4,", ",Slider,SEATED,1,2,20,5,4,")
    ds, r, e = _errors(tmp_path, "sessions", text)
    assert e.empty and ds["sessions"]["glide_type"].iloc[0] == "slider"


def test_nullable_integer_and_boolean_handling(tmp_path):
    text = ASSESSMENTS.replace("P001,2026-01-19,5,4,2,2,2,1", "P001,2026-01-19,5,,2,2,,1").replace(
        ",false,false,false\nP002", ",yes,N,0\nP002")
    ds, r, e = _errors(tmp_path, "assessments", text)
    assert e.empty, e
    a = ds["assessments"]
    assert str(a["back_pain"].dtype) == "Int16" and a["back_pain"].isna().sum() == 1
    assert str(a["rf_saddle_anaesthesia"].dtype) == "boolean"
    assert a["rf_saddle_anaesthesia"].tolist() == [False, True, False, False]
    assert a["rf_bladder_bowel"].tolist() == [False, False, False, False]


def test_assessment_without_any_outcome_is_quarantined(tmp_path):
    text = replace_line(ASSESSMENTS, 3, "P001,2026-01-19" + "," * 19)
    _, r, e = _errors(tmp_path, "assessments", text)
    assert e[["line", "rule"]].values.tolist() == [[3, "atLeastOneOf"]]


def test_assessments_without_any_outcome_column_are_rejected(tmp_path):
    ds = load_dataset(write_dataset(tmp_path / "d", {"assessments": "patient_id,assessed_on\nP001,2026-01-05\n"}))
    r = ds.exports["assessments"]
    assert r.status == "rejected" and "no outcome column" in r.rejection.message


def test_missing_required_column_rejects_file_and_suggests_the_near_name(tmp_path):
    text = SESSIONS.replace("performed_at", "performed", 1)
    ds = load_dataset(write_dataset(tmp_path / "d", {"sessions": text}))
    r = ds.exports["sessions"]
    assert r.status == "rejected" and r.rejection.column == "performed_at"
    assert "required column 'performed_at' is missing" in r.rejection.message
    assert '"performed": "performed_at"' in r.rejection.message
    assert not ds.ok


def test_exact_duplicate_rows_quarantine_the_copy_only(tmp_path):
    lines = SESSIONS.splitlines()
    text = "\n".join(lines + [lines[2]]) + "\n"
    _, r, e = _errors(tmp_path, "sessions", text)
    assert e[["line", "rule"]].values.tolist() == [[7, "duplicate_row"]]
    assert "repeats line 3 exactly" in e["reason"].iloc[0]
    assert r.accepted == 5


def test_conflicting_duplicate_keys_quarantine_every_copy(tmp_path):
    text = SESSIONS.replace("X2,P001", "X1,P001")
    _, r, e = _errors(tmp_path, "sessions", text)
    assert e[["line", "rule"]].values.tolist() == [[2, "unique"], [3, "unique"]]
    assert "lines 2, 3" in e["reason"].iloc[0]


def test_one_assessment_per_patient_and_date(tmp_path):
    text = ASSESSMENTS.replace("P001,2026-01-19,5", "P001,2026-01-05,5")
    _, r, e = _errors(tmp_path, "assessments", text)
    assert e["rule"].tolist() == ["unique", "unique"]
    assert "patient_id, assessed_on is not unique" in e["reason"].iloc[0]


def test_duplicate_patient_id(tmp_path):
    text = PATIENTS.replace("P002,S01", "P001,S01")
    ds, r, e = _errors(tmp_path, "patients", text)
    assert e["rule"].tolist() == ["unique", "unique"]
    # the patient's rows elsewhere are then orphans of a quarantined patient
    s = ds.exports["sessions"].errors
    assert set(s["rule"]) == {"foreign_key"} and "was quarantined" in s["reason"].iloc[0]


def test_orphan_patient_id(tmp_path):
    text = SESSIONS.replace("X4,P002", "X4,P999")
    _, r, e = _errors(tmp_path, "sessions", text)
    assert e[["line", "column", "rule", "value"]].values.tolist() == [[5, "patient_id", "foreign_key", "P999"]]
    assert "'P999' is not in patients.csv" in e["reason"].iloc[0]


def test_session_before_enrolment_and_after_discharge(tmp_path):
    text = SESSIONS.replace("X5,P003,2026-01-20T10:00", "X5,P003,2026-01-18T10:00").replace(
        "X4,P002,2026-01-13T09:15", "X4,P002,2026-06-13T09:15")  # P002 still enrolled: no upper bound
    _, r, e = _errors(tmp_path, "sessions", text)
    assert e[["line", "rule"]].values.tolist() == [[6, "enrolment_window"]]
    assert "before the patient enrolled (2026-01-19)" in e["reason"].iloc[0]
    assert e["value"].iloc[0] == "2026-01-18T10:00"  # the file's own text

    late = SESSIONS.replace("X5,P003,2026-01-20T10:00", "X5,P003,2026-03-03T10:00")  # discharged 02-16
    _, r, e = _errors(tmp_path / "b", "sessions", late)
    assert e["rule"].tolist() == ["enrolment_window"]
    assert "after the patient was discharged (2026-02-16) plus 14 days' grace" in e["reason"].iloc[0]
    _, r, e = _errors(tmp_path / "c", "sessions", late, grace_days=30)
    assert e.empty


def test_assessment_and_prescription_windows(tmp_path):
    text = ASSESSMENTS.replace("P003,2026-01-19", "P003,2026-01-01")
    _, r, e = _errors(tmp_path, "assessments", text)
    assert e["rule"].tolist() == ["enrolment_window"]
    text = PRESCRIPTIONS.replace("P003,2026-01-19", "P003,2026-01-02")
    _, r, e = _errors(tmp_path / "p", "prescriptions", text)
    assert e["rule"].tolist() == ["enrolment_window"]


def test_discharge_before_enrolment(tmp_path):
    text = PATIENTS.replace("2026-02-16,dropped_out", "2026-01-10,dropped_out")
    _, r, e = _errors(tmp_path, "patients", text)
    assert e["rule"].tolist() == ["discharged_before_enrolled"]
    assert "before enrolled_on = 2026-01-19" in e["reason"].iloc[0]


def test_patient_id_with_path_characters_fails_the_pattern(tmp_path):
    text = PATIENTS.replace("P003,S02", "../x,S02")
    ds, r, e = _errors(tmp_path, "patients", text)
    assert e[["column", "rule", "value"]].values.tolist() == [["patient_id", "pattern", "../x"]]


def test_html_and_formulas_in_free_text_are_accepted_as_data(tmp_path):
    text = SESSIONS.replace("tight behind knee", '"=HYPERLINK(""http://x"",""y"")"').replace(
        "X4,P002,2026-01-13T09:15,seated slider,slider,seated,1,2,20,7,6,better,false,",
        "X4,P002,2026-01-13T09:15,seated slider,slider,seated,1,2,20,7,6,better,false,<script>alert(1)</script>")
    ds, r, e = _errors(tmp_path, "sessions", text)
    assert e.empty
    assert ds["sessions"]["note"].tolist()[1] == '=HYPERLINK("http://x","y")'


def test_accepted_frames_are_new_typed_frames_indexed_by_line(valid_dir):
    ds = load_dataset(valid_dir)
    s = ds["sessions"]
    assert s.index.name == "line" and s.index.tolist() == [2, 3, 4, 5, 6]
    assert str(s["performed_at"].dtype).startswith("datetime64")
    assert str(s["level"].dtype) == "Int16"  # bounded 1-20 in the schema: the narrow type (issue 14)
    assert str(s["reps_done"].dtype) == "Int32" and str(s["glide_type"].dtype) == "category"
    assert ds["patients"]["enrolled_on"].iloc[0] == pd.Timestamp("2026-01-05")
