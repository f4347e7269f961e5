"""The analysis plan: TOML round trips, every bad plan file, and the plan against simulated data."""

from __future__ import annotations

import dataclasses

import pytest

from outcomes import Cohort
from outcomes.config import DEFAULT_INSTRUMENTS, Options, ResponderRule
from outcomes.io.errors import EXIT_USAGE, UsageError
from outcomes.plan import (
    Estimand,
    MMRMOptions,
    MixedModelOptions,
    Sensitivity,
    DEFAULT_PLAN_TOML,
    AnalysisPlan,
    ResponderDefinition,
    check_plan_against,
    default_plan,
    load_plan,
    write_default_plan,
    write_plan,
)
from outcomes.simulate import simulate

FULL = AnalysisPlan(
    outcome="odi", outcomes=("leg_pain", "back_pain"), visits=(0, 3, 6, 26), visit_window_days=10,
    endpoint_week=26, reference="weekly", covariates=("age_years", "sex"),
    responders=(
        ResponderDefinition("improved", "odi", change_at_most=-10, pct_change_at_most=-30, combine="any"),
        ResponderDefinition("pain_free", "leg_pain", endpoint_at_most=1, missing="exclude"),
        ResponderDefinition("half", "back_pain", pct_change_at_most=-50.5),
    ),
)


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    sim = simulate(60, seed=1)
    return Cohort.from_frames(sim.patients, sim.assessments)


def _write(tmp_path, text: str):
    path = tmp_path / "plan.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path, text: str) -> str:
    with pytest.raises(UsageError) as info:
        load_plan(_write(tmp_path, text))
    assert info.value.exit_code == EXIT_USAGE == 2
    assert str(tmp_path / "plan.toml") in str(info.value)  # the file is named
    return str(info.value)


# --- defaults and round trips ------------------------------------------------

def test_default_plan_values():
    plan = default_plan()
    assert plan.outcome == "leg_pain" and plan.outcomes == () and plan.covariates == ()
    assert plan.visits == (0, 2, 4, 6, 8, 12) and plan.endpoint_week == 6
    # the window is left to the data's time axis: 7 days for dated data
    assert plan.visit_window_days is None and plan.options().visit_window_days == 7
    assert plan.reference is None
    # the one default definition is the instrument's published rule (Farrar 2001: 2 points and 30 %)
    assert plan.responders == (ResponderDefinition("improved", "leg_pain", change_at_most=-2,
                                                   pct_change_at_most=-30, combine="all"),)
    assert plan.responders[0].to_rule() == DEFAULT_INSTRUMENTS["leg_pain"].responder


def test_plan_defaults_are_the_options_defaults():
    # one place for the visit schedule: config.Options; the plan and the simulator follow it
    from outcomes.config import DEFAULT_VISIT_WEEKS
    from outcomes.simulate import SimulationTruth

    plan, options = default_plan(), Options()
    assert (plan.visits, plan.options().visit_window_days, plan.endpoint_week) == (
        options.visits, options.visit_window_days, options.endpoint_week)
    assert options.visits == DEFAULT_VISIT_WEEKS == SimulationTruth().visit_weeks
    assert plan.options() == options
    # what a user is given cites published sources, never files only the developers have
    assert not any(word in DEFAULT_PLAN_TOML for word in ("DESIGN", "DOMAIN", "issue"))


def test_field_names_are_fixed():
    assert [f.name for f in dataclasses.fields(AnalysisPlan)] == [
        "outcome", "outcomes", "visits", "visit_window_days", "endpoint_week", "reference", "covariates",
        "responders", "primary", "multiplicity", "mixed_model", "mmrm", "sensitivity", "estimand", "endpoint",
        "visit_window"]
    assert [f.name for f in dataclasses.fields(ResponderDefinition)] == [
        "name", "outcome", "change_at_most", "pct_change_at_most", "endpoint_at_most", "combine", "missing",
        "endpoint_at_least", "improved_by_at_least", "improved_pct_at_least"]


