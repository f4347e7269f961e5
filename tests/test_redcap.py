"""Layout "redcap": a REDCap longitudinal export and its data dictionary (files written here, modelled on
REDCap's formats; every value synthetic)."""

from __future__ import annotations

import pandas as pd
import pytest

from _interop import (BDI_TOML, DICTIONARY_ROWS, REDCAP_TOML, compare_document, redcap_records, same_analysis, trial,
                      write_exports, write_redcap)
from outcomes import Cohort, load_dataset
from outcomes.cli import main
from outcomes.errors import UsageError
from outcomes.io.layouts import NO_OUTCOME
from outcomes.io.redcap import read_dictionary


@pytest.fixture(scope="module")
def data():
    return trial()


def _line_of(records: str, pid: str, event: str) -> int:
    for i, line in enumerate(records.splitlines(), start=1):
        if line.startswith(f"{pid},{event},,"):
            return i
    raise AssertionError((pid, event))


def test_dictionary_is_read_with_choices_ranges_and_labels(tmp_path, data):
    d = read_dictionary(write_redcap(tmp_path, data) / "dictionary.csv")
    assert d.first == "record_id"
    assert d.fields["arm"].choices == {"1": "TAU", "2": "BtheB"}
    assert d.fields["improved"].choices == {"1": "Yes", "0": "No"}
    assert (d.fields["bdi"].min, d.fields["bdi"].max, d.fields["bdi"].validation) == (0, 63, "integer")
    assert d.checkbox_columns("comorbid") == {"comorbid___1": "1", "comorbid___2": "2", "comorbid___3": "3"}


def test_redcap_export_is_decoded_carried_and_reconciled(tmp_path, data):
    ds = load_dataset(write_redcap(tmp_path, data))
    p, a = ds.exports["patients"], ds.exports["assessments"]
    assert ds.ok and p.reconciles and a.reconciles
    # 36 patients × 4 events + 72 session-log rows; 8 missed visits and the 72 log rows hold no outcome
    assert (a.rows_read, a.accepted, a.filtered) == (216, 136, {NO_OUTCOME: 80})
    patients = ds["patients"].set_index("patient_id")
    # radio codes decoded to labels; demographics given on the baseline event carried to the patient
    assert patients.loc["100", "schedule"] == "TAU" and patients.loc["101", "schedule"] == "BtheB"
    assert set(patients["sex"]) == {"female", "male"} and patients["age_years"].notna().all()
    rows = ds["assessments"].set_index(["patient_id", "time"])
    assert rows.loc[("102", 0.0), "comorbid"] == "Diabetes" and rows.loc[("100", 0.0), "comorbid"] == "None of these"
    assert rows.loc[("100", 0.0), "improved"] in ("Yes", "No")
    # the declared outcome takes its label and range from the dictionary
    spec = ds.outcomes["bdi"]
    assert (spec.label, spec.low, spec.high, spec.integer) == ("Beck Depression Inventory", 0, 63, True)
    assert any("calculated fields read as the numbers REDCap stored" in n for n in a.notes)


def test_redcap_and_exports_give_the_same_compare_json(tmp_path, data):
    """The same trial as four exports (dated) and as a REDCap project (events timed in weeks) gives the
    same `outcomes compare` JSON: every table, model, mean and contrast. (The built-in leg_pain is the
    outcome compared; the declared bdi is read and summarised in both.)"""
    assert len([ln for ln in REDCAP_TOML.splitlines() if ln.strip()]) <= 20
    exports = compare_document(write_exports(tmp_path / "exports", data), tmp_path / "out1")
    redcap = compare_document(write_redcap(tmp_path / "redcap", data), tmp_path / "out2")
    assert exports["rows"] and exports["models"]
    assert same_analysis(exports, redcap) == []
    assert Cohort.from_folder(tmp_path / "redcap").changes.query("outcome == 'bdi'")["change"].notna().sum() > 20


