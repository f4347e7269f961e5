"""Tests of outcomes.models.trial: visits, descriptives, responders, flow, Hedges' g, models vs R."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from outcomes.cohort import Cohort
from outcomes.models import trial

REF = Path(__file__).parent / "reference"
START = pd.Timestamp("2025-01-06")


@dataclass(frozen=True)
class Rule:
    """Same shape as the plan's responder definition (outcomes/plan.py)."""

    name: str
    outcome: str = "leg_pain"
    change_at_most: float | None = None
    pct_change_at_most: float | None = None
    endpoint_at_most: float | None = None
    combine: str = "all"
    missing: str = "nonresponder"


def _cohort(arms: dict[str, str], values: list[tuple[str, int, int]], ages: dict[str, int] | None = None,
            sexes: dict[str, str] | None = None) -> Cohort:
    """Assessments-only cohort; ``arms`` patient -> arm, ``values`` (patient, day, leg_pain); all enrolled START."""
    ids = list(arms)
    patients = pd.DataFrame({
        "patient_id": pd.array(ids, dtype="str"), "site_id": "S1", "clinician_id": "C1",
        "enrolled_on": pd.Series([START] * len(ids), dtype="datetime64[us]"),
        "age_years": pd.array([(ages or {}).get(i, 40 + k) for k, i in enumerate(ids)], dtype="Int64"),
        "sex": pd.array([(sexes or {}).get(i, "female" if k % 2 else "male") for k, i in enumerate(ids)], dtype="str"),
        "schedule": pd.array([arms[i] for i in ids], dtype="str"),
        "discharged_on": pd.Series([pd.NaT] * len(ids), dtype="datetime64[us]"),
        "discharge_reason": pd.array([None] * len(ids), dtype="str"),
    })
    assessments = pd.DataFrame({
        "patient_id": pd.array([v[0] for v in values], dtype="str"),
        "assessed_on": pd.Series([START + pd.Timedelta(days=v[1]) for v in values], dtype="datetime64[us]"),
        "leg_pain": pd.array([v[2] for v in values], dtype="Int64"),
    })
    return Cohort.from_frames(patients, assessments, as_of=START + pd.Timedelta(days=120))


def _reference_cohort() -> Cohort:
    p = pd.read_csv(REF / "trial_patients.csv", dtype={"age_years": "Int64"},
                    parse_dates=["enrolled_on", "discharged_on"], keep_default_na=False, na_values=[""])
    a = pd.read_csv(REF / "trial_assessments.csv", dtype={"leg_pain": "Int64", "back_pain": "Int64"},
                    parse_dates=["assessed_on"])
    return Cohort.from_frames(p, a)


# ------------------------------------------------------------------ visits

# visits (0, 2, 4), ±7 days. A: day 7 is 7 from weeks 0 and 2 (tie -> week 0); day 21 is 7 from
# weeks 2 and 4 (tie -> week 2, and 7 is inside the window); day 36 is 8 days from week 4 (outside).
# B: day -7 (edge, week 0) loses week 0 to day 1; days 12 and 16 are both 2 from week 2 (the earlier
# wins, 16 is displaced); day 28 is week 4.
VISIT_DATA = [("A", 7, 5), ("A", 21, 4), ("A", 36, 3),
              ("B", -7, 8), ("B", 1, 7), ("B", 12, 6), ("B", 16, 5), ("B", 28, 4)]


@pytest.fixture
def visit_cohort() -> Cohort:
    return _cohort({"A": "x", "B": "y"}, VISIT_DATA)


