"""Tests of outcomes.models.imputation: multiple imputation under MAR, Rubin's rules, tipping point."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from numpy.testing import assert_allclose

from outcomes.errors import UsageError
from outcomes.models.imputation import (SENSITIVITY_COLUMNS, multiple_imputation, pool_rubin, tipping_point)

REF = Path(__file__).parent / "reference"
ROLES = dict(outcome="y", arm="arm", visit="week", subject="id", baseline="baseline", reference="placebo")


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    """The MMRM reference trial: 150 patients, 3 arms, weeks 2-12, 21 endpoints missing."""
    return pd.read_csv(REF / "mmrm_data.csv")


def _mar_trial(n: int, seed: int) -> tuple[pd.DataFrame, float]:
    """Two arms, one intermediate visit; dropout before the endpoint depends on it (MAR)."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(np.array(["a", "b"]), n)
    b = rng.normal(50, 8, n)
    t = arm == "b"
    y1 = b - 8 * t + rng.normal(0, 5, n)
    y2 = 0.8 * y1 + 10 - 2 * t + rng.normal(0, 3, n)
    drop = rng.random(n) < 1 / (1 + np.exp(-(y1 - 46) / 2))  # about half drop out, more in arm a
    frame = pd.DataFrame({"id": np.repeat(np.arange(n), 2), "arm": np.repeat(arm, 2), "visit": np.tile([1, 2], n),
                          "baseline": np.repeat(b, 2),
                          "y": np.column_stack([y1, np.where(drop, np.nan, y2)]).ravel()})
    return frame, 0.8 * -8 - 2


def test_same_seed_same_result_other_seed_other_result(data: pd.DataFrame) -> None:
    a = multiple_imputation(data, **ROLES, imputations=10, seed=7)
    b = multiple_imputation(data, **ROLES, imputations=10, seed=7)
    c = multiple_imputation(data, **ROLES, imputations=10, seed=8)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    pd.testing.assert_frame_equal(a.per_imputation, b.per_imputation)
    assert not np.allclose(a.table["estimate"], c.table["estimate"])
    assert a.seed == 7


def test_rubin_pooling_by_hand() -> None:
    # m = 3, estimates 1.0, 1.2, 0.8, variances .04, .05, .03, complete-data df 20:
    # Q̄ = 1, Ū = .04, B = .04, T = .04 + 4/3 × .04 = .09333; λ = .05333/.09333 = 4/7;
    # ν_old = 2/(4/7)² = 6.125; ν_obs = 21/23 × 20 × 3/7 = 7.8261; ν = 1/(1/6.125 + 1/7.8261) = 3.4359
    got = pool_rubin([1.0, 1.2, 0.8], [0.04, 0.05, 0.03], 20)
    assert got["estimate"] == pytest.approx(1.0)
    assert got["within_variance"] == pytest.approx(0.04)
    assert got["between_variance"] == pytest.approx(0.04)
    assert got["std_error"] == pytest.approx(math.sqrt(0.04 + 4 / 3 * 0.04))
    assert got["df"] == pytest.approx(3.43591, rel=1e-5)
    r = (4 / 3 * 0.04) / 0.04
    assert got["fmi"] == pytest.approx((r + 2 / (got["df"] + 3)) / (r + 1))
    from scipy import stats
    q = stats.t.ppf(0.975, got["df"])
    assert got["ci_lower"] == pytest.approx(1.0 - q * got["std_error"])
    assert got["p_value"] == pytest.approx(2 * stats.t.sf(1.0 / got["std_error"], got["df"]))


def test_pooled_table_is_rubins_rules_on_the_completed_fits(data: pd.DataFrame) -> None:
    mi = multiple_imputation(data, **ROLES, imputations=20, seed=3)
    m, nu = 20, mi.meta["df_complete"]
    assert nu == 150 - 4  # intercept, two arms, baseline
    for row in mi.table.itertuples():
        fits = mi.per_imputation[mi.per_imputation["term"] == row.term]
        q, u = fits["estimate"].to_numpy(), fits["variance"].to_numpy()
        b = q.var(ddof=1)
        total = u.mean() + (1 + 1 / m) * b
        lam = (1 + 1 / m) * b / total
        nu_obs = (nu + 1) / (nu + 3) * nu * (1 - lam)
        df = 1 / (lam ** 2 / (m - 1) + 1 / nu_obs)
        assert row.estimate == pytest.approx(q.mean(), rel=1e-12)
        assert row.std_error == pytest.approx(math.sqrt(total), rel=1e-12)
        assert row.df == pytest.approx(df, rel=1e-10)
        assert 0 < row.fmi < 0.5 and b > 0


