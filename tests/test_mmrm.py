"""Tests of outcomes.models.mmrm: MMRM fits against R nlme::gls + emmeans, design checks, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from outcomes.errors import UsageError
from outcomes.models.mmrm import CONTRAST_COLUMNS, LSMEANS_COLUMNS, MMRMResult, fit_mmrm

REF = Path(__file__).parent / "reference"
ROLES = dict(outcome="y", arm="arm", visit="week", subject="id", baseline="baseline", reference="placebo")
#: The R fits of tests/reference/mmrm.R and the options giving the same model here.
MODELS = {
    "us": {},
    "us_cov": {"baseline_by_visit": True, "covariates": ("age", "sex")},
    "cs": {"covariance": "compound_symmetry"},
    "ar1": {"covariance": "ar1"},
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REF / "mmrm_data.csv")


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "mmrm_values.json").read_text())


@pytest.fixture(scope="module")
def fits(data: pd.DataFrame) -> dict[str, MMRMResult]:
    return {name: fit_mmrm(data, **ROLES, **kw) for name, kw in MODELS.items()}


def test_reference_data_has_dropout_and_intermittent_gaps(data: pd.DataFrame) -> None:
    wide = data.pivot(index="id", columns="visit_index", values="y").notna().to_numpy()
    monotone = np.all(wide[:, :-1] >= wide[:, 1:], axis=1)
    assert (~wide.all(axis=1) & monotone).sum() >= 10  # dropouts
    assert (~monotone).sum() >= 10  # a visit missed, a later one attended
    assert data["arm"].nunique() == 3 and data["week"].nunique() == 4 and data["id"].nunique() == 150


@pytest.mark.parametrize("name", list(MODELS))
def test_fixed_effects_and_likelihood_equal_nlme(fits: dict, ref: dict, name: str) -> None:
    fit, r = fits[name], ref[name]
    fe = fit.fixed_effects.set_index("term")
    assert sorted(fe.index) == sorted(r["terms"])
    fe = fe.loc[r["terms"]]
    assert_allclose(fe["estimate"], r["estimate"], rtol=1e-4)
    assert_allclose(fe["std_error"], r["std_error"], rtol=1e-4)
    # our optimum is at least as high as nlme's (nlminb stops a hair short on corSymm)
    assert fit.loglik == pytest.approx(r["loglik"], abs=1e-5)
    assert fit.loglik >= r["loglik"] - 1e-9
    assert_allclose(fit.covariance_matrix.to_numpy(), np.array(r["covariance"]), rtol=2e-4)
    assert fit.n_observations == r["n_obs"] == 549
    assert fit.n_patients == ref["n_patients_with_data"]
    assert fit.converged


@pytest.mark.parametrize("name", list(MODELS))
def test_lsmeans_and_contrasts_equal_emmeans(fits: dict, ref: dict, name: str) -> None:
    fit, em, ct = fits[name], ref[name]["emmeans"], ref[name]["contrasts"]
    lsm = fit.lsmeans.set_index(["arm", "time"]).loc[list(zip(em["arm"], em["week"]))]
    assert_allclose(lsm["estimate"], em["estimate"], rtol=1e-4)
    assert_allclose(lsm["std_error"], em["std_error"], rtol=1e-4)
    assert_allclose(lsm["df"], em["df_accurate"], rtol=1e-4)
    keys = [(c.split(" - ")[0], w) for c, w in zip(ct["contrast"], ct["week"])]
    con = fit.contrasts.set_index(["arm", "time"]).loc[keys]
    assert_allclose(con["estimate"], ct["estimate"], rtol=1e-4)
    assert_allclose(con["std_error"], ct["std_error"], rtol=1e-4)
    # Satterthwaite df: equal to emmeans with an accurate Hessian for nlme's apVar; nlme's
    # own finite-difference apVar moves them by up to 1 % (tests/reference/mmrm.R)
    assert_allclose(con["df"], ct["df_accurate"], rtol=1e-4)
    assert_allclose(con["df"], ct["df"], rtol=2e-2)
    assert_allclose(con["p_value"], ct["p_value"], rtol=1e-2)
    assert_allclose(con["ci_lower"], ct["ci_lower"], rtol=1e-3)
    assert_allclose(con["ci_upper"], ct["ci_upper"], rtol=1e-3)
    assert ref[name]["df_mode"] == "satterthwaite"


def test_rows_follow_the_contract(fits: dict) -> None:
    rows = fits["us"].to_frame()
    assert list(rows.columns) == CONTRAST_COLUMNS
    assert list(fits["us"].lsmeans.columns) == LSMEANS_COLUMNS
    assert rows["term"].tolist()[:4] == [f"high vs placebo at {w}" for w in (2, 4, 8, 12)]
    assert rows["term"].iloc[-1] == "low vs placebo at 12"
    assert set(rows["table"]) == {"models"} and set(rows["model"]) == {"mmrm"} and set(rows["outcome"]) == {"y"}
    assert (rows["ci_lower"] < rows["estimate"]).all() and (rows["estimate"] < rows["ci_upper"]).all()
    end = fits["us"].endpoint
    assert end["time"].tolist() == [12, 12] and end["arm"].tolist() == ["high", "low"]
    assert fits["us"].arms == ("placebo", "high", "low") and fits["us"].visits == (2, 4, 8, 12)
    json.dumps(fits["us"].describe())  # JSON-ready
    assert "Satterthwaite" in fits["us"].summary() and "MMRMResult" in repr(fits["us"])
    corr = fits["us"].correlation_matrix.to_numpy()
    assert_allclose(np.diag(corr), 1.0)


def test_input_is_not_modified_and_row_order_does_not_matter(data: pd.DataFrame, fits: dict) -> None:
    before = data.copy()
    shuffled = data.sample(frac=1.0, random_state=3)
    fit = fit_mmrm(shuffled, **ROLES)
    pd.testing.assert_frame_equal(data, before)
    assert_allclose(fit.to_frame()["estimate"], fits["us"].to_frame()["estimate"], rtol=1e-7)
    assert_allclose(fit.to_frame()["std_error"], fits["us"].to_frame()["std_error"], rtol=1e-6)


def test_complete_data_with_baseline_by_visit_equals_ols_per_visit(data: pd.DataFrame) -> None:
    # With complete data and the same regressors at every visit, GLS equals OLS per visit
    # (Zellner 1962), whatever the covariance: an independent check of the estimates.
    complete = data.groupby("id").filter(lambda g: g["y"].notna().all())
    fit = fit_mmrm(complete, **ROLES, baseline_by_visit=True)
    for week in (2, 4, 8, 12):
        d = complete[complete["week"] == week]
        X = np.column_stack([np.ones(len(d)), d["baseline"], d["arm"] == "high", d["arm"] == "low"]).astype(float)
        beta = np.linalg.lstsq(X, d["y"].to_numpy(), rcond=None)[0]
        got = fit.contrasts.set_index(["arm", "time"])["estimate"]
        assert got[("high", week)] == pytest.approx(beta[2], rel=1e-6)
        assert got[("low", week)] == pytest.approx(beta[3], rel=1e-6)


def test_between_within_degrees_of_freedom(data: pd.DataFrame) -> None:
    fit = fit_mmrm(data, **ROLES, df="between_within")
    # between: 150 patients − 4 columns constant within patient (intercept, baseline, 2 arms)
    # within: 549 rows − 150 patients − 9 other columns
    assert fit.meta["df_between"] == 146 and fit.meta["df_within"] == 390
    fe = fit.fixed_effects.set_index("term")["df"]
    assert fe["arm[T.high]"] == 146 and fe["week[T.4]"] == 390 and fe["week[T.12]:arm[T.low]"] == 390
    assert (fit.contrasts["df"] == 146).all()  # every contrast involves a between-patient arm term
    assert "between-within" in fit.method


def test_without_baseline_and_with_text_visits(data: pd.DataFrame) -> None:
    d = data.assign(week=data["week"].map({2: "w02", 4: "w04", 8: "w08", 12: "w12"}))
    fit = fit_mmrm(d, outcome="y", arm="arm", visit="week", subject="id", reference="placebo",
                   covariance="compound_symmetry")
    assert fit.visits == ("w02", "w04", "w08", "w12") and fit.converged
    assert fit.to_frame()["term"].iloc[0] == "high vs placebo at w02"
    assert "baseline" not in fit.fixed_effects["term"].tolist()


def test_a_bad_request_is_one_clear_message(data: pd.DataFrame) -> None:
    with pytest.raises(UsageError, match=r"outcome = 'pain' is not a column"):
        fit_mmrm(data, **{**ROLES, "outcome": "pain"})
    with pytest.raises(UsageError, match=r"reference = 'control' is not an arm of 'arm' \(arms: high, low, placebo\)"):
        fit_mmrm(data, **{**ROLES, "reference": "control"})
    with pytest.raises(UsageError, match=r"covariance must be one of"):
        fit_mmrm(data, **ROLES, covariance="toeplitz")
    with pytest.raises(UsageError, match=r"df must be one of"):
        fit_mmrm(data, **ROLES, df="kenward_roger")
    with pytest.raises(UsageError, match=r"one value per patient and visit.*P001"):
        fit_mmrm(pd.concat([data.iloc[:1], data]), **ROLES)
    with pytest.raises(UsageError, match=r"none for low at week 12"):
        fit_mmrm(data[~((data["arm"] == "low") & (data["week"] == 12))], **ROLES)
    with pytest.raises(UsageError, match=r"in several arms"):
        fit_mmrm(data.assign(arm=np.where(data.index == 0, "low", data["arm"])), **ROLES)
    with pytest.raises(UsageError, match=r"each column can have one role"):
        fit_mmrm(data, **{**ROLES, "baseline": "y"})
    with pytest.raises(UsageError, match=r"redundant covariate"):
        fit_mmrm(data.assign(age2=data["age"] * 2), **ROLES, covariates=("age", "age2"))
