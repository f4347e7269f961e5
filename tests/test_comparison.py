"""Schedule comparison (outcomes.models.comparison): R reference values, hand-checkable cases,
recovery of a simulated schedule effect, and clear errors for bad arguments and thin arms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from numpy.testing import assert_allclose, assert_array_equal
from statsmodels.duration.hazard_regression import PHReg

from outcomes.cohort import Cohort
from outcomes.models.comparison import (
    BY_SCHEDULE_COLUMNS,
    KM_COLUMNS,
    ancova,
    assumptions_text,
    by_schedule,
    flare_rates,
    responder_odds,
    responder_rates,
    time_to_response,
)
from outcomes.models.comparison.endpoint import _fit_ancova, _fit_responder
from outcomes.models.comparison.rates import _fit_flares
from outcomes.models.comparison.survival import _fit_cox, _kaplan_meier
from outcomes.models.results import TABLE_COLUMNS, ModelResult
from outcomes.simulate import simulate

REF = Path(__file__).parent / "reference"
ENROLLED = pd.Timestamp("2026-01-05")


# ---------------------------------------------------------------- fixtures


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"comparison_{name}.csv")


@pytest.fixture(scope="module")
def r_values() -> dict:
    return json.loads((REF / "comparison_values.json").read_text(encoding="utf-8"))


def _simulated(seed: int, **params: float) -> Cohort:
    sim = simulate(300, seed=seed, params=params)
    return Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions,
                              prescriptions=sim.prescriptions)


@pytest.fixture(scope="module")
def better_guided() -> Cohort:
    """Guided improves 0.5 points a week faster than weekly (3 points by week 6)."""
    return _simulated(21, week_slope=-0.2, week_slope_diff_guided=-0.5)


def _hand_cohort(patients: list[tuple[str, str, list[tuple[int, float]], str | None]]) -> Cohort:
    """A cohort without sessions: (patient_id, schedule, [(day, leg_pain), ...], discharge_reason);
    back_pain is a column that was never filled in."""
    p = pd.DataFrame({
        "patient_id": [x[0] for x in patients], "site_id": "S01", "clinician_id": "C01",
        "enrolled_on": ENROLLED, "schedule": [x[1] for x in patients],
        "discharged_on": [ENROLLED + pd.Timedelta(days=60) if x[3] else pd.NaT for x in patients],
        "discharge_reason": [x[3] for x in patients]})
    a = pd.DataFrame([{"patient_id": pid, "assessed_on": ENROLLED + pd.Timedelta(days=day), "leg_pain": value,
                       "back_pain": np.nan}
                      for pid, _, visits, _ in patients for day, value in visits])
    return Cohort.from_frames(p, a, as_of=ENROLLED + pd.Timedelta(days=90))


def _arm(prefix: str, schedule: str, responders: int, others: int, missing: int = 0,
         reason: str | None = "completed") -> list:
    """Responders fall 4 points by day 42, others 1; baselines 7, 9, 7, 9... (and an 8 when odd),
    so within an arm responders and others have the same mean baseline (8)."""
    def base(n: int) -> list[int]:
        return [7, 9] * (n // 2) + [8] * (n % 2)
    rows = [(f"{prefix}R{i:02d}", schedule, [(0, b), (42, b - 4)], reason) for i, b in enumerate(base(responders))]
    rows += [(f"{prefix}N{i:02d}", schedule, [(0, b), (42, b - 1)], reason) for i, b in enumerate(base(others))]
    rows += [(f"{prefix}M{i:02d}", schedule, [(0, 8)], "dropped_out") for i in range(missing)]
    return rows


@pytest.fixture(scope="module")
def wilson_cohort() -> Cohort:
    """STACK.md's worked example: guided 33/50 assessed (60 patients), weekly 5/50."""
    return _hand_cohort(_arm("G", "guided", 33, 17, missing=10) + _arm("W", "weekly", 5, 45))


# --------------------------------------------------------- R reference values