def test_default_toml_loads_to_default_plan_with_an_explicit_reference(tmp_path):
    # plan --write names the reference, so a first plan compares in the demo's direction
    assert load_plan(_write(tmp_path, DEFAULT_PLAN_TOML)) == dataclasses.replace(default_plan(), reference="weekly")
    assert '\nreference = "weekly"' in DEFAULT_PLAN_TOML


def test_design_tables_round_trip_and_are_checked(tmp_path):
    plan = AnalysisPlan(primary="mmrm", multiplicity="bonferroni",
                        mixed_model=MixedModelOptions(random="intercept", baseline="covariate", time="visit"),
                        mmrm=MMRMOptions(covariance="ar1"), sensitivity=Sensitivity(imputations=20, tipping_point=[2, 0]),
                        estimand=Estimand(population="adults", summary="difference in means"))
    assert load_plan(_write(tmp_path, plan.to_toml())) == plan
    assert plan.sensitivity.tipping_point == (0.0, 2.0) and plan.to_dict()["mmrm"] == {"covariance": "ar1"}
    message = _error(tmp_path, 'primary = "mmr"\n[mmrm]\ncovarience = "ar1"\n[sensitivity]\nimputations = -1\n')
    assert 'primary = "mmr" is not allowed' in message
    assert 'unknown key "covarience" → did you mean "covariance"?' in message and "[mmrm]" in message
    assert "imputations must be a whole number" in message
    assert '[mixed_model]: random = "slope" is not allowed' in _error(tmp_path, '[mixed_model]\nrandom = "slope"\n')
    assert "tipping_point needs imputations > 0" in _error(tmp_path, "[sensitivity]\nimputations = 0\n")
    assert "must be written as a [estimand] table" in _error(tmp_path, 'estimand = "x"\n')


def test_direction_aware_rules_and_their_words():
    rd = ResponderDefinition("better", "slr_deg", improved_by_at_least=10, endpoint_at_least=70, combine="any")
    assert rd.text("Straight-leg raise", higher_is_better=True) == (
        "Straight-leg raise ended at ≥ 70 or rose by ≥ 10 points")
    with pytest.raises(UsageError, match="must be > 0"):
        ResponderDefinition("x", "leg_pain", improved_by_at_least=-2)


def test_default_toml_comments_every_field_and_shows_a_second_definition(tmp_path):
    lines = [ln for ln in DEFAULT_PLAN_TOML.splitlines() if "=" in ln and not ln.startswith("# A ")]
    assert lines and all(" # " in ln.split("=", 1)[1] for ln in lines)  # a comment on every key line
    for key in ("outcome", "outcomes", "visits", "visit_window_days", "endpoint_week", "reference", "covariates",
                "change_at_most", "pct_change_at_most", "endpoint_at_most", "combine", "missing"):
        assert any(ln.lstrip("# ").startswith(f"{key} =") for ln in lines), key
    # the commented example becomes a second definition once uncommented
    head, tail = DEFAULT_PLAN_TOML.split("# [[responders]]")
    uncommented = head + "[[responders]]" + "\n".join(ln.removeprefix("# ") for ln in tail.splitlines())
    plan = load_plan(_write(tmp_path, uncommented))
    assert plan.responders == (*default_plan().responders,
                               ResponderDefinition("pain_free", "leg_pain", endpoint_at_most=1))


def test_round_trip_of_a_full_plan(tmp_path):
    assert load_plan(_write(tmp_path, FULL.to_toml())) == FULL


@pytest.mark.parametrize("plan", [
    AnalysisPlan(outcome="slr_deg"),                    # no instrument: no default definition
    AnalysisPlan(responders=()),                        # no definitions at all
    AnalysisPlan(outcome="odi", reference='arm "B"'),   # quotes survive
])
def test_round_trip_edge_cases(tmp_path, plan):
    assert load_plan(_write(tmp_path, plan.to_toml())) == plan