def test_assign_visits_by_hand(visit_cohort):
    out = trial.assign_visits(visit_cohort, visits=(0, 2, 4), window_days=7)
    got = {(r.patient_id, int(r.day)): (None if pd.isna(r.visit) else float(r.visit)) for r in out.itertuples()}
    assert got == {("A", 7): 0.0, ("A", 21): 2.0, ("A", 36): None,
                   ("B", -7): None, ("B", 1): 0.0, ("B", 12): 2.0, ("B", 16): None, ("B", 28): 4.0}
    assert out.attrs["n_unscheduled"] == 3
    assert out.attrs["unscheduled"] == {"outside_window": 1, "second_in_window": 2, "by_schedule": {"x": 1, "y": 2}}
    assert len(out) == len(visit_cohort.assessments)
    # a narrower window: day 7 and day 21 fall outside (7 > 6)
    narrow = trial.assign_visits(visit_cohort, visits=(0, 2, 4), window_days=6)
    assert narrow.loc[narrow["patient_id"] == "A", "visit"].isna().all()


def test_assign_visits_rejects_bad_visits(visit_cohort):
    with pytest.raises(ValueError, match="increasing"):
        trial.assign_visits(visit_cohort, visits=(2, 0))
    with pytest.raises(ValueError, match="window_days"):
        trial.assign_visits(visit_cohort, window_days=-1)


def test_flow_counts(visit_cohort):
    # A has no assessment assigned to week 4, yet is "analysed" at week 4: the endpoint, as in the
    # ANCOVA, is the nearest leg_pain within ±7 days of day 28 (value_at_week), here day 21.
    out = trial.flow(visit_cohort, visits=(0, 2, 4), window_days=7, endpoint_week=4)
    n = out.set_index(["schedule", "stage"])["n"]
    assert n.to_dict() == {("x", "randomised"): 1, ("x", "assessed_week_0"): 1, ("x", "assessed_week_2"): 1,
                           ("x", "assessed_week_4"): 0, ("x", "analysed"): 1,
                           ("y", "randomised"): 1, ("y", "assessed_week_0"): 1, ("y", "assessed_week_2"): 1,
                           ("y", "assessed_week_4"): 1, ("y", "analysed"): 1}
    assert list(out.columns) == trial.FLOW_COLUMNS and set(out["table"]) == {"flow"}


# ------------------------------------------------------------------ descriptives


def test_descriptives_tiny():
    c = _cohort({"a1": "a", "a2": "a", "a3": "a", "b1": "b"},
                [("a1", 0, 4), ("a2", 0, 6), ("a3", 1, 8), ("b1", 0, 5), ("a1", 14, 3), ("a3", 40, 9)])
    out = trial.descriptives(c, outcomes=["leg_pain"], visits=(0, 2), window_days=7)
    assert list(out.columns) == trial.DESCRIPTIVE_COLUMNS and len(out) == 4
    row = out[(out["schedule"] == "a") & (out["week"] == 0)].iloc[0]
    assert (row["n"], row["mean"], row["sd"], row["median"], row["q1"], row["q3"]) == (3, 6.0, 2.0, 6.0, 5.0, 7.0)
    one = out[(out["schedule"] == "a") & (out["week"] == 2)].iloc[0]
    assert one["n"] == 1 and one["mean"] == 3.0 and math.isnan(one["sd"])  # day 40 is unscheduled
    empty = out[(out["schedule"] == "b") & (out["week"] == 2)].iloc[0]
    assert empty["n"] == 0 and math.isnan(empty["mean"])


# ------------------------------------------------------------------ responders