def _compare(result: ModelResult, expected: dict, *, log: bool) -> None:
    table = result.table.set_index("term").loc[expected["term"]]
    f = np.log if log else (lambda x: x)
    assert_allclose(f(table["estimate"]), expected["estimate"], rtol=1e-4)
    assert_allclose(table["std_error"], expected["std_error"], rtol=1e-3)
    assert_allclose(f(table["ci_lower"]), expected["ci_lower"], rtol=1e-4)
    assert_allclose(f(table["ci_upper"]), expected["ci_upper"], rtol=1e-4)
    assert_allclose(table["p_value"], expected["p_value"], rtol=1e-3, atol=1e-300)
    assert sorted(result.table["term"]) == sorted(expected["term"])


def test_ancova_matches_r_lm(r_values):
    result = _fit_ancova(_csv("ancova"), reference="weekly", outcome="leg_pain", endpoint_week=6,
                         window_days=7, covariates=("age_years", "sex"))
    _compare(result, r_values["ancova"], log=False)


def test_responder_odds_match_r_glm_binomial(r_values):
    result = _fit_responder(_csv("responder"), reference="weekly", outcome="leg_pain", endpoint_week=6)
    assert result.scale == "odds ratio"
    _compare(result, r_values["responder"], log=True)


def test_cox_matches_r_coxph_breslow(r_values):
    result = _fit_cox(_csv("time_to_response"), reference="weekly", outcome="leg_pain")
    assert result.scale == "hazard ratio" and result.converged
    _compare(result, r_values["cox"], log=True)


def test_kaplan_meier_matches_r_survfit(r_values):
    data = _csv("time_to_response")
    data["schedule"] = pd.Categorical(data["schedule"], categories=["weekly", "guided"])
    km = _kaplan_meier(data)
    events = km[km["time"] > 0].reset_index(drop=True)
    expected = pd.DataFrame({c: r_values["km"][c] for c in KM_COLUMNS})
    assert_array_equal(events["schedule"], expected["schedule"])
    for col in ("time", "survival", "ci_lower", "ci_upper"):
        assert_allclose(events[col], expected[col], rtol=1e-6, err_msg=col)
    assert_array_equal(events[["at_risk", "events"]], expected[["at_risk", "events"]])


@pytest.mark.parametrize("name", ["flares", "flares_nb"])
def test_poisson_matches_r_glm_with_offset(r_values, name):
    result = _fit_flares(_csv(name), reference="weekly", dispersion_threshold=np.inf)
    expected = r_values[f"poisson_{name}"]
    assert result.meta["family"] == "poisson" and result.meta["offset"] == "log(sessions)"
    assert_allclose(result.meta["dispersion"], expected["dispersion"], rtol=1e-4)
    _compare(result, expected, log=True)


def test_negative_binomial_matches_r_glm_nb(r_values):
    result = _fit_flares(_csv("flares_nb"), reference="weekly")  # default threshold 1.5
    assert result.meta["dispersion"] > 1.5
    assert result.meta["family"].startswith("negative binomial") and result.converged
    assert_allclose(result.meta["theta"], r_values["negbin"]["theta"], rtol=1e-4)
    _compare(result, r_values["negbin"], log=True)
    assert any("above 1.5" in r for r in result.remarks)


def test_simulated_flares_stay_poisson():
    result = _fit_flares(_csv("flares"), reference="weekly")
    assert result.meta["family"] == "poisson"
    assert any("Poisson model is kept" in r for r in result.remarks)


def test_reference_files_have_the_columns_the_models_fit(better_guided):
    fitted = {"ancova": ancova(better_guided, covariates=("age_years", "sex")).data,
              "responder": responder_odds(better_guided).data,
              "time_to_response": time_to_response(better_guided)[1].data,
              "flares": flare_rates(better_guided).data}
    for name, data in fitted.items():
        assert list(_csv(name).columns) == list(data.columns), name


# ------------------------------------------------------------ hand-checkable


