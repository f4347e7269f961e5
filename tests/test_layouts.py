"""Long and wide files read through a description into the contract (synthetic files only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import ASSESSMENTS, PATIENTS, write_dataset
from outcomes import Cohort, load_dataset
from outcomes.errors import UsageError
from outcomes.io import validation_text
from outcomes.io.layouts import NO_OUTCOME, NOMINAL_DAY_ZERO


def _folder(tmp_path, data: str, toml: str, name: str = "data.csv"):
    (tmp_path / name).write_text(data, encoding="utf-8")
    (tmp_path / "dataset.toml").write_text(toml, encoding="utf-8")
    return tmp_path


VISITS = """\
id,visit,arm,age,sex,pain,mood,is_patient
1,1,1,40,1,7,3,1
1,2,1,40,1,4,5,1
2,1,2,50,2,6,NaN,1
2,2,2,51,2,6,4,1
3,1,2.0,30,2,<undefined>,4,1
3,3,2,30,2,5,4,1
9001,1,,33,1,1,1,0

4,1,1,60,1,8,2,1
4,2,1,60,1,12,2,1
"""

VISITS_TOML = """
[source]
layout = "long"
file = "data.csv"
missing = ["NaN", "<undefined>"]
[columns]
patient_id = "id"
schedule = "arm"
age_years = "age"
sex = "sex"
[values.schedule]
"1" = "a"
"2" = "b"
[values.sex]
1 = "male"
"2" = "female"
[[filter]]
column = "is_patient"
keep = [1]
[time]
unit = "visit"
column = "visit"
[time.visits]
"1" = 0
"2" = 1
"3" = 2
[outcomes.pain]
label = "Pain"
min = 0
max = 10
higher_is_better = false
integer = true
mcid = 2
[outcomes.mood]
label = "Mood"
min = 0
max = 10
higher_is_better = true
"""


def test_long_visit_coded_file_reconciles_with_filters_and_quarantines_with_reasons(tmp_path):
    ds = load_dataset(_folder(tmp_path, VISITS, VISITS_TOML))
    p, a = ds.exports["patients"], ds.exports["assessments"]
    # 10 rows read: 1 blank, 1 dropped by the filter, the rest accepted or quarantined
    assert (a.rows_read, a.blank_skipped, a.filtered) == (10, 1, {"is_patient in [1]": 1})
    assert a.reconciles and p.reconciles
    assert "rows dropped by the filters: 1 by is_patient in [1]" in a.notes
    assert "assessments: rows read also include 1 dropped by the filters (is_patient in [1]: 1)." in \
        validation_text(ds).splitlines()
    # patient 2's age differs between rows: quarantined with the values and lines, and its assessments follow
    err = p.errors.set_index("rule").loc["patient_level_varies"]
    assert err["column"] == "age_years" and "'50' (line 4), '51' (line 5)" in err["reason"]
    assert set(a.errors.loc[a.errors["rule"] == "foreign_key", "line"]) == {4, 5}
    # pain 12 is outside the declared 0-10 range: quarantined like a built-in
    bad = a.errors[a.errors["column"] == "pain"]
    assert bad["line"].tolist() == [11] and "outside the allowed range 0–10" in bad["reason"].iloc[0]
    # values recoded whether the file says 2 or 2.0, keys given as text or as number
    assert sorted(ds["patients"]["schedule"]) == ["a", "a", "b"]
    assert dict(zip(ds["patients"]["patient_id"], ds["patients"]["sex"])) == {"1": "male", "3": "female",
                                                                              "4": "male"}
    data = ds["assessments"].set_index(["patient_id", "time"])
    assert data.loc[("3", 2.0), "pain"] == 5 and pd.isna(data.loc[("3", 0.0), "pain"])  # "<undefined>" missing
    assert data.loc[("3", 2.0), "assessed_on"] == NOMINAL_DAY_ZERO + pd.Timedelta(days=14)
    assert ds.outcomes.label("mood") == "Mood" and ds.outcomes.higher_is_better("mood")


def test_visit_code_not_in_time_visits_is_a_usage_error(tmp_path):
    toml = VISITS_TOML.replace('"3" = 2\n', "")
    with pytest.raises(UsageError, match=r'holds the code "3", not listed in \[time.visits\] \(1, 2\)'):
        load_dataset(_folder(tmp_path, VISITS, toml))


def test_cohort_from_visits_uses_time_zero_as_baseline_and_the_visit_as_week(tmp_path):
    cohort = Cohort.from_folder(_folder(tmp_path, VISITS, VISITS_TOML))
    a = cohort.assessments.sort_values(["patient_id", "time"])
    assert a["week"].tolist() == a["time"].tolist()  # visit: week = visit number
    assert cohort.options.baseline_window_days == 0
    assert any("week is the visit number" in r for r in cohort.remarks)
    # declared outcomes are summarised; mood (higher is better) has no mcid, so no responder status
    ch = cohort.changes.set_index(["outcome", "patient_id"])
    assert ch.loc[("pain", "1"), "baseline"] == 7
    assert ch.loc[("mood", "1"), "baseline"] == 3
    assert cohort.options.instruments["mood"].higher_is_worse is False
    assert any("No mcid declared for Mood" in r for r in cohort.remarks)


HOURLY = """\
pid,group,hours,throat
A,x,0.5,6
A,x,1.5,5
A,x,4,3
A,x,20,1
B,y,0.5,7
B,y,1.5,7
B,y,1.5,6
B,y,4,5
"""

HOURLY_TOML = """
[source]
layout = "long"
file = "post.csv"
[columns]
patient_id = "pid"
schedule = "group"
[time]
unit = "hour"
column = "hours"
[outcomes.throat]
label = "Sore throat"
min = 0
max = 10
higher_is_better = false
"""


def test_hourly_file_allows_several_assessments_a_day_and_keys_on_time(tmp_path):
    ds = load_dataset(_folder(tmp_path, HOURLY, HOURLY_TOML, "post.csv"))
    a = ds.exports["assessments"]
    # the two 1.5 h rows of B conflict: both quarantined, and nothing else
    assert sorted(a.errors["line"].tolist()) == [7, 8]
    assert a.errors["rule"].unique().tolist() == ["unique"] and "patient_id, time" in a.errors["reason"].iloc[0]
    assert a.accepted == 6 and a.reconciles
    stamps = ds["assessments"].query("patient_id == 'A'")["assessed_on"]
    assert (stamps - NOMINAL_DAY_ZERO).tolist() == [pd.Timedelta(minutes=m) for m in (30, 90, 240, 1200)]
    cohort = Cohort.from_dataset(ds)
    weeks = cohort.assessments.query("patient_id == 'A'")["week"].to_numpy()
    np.testing.assert_allclose(weeks, np.array([0.5, 1.5, 4, 20]) / 24 / 7)


WIDE = """\
subject,treatment,age,bdi.pre,bdi.2m,bdi.4m,drug,bmi
1,TAU,30,29,2,2,No,22.5
2,BtheB,40,32,16,24,Yes,31
3,TAU,50,25,20,,Yes,27.25
4,BtheB,35,21,17,16,No,24
5,BtheB,45,99,,,No,26
"""

WIDE_TOML = """
[source]
layout = "wide"
file = "btheb.csv"
[columns]
patient_id = "subject"
schedule = "treatment"
age_years = "age"
[time]
unit = "month"
[outcomes.bdi]
label = "Beck Depression Inventory"
min = 0
max = 63
higher_is_better = false
integer = true
mcid = 5
columns = { "bdi.pre" = 0, "bdi.2m" = 2, "bdi.4m" = 4 }
[covariates]
drug = "categorical"
bmi = "numeric"
"""


def test_wide_file_becomes_one_assessment_per_patient_and_time(tmp_path):
    ds = load_dataset(_folder(tmp_path, WIDE, WIDE_TOML, "btheb.csv"))
    p, a = ds.exports["patients"], ds.exports["assessments"]
    # bdi.pre = 99 is out of range: the row (the patient) is quarantined, naming the file's line and column
    assert p.errors[["line", "column"]].values.tolist() == [[6, "bdi.pre"]]
    assert p.accepted == 4 and p.reconciles
    # 4 patients × 3 times = 12 cells, one empty (patient 3 at 4 months)
    assert (a.rows_read, a.accepted, a.blank_skipped) == (12, 11, 1) and a.reconciles
    got = ds["assessments"].query("patient_id == '2'")[["time", "bdi"]]
    assert got["time"].tolist() == [0, 2, 4] and got["bdi"].tolist() == [32, 16, 24]
    assert "bdi.pre" not in ds["patients"].columns
    # covariates typed: bmi a number (one model term), drug a category
    cohort = Cohort.from_dataset(ds)
    s = cohort.patient_summary
    assert s["bmi"].dtype == "float64" and s["bmi"].tolist() == [22.5, 31.0, 27.25, 24.0]
    assert s["drug"].tolist() == ["No", "Yes", "Yes", "No"]
    assert cohort.covariates == {"drug": "categorical", "bmi": "numeric"}
    np.testing.assert_allclose(cohort.assessments.query("patient_id == '2'")["week"], [0, 2 * 30.4375 / 7,
                                                                                       4 * 30.4375 / 7])


def test_wide_map_naming_a_missing_column_is_a_usage_error(tmp_path):
    toml = WIDE_TOML.replace('"bdi.4m" = 4', '"bdi.6m" = 6')
    with pytest.raises(UsageError, match='"bdi.6m", which btheb.csv does not have. Did you mean "bdi.4m"'):
        load_dataset(_folder(tmp_path, WIDE, toml, "btheb.csv"))


def test_wide_numeric_covariate_that_is_not_a_number_is_quarantined(tmp_path):
    ds = load_dataset(_folder(tmp_path, WIDE.replace("31\n", "obese\n"), WIDE_TOML, "btheb.csv"))
    errs = ds.exports["patients"].errors
    assert ("bmi", 3) in set(zip(errs["column"], errs["line"]))


def test_baseline_column_in_a_long_file_becomes_time_zero(tmp_path):
    data = "id,arm,week,das,das_base\n1,a,4,3.1,5.0\n1,a,8,2.5,5.0\n2,b,4,4.0,4.5\n2,b,8,,4.5\n"
    toml = """