def test_defaults_follow_the_primary_outcome(tmp_path):
    plan = load_plan(_write(tmp_path, 'outcome = "odi"\n'))
    # ODI: 10 points or 30 % (Ostelo 2008)
    assert plan.responders == (ResponderDefinition("improved", "odi", -10, -30, combine="any"),)
    assert AnalysisPlan(outcome="slr_deg").responders == ()


def test_sequences_are_normalised_and_plan_is_hashable():
    plan = AnalysisPlan(visits=[12, 0, 6], outcomes=["odi"], covariates=["sex"])
    assert plan.visits == (0, 6, 12) and plan.outcomes == ("odi",) and plan.covariates == ("sex",)
    assert hash(plan) == hash(AnalysisPlan(visits=(0, 6, 12), outcomes=("odi",), covariates=("sex",)))


def test_sha256_and_to_dict():
    assert default_plan().sha256() == default_plan().sha256()
    assert len(default_plan().sha256()) == 64
    assert FULL.sha256() != default_plan().sha256()
    d = FULL.to_dict()
    assert d["visits"] == [0, 3, 6, 26] and d["covariates"] == ["age_years", "sex"] and d["reference"] == "weekly"
    assert d["responders"][1] == {"name": "pain_free", "outcome": "leg_pain", "change_at_most": None,
                                  "pct_change_at_most": None, "endpoint_at_most": 1, "combine": "all",
                                  "missing": "exclude", "endpoint_at_least": None, "improved_by_at_least": None,
                                  "improved_pct_at_least": None}
    assert d["primary"] == "ancova" and d["sensitivity"] == {"imputations": 50, "tipping_point": [0, 1, 2, 3]}


def test_options_takes_visits_window_and_endpoint():
    base = Options(baseline_window_days=3, grace_days=1)
    opts = FULL.options(base)
    assert opts.visits == (0, 3, 6, 26) and opts.visit_window_days == 10 and opts.endpoint_week == 26
    assert opts.baseline_window_days == 3 and opts.grace_days == 1
    assert base.visits == (0, 2, 4, 6, 8, 12)  # the base is not changed
    assert default_plan().options() == Options()


def test_to_rule_mapping():
    rd = ResponderDefinition("x", "odi", change_at_most=-10, pct_change_at_most=-30, endpoint_at_most=20,
                             combine="any")
    assert rd.to_rule() == ResponderRule(points=10, percent=30, combine="any", endpoint_at_most=20)
    assert ResponderDefinition.from_rule("x", "odi", rd.to_rule()) == dataclasses.replace(rd)
    assert ResponderDefinition("s", "slr_deg", endpoint_at_most=40).to_rule(higher_is_worse=False) == \
        ResponderRule(endpoint_at_most=40)
    with pytest.raises(ValueError, match="higher is better"):
        ResponderDefinition("s", "slr_deg", change_at_most=10).to_rule(higher_is_worse=False)


def test_a_definition_needs_a_rule():
    with pytest.raises(UsageError, match="at least one of change_at_most"):
        ResponderDefinition("empty", "leg_pain")


# --- bad plan files ----------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="does not exist") as info:
        load_plan(tmp_path / "nope.toml")
    assert "nope.toml" in str(info.value) and "outcomes plan --write" in str(info.value)


def test_not_toml_reports_the_line(tmp_path):
    message = _error(tmp_path, 'outcome = "leg_pain"\nvisits = 0 2\nendpoint_week = 6\n')
    assert "not valid TOML" in message and "line 2" in message


@pytest.mark.parametrize("text, key, suggestion", [
    ("endpoint_wek = 6\n", "endpoint_wek", "endpoint_week"),
    ('covariate = ["sex"]\n', "covariate", "covariates"),
    ('[[responders]]\nname = "a"\noutcome = "leg_pain"\nchnge_at_most = -2\n', "chnge_at_most", "change_at_most"),
    ('[[responders]]\nname = "a"\noutcome = "leg_pain"\nchange_at_most = -2\ncombin = "any"\n', "combin", "combine"),
])
def test_unknown_key_names_the_closest(tmp_path, text, key, suggestion):
    message = _error(tmp_path, text)
    assert f'unknown key "{key}" → did you mean "{suggestion}"?' in message


