"""Trajectory models: lme4 agreement, parameter recovery, fallbacks, marginal means, errors.

Reference values come from ``tests/reference/trajectory.R`` (lme4 1.1-31) run on
``tests/reference/trajectory_data.csv``; R is never called here. The REML engine itself
(other datasets, gradients, starts, statsmodels as a cross-check) is tested in
``tests/test_reml.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from outcomes.models import _reml
from outcomes.cohort import Cohort
from outcomes.models.results import TABLE_COLUMNS, ModelResult
from outcomes.models.trajectory import (
    fit_trajectory,
    marginal_means,
    schedule_contrast,
    trajectory_data,
)
from outcomes.simulate import simulate

REFERENCE = Path(__file__).parent / "reference"
GUIDED = "schedule[T.guided]"
SLOPE_DIFF = "week:schedule[T.guided]"


@pytest.fixture(scope="module")
def ref_data() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "trajectory_data.csv")


@pytest.fixture(scope="module")
def ref_values() -> dict:
    return json.loads((REFERENCE / "trajectory_values.json").read_text())


@pytest.fixture(scope="module")
def fits(ref_data) -> dict[str, ModelResult]:
    return {random: fit_trajectory(ref_data, reference="weekly", random=random) for random in ("slope", "intercept")}


@pytest.fixture(scope="module")
def small_cohort() -> Cohort:
    sim = simulate(120, seed=5)
    return Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions, prescriptions=sim.prescriptions)


# ------------------------------------------------------------------ agreement with lme4


@pytest.mark.parametrize("random", ["slope", "intercept"])
def test_lmm_matches_lme4(fits, ref_values, random):
    result, ref = fits[random], ref_values[random]
    table = result.table.set_index("term")
    terms = list(ref["fixed_effects"])
    assert sorted(terms) == sorted(table.index)
    assert_allclose(table.loc[terms, "estimate"], [ref["fixed_effects"][t] for t in terms], rtol=1e-6)
    assert_allclose(table.loc[terms, "std_error"], [ref["std_errors"][t] for t in terms], rtol=1e-6)
    vc = result.meta["variance_components"]
    names = list(ref["variance_components"])
    assert_allclose([vc[k] for k in names], [ref["variance_components"][k] for k in names], rtol=1e-6)
    assert_allclose(result.meta["reml_loglik"], ref["reml_loglik"], rtol=1e-9)
    assert (result.n_observations, result.n_patients) == (ref["n_observations"], ref["n_patients"])
    assert result.converged is True


def test_result_shape_and_readable_terms(fits, ref_data):
    result = fits["slope"]
    assert list(result.to_frame().columns) == TABLE_COLUMNS
    assert list(result.table["term"]) == ["Intercept", GUIDED, "week", SLOPE_DIFF, "adherence_between",
                                          "adherence_within", "level"]
    assert result.formula.startswith("y ~ week * schedule + adherence_between + adherence_within + level")
    meta = result.meta
    assert (meta["groups"], meta["re_formula"], meta["reference"], meta["time"]) == ("patient_id", "~week",
                                                                                     "weekly", "linear")
    assert meta["optimizer"] == "L-BFGS-B + Newton" and result.method == "REML"
    assert len(result.data) == len(ref_data) and list(result.data["schedule"].cat.categories) == ["weekly",
                                                                                                 "guided"]
    described = json.loads(json.dumps(result.describe()))  # models.json-ready
    assert 0 < described["fit_seconds"] < 30
    # two starts, both at the optimum; optimiser details stay in the metadata, not in the remarks
    assert [a["optimizer"] for a in meta["attempts"]] == ["L-BFGS-B + Newton"] * 2
    assert all(abs(a["reml_loglik"] - meta["reml_loglik"]) < 1e-6 for a in meta["attempts"])
    assert meta["max_abs_gradient"] < 1e-4 and meta["convergence"].startswith("REML optimum reached")
    assert not any("converge" in r or "optimiser" in r for r in result.remarks)


def test_default_reference_is_first_sorted_and_said(ref_data):
    result = fit_trajectory(ref_data.loc[ref_data["patient_id"] < "P060"], random="intercept")
    assert result.meta["reference"] == "guided"
    assert "schedule[T.weekly]" in set(result.table["term"])
    assert any("Reference schedule: 'guided' (the first schedule in sorted order" in r for r in result.remarks)


def test_input_frame_not_modified(ref_data):
    before = ref_data.copy()
    fit_trajectory(ref_data.loc[ref_data["patient_id"] < "P060"], random="intercept", time="log")
    pd.testing.assert_frame_equal(ref_data, before)


# ------------------------------------------------------------------ parameter recovery


@pytest.fixture(scope="module")
def recovery():
    # level=0: see test_level_term_biases_schedule_contrast_when_it_has_no_effect and the
    # fit_trajectory Notes -- the level term is endogenous in the guided arm, so the recovery
    # fit leaves it out, which is the correct model when level has no effect.
    sim = simulate(1500, seed=101, params={"level": 0.0})
    cohort = Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions,
                                prescriptions=sim.prescriptions)
    data = trajectory_data(cohort)
    return sim.truth, data


def test_recovers_schedule_slope_difference_and_adherence(recovery):
    truth, data = recovery
    result = fit_trajectory(data, reference="weekly", adjust_for=("adherence_between", "adherence_within"))
    table = result.table.set_index("term")
    for term, value in ((SLOPE_DIFF, truth.week_slope_diff_guided), ("adherence_between", truth.adherence_between)):
        lo, hi = table.loc[term, ["ci_lower", "ci_upper"]]
        assert lo <= value <= hi, (term, value, lo, hi)
    assert truth.week_slope_diff_guided == -0.10 and truth.adherence_between == -2.0
    assert "level" not in result.data.columns
    assert any("Not adjusted for level (adjust_for)" in r for r in result.remarks)


def test_level_term_biases_schedule_contrast_when_it_has_no_effect(recovery):
    """Documents the endogeneity: with no true level effect, adjusting for level finds one."""
    truth, data = recovery
    table = fit_trajectory(data, reference="weekly").table.set_index("term")
    assert truth.level == 0.0
    assert table.loc["level", "ci_upper"] < 0  # a spurious benefit of progressing
    assert table.loc[SLOPE_DIFF, "estimate"] < truth.week_slope_diff_guided


# ------------------------------------------------------------------ convergence is checked, not assumed


def test_two_starts_that_disagree_are_not_converged(monkeypatch, ref_data):
    """A second start that stops short must make the fit unconverged, said in the remarks."""
    real = _reml._lbfgs_and_polish
    calls = []

    def stop_short_on_second_start(prob, theta0, *, lbfgs=True):
        calls.append(theta0)
        if len(calls) >= 2:  # every start after the first: no optimisation at all
            f, g, _ = prob.evaluate(theta0)
            return np.asarray(theta0, dtype=float), f, g, "stopped by the test"
        return real(prob, theta0, lbfgs=lbfgs)

    monkeypatch.setattr(_reml, "_lbfgs_and_polish", stop_short_on_second_start)
    result = fit_trajectory(ref_data.loc[ref_data["patient_id"] < "P100"], reference="weekly")
    assert result.converged is False
    assert any("did not converge" in r and "3 starts reached different log-likelihoods" in r
               for r in result.remarks)
    lls = [a["reml_loglik"] for a in result.meta["attempts"]]
    assert lls[0] > lls[1] + 1e-3 and result.meta["reml_loglik"] == max(lls)  # the better one is reported


def test_singular_random_effects_are_said_plainly():
    """No between-patient slope variation: converged, and the singular fit is said (as lme4 says it)."""
    rng = np.random.default_rng(4)
    m, k = 150, 5
    week = np.tile(np.arange(k, dtype=float), m)
    groups = np.repeat(np.arange(m), k)
    y = 10 - 0.5 * week + np.repeat(rng.normal(0, 2, m), k) + rng.normal(0, 1, m * k)
    data = pd.DataFrame({"patient_id": [f"P{g:03d}" for g in groups], "week": week, "y": y,
                         "schedule": np.where(groups % 2, "guided", "weekly")})
    result = fit_trajectory(data, reference="weekly")
    assert result.converged and result.raw.boundary
    assert result.meta["variance_components"]["intercept_slope_corr"] > 0.999
    assert any("singular" in r and "correlation is +1.00" in r for r in result.remarks)


def test_collinear_design_is_a_value_error(ref_data):
    data = ref_data.assign(copy_of_between=2 * ref_data["adherence_between"])
    with pytest.raises(ValueError, match="cannot be fitted.*rank-deficient"):
        fit_trajectory(data, reference="weekly", covariates=("copy_of_between",))


# ------------------------------------------------------------------ alternatives


def test_random_intercept_and_gee_give_sensible_week_slopes(fits, ref_data):
    lmm = fits["slope"].table.set_index("term")
    ri = fits["intercept"].table.set_index("term")
    assert fits["intercept"].meta["re_formula"] == "~1"
    assert fits["intercept"].meta["variance_components"]["slope_sd"] is None
    for structure in ("exchangeable", "unstructured"):
        gee = fit_trajectory(ref_data, reference="weekly", method="gee", gee_structure=structure)
        assert gee.name == "trajectory_gee" and gee.method == f"GEE {structure}" and gee.converged
        assert list(gee.to_frame().columns) == TABLE_COLUMNS
        table = gee.table.set_index("term")
        for other in (table, ri):
            for term in ("week", SLOPE_DIFF):
                # within 2 LMM standard errors of the random-slope model
                assert abs(other.loc[term, "estimate"] - lmm.loc[term, "estimate"]) < 2 * lmm.loc[term, "std_error"]
        assert table.loc["week", "estimate"] < 0 and table.loc[SLOPE_DIFF, "ci_upper"] < 0
    assert gee.meta["visits"] == [0, 2, 4, 6, 8, 12]
    assert np.shape(gee.meta["variance_components"]["working_correlation"]) == (6, 6)


@pytest.mark.parametrize("time, term", [("log", "log_week"), ("spline", "bs(week, df=3)[0]")])
def test_other_time_shapes(ref_data, time, term):
    result = fit_trajectory(ref_data.loc[ref_data["patient_id"] < "P120"], reference="weekly", time=time)
    assert term in set(result.table["term"])
    means = marginal_means(result, weeks=(0, 6, 12))
    assert (np.diff(means.loc[means["schedule"] == "weekly", "estimate"]) < 0).all()  # pain falls
    if time == "log":
        assert result.meta["re_formula"] == "~log_week" and "log_week" in result.data.columns


# ------------------------------------------------------------------ marginal means and contrasts


def test_marginal_means_by_hand(fits):
    result = fits["slope"]
    b = result.table.set_index("term")["estimate"]
    data = result.data
    means = marginal_means(result)
    assert list(means.columns) == ["schedule", "week", "estimate", "std_error", "ci_lower", "ci_upper"]
    assert list(means["schedule"].unique()) == ["weekly", "guided"] and len(means) == 12
    adjust = sum(b[c] * data[c].mean() for c in ("adherence_between", "adherence_within", "level"))
    row = means.set_index(["schedule", "week"])
    assert_allclose(row.loc[("weekly", 4.0), "estimate"], b["Intercept"] + 4 * b["week"] + adjust, rtol=1e-12)
    assert_allclose(row.loc[("guided", 4.0), "estimate"],
                    b["Intercept"] + b[GUIDED] + 4 * (b["week"] + b[SLOPE_DIFF]) + adjust, rtol=1e-12)
    assert (row["ci_lower"] < row["estimate"]).all() and (row["std_error"] > 0).all()


def test_schedule_contrast_matches_table(fits):
    result = fits["slope"]
    table = result.table.set_index("term")
    at0 = schedule_contrast(result, week=0)
    assert list(at0.columns) == ["schedule", "reference", "week", "estimate", "std_error", "ci_lower",
                                 "ci_upper", "p_value"]
    assert (at0.loc[0, "schedule"], at0.loc[0, "reference"]) == ("guided", "weekly")
    assert_allclose(at0.loc[0, ["estimate", "std_error", "ci_lower", "ci_upper", "p_value"]].astype(float),
                    table.loc[GUIDED, ["estimate", "std_error", "ci_lower", "ci_upper", "p_value"]].astype(float),
                    rtol=1e-9)
    at12 = schedule_contrast(result, week=12)
    assert_allclose(at12.loc[0, "estimate"], table.loc[GUIDED, "estimate"] + 12 * table.loc[SLOPE_DIFF, "estimate"],
                    rtol=1e-12)
    cov = np.asarray(result.meta["cov_fe"])
    terms = list(result.table["term"])
    x = np.zeros(len(terms))
    x[terms.index(GUIDED)], x[terms.index(SLOPE_DIFF)] = 1, 12
    assert_allclose(at12.loc[0, "std_error"], np.sqrt(x @ cov @ x), rtol=1e-12)


# ------------------------------------------------------------------ the analysis frame


def test_trajectory_data_columns_and_definitions(small_cohort):
    data = trajectory_data(small_cohort, covariates=("age_years", "sex"))
    assert list(data.columns) == ["patient_id", "schedule", "week", "y", "adherence_between", "adherence_within",
                                  "level", "age_years", "sex"]
    assert data["y"].notna().all() and data["age_years"].dtype == float
    a = small_cohort.assessments
    a = a.loc[a["leg_pain"].notna()].sort_values(["patient_id", "week"], kind="stable").reset_index(drop=True)
    assert_allclose(data["week"], a["week"])
    assert_allclose(data["y"], a["leg_pain"])
    # between: the unweighted mean of the weekly capped adherence over the patient's follow-up weeks
    pw = small_cohort.patient_week.set_index(["patient_id", "week"])
    usual = pw.groupby(level="patient_id")["adherence_capped"].mean()
    assert_allclose(data["adherence_between"], data["patient_id"].map(usual))
    # within: the previous program week's adherence minus the patient's mean; 0 in week 0
    wk = a["week_index"].astype(int).clip(lower=0).to_numpy()
    prev = [pw["adherence_capped"].get((p, w - 1), np.nan) for p, w in zip(a["patient_id"], wk)]
    expected = np.where(wk == 0, 0.0, np.asarray(prev) - data["adherence_between"].to_numpy())
    assert_allclose(data["adherence_within"], expected, atol=1e-12)
    assert (data.loc[data["week"] < 1, "adherence_within"] == 0).all() and (data["adherence_within"] != 0).any()
    # level: the level in force that program week
    level = [pw["level"].get((p, w)) for p, w in zip(a["patient_id"], wk)]
    known = [v is not None and not pd.isna(v) for v in level]
    assert_allclose(data.loc[known, "level"], np.asarray(level, dtype=object)[known].astype(float))


def test_trajectory_data_leaves_cohort_unchanged(small_cohort):
    before = small_cohort.patient_week.copy(), small_cohort.assessments.copy()
    trajectory_data(small_cohort)
    pd.testing.assert_frame_equal(small_cohort.patient_week, before[0])
    pd.testing.assert_frame_equal(small_cohort.assessments, before[1])


def test_covariates_enter_the_model(small_cohort):
    result = fit_trajectory(small_cohort, reference="weekly", random="intercept",
                            covariates=("age_years", "symptom_duration_weeks"))
    assert {"age_years", "symptom_duration_weeks"} <= set(result.table["term"])
    assert result.meta["covariates"] == ["age_years", "symptom_duration_weeks"]
    means = marginal_means(result, weeks=(0,))
    assert len(means) == 2 and means["estimate"].notna().all()


def test_assessments_only_cohort_fits_reduced_model():
    sim = simulate(80, seed=2)
    cohort = Cohort.from_frames(sim.patients, sim.assessments)
    data = trajectory_data(cohort)
    assert list(data.columns) == ["patient_id", "schedule", "week", "y"]
    result = fit_trajectory(cohort, reference="weekly", random="intercept")
    assert list(result.table["term"]) == ["Intercept", GUIDED, "week", SLOPE_DIFF]
    assert result.meta["adjusted_for"] == []
    assert any("Not adjusted for" in r and "no session data" in r for r in result.remarks)


# ------------------------------------------------------------------ bad arguments


@pytest.mark.parametrize("kwargs, name", [
    ({"time": "quadratic"}, "time"),
    ({"random": "slopes"}, "random"),
    ({"method": "ols"}, "method"),
    ({"gee_structure": "ar1"}, "gee_structure"),
    ({"reference": "daily"}, "reference"),
    ({"covariates": "age_years"}, "covariates"),
    ({"covariates": ("height",)}, "covariates"),
    ({"adjust_for": ("dose",)}, "adjust_for"),
])
def test_bad_arguments_name_the_parameter(ref_data, kwargs, name):
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=rf"{name}.*{value if isinstance(value, str) else ''}"):
        fit_trajectory(ref_data, **kwargs)


def test_bad_inputs(ref_data, fits, small_cohort):
    with pytest.raises(TypeError, match="cohort_or_data"):
        fit_trajectory(ref_data.to_dict())
    with pytest.raises(ValueError, match="cohort_or_data has no column 'y'"):
        fit_trajectory(ref_data.drop(columns="y"))
    with pytest.raises(ValueError, match="outcome='pain'"):
        trajectory_data(small_cohort, outcome="pain")
    with pytest.raises(ValueError, match="covariates"):
        trajectory_data(small_cohort, covariates=("week",))
    with pytest.raises(ValueError, match="weeks"):
        marginal_means(fits["slope"], weeks=("a",))
    with pytest.raises(ValueError, match="week"):
        schedule_contrast(fits["slope"], week=float("nan"))
    with pytest.raises(ValueError, match="result"):
        marginal_means("not a result")
    shifted = ref_data.assign(week=ref_data["week"] - 2)
    with pytest.raises(ValueError, match="time='log'"):
        fit_trajectory(shifted, time="log")