def test_responder_rates_wilson_and_newcomb_worked_values(wilson_cohort):
    rates = responder_rates(wilson_cohort, reference="weekly").set_index(["schedule", "denominator"])
    assert list(rates.index.get_level_values(0).unique()) == ["weekly", "guided"]
    guided = rates.loc[("guided", "assessed")]
    assert (guided["responders"], guided["n"]) == (33, 50)
    assert_allclose([guided["ci_lower"], guided["ci_upper"]], [0.5215, 0.7756], atol=5e-5)
    assert_allclose([guided["difference"], guided["difference_ci_lower"], guided["difference_ci_upper"]],
                    [0.56, 0.381, 0.689], atol=5e-4)
    every = rates.loc[("guided", "all")]  # the 10 without an endpoint count as non-responders
    assert (every["responders"], every["n"]) == (33, 60)
    assert_allclose(every["rate"], 33 / 60)
    assert_allclose(every["difference"], 33 / 60 - 5 / 50)
    assert rates.loc[("weekly", "all"), ["n", "responders"]].tolist() == [50, 5]
    assert rates.loc[("weekly", "assessed"), ["difference", "difference_ci_lower"]].isna().all()


def test_responder_odds_equal_crude_odds_ratio_when_baseline_is_balanced(wilson_cohort):
    result = responder_odds(wilson_cohort, reference="weekly")
    table = result.table.set_index("term")
    assert_allclose(table.loc["schedule[T.guided]", "estimate"], (33 / 17) / (5 / 45), rtol=1e-6)
    assert_allclose(table.loc["baseline", "estimate"], 1.0, atol=1e-6)
    assert result.n_patients == 100 and set(result.data["responder"]) == {0, 1}
    assert any("100 of 110 patients" in r and "10 without" in r for r in result.remarks)


def test_ancova_hand_case(wilson_cohort):
    # endpoint = baseline - 4 (responders) or - 1: the arm effect is the difference in responder shares × 3
    result = ancova(wilson_cohort, reference="weekly")
    effect = result.table.set_index("term").loc["schedule[T.guided]", "estimate"]
    assert_allclose(effect, -3 * (33 / 50 - 5 / 50), rtol=1e-9)
    assert result.n_patients == 100 and result.meta["n_excluded"] == 10
    assert any("10 without a week-6 endpoint (guided 10, weekly 0)" in r and "missing at random" in r
               for r in result.remarks)


def test_ancova_counts_missing_baseline_and_endpoint_apart():
    cohort = _hand_cohort(_arm("G", "guided", 2, 2, missing=1) + _arm("W", "weekly", 2, 2)
                          + [("G9", "guided", [(42, 5)], None), ("W9", "weekly", [(42, 5)], None),
                             ("W8", "weekly", [(14, 6)], None)])  # neither: counted once, as no baseline
    result = ancova(cohort)
    assert any("Of 12 patients, 3 without a baseline, 1 without a week-6 endpoint (guided 1, weekly 0) are "
               "excluded" in r for r in result.remarks)
    assert result.n_patients == 8 and result.meta["n_excluded"] == 4


def test_an_outcome_never_recorded_is_a_clear_error(wilson_cohort):
    for func in (ancova, responder_odds, time_to_response):
        with pytest.raises(ValueError, match="outcome 'back_pain' has no recorded value"):
            func(wilson_cohort, outcome="back_pain")


def test_time_to_response_first_response_and_censoring():
    cohort = _hand_cohort([
        ("T1", "guided", [(0, 8), (14, 5), (42, 7)], None),   # responds at week 2 (-3, -37.5 %)
        ("T2", "guided", [(0, 8), (14, 7), (28, 4)], None),   # at week 4
        ("T3", "guided", [(0, 8), (14, 7), (42, 7)], None),   # censored at week 6
        ("T4", "weekly", [(0, 8), (21, 8)], None),            # censored at week 3
        ("T5", "weekly", [(0, 8), (42, 5)], None),            # responds at week 6
        ("T6", "weekly", [(0, 6)], None),                     # no follow-up: left out
        ("T7", "weekly", [(0, 6), (14, 4)], None),            # -2 and -33 %: responds at week 2
    ])
    km, model = time_to_response(cohort, reference="weekly")
    data = model.data.set_index("patient_id")
    assert_allclose(data.loc[["T1", "T2", "T3", "T4", "T5", "T7"], "time"], [2, 4, 6, 3, 6, 2])
    assert data.loc[["T1", "T2", "T3", "T4", "T5", "T7"], "event"].tolist() == [1, 1, 0, 0, 1, 1]
    assert "T6" not in data.index and any("1 without any assessment after it" in r for r in model.remarks)
    assert list(km.columns) == KM_COLUMNS
    guided = km[km["schedule"] == "guided"]
    assert_allclose(guided["time"], [0, 2, 4])
    assert_allclose(guided["survival"], [1, 2 / 3, 1 / 3])
    weekly = km[km["schedule"] == "weekly"]
    assert_allclose(weekly["survival"], [1, 2 / 3, 0])
    assert weekly["at_risk"].tolist() == [3, 3, 1]
    assert km["schedule"].iloc[0] == "weekly"  # reference first