def test_unknown_key_without_a_close_match_lists_the_keys(tmp_path):
    message = _error(tmp_path, "zzz = 1\n")
    assert 'unknown key "zzz"' in message and "did you mean" not in message and "endpoint_week" in message


def test_responder_problems_name_the_definition(tmp_path):
    message = _error(tmp_path, '[[responders]]\nname = "a"\noutcome = "leg_pain"\nchange_at_most = -2\n'
                               '[[responders]]\nname = "b"\noutcome = "leg_pain"\ncombine = "both"\n'
                               'change_at_most = -2\n')
    assert "[[responders]] #2" in message and 'combine = "both"' in message and '"all" or "any"' in message
    assert "#1" not in message


@pytest.mark.parametrize("text, expected", [
    ("visits = [0, -2, 4]\n", "visits must be a non-empty list of times ≥ 0"),
    ('visits = [0, "2"]\n', "visits must be a non-empty list of times ≥ 0"),
    ("visits = [0, 1]\nendpoint = 1\nendpoint_week = 1\n", "both endpoint_week and endpoint are given"),
    ("visit_window = 1\nvisit_window_days = 3\n", "both visit_window_days and visit_window are given"),
    ("visit_window = -1\n", "visit_window must be a number ≥ 0"),
    ("visits = [0, 1]\nendpoint = 2\n", "endpoint = 2 is not one of the visits"),
    ('visits = "0,2,4"\n', "visits must be"),
    ("visits = []\n", "visits must be"),
    ("visits = [0, 2, 2, 6]\n", "visits lists 2 more than once"),
    ("endpoint_week = 0\n", "endpoint_week must be a number > 0 weeks"),
    ('endpoint_week = "6"\n', "endpoint_week must be a number > 0 weeks"),
    ("endpoint_week = true\n", "endpoint_week must be a number > 0 weeks"),
    ("endpoint_week = 5\n", "endpoint_week = 5 is not one of the visits"),
    ("visit_window_days = -1\n", "visit_window_days must be a whole number of days ≥ 0"),
    ("reference = 3\n", "reference must be the name of an arm"),
    ('covariates = "age_years"\n', "covariates must be a list of patients columns"),
    ('covariates = ["schedule"]\n', 'covariates cannot include "schedule"'),
    ('outcomes = ["leg_pain"]\n', "outcomes lists the primary outcome"),
    ('[responders]\nname = "a"\n', "responders must be written as one [[responders]] table"),
    ('[[responders]]\nname = "a"\noutcome = "leg_pain"\nchange_at_most = -2\nmissing = "drop"\n',
     'missing = "drop" is not allowed; use "nonresponder" or "exclude"'),
    ('[[responders]]\nname = "a"\noutcome = "leg_pain"\nchange_at_most = "-2"\n', "change_at_most must be a number"),
    ('[[responders]]\nname = "a"\noutcome = "leg_pain"\n', "gives no rule"),
    ('[[responders]]\nname = "a"\nchange_at_most = -2\n', "outcome missing"),
    ('[[responders]]\nname = "a"\noutcome = "leg_pain"\nendpoint_at_most = 12\n', "outside leg_pain's range 0–10"),
    ('[[responders]]\nname = "a"\noutcome = "odi"\npct_change_at_most = -130\n', "below -100"),
    ('[[responders]]\nname = "a"\noutcome = "odi"\nendpoint_at_most = 10\n' * 2, 'name lists "a" more than once'),
])
def test_wrong_types_and_values(tmp_path, text, expected):
    assert expected in _error(tmp_path, text)


