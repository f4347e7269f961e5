"""compare executes the analysis plan: one reference, the plan's responders and covariates everywhere,
the primary analysis first, multiplicity, MMRM and sensitivity rows, failures of pre-specified analyses,
and a report in labels rather than codes (issue 11)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from outcomes import Cohort
from outcomes.models.compare import compare_schedules
from outcomes.models.comparison import responder_odds, responder_status, time_to_response
from outcomes.models.comparison.analyses import answer
from outcomes.models.multiplicity import adjust_p
from outcomes.plan import AnalysisPlan, ResponderDefinition, Sensitivity
from outcomes.simulate import simulate

FAST = Sensitivity(imputations=5, tipping_point=(0, 2))


@pytest.fixture(scope="module")
def three_arms() -> Cohort:
    sim = simulate(150, seed=14)
    rng = np.random.default_rng(14)
    arms = np.where(sim.patients["schedule"] == "weekly", "weekly",
                    np.where(rng.random(len(sim.patients)) < .5, "guided", "daily"))
    return Cohort.from_frames(sim.patients.assign(schedule=arms), sim.assessments, sessions=sim.sessions,
                              prescriptions=sim.prescriptions)


@pytest.fixture(scope="module")
def comparison(three_arms):
    plan = AnalysisPlan(reference="weekly", covariates=("age_years", "sex"), primary="mmrm", sensitivity=FAST,
                        responders=(ResponderDefinition("half", "leg_pain", improved_pct_at_least=50),))
    return compare_schedules(three_arms, plan=plan, pairwise=True)


def test_the_plans_responder_definition_reaches_the_odds_ratio_and_the_cox_model(three_arms, comparison):
    odds = next(m for m in comparison.models if m.name.startswith("responder_odds"))
    table = comparison.tables["responders"]
    assert set(table["responder"]) == {"half"} and odds.meta["responder"] == "half"
    # the same patients are responders in the table and in the model (complete case)
    for arm, part in odds.data.groupby("schedule", observed=True):
        row = table[table["schedule"] == arm].iloc[0]
        assert int(part["responder"].sum()) == row["n_responders"]
    # the built-in rule (2 points and 30 %) gives different responders: the plan's definition was used
    builtin = responder_odds(three_arms, endpoint_week=6, reference="weekly")
    assert builtin.data["responder"].sum() != odds.data["responder"].sum()
    # covariates of the plan are in the responder and Cox models
    cox = next(m for m in comparison.models if m.name.startswith("time_to_response"))
    for model in (odds, cox):
        assert model.formula.endswith("+ age_years + sex") and "age_years" in set(model.table["term"])


def test_direction_aware_responder_status(three_arms):
    up = ResponderDefinition("raised", "slr_deg", improved_by_at_least=10)
    down = ResponderDefinition("fell", "leg_pain", improved_by_at_least=2, improved_pct_at_least=30)
    status = responder_status(three_arms, up, [40, 40, 40, np.nan], [55, 45, 30, 60])
    assert status.tolist() == [True, False, False, pd.NA]
    status = responder_status(three_arms, down, [8, 8, 10, 5], [6, 5, 7, np.nan])
    assert status.tolist() == [False, True, True, pd.NA]  # 8 to 6 is 2 points but only 25 %; 10 to 7 is exactly 30 %
    either = ResponderDefinition("either", "leg_pain", improved_by_at_least=2, endpoint_at_most=1, combine="any")
    assert responder_status(three_arms, either, [np.nan, 9], [1, 8]).tolist() == [True, False]


def test_time_to_response_uses_the_definition_at_every_visit(three_arms):
    strict = ResponderDefinition("strict", "leg_pain", endpoint_at_most=0)
    km, cox = time_to_response(three_arms, definition=strict, reference="weekly")
    _, builtin = time_to_response(three_arms, reference="weekly")
    assert cox.data["event"].sum() < builtin.data["event"].sum()
    assert "ended at ≤ 0" in " ".join(cox.remarks)


def test_reference_is_said_once_and_as_given_only_when_given(three_arms):
    given = compare_schedules(three_arms, plan=AnalysisPlan(reference="weekly", sensitivity=FAST))
    said = [r for r in given.remarks if "Reference schedule" in r]
    assert said == ["Reference schedule: 'weekly' (as given); each estimate compares another schedule with it."]
    default = compare_schedules(three_arms, plan=AnalysisPlan(sensitivity=Sensitivity(imputations=0,
                                                                                      tipping_point=())))
    said = [r for r in default.remarks if "Reference schedule" in r]
    assert len(said) == 1 and "'daily' (the first schedule in sorted order" in said[0]
    assert not any("as given" in r for r in default.remarks) and not default.reference_given


def test_primary_first_with_holm_over_the_arms_and_mmrm_rows(comparison):
    est = comparison.tables["estimates"]
    assert est["analysis"].iloc[0] == "mmrm" and est["primary"].iloc[:2].all() and not est["primary"].iloc[2:].any()
    mmrm = est[est["analysis"] == "mmrm"]
    np.testing.assert_allclose(mmrm["p_adjusted"], adjust_p(mmrm["p_value"].to_numpy(), "holm"))
    assert set(est["method"]) == {"holm"}
    rows = [r for r in comparison.rows() if r["model"] == "mmrm"]
    assert {"daily vs weekly at 6", "guided vs weekly at 6"} <= {r["term"] for r in rows}
    assert all(set(r) >= {"table", "model", "outcome", "term", "time", "estimate", "std_error", "ci_lower",
                          "ci_upper", "p_value", "df"} and r["outcome"] == "leg_pain" for r in rows)
    at6 = mmrm.set_index("schedule")["estimate"]
    assert at6["daily"] == pytest.approx(next(r["estimate"] for r in rows if r["term"] == "daily vs weekly at 6"))
    assert comparison.headline and comparison.headline[0].startswith("MMRM")
    assert "Holm-adjusted for 2 comparisons" in comparison.headline[0]


def test_sensitivity_rows_and_tipping_sentences(comparison):
    s = comparison.tables["sensitivity"]
    assert set(s["method"]) == {"multiple_imputation", "tipping_point"} and sorted(set(s["delta"])) == [0, 2]
    for arm in ("daily", "guided"):
        part = s[s["term"].str.startswith(arm)].sort_values("delta")
        assert part["estimate"].is_monotonic_increasing  # lower is better: worse imputed values raise it
    assert len(comparison.tipping.tipping["sentence"]) == 2
    assert all("vs weekly" in x and "worse on leg_pain" in x for x in comparison.tipping.tipping["sentence"])


def test_a_prespecified_analysis_that_cannot_run_is_a_failure(three_arms):
    one_visit = AnalysisPlan(visits=(0, 6), endpoint_week=6, reference="weekly", primary="mmrm", sensitivity=FAST)
    cmp = compare_schedules(three_arms, plan=one_visit)
    assert len(cmp.failures) == 1 and cmp.failures[0].startswith("The pre-specified primary analysis (MMRM) could "
                                                                 "not be run: ")
    assert "at least two post-baseline visits" in cmp.failures[0]
    assert any(m.name.startswith("ancova") for m in cmp.models)  # the rest still ran
    # without a plan nothing is pre-specified: the same problem is a remark
    assert compare_schedules(three_arms, reference="weekly").failures == ()


def test_answer_says_when_a_supportive_analysis_points_the_other_way():
    est = pd.DataFrame([
        {"analysis": "ancova", "primary": True, "schedule": "b", "reference": "a", "estimate": -1.2, "ci_lower": -2.0,
         "ci_upper": -0.4, "p_value": 0.004, "p_adjusted": 0.004, "method": "none"},
        {"analysis": "lmm", "primary": False, "schedule": "b", "reference": "a", "estimate": 0.3, "ci_lower": -0.5,
         "ci_upper": 1.1, "p_value": 0.4, "p_adjusted": 0.4, "method": "none"}])
    lines = answer(est, label="Leg pain", unit="points", higher_is_better=False, week=6)
    assert lines[0].startswith("ANCOVA at the endpoint, adjusted for baseline: b vs a at week 6, −1.20 points")
    assert "Leg pain was lower (better) on b than on a at week 6." in lines[0]
    assert lines[1].startswith("The linear mixed model points the other way for b vs a")
    assert len(answer(est.iloc[:1], label="Leg pain", unit="points", higher_is_better=False, week=6)) == 1


def test_report_speaks_in_labels_with_one_minus_sign(three_arms, comparison, tmp_path):
    from outcomes.reports.compare import compare_report_data, write_compare_report

    data = compare_report_data(comparison, three_arms)
    text = " ".join([*data["remarks"], *data["headline"], *data["tipping"],
                     *(t["term"] for m in data["models"] for t in m["rows"])])
    assert not re.search(r"leg_pain|age_years|schedule\[T\.|std_error|\|grad", text)
    assert not re.search(r"(?<![\w])-\d", text) and "\u2212" in text
    assert len(data["remarks"]) == len(set(data["remarks"]))
    assert sum("Complete case: this is unbiased" in r for r in data["remarks"]) == 1  # said once
    assert data["plan_sha256"] == comparison.plan.sha256() and data["fig_flow"] and data["fig_km"]
    head = [row[0] for row in data["table1"]]
    assert "Age (years), mean (SD)" in head and "Sex, n (%)" in head and "Baseline leg pain, mean (SD)" in head
    assert data["table1_head"][-2:] == ["SMD daily vs weekly", "SMD guided vs weekly"]
    assert data["pairwise"] and data["pairwise_method"] == "holm" and data["sensitivity"]
    # the plan's reference is the reference of its pairs
    assert [x["term"] for x in data["pairwise"]] == ["daily vs weekly", "guided vs weekly", "guided vs daily"]
    html = write_compare_report(comparison, three_arms, tmp_path, pdf=False)["compare.html"]
    page = open(html, encoding="utf-8").read()
    assert 'counter(page) " of " counter(pages)' in page
    assert page.index(comparison.plan.sha256()) < page.index("The answer in brief")


# --------------------------------------------------------------- against R (tests/reference/trial_plan.R)

def test_plan_models_match_r_on_the_reference_trial():
    """[mixed_model] random = "intercept", baseline = "covariate" (the textbook model) equals lmer; the
    responder odds ratio and the Cox model with the plan's definition and covariates equal glm and coxph."""
    import json
    import sys
    from pathlib import Path

    from outcomes.plan import MixedModelOptions

    ref = Path(__file__).parent / "reference"
    sys.path.insert(0, str(Path(__file__).parent))
    from test_trial import _reference_cohort

    values = json.loads((ref / "trial_plan_values.json").read_text())
    plan = AnalysisPlan(reference="alpha", covariates=("age_years", "sex"),
                        mixed_model=MixedModelOptions(random="intercept", baseline="covariate"),
                        sensitivity=Sensitivity(imputations=0, tipping_point=()),
                        responders=(ResponderDefinition("improved", "leg_pain", improved_by_at_least=2,
                                                        improved_pct_at_least=30),))
    cmp = compare_schedules(_reference_cohort(), plan=plan)
    models = {m.name.split("_leg_pain")[0].removesuffix("_lmm"): m for m in cmp.models}
    for key, name, file, cols in (("lmm_baseline", "trajectory", "trial_lmm_baseline.csv", ["week", "y", "baseline"]),
                                  ("responder", "responder_odds", "trial_responder.csv", ["baseline", "responder"]),
                                  ("cox", "time_to_response", "trial_time_to_response.csv", ["time", "event"])):
        model, expected = models[name], values[key]
        committed = pd.read_csv(ref / file, dtype={"patient_id": "str"})
        assert list(model.data["patient_id"].astype(str)) == list(committed["patient_id"])  # the same frame
        np.testing.assert_allclose(model.data[cols].to_numpy(float), committed[cols].to_numpy(float), rtol=1e-9)
        table = model.table.set_index("term")
        # a category with no responder (quasi-separation) has no finite estimate: neither program's is compared
        terms = [t for t in expected["estimates"] if expected["std_errors"][t] < 100]
        assert len(terms) >= len(expected["estimates"]) - 1
        est = table.loc[terms, "estimate"].to_numpy(float)
        if "ratio" in model.scale:
            est = np.log(est)
        np.testing.assert_allclose(est, [expected["estimates"][t] for t in terms], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(table.loc[terms, "std_error"], [expected["std_errors"][t] for t in terms],
                                   rtol=2e-3)
    # the one category without a responder (sex "other") is named as not estimable
    assert models["responder_odds"].meta["diverged"] == ["sex[T.other]"]
    assert any("sex[T.other]: no finite estimate" in r for r in models["responder_odds"].remarks)
    assert models["trajectory"].meta["variance_components"]["residual_sd"] == pytest.approx(
        values["lmm_baseline"]["residual_sd"], rel=1e-3)


def test_cli_exits_1_naming_the_prespecified_analysis_that_could_not_run(tmp_path):
    import json
    import subprocess
    import sys

    from outcomes.simulate import write_dataset

    sim = simulate(60, seed=5)
    write_dataset(sim, tmp_path / "data")
    (tmp_path / "plans").mkdir()
    plan = tmp_path / "plans" / "plan.toml"
    plan.write_text('visits = [0, 6]\nendpoint_week = 6\nreference = "weekly"\nprimary = "mmrm"\n'
                    "[sensitivity]\nimputations = 3\ntipping_point = [0, 1]\n", encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "outcomes", "compare", str(tmp_path / "data"), "--out",
                        str(tmp_path / "out"), "--plan", str(plan), "--format", "json"],
                       capture_output=True, text=True, timeout=400)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "The pre-specified primary analysis (MMRM) could not be run: " in p.stderr
    assert "The rest of the comparison was written to" in p.stderr
    doc = json.loads(p.stdout)
    assert doc["failures"] and {"estimates", "sensitivity"} <= {r["table"] for r in doc["rows"]}
    assert (tmp_path / "out" / "compare.pdf").is_file() and (tmp_path / "out" / "estimates.csv").is_file()
    models = pd.read_csv(tmp_path / "out" / "models.csv")
    assert list(models.columns[-2:]) == ["time", "df"]