def test_wilson_newcomb_and_woolf_by_hand():
    # reference 'a': 5 of 50 respond; 'b': 33 of 50 (everyone assessed at week 6)
    arms = {f"a{i:02d}": "a" for i in range(50)} | {f"b{i:02d}": "b" for i in range(50)}
    values = []
    for i in range(50):
        values += [(f"a{i:02d}", 0, 8), (f"a{i:02d}", 42, 2 if i < 5 else 8)]
        values += [(f"b{i:02d}", 0, 8), (f"b{i:02d}", 42, 2 if i < 33 else 8)]
    out = trial.responder_table(_cohort(arms, values), definitions=[Rule("r", change_at_most=-2)], endpoint_week=6)
    b = out.set_index("schedule").loc["b"]
    assert (b["n_randomised"], b["n_assessed"], b["n_responders"]) == (50, 50, 33)
    assert_allclose([b["ci_lower"], b["ci_upper"]], [0.5215, 0.7756], atol=1e-4)  # Wilson, STACK.md
    assert_allclose([b["rd_itt_ci_lower"], b["rd_itt_ci_upper"]], [0.381, 0.689], atol=1e-3)  # Newcomb
    assert b["rd_itt"] == pytest.approx(0.56)
    # Woolf: OR = 33*45/(17*5), SE(log OR) = sqrt(1/33 + 1/17 + 1/5 + 1/45)
    se = math.sqrt(1 / 33 + 1 / 17 + 1 / 5 + 1 / 45)
    orr = 33 * 45 / (17 * 5)
    assert_allclose([b["or_itt"], b["or_itt_ci_lower"], b["or_itt_ci_upper"]],
                    [orr, orr * math.exp(-1.959964 * se), orr * math.exp(1.959964 * se)], rtol=1e-6)
    assert math.isnan(out.set_index("schedule").loc["a", "rd_itt"])


@pytest.fixture
def responder_cohort() -> Cohort:
    # ref 'a': a1 8->4 (yes), a2 8->7 (no), a3 and a4 never seen at week 6; 'b': 8->2, 8->3, 8->8
    arms = {"a1": "a", "a2": "a", "a3": "a", "a4": "a", "b1": "b", "b2": "b", "b3": "b"}
    values = [(p, 0, 8) for p in arms] + [("a1", 42, 4), ("a2", 42, 7), ("b1", 42, 2), ("b2", 40, 3), ("b3", 44, 8)]
    return _cohort(arms, values)


def test_responder_missing_nonresponder_vs_exclude(responder_cohort):
    rules = [Rule("itt", change_at_most=-2, pct_change_at_most=-30),
             Rule("cc", change_at_most=-2, pct_change_at_most=-30, missing="exclude")]
    out = trial.responder_table(responder_cohort, definitions=rules, endpoint_week=6)
    assert list(out.columns) == trial.RESPONDER_COLUMNS
    a = out[(out["responder"] == "itt") & (out["schedule"] == "a")].iloc[0]
    assert (a["n_randomised"], a["n_assessed"], a["n_responders"]) == (4, 2, 1)
    assert (a["rate_itt"], a["rate_complete"]) == (0.25, 0.5)
    b = out[(out["responder"] == "itt") & (out["schedule"] == "b")].iloc[0]
    assert (b["rate_itt"], b["rate_complete"]) == pytest.approx((2 / 3, 2 / 3))
    assert b["rd_itt"] == pytest.approx(2 / 3 - 1 / 4) and b["rd_complete"] == pytest.approx(2 / 3 - 1 / 2)
    assert out.groupby("responder")["primary_denominator"].first().to_dict() == {"cc": "complete", "itt": "itt"}
    # both rates are reported whatever `missing` says
    same = ["n_assessed", "n_responders", "rate_itt", "rate_complete"]
    pd.testing.assert_frame_equal(out.loc[out["responder"] == "itt", same].reset_index(drop=True),
                                  out.loc[out["responder"] == "cc", same].reset_index(drop=True))


def test_responder_rules_combine(responder_cohort):
    # 8 -> 7: change -1 fails "≤ -2" but endpoint 7 ≤ 7 holds: "any" counts a2, "all" does not
    rules = [Rule("all", change_at_most=-2, endpoint_at_most=7),
             Rule("any", change_at_most=-2, endpoint_at_most=7, combine="any")]
    out = trial.responder_table(responder_cohort, definitions=rules, endpoint_week=6).set_index(["responder", "schedule"])
    assert out.loc[("all", "a"), "n_responders"] == 1 and out.loc[("any", "a"), "n_responders"] == 2