@pytest.mark.parametrize("text, suggestion", [
    ('outcome = "leg_pian"\n', "leg_pain"),
    ('outcomes = ["odii"]\n', "odi"),
    ('[[responders]]\nname = "a"\noutcome = "rmqd"\nchange_at_most = -5\n', "rmdq"),
])
def test_unknown_outcome(tmp_path, text, suggestion):
    message = _error(tmp_path, text)
    assert "is not a known outcome" in message and f'did you mean "{suggestion}"?' in message
    assert "leg_pain, back_pain, odi, rmdq, numbness, slr_deg, pgic" in message


def test_every_problem_is_reported_at_once(tmp_path):
    message = _error(tmp_path, 'endpoint_wek = 6\nvisits = [-1]\noutcome = "leg_pian"\n')
    assert "endpoint_wek" in message and "visits must be" in message and '"leg_pian"' in message
    assert len(message.splitlines()) == 3


# --- writing -------------------------------------------------------------------------

def test_write_plan_and_default_plan(tmp_path):
    target = write_plan(FULL, tmp_path / "used.toml")
    assert target.read_text(encoding="utf-8") == FULL.to_toml() and load_plan(target) == FULL
    written = write_default_plan(tmp_path / "plan.toml")
    assert written.read_text(encoding="utf-8") == DEFAULT_PLAN_TOML
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.toml", "used.toml"]  # no temporary left


def test_write_default_plan_refuses_to_overwrite(tmp_path):
    path = _write(tmp_path, "# mine\n")
    with pytest.raises(UsageError, match="already exists"):
        write_default_plan(path)
    assert path.read_text(encoding="utf-8") == "# mine\n"
    write_default_plan(path, overwrite=True)
    assert path.read_text(encoding="utf-8") == DEFAULT_PLAN_TOML