def test_a_choice_code_not_in_the_dictionary_quarantines_with_file_line_field_and_value(tmp_path, data):
    records = redcap_records(data)
    line = _line_of(records, "104", "baseline_arm_1")
    rows = records.splitlines()
    rows[line - 1] = rows[line - 1].replace("104,baseline_arm_1,,,1,", "104,baseline_arm_1,,,3,", 1)
    later = _line_of(records, "105", "week_2_arm_1")
    cells = rows[later - 1].split(",")
    cells[14] = "7"  # improved (yes/no) = 7
    rows[later - 1] = ",".join(cells)
    ds = load_dataset(write_redcap(tmp_path, data, records="\n".join(rows) + "\n"))
    p, a = ds.exports["patients"], ds.exports["assessments"]
    bad = p.errors.set_index("rule").loc["redcap_choice"]
    assert bad["column"] == "schedule" and bad["value"] == "3"
    assert f"records.csv line {line}: arm = '3' is not a choice of arm in dictionary.csv (1, TAU | 2, BtheB)" \
        in bad["reason"]
    assert "104" not in set(ds["patients"]["patient_id"])
    assert set(a.errors.loc[a.errors["rule"] == "foreign_key", "value"]) == {"104"}
    row = a.errors.set_index("rule").loc["redcap_choice"]
    assert (row["line"], row["column"], row["value"]) == (later, "improved", "7")
    assert p.reconciles and a.reconciles and not ds.ok


def test_missing_data_codes_and_out_of_range_values(tmp_path, data):
    records = redcap_records(data)
    rows = records.splitlines()
    for pid, value in (("106", "UNK"), ("107", "70")):
        line = _line_of(records, pid, "week_2_arm_1")
        cells = rows[line - 1].split(",")
        cells[13] = value  # bdi
        rows[line - 1] = ",".join(cells)
    ds = load_dataset(write_redcap(tmp_path, data, records="\n".join(rows) + "\n"))
    a = ds.exports["assessments"]
    assert a.errors["column"].tolist() == ["bdi"] and "70 is outside the allowed range 0–63" in a.errors["reason"][0]
    assert pd.isna(ds["assessments"].set_index(["patient_id", "time"]).loc[("106", 2.0), "bdi"])


@pytest.mark.parametrize("change, expected", [
    (lambda t, r, d: (t, r, [x for x in d if not x.startswith("improved,")]),
     "records.csv has the column 'improved', which dictionary.csv does not define"),
    (lambda t, r, d: (t, r.replace("comorbid___3,", "comorbid___3,comorbid___9,", 1), d),
     "records.csv has the checkbox column 'comorbid___9', but dictionary.csv lists no choice '9'"),
    (lambda t, r, d: (t.replace('"week_6_arm_1" = 6\n', ""), r, d),
     'redcap_event_name = "week_6_arm_1" (first at line 7) is not in [time.visits]'),
    (lambda t, r, d: (t, "\n".join(",".join(c for i, c in enumerate(ln.split(",")) if i != 5)
                                   for ln in r.splitlines()) + "\n", d),
     "[columns] age_years names the field 'age'; dictionary.csv defines it (form 'enrolment') but records.csv "
     "does not have it"),
    (lambda t, r, d: (t.replace('dictionary = "dictionary.csv"', 'dictionary = "dict.csv"'), r, d),
     "dict.csv does not exist (the folder holds: dataset.toml, dictionary.csv, records.csv)"),
    (lambda t, r, d: (t, r.replace("record_id,", "subject,", 1), d),
     'its first column is "subject", but the first field of dictionary.csv (the record id) is "record_id"'),
])
def test_records_and_dictionary_that_do_not_match_exit_2_naming_file_and_field(tmp_path, data, capsys, change,
                                                                                 expected):
    toml, records, dictionary = change(REDCAP_TOML, redcap_records(data), list(DICTIONARY_ROWS))
    folder = write_redcap(tmp_path, data, toml=toml, records=records, dictionary=dictionary)
    with pytest.raises(UsageError) as exc:
        load_dataset(folder)
    assert expected in str(exc.value)
    assert main(["validate", str(folder)]) == 2
    assert expected in capsys.readouterr().err


def test_a_patient_level_field_that_differs_between_events_quarantines_the_patient(tmp_path, data):
    records = redcap_records(data)
    line = _line_of(records, "108", "week_4_arm_1")
    rows = records.splitlines()
    cells = rows[line - 1].split(",")
    cells[5] = "99"  # age given again, differently, on a later event
    rows[line - 1] = ",".join(cells)
    ds = load_dataset(write_redcap(tmp_path, data, records="\n".join(rows) + "\n"))
    err = ds.exports["patients"].errors.set_index("rule").loc["patient_level_varies"]
    assert err["column"] == "age_years" and f"'99' (line {line})" in err["reason"]