def test_by_schedule_hand_case(wilson_cohort):
    table = by_schedule(wilson_cohort)
    assert list(table.columns) == BY_SCHEDULE_COLUMNS
    guided = table.set_index("schedule").loc["guided"]
    assert (guided["n_patients"], guided["dropout_n"]) == (60, 10)
    assert_allclose(guided["dropout_rate"], 1 / 6)
    z, p, n = 1.959963985, 1 / 6, 60  # Wilson by hand: centre ± half-width
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert_allclose([guided["dropout_ci_lower"], guided["dropout_ci_upper"]], [centre - half, centre + half])
    assert_allclose(centre - half, 0.09313, atol=5e-6)
    assert np.isnan(guided["adherence_median"]) and np.isnan(guided["flags_per_100_sessions"])  # no sessions


def test_by_schedule_on_simulated_cohort(better_guided):
    table = by_schedule(better_guided).set_index("schedule")
    assert table["n_patients"].sum() == len(better_guided.patients)
    flags = better_guided.flags.merge(better_guided.patients[["patient_id", "schedule"]])
    assert table["n_flags"].to_dict() == flags["schedule"].value_counts().to_dict()
    sessions = better_guided.sessions.merge(better_guided.patients[["patient_id", "schedule"]])
    expected = 100 * flags["schedule"].value_counts() / sessions["schedule"].value_counts()
    assert_allclose(table["flags_per_100_sessions"], expected[table.index])
    adherence = better_guided.patient_summary.groupby("schedule")["adherence"].median()
    assert_allclose(table["adherence_median"], adherence[table.index])


def test_assumptions_text_names_the_assumptions(better_guided):
    text = assumptions_text(better_guided)
    assert all(isinstance(t, str) and t for t in text)
    joined = " ".join(text)
    n_dropped = int(better_guided.patient_summary["status"].eq("dropped_out").sum())
    assert f"{n_dropped} dropped out" in joined
    for phrase in ("missing at random", "complete case", "pain can drive adherence", "observational",
                   "symptom-guided"):
        assert phrase in joined, phrase


# ------------------------------------------------------ simulated schedule effect


@pytest.mark.parametrize("diff", [-0.5, 0.5])
def test_a_simulated_schedule_effect_is_recovered_with_its_sign(diff, better_guided):
    # weekly slope -0.2 and guided -0.7 points a week, or the other way round
    cohort = better_guided if diff < 0 else _simulated(21, week_slope=-0.7, week_slope_diff_guided=0.5)
    sign = -1 if diff < 0 else 1  # guided minus weekly, in pain points at week 6 (about 6 × diff)
    effect = ancova(cohort, reference="weekly").table.set_index("term").loc["schedule[T.guided]"]
    assert sign * effect["estimate"] > 1.5 and effect["p_value"] < 1e-4
    odds = responder_odds(cohort, reference="weekly").table.set_index("term").loc["schedule[T.guided]"]
    hazard = time_to_response(cohort, reference="weekly")[1].table.set_index("term").loc["schedule[T.guided]"]
    for ratio in (odds, hazard):  # lower pain = more (and faster) responses
        assert (ratio["estimate"] > 1.4) if diff < 0 else (ratio["estimate"] < 1 / 1.4)
        assert ratio["p_value"] < 0.01