def test_write_into_a_missing_folder(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        write_plan(default_plan(), tmp_path / "no" / "plan.toml")


# --- the plan against the data --------------------------------------------------------

def test_default_plan_fits_simulated_data(cohort):
    # the reference taken by default is said once, by the comparison (not here as well)
    assert check_plan_against(default_plan(), cohort) == []


def test_reference_and_covariates_that_fit(cohort):
    plan = AnalysisPlan(outcomes=("odi",), reference="weekly", covariates=("age_years", "sex"))
    assert check_plan_against(plan, cohort) == []


def test_reference_not_in_data_lists_the_arms(cohort):
    with pytest.raises(UsageError) as info:
        check_plan_against(AnalysisPlan(reference="daily"), cohort)
    assert '"daily"' in str(info.value) and "Arms in the data: guided, weekly" in str(info.value)


def test_outcome_without_any_value(cohort):
    empty = dataclasses.replace(cohort, assessments=cohort.assessments.assign(rmdq=float("nan")))
    with pytest.raises(UsageError, match="outcome rmdq, but the assessments hold no rmdq value"):
        check_plan_against(AnalysisPlan(outcomes=("rmdq",)), empty)
    dropped = dataclasses.replace(cohort, assessments=cohort.assessments.drop(columns="odi"))
    with pytest.raises(UsageError, match="outcome odi"):
        check_plan_against(AnalysisPlan(outcome="odi"), dropped)


def test_covariate_not_a_column_suggests_one(cohort):
    with pytest.raises(UsageError) as info:
        check_plan_against(AnalysisPlan(covariates=("age",)), cohort)
    assert '"age" is not a patients column → did you mean "age_years"?' in str(info.value)


def test_covariate_with_a_single_value(cohort):
    one_site = dataclasses.replace(cohort, patients=cohort.patients.assign(site_id="S01"))
    with pytest.raises(UsageError, match='"site_id" has a single value'):
        check_plan_against(AnalysisPlan(covariates=("site_id",)), one_site)


def test_one_arm_only(cohort):
    one_arm = dataclasses.replace(cohort, patients=cohort.patients.assign(schedule="weekly"))
    with pytest.raises(UsageError, match=r"only one arm \(weekly\)"):
        check_plan_against(default_plan(), one_arm)


def test_soft_issues_are_remarks(cohort):
    patients = cohort.patients.copy()
    patients.loc[:2, "age_years"] = None
    assessments = cohort.assessments
    guided = set(patients.loc[patients["schedule"] == "guided", "patient_id"])
    late = (assessments["week"] - 6).abs() * 7 <= 7
    data = dataclasses.replace(cohort, patients=patients,
                               assessments=assessments[~(late & assessments["patient_id"].isin(guided))])
    remarks = check_plan_against(AnalysisPlan(reference="weekly", covariates=("age_years",)), data)
    assert remarks == ["Covariate age_years is missing for 3 patients; they are left out of the adjusted models.",
                       "No one in arm guided has leg_pain assessed at the endpoint (week 6 ± 7 days)."]


def test_check_does_not_change_the_cohort(cohort):
    before = cohort.patients.copy(), cohort.assessments.copy()
    check_plan_against(AnalysisPlan(reference="weekly", covariates=("sex",)), cohort)
    assert cohort.patients.equals(before[0]) and cohort.assessments.equals(before[1])


# --- plan --write --data: a starter fitted to the dataset ---------------------------------------------

_LONG_TOML = """
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
"3" = 3
[outcomes.mood_score]
label = "Mood score (MS)"
min = 0
max = 20
higher_is_better = true
mcid = 3
"""


def test_plan_write_with_data_fits_the_starter_to_the_dataset(tmp_path):
    from outcomes.cli import main

    data = tmp_path / "data"
    data.mkdir()
    rows = ["id,visit,group,mood_score"] + [f"{arm}{i},{v},{arm},{(i + v) % 20}" for arm in ("drug", "placebo")
                                            for i in range(6) for v in (1, 2, 3)]
    (data / "trial.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (data / "dataset.toml").write_text(_LONG_TOML, encoding="utf-8")
    path = tmp_path / "plan.toml"
    assert main(["plan", "--write", str(path), "--data", str(data)]) == 0
    text = path.read_text(encoding="utf-8")
    plan = load_plan(path)
    assert plan.outcome == "mood_score" and plan.visits == (0, 1, 3) and plan.endpoint == 3
    assert plan.endpoint_week is None and plan.reference == "placebo"  # the control-sounding arm
    assert "CHECK" in text and "drug, placebo" in text
    # a declared outcome with an mcid gets "improved by at least the mcid", in its direction
    assert plan.responders == (ResponderDefinition("improved", "mood_score", improved_by_at_least=3),)
    assert "# visit_window = 0" in text and "exact visit" in text
    # without --data the default plan, as before; --data with --check is refused
    assert main(["plan", "--write", str(tmp_path / "default.toml")]) == 0
    assert (tmp_path / "default.toml").read_text(encoding="utf-8") == DEFAULT_PLAN_TOML
    assert main(["plan", "--check", str(path), "--data", str(data)]) == 2


# --- resource limits: a hostile plan is refused fast, in one line, exit 2 -----------------------------

def _run_plan_check(path):
    import subprocess
    import sys
    import time

    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "outcomes", "plan", "--check", str(path)], capture_output=True,
                       text=True, timeout=60)
    return p, time.perf_counter() - t0


@pytest.mark.parametrize("build, expected", [
    (lambda: 'outcome = "leg_pain"\n' + "".join(
        f'[[responders]]\nname = "r{i}"\noutcome = "leg_pain"\nchange_at_most = -2\n' for i in range(10_000)),
     "10,000 responder definitions; a plan may have at most 100"),
    (lambda: "# " + "x" * 1_100_000 + "\n", "a plan is at most 1,000,000 bytes"),
    (lambda: "x = " + "[" * 50_000 + "]" * 50_000 + "\n", "nests brackets 50000 deep"),
    (lambda: 'visits = [[[[[0]]]]]\n', "nests brackets 5 deep"),
])
def test_hostile_plans_are_refused_fast_in_one_line(tmp_path, build, expected):
    path = tmp_path / "plan.toml"
    path.write_text(build(), encoding="utf-8")
    p, seconds = _run_plan_check(path)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-500:]
    assert expected in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert seconds < 20