def test_data_access_group_maps_to_site_and_a_dated_export_reads_dates(tmp_path):
    records = ("record_id,redcap_event_name,redcap_data_access_group,enrolled,arm,visit_date,leg_pain\n"
               "1,baseline_arm_1,north,2025-01-06,1,2025-01-06,7\n1,week_4_arm_1,,,,2025-02-03,4\n"
               "2,baseline_arm_1,south,2025-01-13,2,2025-01-13,6\n2,week_4_arm_1,,,,2025-02-10,5\n")
    rows = ['record_id,enrolment,,text,"Record ID",,,,,,,,,,,,,',
            'enrolled,enrolment,,text,"Enrolled",,,date_ymd,,,,,,,,,,',
            'arm,enrolment,,dropdown,"Arm","1, A | 2, B",,,,,,,,,,,,',
            'visit_date,visit,,text,"Visit date",,,date_ymd,,,,,,,,,,',
            'leg_pain,visit,,text,"Leg pain",,,integer,0,10,,,,,,,,']
    toml = ('[source]\nlayout = "redcap"\nfile = "records.csv"\ndictionary = "dictionary.csv"\n[columns]\n'
            'schedule = "arm"\nsite_id = "redcap_data_access_group"\nenrolled_on = "enrolled"\n'
            'assessed_on = "visit_date"\n')
    ds = load_dataset(write_redcap(tmp_path, {}, toml=toml, records=records, dictionary=rows))
    assert ds.ok
    assert dict(zip(ds["patients"]["patient_id"], ds["patients"]["site_id"])) == {"1": "north", "2": "south"}
    assert ds["assessments"]["assessed_on"].dt.strftime("%Y-%m-%d").tolist() == [
        "2025-01-06", "2025-02-03", "2025-01-13", "2025-02-10"]


def test_a_repeating_session_log_instrument_is_read_as_sessions(tmp_path):
    records = ("record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,enrolled,arm,"
               "visit_date,leg_pain,log_date,log_level\n"
               "1,baseline_arm_1,,,2025-01-06,1,2025-01-06,7,,\n"
               "1,baseline_arm_1,glide_log,1,,,,,2025-01-07,1\n"
               "1,baseline_arm_1,glide_log,2,,,,,2025-01-09,2\n"
               "1,week_4_arm_1,,,,,2025-02-03,4,,\n"
               "1,week_4_arm_1,glide_log,1,,,,,2025-02-04,x\n")
    rows = ['record_id,enrolment,,text,"Record ID",,,,,,,,,,,,,',
            'enrolled,enrolment,,text,"Enrolled",,,date_ymd,,,,,,,,,,',
            'arm,enrolment,,dropdown,"Arm","1, A | 2, B",,,,,,,,,,,,',
            'visit_date,visit,,text,"Visit date",,,date_ymd,,,,,,,,,,',
            'leg_pain,visit,,text,"Leg pain",,,integer,0,10,,,,,,,,',
            'log_date,glide_log,,text,"Session date",,,date_ymd,,,,,,,,,,',
            'log_level,glide_log,,text,"Glide level",,,integer,1,8,,,,,,,,']
    toml = ('[source]\nlayout = "redcap"\nfile = "records.csv"\ndictionary = "dictionary.csv"\n'
            'sessions = "glide_log"\n[columns]\nschedule = "arm"\nenrolled_on = "enrolled"\nassessed_on = "visit_date"\n'
            'performed_at = "log_date"\nlevel = "log_level"\n')
    ds = load_dataset(write_redcap(tmp_path, {}, toml=toml, records=records, dictionary=rows))
    s, a = ds.exports["sessions"], ds.exports["assessments"]
    assert (s.rows_read, s.accepted, s.quarantined) == (3, 2, 1) and s.reconciles
    assert ds["sessions"]["session_id"].tolist() == ["1-baseline_arm_1-1", "1-baseline_arm_1-2"]
    assert ds["sessions"]["level"].tolist() == [1, 2]
    assert s.errors["line"].tolist() == [6] and s.errors["column"].tolist() == ["level"]
    assert a.accepted == 2 and a.filtered == {"rows of the glide_log instrument (read as sessions)": 3}
    assert a.reconciles
    with pytest.raises(UsageError, match='sessions = "glide_logs" is not an instrument of dictionary.csv. '
                                         'Did you mean "glide_log"'):
        load_dataset(write_redcap(tmp_path, {}, toml=toml.replace('"glide_log"', '"glide_logs"'), records=records,
                                  dictionary=rows))