def test_results_carry_the_fitted_frame_and_enough_to_refit(better_guided):
    res = ancova(better_guided, covariates=("age_years",))
    assert_allclose(smf.ols(res.formula, res.data).fit().params, res.table["estimate"])
    res = responder_odds(better_guided)
    refit = smf.glm(res.formula, res.data, family=sm.families.Binomial()).fit()
    assert_allclose(np.exp(refit.params), res.table["estimate"])
    res = time_to_response(better_guided)[1]
    refit = PHReg.from_formula(res.formula, res.data, status=res.data[res.meta["status"]], ties=res.meta["ties"]).fit()
    assert_allclose(np.exp(refit.params), res.table["estimate"])
    res = flare_rates(better_guided, dispersion_threshold=np.inf)
    refit = smf.glm(res.formula, res.data, family=sm.families.Poisson(), offset=np.log(res.data["sessions"])).fit()
    assert_allclose(np.exp(refit.params), res.table["estimate"])
    assert list(res.to_frame().columns) == TABLE_COLUMNS


def test_default_reference_is_first_in_sorted_order(better_guided):
    result = ancova(better_guided)
    assert result.meta["reference"] == "guided"
    assert "schedule[T.weekly]" in set(result.table["term"])
    assert "first schedule in sorted order" in result.remarks[0]
    assert "as given" in ancova(better_guided, reference="weekly").remarks[0]


def test_patients_without_sessions_are_excluded_from_flare_rates(better_guided):
    result = flare_rates(better_guided)
    counts = better_guided.patient_week.groupby("patient_id")["sessions_done"].sum()
    assert result.n_patients == int((counts > 0).sum())
    assert (result.data["sessions"] > 0).all()
    assert result.table["term"].tolist() == ["Intercept", "schedule[T.weekly]"]


# ------------------------------------------------------------ bad arguments


@pytest.mark.parametrize("func, kwargs, parameter", [
    (ancova, {"outcome": "nope"}, "outcome"),
    (ancova, {"endpoint_week": -1}, "endpoint_week"),
    (ancova, {"endpoint_week": 0}, "endpoint_week"),
    (ancova, {"endpoint_week": "6"}, "endpoint_week"),
    (ancova, {"window_days": -3}, "window_days"),
    (ancova, {"window_days": 2.5}, "window_days"),
    (ancova, {"reference": "daily"}, "reference"),
    (ancova, {"covariates": ("nope",)}, "covariates"),
    (ancova, {"covariates": "age_years"}, "covariates"),
    (responder_odds, {"outcome": "slr_deg"}, "outcome"),
    (responder_odds, {"endpoint_week": float("nan")}, "endpoint_week"),
    (responder_rates, {"reference": "daily"}, "reference"),
    (time_to_response, {"outcome": "pgic"}, "outcome"),
    (flare_rates, {"dispersion_threshold": -1}, "dispersion_threshold"),
    (flare_rates, {"reference": 3}, "reference"),
])
def test_bad_arguments_name_the_parameter_and_value(better_guided, func, kwargs, parameter):
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=parameter) as info:
        func(better_guided, **kwargs)
    assert repr(value) in str(info.value)


def test_not_a_cohort_is_a_type_error():
    with pytest.raises(TypeError, match="cohort must be an outcomes.Cohort"):
        ancova(pd.DataFrame())


# ---------------------------------------------------- thin arms and missing data


def test_an_arm_with_one_patient_is_left_out_with_a_remark():
    cohort = _hand_cohort(_arm("G", "guided", 3, 3) + _arm("W", "weekly", 2, 4)
                          + [("X1", "custom", [(0, 8), (42, 4)], None)])
    result = ancova(cohort, reference="weekly")
    assert "schedule[T.custom]" not in set(result.table["term"])
    assert "schedule[T.guided]" in set(result.table["term"])
    assert any("'custom' has 1 patients" in r and "left out" in r for r in result.remarks)