def test_a_plan_with_a_hundred_responders_is_accepted(tmp_path):
    text = 'outcome = "leg_pain"\n' + "".join(
        f'[[responders]]\nname = "r{i}"\noutcome = "leg_pain"\nchange_at_most = -{i % 5 + 1}\n' for i in range(100))
    (tmp_path / "plan.toml").write_text(text, encoding="utf-8")
    assert len(load_plan(tmp_path / "plan.toml").responders) == 100
    with pytest.raises(UsageError, match="at most 100"):
        AnalysisPlan(responders=tuple(ResponderDefinition(f"r{i}", "leg_pain", change_at_most=-2)
                                      for i in range(101)))


# --- plan times on the dataset's time axis ---------------------------------------------------------------

def test_plan_timing_converts_the_units_and_never_lets_a_visit_take_another():
    from outcomes.io.description import TimeAxis
    from outcomes.plan import plan_on_axis, plan_timing

    # dated data: weeks and days, the default 7-day window, no remark
    t = plan_timing(default_plan())
    assert (t.visits, t.endpoint_week, t.window_days, t.remarks) == ((0, 2, 4, 6, 8, 12), 6, 7, ())
    # visits: the exact visit only, said in words
    t = plan_timing(AnalysisPlan(visits=(0, 1), endpoint=1), TimeAxis(unit="visit"))
    assert t.window_days == 0 and "exact visit" in t.remarks[0]
    # months: visits and endpoint converted to weeks; half the 2-month gap is 30 days, capped at the dated 7
    t = plan_timing(AnalysisPlan(visits=(0, 2, 4, 6), endpoint=6), TimeAxis(unit="month"))
    assert t.endpoint_week == pytest.approx(6 * 30.4375 / 7) and t.window_days == 7
    # weeks: visits one week apart take ± 3 days (half of 7, whole days), two weeks apart ± 7 as dated data
    assert plan_timing(AnalysisPlan(visits=(0, 1, 2), endpoint=2), TimeAxis(unit="week")).window_days == 3
    assert plan_timing(AnalysisPlan(visits=(0, 2, 4), endpoint=4), TimeAxis(unit="week")).window_days == 7
    # days: visits one day apart: half a day is no whole day, so the exact day
    assert plan_timing(AnalysisPlan(visits=(0, 1, 2), endpoint=2), TimeAxis(unit="day")).window_days == 0
    # hours on one day: half of one hour is less than a day, so the exact time
    t = plan_timing(AnalysisPlan(visits=(0, 0.5, 1.5, 4), endpoint=4), TimeAxis(unit="hour"))
    assert t.window_days == 0 and "exact time" in t.remarks[0]
    # a window given in the unit is kept; one that reaches the next visit is kept with a warning
    t = plan_timing(AnalysisPlan(visits=(0, 1), endpoint=1, visit_window=1), TimeAxis(unit="week"))
    assert t.window_days == 7 and "neighbouring visit" in t.remarks[1]
    # the working plan is in weeks and converting it again changes nothing; the plan as run keeps the unit
    working, as_run, _ = plan_on_axis(AnalysisPlan(visits=(0, 2, 4), endpoint=4), TimeAxis(unit="month"))
    assert plan_on_axis(working, TimeAxis(unit="month"))[0].visits == working.visits
    assert as_run.visits == (0, 2, 4) and as_run.endpoint == 4 and as_run.visit_window is not None
    # endpoint_week on an axis where it is not a visit: say so, and what to give instead
    with pytest.raises(UsageError, match="give endpoint in months instead"):
        plan_timing(AnalysisPlan(visits=(0, 6), endpoint_week=6), TimeAxis(unit="month"))