def test_a_labels_export_is_refused_with_what_to_export(tmp_path, data):
    records = redcap_records(data)
    rows = records.splitlines()
    for i, row in enumerate(rows[1:], start=1):
        cells = row.split(",")
        cells[4] = {"1": "TAU", "2": "BtheB"}.get(cells[4], cells[4])
        rows[i] = ",".join(cells)
    with pytest.raises(UsageError, match='arm holds "TAU", a label of the field, not its code: this is a labels '
                                         'export'):
        load_dataset(write_redcap(tmp_path, data, records="\n".join(rows) + "\n"))


def test_the_arm_of_a_multi_arm_project_comes_from_the_event_names(tmp_path):
    records = ("record_id,redcap_event_name,pain\n1,baseline_arm_1,6\n1,week_4_arm_1,3\n"
               "2,baseline_arm_2,7\n2,week_4_arm_2,6\n")
    rows = ['record_id,enrolment,,text,"Record ID",,,,,,,,,,,,,', 'pain,visit,,text,"Pain",,,integer,0,10,,,,,,,,']
    toml = ('[source]\nlayout = "redcap"\nfile = "records.csv"\ndictionary = "dictionary.csv"\n[columns]\n'
            'schedule = "redcap_arm"\n[values.schedule]\n"1" = "usual_care"\n"2" = "glides"\n[time]\nunit = "week"\n'
            '[time.visits]\nbaseline_arm_1 = 0\nbaseline_arm_2 = 0\nweek_4_arm_1 = 4\nweek_4_arm_2 = 4\n'
            '[outcomes.pain]\nhigher_is_better = false\n')
    ds = load_dataset(write_redcap(tmp_path, {}, toml=toml, records=records, dictionary=rows))
    assert ds.ok
    assert dict(zip(ds["patients"]["patient_id"], ds["patients"]["schedule"])) == {"1": "usual_care", "2": "glides"}
    assert ds.outcomes["pain"].label == "Pain" and ds.outcomes["pain"].high == 10


def test_compare_plan_on_the_declared_outcome_gives_the_same_json(tmp_path, data):
    """`compare --plan` with a declared outcome as the primary outcome: exports and REDCap agree.
    (The outcome is called "depression" here: the plan refuses "bdi" as a near-miss of the built-in "odi".)"""
    plan = tmp_path / "plan.toml"
    plan.write_text('outcome = "depression"\nvisits = [0, 2, 4, 6]\nendpoint_week = 6\nreference = "TAU"\n'
                    '[[responders]]\nname = "improved"\noutcome = "depression"\nchange_at_most = -5\n',
                    encoding="utf-8")
    exports = write_exports(tmp_path / "exports", data)
    table = pd.read_csv(exports / "assessments.csv", dtype=str, keep_default_na=False)
    table.rename(columns={"bdi": "depression"}).to_csv(exports / "assessments.csv", index=False)
    (exports / "dataset.toml").write_text(BDI_TOML.replace("[outcomes.bdi]", "[outcomes.depression]"),
                                          encoding="utf-8")
    toml = REDCAP_TOML.replace("[outcomes.bdi]", '[outcomes.depression]\ncolumn = "bdi"')
    redcap = write_redcap(tmp_path / "redcap", data, toml=toml)
    left = compare_document(exports, tmp_path / "o1", "--plan", str(plan))
    right = compare_document(redcap, tmp_path / "o2", "--plan", str(plan))
    assert left["outcome"] == "depression" and left["models"]
    assert any(r.get("outcome") == "depression" for r in left["rows"])
    assert same_analysis(left, right) == []



def test_an_arm_label_that_is_not_a_code_is_written_as_one_and_said(tmp_path, data):
    rows = [r.replace('"1, TAU | 2, BtheB"', '"1, Usual care | 2, Be the Boss"') for r in DICTIONARY_ROWS]
    ds = load_dataset(write_redcap(tmp_path, data, dictionary=rows))
    assert ds.ok and set(ds["patients"]["schedule"]) == {"Usual_care", "Be_the_Boss"}
    assert any("arm: labels written as codes: 'Usual care' → 'Usual_care'" in n
               for n in ds.exports["assessments"].notes)
