"""Layout "adam" (ADSL + a BDS dataset) and `outcomes export adam` (files written here; values synthetic)."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

from _interop import ADAM_TOML, compare_document, same_analysis, trial, write_adam, write_exports, write_redcap
from outcomes import load_dataset
from outcomes.cli import main
from outcomes.errors import UsageError
from outcomes.io.layouts import NO_OUTCOME


@pytest.fixture(scope="module")
def data():
    return trial()


def test_adam_is_read_with_its_population_and_parameters(tmp_path, data):
    ds = load_dataset(write_adam(tmp_path, data, extra_subjects=2))
    p, a = ds.exports["patients"], ds.exports["assessments"]
    assert ds.ok and p.reconciles and a.reconciles
    # two screened subjects with ITTFL = "N" are counted as filtered, not lost
    assert (p.rows_read, p.accepted, p.filtered) == (38, 36, {'ITTFL = "Y" (the randomised population)': 2})
    # 272 LEGPAIN/BDI rows → 136 (subject, visit) records; the 136 QSALL rows are counted as not read
    assert (a.rows_read, a.accepted) == (136, 136)
    assert "rows of adqs.csv not read: 136 of parameters not described (QSALL 136)" in a.notes
    got = ds["assessments"].set_index(["patient_id", "time"])
    want = data["assessments"].set_index(["pid", "week"])
    assert got.loc[("100", 2.0), "leg_pain"] == want.loc[("100", 2), "leg_pain"]
    assert set(ds["patients"]["sex"]) == {"female", "male"} and set(ds["patients"]["schedule"]) == {"TAU", "BtheB"}


def test_adam_and_exports_give_the_same_compare_json(tmp_path, data):
    assert len([ln for ln in ADAM_TOML.splitlines() if ln.strip()]) <= 20
    exports = compare_document(write_exports(tmp_path / "exports", data), tmp_path / "out1")
    adam = compare_document(write_adam(tmp_path / "adam", data, extra_subjects=3), tmp_path / "out2")
    assert exports["models"] and same_analysis(exports, adam) == []


@pytest.mark.parametrize("source", ["exports", "redcap"])
def test_export_adam_round_trip_gives_the_same_analysis(tmp_path, data, source, capsys):
    folder = (write_exports if source == "exports" else write_redcap)(tmp_path / source, data)
    out = tmp_path / "adam"
    assert main(["export", "adam", str(folder), "--out", str(out)]) == 0
    assert "Wrote 36 subjects" in capsys.readouterr().out
    adsl = pd.read_csv(out / "adsl.csv", dtype=str, keep_default_na=False)
    adqs = pd.read_csv(out / "adqs.csv", keep_default_na=False, dtype={"USUBJID": str})
    assert {"USUBJID", "TRT01P", "ITTFL", "AGE", "SEX"} <= set(adsl.columns)
    assert ["PARAMCD", "PARAM", "AVISIT", "AVISITN", "AVAL", "BASE", "CHG", "PCHG", "ABLFL", "ANL01FL"] == [
        c for c in adqs.columns if c in ("PARAMCD", "PARAM", "AVISIT", "AVISITN", "AVAL", "BASE", "CHG", "PCHG",
                                         "ABLFL", "ANL01FL")]
    one = adqs[(adqs["USUBJID"] == "100") & (adqs["PARAMCD"] == "LEGPAIN")].reset_index(drop=True)
    base = data["assessments"].query("pid == '100' and week == 0")["leg_pain"].iloc[0]
    assert one.loc[0, "ABLFL"] == "Y" and one.loc[0, "AVISIT"] == "Baseline" and one.loc[0, "CHG"] == ""
    assert (one["BASE"].astype(float) == base).all()
    np.testing.assert_allclose(one.loc[1:, "CHG"].astype(float), one.loc[1:, "AVAL"].astype(float) - base)
    np.testing.assert_allclose(one.loc[1:, "PCHG"].astype(float), 100 * (one.loc[1:, "AVAL"].astype(float) - base)
                               / base)
    doc = tomllib.loads((out / "dataset.toml").read_text(encoding="utf-8"))
    assert doc["source"]["layout"] == "adam" and doc["outcomes"]["bdi"]["paramcd"] == "BDI"
    original = compare_document(folder, tmp_path / "o1")
    again = compare_document(out, tmp_path / "o2")
    assert same_analysis(original, again) == []
    assert original["remarks"] == again["remarks"]  # same time axis: not a word differs


def test_export_refuses_an_out_folder_inside_the_data(tmp_path, data, capsys):
    folder = write_exports(tmp_path / "exports", data)
    assert main(["export", "adam", str(folder), "--out", str(folder / "adam")]) == 2
    assert "inputs are never written to" in capsys.readouterr().err


def test_records_of_a_subject_not_in_adsl_are_quarantined_naming_the_file(tmp_path, data):
    folder = write_adam(tmp_path, data)
    adqs = pd.read_csv(folder / "adqs.csv", dtype=str, keep_default_na=False)
    stray = adqs[adqs["USUBJID"] == "100"].assign(USUBJID="S999")
    pd.concat([adqs, stray]).to_csv(folder / "adqs.csv", index=False)
    ds = load_dataset(folder)
    a = ds.exports["assessments"]
    orphans = a.errors[a.errors["rule"] == "foreign_key"]
    assert set(orphans["value"]) == {"S999"}
    assert "patient_id 'S999' is not in adsl.csv" in orphans["reason"].iloc[0]
    assert a.reconciles and a.quarantined == 4


def test_two_rows_of_one_parameter_at_one_visit_quarantine_the_visit(tmp_path, data):
    folder = write_adam(tmp_path, data)
    adqs = pd.read_csv(folder / "adqs.csv", dtype=str, keep_default_na=False)
    copy = adqs.iloc[[1]].assign(AVAL="9")
    pd.concat([adqs, copy]).to_csv(folder / "adqs.csv", index=False)
    ds = load_dataset(folder)
    err = ds.exports["assessments"].errors.set_index("rule").loc["unique"]
    assert f"adqs.csv lines 3, {len(adqs) + 2}: 2 rows of PARAMCD BDI for USUBJID '100'" in err["reason"]
    assert ds.exports["assessments"].reconciles


def test_a_record_with_no_value_is_a_missed_visit(tmp_path, data):
    folder = write_adam(tmp_path, data)
    adqs = pd.read_csv(folder / "adqs.csv", dtype=str, keep_default_na=False)
    adqs.loc[adqs["USUBJID"] == "100", "AVAL"] = ""
    adqs.to_csv(folder / "adqs.csv", index=False)
    a = load_dataset(folder).exports["assessments"]
    assert a.filtered == {NO_OUTCOME: 4} and a.errors.empty and a.reconciles


@pytest.mark.parametrize("edit, expected", [
    (lambda t: t.replace('paramcd = "LEGPAIN"', 'paramcd = "LEGPAN"'),
     'paramcd "LEGPAN" is not a PARAMCD of adqs.csv. Did you mean "LEGPAIN"?'),
    (lambda t: t.replace('subjects = "adsl.csv"', 'subjects = "adsl2.csv"'), "[source] subjects"),
    (lambda t: t.replace('subjects = "adsl.csv"\n', ""), 'layout = "adam" needs subjects = "..."'),
    (lambda t: t + 'column = "AVAL"\n', "column is not for layout \"adam\""),
])
def test_bad_adam_descriptions_exit_2(tmp_path, data, capsys, edit, expected):
    folder = write_adam(tmp_path, data)
    (folder / "dataset.toml").write_text(edit(ADAM_TOML), encoding="utf-8")
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert expected in err, err


def test_a_bds_file_without_paramcd_is_named(tmp_path, data):
    folder = write_adam(tmp_path, data)
    adqs = pd.read_csv(folder / "adqs.csv", dtype=str).rename(columns={"PARAMCD": "PARAM_CD"})
    adqs.to_csv(folder / "adqs.csv", index=False)
    with pytest.raises(UsageError, match='adqs.csv has no column "PARAMCD"'):
        load_dataset(folder)


def test_study_days_are_read_with_day_1_as_time_0(tmp_path, data):
    folder = write_exports(tmp_path / "exports", data)
    out = tmp_path / "adam"
    assert main(["export", "adam", str(folder), "--out", str(out)]) == 0
    text = (out / "dataset.toml").read_text(encoding="utf-8")
    text = text.replace('unit = "date"', 'unit = "day"\ncolumn = "ADY"').replace('enrolled_on = "RANDDT"\n', "")
    (out / "dataset.toml").write_text(text, encoding="utf-8")
    ds = load_dataset(out)
    assert ds.ok and sorted(ds["assessments"]["time"].unique()) == [0, 14, 28, 42]


def test_a_baseline_flag_off_time_0_is_said(tmp_path, data):
    folder = write_adam(tmp_path, data)
    ds = load_dataset(folder)
    assert not any("ABLFL" in n for n in ds.notes)
    adqs = pd.read_csv(folder / "adqs.csv", dtype=str, keep_default_na=False)
    adqs.loc[(adqs["USUBJID"] == "100") & (adqs["AVISITN"] == "2"), "ABLFL"] = "Y"
    adqs.to_csv(folder / "adqs.csv", index=False)
    assert any('2 baseline record(s) of adqs.csv (ABLFL = "Y") are not at time 0' in n for n in load_dataset(folder).notes)


def test_compare_plan_on_the_declared_outcome_gives_the_same_json(tmp_path, data):
    """`compare --plan` with a declared primary outcome: exports and ADaM agree, and so does the ADaM
    written by `export adam` (the outcome is called "depression": the plan refuses "bdi" as a near-miss
    of the built-in "odi")."""
    from _interop import BDI_TOML

    plan = tmp_path / "plan.toml"
    plan.write_text('outcome = "depression"\nvisits = [0, 2, 4, 6]\nendpoint_week = 6\nreference = "TAU"\n'
                    '[[responders]]\nname = "improved"\noutcome = "depression"\nchange_at_most = -5\n',
                    encoding="utf-8")
    exports = write_exports(tmp_path / "exports", data)
    table = pd.read_csv(exports / "assessments.csv", dtype=str, keep_default_na=False)
    table.rename(columns={"bdi": "depression"}).to_csv(exports / "assessments.csv", index=False)
    (exports / "dataset.toml").write_text(BDI_TOML.replace("[outcomes.bdi]", "[outcomes.depression]"),
                                          encoding="utf-8")
    adam = write_adam(tmp_path / "adam", data)
    (adam / "dataset.toml").write_text(ADAM_TOML.replace("[outcomes.bdi]", '[outcomes.depression]\nparamcd = "BDI"'),
                                       encoding="utf-8")
    assert main(["export", "adam", str(exports), "--out", str(tmp_path / "again")]) == 0
    left = compare_document(exports, tmp_path / "o1", "--plan", str(plan))
    assert left["outcome"] == "depression" and left["models"]
    assert same_analysis(left, compare_document(adam, tmp_path / "o2", "--plan", str(plan))) == []
    assert same_analysis(left, compare_document(tmp_path / "again", tmp_path / "o3", "--plan", str(plan))) == []