def test_without_missing_data_mi_is_the_plain_ancova(data: pd.DataFrame) -> None:
    complete = data[data["week"] == 12].dropna(subset=["y"])
    mi = multiple_imputation(complete, **ROLES, imputations=5)
    ols = smf.ols("y ~ C(arm, Treatment('placebo')) + baseline", data=complete).fit()
    ci = ols.conf_int()
    for row, arm in zip(mi.table.itertuples(), ("high", "low")):
        name = f"C(arm, Treatment('placebo'))[T.{arm}]"
        assert row.estimate == pytest.approx(ols.params[name], rel=1e-10)
        assert row.std_error == pytest.approx(ols.bse[name], rel=1e-10)
        assert row.ci_lower == pytest.approx(ci.loc[name, 0], rel=1e-10)
        assert row.ci_upper == pytest.approx(ci.loc[name, 1], rel=1e-10)
        assert row.p_value == pytest.approx(ols.pvalues[name], rel=1e-8)
        assert row.df == ols.df_resid and row.between_variance == 0
    assert mi.counts["n_imputed"].sum() == 0


def test_mi_recovers_the_effect_where_complete_cases_are_biased() -> None:
    frame, truth = _mar_trial(2000, seed=0)
    mi = multiple_imputation(frame, outcome="y", arm="arm", visit="visit", subject="id", baseline="baseline",
                             reference="a", imputations=20, seed=1)
    est, se = mi.table["estimate"].iloc[0], mi.table["std_error"].iloc[0]
    wide = frame[frame["visit"] == 2].dropna()
    cc = smf.ols("y ~ arm + baseline", data=wide).fit()
    assert abs(est - truth) < 2 * se
    assert cc.params["arm[T.b]"] - truth > 3 * cc.bse["arm[T.b]"]  # dropout depends on visit 1


def test_rows_counts_and_input_untouched(data: pd.DataFrame) -> None:
    before = data.copy()
    mi = multiple_imputation(data, **ROLES, imputations=5)
    pd.testing.assert_frame_equal(data, before)
    rows = mi.to_frame()
    assert list(rows.columns) == SENSITIVITY_COLUMNS
    assert rows["term"].tolist() == ["high vs placebo at 12", "low vs placebo at 12"]
    assert set(rows["method"]) == {"multiple_imputation"} and set(rows["delta"]) == {0.0}
    counts = mi.counts.set_index("arm")
    observed = data[(data["week"] == 12) & data["y"].notna()].groupby("arm").size()
    assert (counts["n_observed"] == observed.reindex(counts.index)).all()
    assert (counts["n"] == 50).all() and counts["n_imputed"].sum() == 21


def test_a_patient_without_any_post_baseline_value_is_imputed(data: pd.DataFrame) -> None:
    gone = data.assign(y=np.where(data["id"] == "P001", np.nan, data["y"]))
    mi = multiple_imputation(gone, **ROLES, imputations=5)
    base = multiple_imputation(data, **ROLES, imputations=5)
    assert mi.counts["n_imputed"].sum() == base.counts["n_imputed"].sum() + 1
    assert mi.n_patients == 150


def test_tipping_point_moves_monotonically_and_starts_at_mi(data: pd.DataFrame) -> None:
    tp = tipping_point(data, **ROLES, direction="lower_is_better", deltas=[3, 1, 2, 6], imputations=20, seed=4)
    mi = multiple_imputation(data, **ROLES, imputations=20, seed=4)
    assert tp.deltas == (0.0, 1.0, 2.0, 3.0, 6.0)
    rows = tp.to_frame()
    assert list(rows.columns) == SENSITIVITY_COLUMNS and set(rows["method"]) == {"tipping_point"}
    for arm in ("high", "low"):
        r = tp.rows[tp.rows["arm"] == arm].sort_values("delta")
        assert np.all(np.diff(r["estimate"]) > 0)  # imputed values worse (higher) -> smaller benefit
        assert_allclose(np.diff(r["estimate"]) / np.diff(r["delta"]), np.diff(r["estimate"])[0], rtol=1e-9)
        assert r["estimate"].iloc[0] == pytest.approx(mi.table.set_index("arm").loc[arm, "estimate"], rel=1e-12)
        assert r["p_value"].iloc[0] == pytest.approx(mi.table.set_index("arm").loc[arm, "p_value"], rel=1e-12)
    higher = tipping_point(data, **ROLES, direction="higher_is_better", deltas=[1, 2], imputations=20, seed=4)
    h = higher.rows[higher.rows["arm"] == "low"].sort_values("delta")
    assert np.all(np.diff(h["estimate"]) < 0)