def test_arm_with_no_one_at_endpoint_is_reported(responder_cohort):
    c = _cohort({"a1": "a", "a2": "a", "b1": "b", "b2": "b", "c1": "c", "c2": "c"},
                [(p, 0, 8) for p in ("a1", "a2", "b1", "b2", "c1", "c2")]
                + [("a1", 42, 4), ("a2", 42, 7), ("b1", 42, 2), ("b2", 42, 3)])
    out = trial.responder_table(c, definitions=[Rule("r", change_at_most=-2)], endpoint_week=6).set_index("schedule")
    assert out.loc["c", "n_assessed"] == 0 and out.loc["c", "n_randomised"] == 2
    assert out.loc["c", ["rate_itt", "rate_complete", "ci_lower", "rd_itt", "or_complete"]].isna().all()
    assert out.loc["b", "rate_complete"] == 1.0 and not math.isnan(out.loc["b", "rd_itt"])
    assert any("'c'" in r and "not estimable" in r for r in out.attrs["remarks"])


def test_responder_bad_definitions(responder_cohort):
    with pytest.raises(ValueError, match="sets none"):
        trial.responder_table(responder_cohort, definitions=[Rule("empty")])
    with pytest.raises(ValueError, match="missing must be"):
        trial.responder_table(responder_cohort, definitions=[Rule("m", change_at_most=-2, missing="ignore")])


# ------------------------------------------------------------------ Hedges' g


def test_hedges_g_hand_example():
    # changes: reference 'a' -1, -2, -3 (mean -2, SD 1); 'b' -3, -4, -5, -6 (mean -4.5, var 5/3)
    # s_p² = (2·1 + 3·5/3)/5 = 1.4; d = -2.5/√1.4 = -2.112886; J = 1 - 3/19; g = -1.779272
    # var = 7/12 + g²/14 = 0.809463; CI = g ± 1.959964·0.899701 = (-3.542654, -0.015890)
    a = {"a1": -1, "a2": -2, "a3": -3}
    b = {"b1": -3, "b2": -4, "b3": -5, "b4": -6}
    values = [(p, 0, 8) for p in a | b] + [(p, 42, 8 + d) for p, d in (a | b).items()]
    out = trial.hedges_g(_cohort({p: p[0] for p in a | b}, values), endpoint_week=6)
    assert list(out.columns) == trial.EFFECT_SIZE_COLUMNS and len(out) == 1
    row = out.iloc[0]
    assert (row["schedule"], row["reference"], row["n"], row["n_reference"]) == ("b", "a", 4, 3)
    assert_allclose([row["g"], row["ci_lower"], row["ci_upper"]], [-1.779272, -3.542654, -0.015890], atol=2e-6)


# ------------------------------------------------------------------ bad input


def test_one_arm_only_is_refused():
    c = _cohort({"a1": "a", "a2": "a"}, [("a1", 0, 8), ("a2", 0, 7), ("a1", 42, 3), ("a2", 42, 3)])
    for call in (lambda: trial.responder_table(c, definitions=[Rule("r", change_at_most=-2)]),
                 lambda: trial.hedges_g(c), lambda: trial.trial_mixed_model(c)):
        with pytest.raises(ValueError, match="at least two"):
            call()
    assert len(trial.descriptives(c, outcomes=["leg_pain"])) == 6  # per-arm tables still work