def test_mixed_model_with_visits_as_categories_matches_lmer():
    """[mixed_model] time = "visit", random = "intercept", baseline = "covariate": lmer with factor(visit)."""
    import json
    import sys
    from pathlib import Path

    from outcomes.plan import MixedModelOptions

    ref = Path(__file__).parent / "reference"
    sys.path.insert(0, str(Path(__file__).parent))
    from test_trial import _reference_cohort

    expected = json.loads((ref / "trial_plan_values.json").read_text())["lmm_visit"]
    plan = AnalysisPlan(reference="alpha", covariates=("age_years", "sex"), primary="lmm",
                        mixed_model=MixedModelOptions(random="intercept", baseline="covariate", time="visit"),
                        sensitivity=Sensitivity(imputations=0, tipping_point=()))
    cmp = compare_schedules(_reference_cohort(), plan=plan)
    res = cmp.lmm_visit
    committed = pd.read_csv(ref / "trial_lmm_visit.csv", dtype={"patient_id": "str"})
    np.testing.assert_allclose(res.data[["visit", "y", "baseline"]].to_numpy(float),
                               committed[["visit", "y", "baseline"]].to_numpy(float), rtol=1e-9)
    table = res.fixed_effects.set_index("term")
    terms = list(expected["estimates"])
    np.testing.assert_allclose(table.loc[terms, "estimate"], [expected["estimates"][t] for t in terms],
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(table.loc[terms, "std_error"], [expected["std_errors"][t] for t in terms], rtol=1e-3)
    assert res.loglik == pytest.approx(expected["reml_loglik"], abs=1e-3)
    assert res.n_observations == expected["n_observations"]
    # it is the primary analysis: the brief leads with it, at the endpoint
    assert cmp.failures == () and cmp.headline[0].startswith("Linear mixed model of time × arm: beta vs alpha at week 6")
    assert {r["model"] for r in cmp.rows()} >= {"lmm_visit", "mmrm"}


def test_a_declared_outcome_is_the_plans_outcome_with_its_direction(tmp_path):
    from types import SimpleNamespace

    from outcomes.measures.instruments import BUILTIN_OUTCOMES
    from outcomes.plan import check_plan_against, load_plan

    sim = simulate(120, seed=2)
    rng = np.random.default_rng(2)
    mood = (10 - sim.assessments["leg_pain"].astype(float) + rng.normal(0, 1, len(sim.assessments))).round(1)
    registry = BUILTIN_OUTCOMES.declare([SimpleNamespace(name="mood", label="Mood", unit="points", min=None,
                                                         max=None, higher_is_better=True, integer=False, mcid=1.0)])
    cohort = Cohort.from_frames(sim.patients, sim.assessments.assign(mood=mood), outcomes=registry)
    path = tmp_path / "plan.toml"
    path.write_text('outcome = "mood"\nreference = "weekly"\n[sensitivity]\nimputations = 5\ntipping_point = [0, 1]\n'
                    '[[responders]]\nname = "better"\noutcome = "mood"\nimproved_by_at_least = 2\n', encoding="utf-8")
    plan = load_plan(path)
    assert check_plan_against(plan, cohort) == []
    with pytest.raises(Exception, match="outcome mood, but the assessments hold no mood value"):
        check_plan_against(plan, Cohort.from_frames(sim.patients, sim.assessments))
    cmp = compare_schedules(cohort, plan=plan)
    assert cmp.failures == () and {m.name for m in cmp.models} >= {"ancova_mood_week6", "responder_odds_mood_week6"}
    assert "difference in mood between guided and weekly" in cmp.headline[0]
    assert cmp.tipping.direction == "higher_is_better"  # worse = lower for mood
    odds = cmp.model("responder_odds_mood_week6")
    rose = (odds.data["responder"] == 1)
    assert rose.sum() == cmp.tables["responders"]["n_responders"].sum()


def test_regression_primary_bonferroni_and_covariates_in_every_model(three_arms):
    import statsmodels.formula.api as smf

    plan = AnalysisPlan(reference="weekly", covariates=("age_years",), primary="regression",
                        multiplicity="bonferroni", sensitivity=Sensitivity(imputations=0, tipping_point=()))
    cmp = compare_schedules(three_arms, plan=plan)
    est = cmp.tables["estimates"]
    assert list(est["analysis"].iloc[:2]) == ["regression", "regression"] and est["primary"].iloc[:2].all()
    reg = cmp.model("regression_leg_pain_week6")
    assert reg.formula == "endpoint ~ schedule + age_years" and "baseline" not in reg.data.columns
    refit = smf.ols("endpoint ~ C(schedule, Treatment('weekly')) + age_years",
                    reg.data.assign(schedule=reg.data["schedule"].astype(str))).fit()
    assert refit.params["C(schedule, Treatment('weekly'))[T.daily]"] == pytest.approx(
        reg.table.set_index("term").loc["schedule[T.daily]", "estimate"], rel=1e-9)
    p = est[est["analysis"] == "regression"]["p_value"].to_numpy()
    np.testing.assert_allclose(est[est["analysis"] == "regression"]["p_adjusted"], np.minimum(1, 2 * p))
    assert set(est["method"]) == {"bonferroni"}
    for m in cmp.models:
        if not m.name.startswith(("trajectory", "regression")):
            assert "age_years" in m.formula, m.name
    assert cmp.headline[0].startswith("Regression of the endpoint on arm: daily vs weekly at week 6")


# --- plan times in the dataset's unit (visit-coded long file) ---------------------------------------

_VISIT_TOML = """
[source]
layout = "long"
file = "trial.csv"
[columns]
patient_id = "id"
schedule = "group"
[time]
unit = "visit"
column = "visit"
[time.visits]
"1" = 0
"2" = 1
[outcomes.pain_avg]
label = "Average back pain (BPI)"
min = 0
max = 10
higher_is_better = false
"""


def _visit_trial(tmp_path):
    """Two arms of 30; every patient has a baseline (visit 1) of 0-1 or 5-8; 8 per arm miss visit 2.
    Those with a baseline of 0-1 and no visit 2 would be 'pain-free' if the baseline stood in for it."""
    rng = np.random.default_rng(7)
    rows, expected = [], {}
    for arm, post_mean in (("usual_care", 5.0), ("placebo", 3.0)):
        for i in range(30):
            pid = f"{arm[0]}{i:02d}"
            base = int(rng.integers(0, 2)) if i < 10 else int(rng.integers(5, 9))
            rows.append((pid, 1, arm, base))
            if i >= 26 or i in (0, 1, 2, 3):  # 8 miss the post visit, 4 of them with a baseline of 0-1
                continue
            post = int(np.clip(round(rng.normal(post_mean, 2)), 0, 10))
            rows.append((pid, 2, arm, post))
            expected[arm] = expected.get(arm, 0) + (post <= 1)
    folder = tmp_path / "data"
    folder.mkdir()
    pd.DataFrame(rows, columns=["id", "visit", "group", "pain_avg"]).to_csv(folder / "trial.csv", index=False)
    (folder / "dataset.toml").write_text(_VISIT_TOML, encoding="utf-8")
    return folder, expected


def _visit_plan(tmp_path, extra: str = "") -> str:
    path = tmp_path / "plan.toml"
    path.write_text('outcome = "pain_avg"\nvisits = [0, 1]\nreference = "usual_care"\nprimary = "ancova"\n'
                    + extra + '[sensitivity]\nimputations = 0\ntipping_point = []\n'
                    '[[responders]]\nname = "pain_free"\noutcome = "pain_avg"\nendpoint_at_most = 1\n',
                    encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("endpoint", ["endpoint = 1\n", "endpoint_week = 1\n"])
def test_visit_coded_endpoint_takes_only_the_post_visit(tmp_path, capsys, endpoint):
    """With time in visits the default window is the exact visit: a patient without the post visit is
    missing at the endpoint (not given the baseline), and the window used is said in the remarks."""
    from outcomes.cli import main

    folder, expected = _visit_trial(tmp_path)
    out = tmp_path / "out"
    assert main(["compare", str(folder), "--plan", _visit_plan(tmp_path, endpoint), "--out", str(out)]) == 0
    # the terminal summary in words: labels with their case, "arm vs reference", no model codes
    said = capsys.readouterr().out
    assert "[T." not in said and "placebo vs usual_care: odds ratio of responding" in said
    assert "Schedule comparison: Average back pain (BPI)" in said and "(bpi)" not in said
    assert "average back pain (BPI)" not in said  # an acronym-bearing label keeps its case in a sentence
    assert "(bpi)" not in (out / "compare.html").read_text(encoding="utf-8")
    resp = pd.read_csv(out / "responders.csv").set_index("schedule")
    assert (resp["n_randomised"] == 30).all()
    assert (resp["n_assessed"] == 22).all()  # 8 per arm have no post visit: missing, not their baseline
    assert resp.loc["placebo", "n_responders"] == expected["placebo"]
    assert resp.loc["usual_care", "n_responders"] == expected["usual_care"]
    doc = (out / "models.json").read_text(encoding="utf-8")
    assert "each visit takes only an assessment at that exact visit" in doc
    written = (out / "plan.toml").read_text(encoding="utf-8")
    assert "visit_window = 0" in written or "visit_window_days = 0" in written  # the window used, for a rerun


def test_a_plan_window_wider_than_half_a_visit_gap_is_kept_with_a_warning(tmp_path):
    from outcomes.cli import main

    folder, expected = _visit_trial(tmp_path)
    out = tmp_path / "out"
    plan = _visit_plan(tmp_path, "endpoint = 1\nvisit_window_days = 7\n")
    assert main(["compare", str(folder), "--plan", plan, "--out", str(out)]) == 0
    resp = pd.read_csv(out / "responders.csv").set_index("schedule")
    assert (resp["n_assessed"] == 30).all()  # what the user asked for: week 0 is within 7 days of week 1
    assert resp.loc["placebo", "n_responders"] > expected["placebo"]
    assert "can be given the assessment of a neighbouring visit" in (out / "models.json").read_text("utf-8")


def test_degrees_of_freedom_are_whole_or_one_decimal_and_grouped():
    from outcomes.reports.compare import _df

    assert _df(175903.0) == "175,903"          # a linear model's residual df
    assert _df(181200.84) == "181,200.8"       # Satterthwaite
    assert _df(42.0) == "42" and _df(7.25) == "7.2"
    assert _df(float("nan")) == "–" and _df(None) == "–"