def test_tipping_delta_is_the_first_change_of_conclusion(data: pd.DataFrame) -> None:
    tp = tipping_point(data, **ROLES, direction="lower_is_better", deltas=range(0, 11), imputations=20, seed=4)
    for t in tp.tipping.itertuples():
        r = tp.rows[tp.rows["arm"] == t.arm].sort_values("delta")
        first = r.iloc[0]
        same = (np.sign(r["estimate"]) == np.sign(first["estimate"])) & (r["significant"] == first["significant"])
        expected = r.loc[~same, "delta"].min() if (~same).any() else math.nan
        assert (math.isnan(expected) and math.isnan(t.tipping_delta)) or t.tipping_delta == expected
        assert t.arm in t.sentence
    low = tp.tipping.set_index("arm").loc["low"]
    assert low["significant_mar"] and not math.isnan(low["tipping_delta"])  # low's benefit tips within 10
    assert "changes when the imputed y values in low are" in low["sentence"]


def test_bad_requests_are_clear(data: pd.DataFrame) -> None:
    with pytest.raises(UsageError, match=r"baseline is required"):
        multiple_imputation(data, **{**ROLES, "baseline": None})
    with pytest.raises(UsageError, match=r"imputations must be a whole number from 2"):
        multiple_imputation(data, **ROLES, imputations=1)
    with pytest.raises(UsageError, match=r"seed must be a non-negative whole number"):
        multiple_imputation(data, **ROLES, seed=-1)
    with pytest.raises(UsageError, match=r"endpoint = 10 is not a visit of 'week' \(visits: 2, 4, 8, 12\)"):
        multiple_imputation(data, **ROLES, endpoint=10)
    with pytest.raises(UsageError, match=r"direction must be one of"):
        tipping_point(data, **ROLES, direction="down")
    with pytest.raises(UsageError, match=r"deltas must be non-negative"):
        tipping_point(data, **ROLES, direction="lower_is_better", deltas=[-1, 1])
    few = data[~((data["arm"] == "low") & (data["week"] == 12) & (data["id"] > "P051"))]
    with pytest.raises(UsageError, match=r"arm 'low' has 1 patients with an endpoint value"):
        multiple_imputation(few, **ROLES)


def test_tipping_point_rows_are_one_ancova_per_delta_on_the_shifted_imputations(data: pd.DataFrame) -> None:
    """The δ grid is solved in one least-squares call; each δ must still be the ANCOVA of the imputed
    values shifted by δ in the non-reference arms, pooled by Rubin's rules (checked with statsmodels)."""
    from outcomes.models import imputation as imp

    tp = tipping_point(data, **ROLES, direction="lower_is_better", deltas=[2], imputations=4, seed=11)
    _, prep, completed, missing = imp._run(data, who="t", endpoint=None, covariates=(), imputations=4, seed=11,
                                          level=0.95, **ROLES)
    shifted = missing & (prep.wide["_arm"] != "placebo").to_numpy()
    frame = prep.wide[["_arm", "_baseline"]].rename(columns={"_arm": "arm", "_baseline": "baseline"})
    for arm in ("high", "low"):
        got = tp.rows[(tp.rows["arm"] == arm) & (tp.rows["delta"] == 2.0)].iloc[0]
        est, var = [], []
        for j in range(4):
            fit = smf.ols("y ~ C(arm, Treatment('placebo')) + baseline",
                          frame.assign(y=completed[:, j] + 2.0 * shifted)).fit()
            term = f"C(arm, Treatment('placebo'))[T.{arm}]"
            est.append(fit.params[term])
            var.append(fit.bse[term] ** 2)
        pooled = pool_rubin(est, var, fit.df_resid)
        assert got["estimate"] == pytest.approx(pooled["estimate"], rel=1e-9)
        assert got["std_error"] == pytest.approx(pooled["std_error"], rel=1e-9)
        assert got["p_value"] == pytest.approx(pooled["p_value"], rel=1e-7)


def test_fit_seconds_recorded(data: pd.DataFrame) -> None:
    tp = tipping_point(data, **ROLES, direction="lower_is_better", deltas=[1], imputations=3, seed=1)
    assert 0 < tp.imputation.describe()["fit_seconds"] < 60 and 0 < tp.describe()["fit_seconds"] < 60