def test_two_arms_one_of_them_a_single_patient_is_a_clear_error():
    cohort = _hand_cohort(_arm("W", "weekly", 2, 4) + [("G1", "guided", [(0, 8), (42, 4)], None)])
    with pytest.raises(ValueError, match="no schedule to compare"):
        ancova(cohort, reference="weekly")
    with pytest.raises(ValueError, match="reference schedule 'guided' has 1 patients"):
        ancova(cohort, reference="guided")


def test_an_arm_without_endpoint_data():
    no_endpoint = [(f"G{i}", "guided", [(0, 8)], "dropped_out") for i in range(5)]
    cohort = _hand_cohort(_arm("W", "weekly", 2, 4) + no_endpoint)
    with pytest.raises(ValueError, match="no schedule to compare"):
        ancova(cohort, reference="weekly")
    three = _hand_cohort(_arm("W", "weekly", 2, 4) + _arm("C", "custom", 2, 3) + no_endpoint)
    result = ancova(three, reference="weekly")
    assert any("'guided' has 0 patients" in r for r in result.remarks)
    rates = responder_rates(three, reference="weekly").set_index(["schedule", "denominator"])
    assert rates.loc[("guided", "all"), "n"] == 5 and rates.loc[("guided", "assessed"), "n"] == 0
    assert np.isnan(rates.loc[("guided", "assessed"), "rate"])


def test_no_endpoint_at_all_is_a_clear_error(wilson_cohort):
    with pytest.raises(ValueError, match="no patient has both a baseline and a week-30"):
        ancova(wilson_cohort, endpoint_week=30)


def test_an_arm_without_responders_is_a_clear_error():
    cohort = _hand_cohort(_arm("G", "guided", 3, 3) + _arm("W", "weekly", 0, 6))
    with pytest.raises(ValueError, match="none of the 6 patients on schedule 'weekly' had a response"):
        responder_odds(cohort)
    rates = responder_rates(cohort, reference="weekly")
    assert rates["responders"].tolist() == [0, 0, 3, 3]


def test_flare_rates_without_sessions_is_a_clear_error(wilson_cohort):
    with pytest.raises(ValueError, match="need a sessions export"):
        flare_rates(wilson_cohort)


@pytest.mark.parametrize("label, expected", [
    ("Leg pain", "leg pain"), ("Straight-leg raise", "straight-leg raise"),
    ("Average back pain (BPI)", "Average back pain (BPI)"), ("Oswestry Disability Index", "Oswestry Disability Index"),
    ("BDI", "BDI"), ("pain", "pain"), ("", "")])
def test_an_outcome_label_in_a_sentence_keeps_its_case(label, expected):
    from outcomes.models.comparison._common import in_sentence

    assert in_sentence(label) == expected


def test_outcome_frames_are_reused_only_inside_the_block_and_as_copies(better_guided, monkeypatch) -> None:
    from outcomes.models.comparison import _common
    from outcomes.models.trial import assign_visits

    calls = []
    real = _common.value_at_week

    def counting(*args, **kwargs):
        calls.append(kwargs["week"])
        return real(*args, **kwargs)

    monkeypatch.setattr(_common, "value_at_week", counting)
    with _common.reuse_outcome_frames():
        a = _common._baseline_endpoint(better_guided, "leg_pain", 6.0, 7)
        a.loc[0, "endpoint"] = -99.0  # a caller changing its frame does not change the next one's
        b = _common._baseline_endpoint(better_guided, "leg_pain", 6.0, 7)
        _common._baseline_endpoint(better_guided, "leg_pain", 4.0, 7)
        v1 = assign_visits(better_guided)
        v1.attrs["remarks"].append("changed")
        v2 = assign_visits(better_guided)
    assert calls == [6.0, 4.0]
    assert b.loc[0, "endpoint"] != -99.0 and "changed" not in v2.attrs["remarks"]
    pd.testing.assert_frame_equal(v1, v2)
    fresh = _common._baseline_endpoint(better_guided, "leg_pain", 6.0, 7)  # outside the block: computed again
    assert calls == [6.0, 4.0, 6.0]
    pd.testing.assert_frame_equal(fresh, b)