def test_single_valued_covariate_is_named(responder_cohort):
    c = _cohort({"a1": "a", "a2": "a", "b1": "b", "b2": "b"},
                [(p, d, 8 - d // 14) for p in ("a1", "a2", "b1", "b2") for d in (0, 14, 28, 42)],
                sexes=dict.fromkeys(("a1", "a2", "b1", "b2"), "female"))
    with pytest.raises(ValueError, match="covariate 'sex'.*single value"):
        trial.trial_mixed_model(c, covariates=("age_years", "sex"))
    with pytest.raises(ValueError, match="covariate 'sex'"):
        trial.trial_ancova(c, covariates=("sex",))


# ------------------------------------------------------------------ models and R


@pytest.fixture(scope="module")
def ref_cohort() -> Cohort:
    return _reference_cohort()


@pytest.fixture(scope="module")
def r_values() -> dict:
    return json.loads((REF / "trial_values.json").read_text())


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / name, dtype={"patient_id": "str", "schedule": "str", "sex": "str"})


def _compare(table: pd.DataFrame, expected: dict) -> None:
    t = table.set_index("term")
    assert set(t.index) == set(expected["estimates"])
    terms = list(expected["estimates"])
    assert_allclose(t.loc[terms, "estimate"], [expected["estimates"][k] for k in terms], rtol=1e-4, atol=1e-7)
    assert_allclose(t.loc[terms, "std_error"], [expected["std_errors"][k] for k in terms], rtol=1e-3)


def test_ancova_matches_r(ref_cohort, r_values):
    res = trial.trial_ancova(ref_cohort, covariates=("age_years", "sex"), reference="alpha")
    committed = _read("trial_ancova.csv")
    data = res.data.assign(schedule=res.data["schedule"].astype(str))
    assert_allclose(data[["baseline", "endpoint", "age_years"]].to_numpy(float),
                    committed[["baseline", "endpoint", "age_years"]].to_numpy(float))
    assert list(data["patient_id"]) == list(committed["patient_id"])
    assert res.n_observations == r_values["ancova"]["n_observations"]
    _compare(res.table, r_values["ancova"])


def test_mixed_model_matches_lme4(ref_cohort, r_values):
    res = trial.trial_mixed_model(ref_cohort, covariates=("age_years", "sex"), reference="alpha")
    committed = _read("trial_lmm.csv")
    assert res.meta["random"] == "slope" and res.meta["random_fallback"] is None
    assert_allclose(res.data["week"].to_numpy(float), committed["week"].to_numpy(float), rtol=1e-9)
    # fit the committed file (what R fitted) and compare with lme4
    fit = trial.trial_mixed_model(committed, covariates=("age_years", "sex"), reference="alpha")
    assert fit.n_observations == r_values["lmm"]["n_observations"]
    _compare(fit.table, r_values["lmm"])
    vc = fit.meta["variance_components"]
    for k in ("intercept_sd", "slope_sd", "residual_sd"):
        assert vc[k] == pytest.approx(r_values["lmm"]["variance_components"][k], rel=1e-3)


def test_mixed_model_falls_back_to_random_intercept(ref_cohort):
    committed = _read("trial_lmm.csv")
    two = committed.groupby("patient_id", sort=False).head(2).reset_index(drop=True)
    res = trial.trial_mixed_model(two, covariates=("age_years",), reference="alpha")
    assert res.meta["random"] == "intercept" and "random slope" in res.meta["random_fallback"]
    assert any("random intercept only" in r for r in res.remarks)


def test_mixed_model_falls_back_when_slope_fails(monkeypatch):
    committed = _read("trial_lmm.csv")
    real = trial.fit_trajectory

    def failing(data, *, random, **kw):
        if random == "slope":
            raise RuntimeError("MixedLM failed with every optimiser")
        return real(data, random=random, **kw)

    monkeypatch.setattr(trial, "fit_trajectory", failing)
    res = trial.trial_mixed_model(committed, reference="alpha")
    assert res.meta["random"] == "intercept" and "failed" in res.meta["random_fallback"]


def test_tables_on_reference_cohort(ref_cohort):
    rt = trial.responder_table(ref_cohort, definitions=[Rule("improved", change_at_most=-2, pct_change_at_most=-30)])
    fl = trial.flow(ref_cohort).set_index(["schedule", "stage"])["n"]
    # n_assessed of a change rule equals "analysed" in the flow
    for r in rt.itertuples():
        assert r.n_assessed == fl[(r.schedule, "analysed")]
        assert r.n_randomised == fl[(r.schedule, "randomised")]
    g = trial.hedges_g(ref_cohort, reference="alpha")
    assert list(g["schedule"]) == ["beta", "gamma"] and g["g"].notna().all()
