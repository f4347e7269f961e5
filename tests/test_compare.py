"""The comparison orchestrator, its files (refittable from models.json) and `outcomes compare`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from outcomes import Cohort
from outcomes.models.compare import compare_schedules
from outcomes.reports.tables import write_comparison


@pytest.fixture(scope="module")
def sim_cohort():
    from outcomes.simulate import simulate

    sim = simulate(240, seed=21)
    return Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions,
                              prescriptions=sim.prescriptions)


def test_every_model_runs_and_rows_have_the_json_shape(sim_cohort):
    cmp = compare_schedules(sim_cohort, reference="weekly")
    names = [m.name for m in cmp.models]
    assert names[0].startswith("trajectory") and any(n.startswith("ancova") for n in names)
    assert any(n.startswith("flare") for n in names) and any(n.startswith("time_to_response") for n in names)
    rows = cmp.rows()
    assert set(rows[0]) == {"table", "model", "outcome", "term", "estimate", "std_error", "ci_lower", "ci_upper",
                            "p_value"}
    assert any(r["term"] == "week:schedule[T.guided]" for r in rows)
    assert cmp.reference == "weekly" and set(cmp.marginal_means["schedule"]) == {"guided", "weekly"}
    json.dumps(cmp.document())  # serialisable


def test_written_files_let_anyone_refit_the_trajectory_model(sim_cohort, tmp_path):
    import statsmodels.formula.api as smf

    cmp = compare_schedules(sim_cohort, reference="weekly")
    written = write_comparison(cmp, tmp_path)
    spec = json.loads((tmp_path / "models.json").read_text())
    traj = spec["models"][0]
    assert traj["data_file"] == "analysis_data.csv" and traj["groups"] == "patient_id"
    data = pd.read_csv(tmp_path / "analysis_data.csv")
    data["schedule"] = pd.Categorical(data["schedule"], categories=["weekly", "guided"])
    fit = smf.mixedlm(traj["fixed_formula"], data, groups=data[traj["groups"]],
                      re_formula=traj["re_formula"]).fit(reml=True, method=["lbfgs", "powell"])
    ours = cmp.models[0].to_frame().set_index("term")["estimate"]
    np.testing.assert_allclose(fit.fe_params[ours.index], ours, rtol=1e-3, atol=1e-4)
    models_csv = pd.read_csv(tmp_path / "models.csv")
    assert len(models_csv) == len(cmp.rows()) and "models.csv" in written


def test_assessments_only_cohort_leaves_out_session_models_and_says_so():
    from outcomes.simulate import simulate

    sim = simulate(200, seed=4)
    c = Cohort.from_frames(sim.patients, sim.assessments)
    cmp = compare_schedules(c)
    assert not any(m.name.startswith("flare") for m in cmp.models)
    assert any("No sessions export" in r for r in cmp.remarks)
    assert any(m.name.startswith("ancova") for m in cmp.models)


def test_one_schedule_or_unknown_reference_is_a_clear_error(sim_cohort):
    with pytest.raises(ValueError, match="not in the data; choose one of: guided, weekly"):
        compare_schedules(sim_cohort, reference="daily")
    one = sim_cohort.patients.assign(schedule="weekly")
    c = Cohort.from_frames(one, sim_cohort.assessments)
    with pytest.raises(ValueError, match="at least two schedules"):
        compare_schedules(c)


def test_one_patient_per_schedule_is_a_clear_error(sim_cohort):
    # 20 arms of one patient: an arm effect is the patient's own random effect ("significant" before)
    few = sim_cohort.patients.head(20).assign(schedule=[f"arm{k}" for k in range(20)])
    c = Cohort.from_frames(few, sim_cohort.assessments[sim_cohort.assessments["patient_id"].isin(few["patient_id"])])
    with pytest.raises(ValueError, match="each of the 20 schedules has a single patient"):
        compare_schedules(c)


def test_no_trajectory_difference_beyond_an_arms_last_assessment(sim_cohort):
    from outcomes.plan import AnalysisPlan

    a = sim_cohort.assessments
    arm = a["patient_id"].map(sim_cohort.patients.set_index("patient_id")["schedule"])
    early = a[(arm != "weekly") | (a["week"] <= 2.2)]  # 'weekly' is not assessed after week 2
    c = Cohort.from_frames(sim_cohort.patients, early)
    cmp = compare_schedules(c, reference="guided")
    assert cmp.contrasts.empty  # and the default primary (ANCOVA at week 6) has no 'weekly' patient: a failure
    assert [f[:60] for f in cmp.failures] == ["The pre-specified primary analysis (ANCOVA at the endpoint) "]
    assert any("schedule differences at week 6 are not reported: arm 'weekly' has no leg_pain assessment after "
               "week 2." in r for r in cmp.remarks)
    weekly = cmp.marginal_means[cmp.marginal_means["schedule"] == "weekly"]
    assert weekly["week"].max() <= 2.2 + 1 and cmp.marginal_means["week"].max() >= 6  # "guided" still to week 6+
    lmm = compare_schedules(c, plan=AnalysisPlan(outcome="leg_pain", endpoint_week=6, primary="lmm",
                                                 reference="guided"))
    assert any("cannot estimate the week-6 difference" in f for f in lmm.failures)
    three = sim_cohort.patients.copy()  # a third arm followed to the end keeps its difference
    three.loc[three["schedule"].eq("guided") & (three.index % 2 == 0), "schedule"] = "daily"
    c3 = Cohort.from_frames(three, early)
    cmp3 = compare_schedules(c3, reference="guided")
    assert cmp3.contrasts["schedule"].tolist() == ["daily"]
    assert any("schedule differences of 'weekly' at week 6 are not reported" in r for r in cmp3.remarks)
    assert compare_schedules(c3, reference="weekly").contrasts.empty  # the reference itself stops at week 2
    full = compare_schedules(sim_cohort, reference="guided")  # every arm followed to week 6: reported
    assert not full.contrasts.empty and not any("not reported: arm" in r for r in full.remarks)


def test_an_endpoint_after_every_assessment_is_named_with_the_last_week(sim_cohort):
    a = sim_cohort.assessments
    c = Cohort.from_frames(sim_cohort.patients, a[a["week"] <= 2.2])
    cmp = compare_schedules(c, reference="guided")
    assert len(cmp.failures) == 1 and "the latest leg_pain assessment is at week 2" in cmp.failures[0]
    assert "choose the endpoint with --endpoint-week" in cmp.failures[0]
    assert not compare_schedules(c, reference="guided", endpoint_week=2).failures  # an endpoint in the data


def test_cli_compare_json_and_files(tmp_path):
    out = tmp_path / "cmp"
    p = subprocess.run([sys.executable, "-m", "outcomes", "compare", str(ROOT / "data" / "example"), "--out",
                        str(out), "--format", "json", "--reference", "weekly"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    doc = json.loads(p.stdout)
    assert doc["reference"] == "weekly" and doc["rows"]
    models = [r for r in doc["rows"] if r["table"] == "models"]
    assert models and all(set(r) >= {"model", "term", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"}
                          for r in models)
    assert {r["table"] for r in doc["rows"]} == {"descriptives", "responders", "flow", "effect_size", "models",
                                                 "estimates", "sensitivity"}
    for name in ("compare.html", "compare.pdf", "models.json", "models.csv", "analysis_data.csv"):
        assert (out / name).is_file(), name
    html = (out / "compare.html").read_text()
    assert "What these numbers can and cannot say" in html and "weekly" in html
    bad = subprocess.run([sys.executable, "-m", "outcomes", "compare", str(ROOT / "data" / "example"), "--out",
                          str(out), "--reference", "daily"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "choose one of: guided, weekly" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_plan_write_then_compare_with_the_plan(tmp_path):
    plan = tmp_path / "plans" / "plan.toml"  # a plan's folder is an input: outputs may not go inside it
    plan.parent.mkdir()
    run = lambda *a: subprocess.run([sys.executable, "-m", "outcomes", *a], capture_output=True, text=True,
                                    timeout=300)
    p = run("plan", "--write", str(plan))
    assert p.returncode == 0 and plan.is_file()
    assert run("plan", "--write", str(plan)).returncode == 2  # never overwrites silently
    assert 'reference = "weekly"' in plan.read_text()  # written explicitly
    out = tmp_path / "out"
    p = run("compare", str(ROOT / "data" / "example"), "--out", str(out), "--plan", str(plan), "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    tables = {r["table"] for r in doc["rows"]}
    assert tables == {"descriptives", "responders", "flow", "effect_size", "models", "estimates", "sensitivity"}
    assert doc["reference"] == "weekly" and (out / "plan.toml").read_text().startswith("# Analysis plan")
    assert json.loads((out / "models.json").read_text())["plan_sha256"]
    bad = tmp_path / "plans" / "bad.toml"
    bad.write_text("endpoint_wek = 6\n")
    p = run("compare", str(ROOT / "data" / "example"), "--out", str(out), "--plan", str(bad))
    assert p.returncode == 2 and 'did you mean "endpoint_week"' in p.stderr and "Traceback" not in p.stderr
    p = run("compare", str(ROOT / "data" / "example"), "--out", str(out), "--plan", str(plan), "--reference", "x")
    assert p.returncode == 2 and "cannot be combined with --plan" in p.stderr


def test_cli_outcome_is_any_outcome_of_the_data_and_nothing_else(tmp_path):
    # --outcome takes a declared outcome too (argparse's fixed list refused what the error told users to use)
    def run(*a):
        return subprocess.run([sys.executable, "-m", "outcomes", *a], capture_output=True, text=True, timeout=300)

    p = run("compare", str(ROOT / "data" / "example"), "--out", str(tmp_path / "o"), "--outcome", "patient_id")
    assert p.returncode == 2 and "'patient_id' is not an outcome of the assessments" in p.stderr
    assert "outcomes present: " in p.stderr and "leg_pain" in p.stderr and "invalid choice" not in p.stderr
    p = run("compare", str(ROOT / "data" / "example"), "--out", str(tmp_path / "o"), "--outcome", "shoe_size")
    assert p.returncode == 2 and "'shoe_size' is not a column of the assessments" in p.stderr


def test_cli_every_patient_missing_baseline_is_said_plainly(tmp_path):
    from outcomes.simulate import simulate, write_dataset

    sim = simulate(80, seed=9)
    late = sim.assessments[(sim.assessments["assessed_on"] - sim.assessments["patient_id"].map(
        sim.patients.set_index("patient_id")["enrolled_on"])).dt.days > 10]
    write_dataset(type(sim)(patients=sim.patients, prescriptions=sim.prescriptions.iloc[:0],
                            sessions=sim.sessions.iloc[:0], assessments=late, truth=sim.truth), tmp_path / "d")
    for name in ("sessions", "prescriptions"):
        (tmp_path / "d" / f"{name}.csv").unlink()
    p = subprocess.run([sys.executable, "-m", "outcomes", "compare", str(tmp_path / "d"), "--out",
                        str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    # the mixed model still uses every assessment; the default plan's primary analysis (ANCOVA) cannot
    # run, which is an error (exit 1), not a remark; the rest is written
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "80 patient(s) have no baseline assessment" in p.stdout
    assert ("The pre-specified primary analysis (ANCOVA at the endpoint) could not be run: no patient has both a "
            "baseline" in p.stderr and "No --plan was given, so this is the default plan's analysis" in p.stderr)
    assert "Not run: The pre-specified primary analysis (ANCOVA" in p.stdout
    assert (tmp_path / "out" / "descriptives.csv").is_file() and (tmp_path / "out" / "compare.pdf").is_file()


def test_pairwise_contrasts_cover_every_pair_and_agree_with_each_other():
    from outcomes.simulate import simulate

    sim = simulate(180, seed=14)
    rng = np.random.default_rng(14)
    arms = np.where(sim.patients["schedule"] == "weekly", "a", np.where(rng.random(len(sim.patients)) < .5, "b", "c"))
    c = Cohort.from_frames(sim.patients.assign(schedule=arms), sim.assessments)
    cmp = compare_schedules(c, pairwise=True)
    pw = cmp.tables["pairwise"].set_index(["schedule", "reference"])["estimate"]
    assert sorted(pw.index) == [("b", "a"), ("c", "a"), ("c", "b")]
    # c − a = (c − b) + (b − a) in one linear model with the same patients
    assert pw[("c", "a")] == pytest.approx(pw[("c", "b")] + pw[("b", "a")], abs=1e-9)
    assert any("adjusted over the 3 pairs (Holm)" in r for r in cmp.remarks)
    from outcomes.models.multiplicity import adjust_p
    table = cmp.tables["pairwise"]
    assert list(table["method"].unique()) == ["holm"]
    np.testing.assert_allclose(table["p_adjusted"], adjust_p(table["p_value"].to_numpy(), "holm"))
    assert set(table.columns) >= {"table", "outcome", "term", "estimate", "std_error", "ci_lower", "ci_upper",
                                  "p_value", "p_adjusted", "method"}
    assert "pairwise" not in compare_schedules(c).tables


def test_models_return_objects_and_reports_write_them():
    """Writing files belongs to reports (issue 15): the comparison module writes nothing, and the old
    import path of write_comparison still works for notebooks and scripts."""
    import inspect

    import outcomes.models.compare as models_compare
    from outcomes.models.compare import write_comparison as old_path
    from outcomes.reports import write_comparison as new_path

    assert old_path is new_path is write_comparison
    source = inspect.getsource(models_compare)
    assert not any(word in source for word in ("atomic_write", "prepare_out_dir", "open(", "to_csv("))


@pytest.mark.parametrize("module", ["outcomes/cli/compare.py", "outcomes/cli/plan.py"])
def test_cli_modules_import_the_analyses_only_when_run(module):
    """`compare --help` and `plan --help` must not pay for the models, the reports, statsmodels or
    matplotlib: those are imported inside run()."""
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).resolve().parents[1] / module).read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [(n.module or "") if isinstance(n, ast.ImportFrom) else a.name for n in top
             for a in (n.names if isinstance(n, ast.Import) else [None])]
    heavy = [m for m in names if any(w in m for w in ("models", "reports", "plan", "statsmodels", "matplotlib",
                                                       "pandas", "cohort", "io."))]
    assert heavy == []