[source]
layout = "long"
file = "ra.csv"
[columns]
patient_id = "id"
schedule = "arm"
[time]
unit = "week"
column = "week"
[outcomes.das]
min = 0
max = 10
higher_is_better = false
baseline_column = "das_base"
"""
    ds = load_dataset(_folder(tmp_path, data, toml, "ra.csv"))
    a = ds["assessments"].sort_values(["patient_id", "time"])
    assert a[["patient_id", "time", "das"]].values.tolist() == [
        ["1", 0.0, 5.0], ["1", 4.0, 3.1], ["1", 8.0, 2.5], ["2", 0.0, 4.5], ["2", 4.0, 4.0]]
    # a row with no outcome value is a missed visit, not a bad record: counted, not quarantined
    assert ds.exports["assessments"].errors.empty
    assert ds.exports["assessments"].filtered == {NO_OUTCOME: 1}
    assert "das_base" not in ds["patients"].columns
    assert ds.exports["assessments"].reconciles
    cohort = Cohort.from_dataset(ds)
    assert cohort.changes.set_index(["outcome", "patient_id"]).loc[("das", "2"), "baseline"] == 4.5


def test_a_dated_long_file_gives_the_same_frames_as_the_exports(tmp_path):
    exports = load_dataset(write_dataset(tmp_path / "exports", {"sessions": None, "prescriptions": None}))
    patients = pd.read_csv(tmp_path / "exports" / "patients.csv", dtype=str, keep_default_na=False)
    assessments = pd.read_csv(tmp_path / "exports" / "assessments.csv", dtype=str, keep_default_na=False)
    long = assessments.merge(patients.rename(columns={"patient_id": "Patient"}), left_on="patient_id",
                             right_on="Patient").drop(columns="patient_id")
    folder = tmp_path / "long"
    folder.mkdir()
    long.to_csv(folder / "all.csv", index=False)
    (folder / "dataset.toml").write_text('[source]\nlayout = "long"\nfile = "all.csv"\n'
                                         '[columns]\npatient_id = "Patient"\n', encoding="utf-8")
    declared = load_dataset(folder)
    assert declared.ok and exports.ok
    for name in ("patients", "assessments"):
        left = exports[name].reset_index(drop=True)
        right = declared[name].reset_index(drop=True)[list(left.columns)]
        pd.testing.assert_frame_equal(left.sort_values("patient_id", ignore_index=True),
                                      right.sort_values("patient_id", ignore_index=True), check_dtype=False)


def test_an_exports_folder_with_a_description_maps_columns_and_declares_outcomes(tmp_path):
    folder = write_dataset(tmp_path, {"sessions": None, "prescriptions": None,
                                      "patients": PATIENTS.replace("patient_id,", "Pt,", 1),
                                      "assessments": ASSESSMENTS.replace("leg_pain", "throat", 1)})
    (folder / "dataset.toml").write_text(
        '[columns]\npatient_id = "Pt"\n[outcomes.throat]\nlabel = "Throat"\nmin = 0\nmax = 6\n'
        "higher_is_better = false\n", encoding="utf-8")
    ds = load_dataset(folder)
    # a throat score of 7 or 8 is outside the declared 0-6: quarantined
    assert ds.exports["assessments"].errors["column"].eq("throat").sum() == 2
    assert ds.outcomes.label("throat") == "Throat"
    with pytest.raises(UsageError, match="--columns is not used with it"):
        load_dataset(folder, columns=str(folder / "map.json"))


def test_exports_long_and_wide_give_the_same_analysis(tmp_path):
    """One small trial written three ways (four exports, a long file and a wide file timed in days)
    gives the same changes, responders and ANCOVA estimate."""
    from outcomes.models.trial import trial_ancova

    rng = np.random.default_rng(7)
    n, days = 24, (0, 14, 42)
    ids = [f"P{i:02d}" for i in range(n)]
    arm = np.where(np.arange(n) % 2 == 0, "a", "b")
    age = rng.integers(20, 80, n)
    enrolled = pd.Timestamp("2025-03-01") + pd.to_timedelta(rng.integers(0, 60, n), unit="D")
    pain = np.clip(np.round(rng.normal(6, 2, (n, 3)) - np.outer(arm == "a", [0, 1, 3])), 0, 10)
    odi = np.clip(np.round(rng.normal(40, 10, (n, 3)), 1), 0, 100)
    pain[3, 2] = np.nan
    odi[5, 1] = np.nan
    exports = tmp_path / "exports"
    exports.mkdir()
    pd.DataFrame({"patient_id": ids, "enrolled_on": enrolled.strftime("%Y-%m-%d"), "schedule": arm,
                  "age_years": age}).to_csv(exports / "patients.csv", index=False)
    rows = [{"patient_id": ids[i], "assessed_on": (enrolled[i] + pd.Timedelta(days=d)).strftime("%Y-%m-%d"),
             "day": d, "leg_pain": pain[i, j], "odi": odi[i, j]} for i in range(n) for j, d in enumerate(days)]
    long = pd.DataFrame(rows)
    long.drop(columns="day").to_csv(exports / "assessments.csv", index=False)
    folder = tmp_path / "long"
    folder.mkdir()
    long.drop(columns="assessed_on").assign(arm=np.repeat(arm, 3), age=np.repeat(age, 3)).to_csv(
        folder / "trial.csv", index=False)
    (folder / "dataset.toml").write_text(
        '[source]\nlayout = "long"\nfile = "trial.csv"\n[columns]\npatient_id = "patient_id"\nschedule = "arm"\n'
        'age_years = "age"\n[time]\nunit = "day"\ncolumn = "day"\n', encoding="utf-8")
    wide_dir = tmp_path / "wide"
    wide_dir.mkdir()
    table = {"id": ids, "arm": arm, "age": age}
    for j, d in enumerate(days):
        table[f"pain_d{d}"] = pain[:, j]
        table[f"odi_d{d}"] = odi[:, j]
    pd.DataFrame(table).to_csv(wide_dir / "trial.csv", index=False)
    cols = {o: "{ " + ", ".join(f'"{o}_d{d}" = {d}' for d in days) + " }" for o in ("pain", "odi")}
    (wide_dir / "dataset.toml").write_text(
        '[source]\nlayout = "wide"\nfile = "trial.csv"\n[columns]\npatient_id = "id"\nschedule = "arm"\n'
        f'age_years = "age"\n[time]\nunit = "day"\n[outcomes.leg_pain]\ncolumns = {cols["pain"]}\n'
        f'[outcomes.odi]\ncolumns = {cols["odi"]}\n', encoding="utf-8")
    cohorts = {name: Cohort.from_folder(tmp_path / name) for name in ("exports", "long", "wide")}
    keep = ["patient_id", "outcome", "baseline", "endpoint", "change", "pct_change", "responder", "rc"]
    ref = cohorts["exports"].changes[keep]
    assert ref["responder"].notna().sum() > 10
    ancova = trial_ancova(cohorts["exports"], outcome="leg_pain", covariates=("age_years",)).to_frame()
    for name in ("long", "wide"):
        pd.testing.assert_frame_equal(cohorts[name].changes[keep], ref, check_dtype=False)
        other = trial_ancova(cohorts[name], outcome="leg_pain", covariates=("age_years",)).to_frame()
        np.testing.assert_allclose(other["estimate"], ancova["estimate"], rtol=1e-10)
