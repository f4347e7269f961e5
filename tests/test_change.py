"""Tests for outcomes.measures.change: baseline, endpoint, responders, reliable change."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from outcomes import load_dataset
from outcomes.config import DEFAULT_INSTRUMENTS, ResponderRule
from outcomes.measures.change import (
    RC_CATEGORIES,
    classify_reliable_change,
    is_responder,
    outcome_changes,
    percent_change,
    reliable_change,
    reliable_change_errors,
    select_baseline,
    value_at_week,
)
from outcomes.measures.instruments import score_assessments
from outcomes.simulate import simulate

NRS = DEFAULT_INSTRUMENTS["leg_pain"].responder  # 2 points and 30 %
ODI = DEFAULT_INSTRUMENTS["odi"].responder  # 10 points or 30 %
START = pd.Timestamp("2026-01-05")

# Hand-built cohort, every patient enrolled on START. (patient, day since enrolment, leg_pain)
#   A  baseline from a pre-enrolment assessment (day -3; day 10 is past the window);
#      endpoint tie: days 38 and 46 are both 4 days from day 42 -> the earlier (day 38).
#   B  window edge: day 7 is the baseline (day 0 is earlier, day 8 is too late);
#      endpoint at day 49 = exactly +7 from day 42.
#   C  no baseline (first assessment day 14).
#   D  baseline 0 -> no percent change.
#   E  no assessments at all.
#   F  only follow-up at day 50 (8 days from day 42) -> no endpoint; latest is day 50.
#   Z  not in patients -> ignored.
LEG = [("A", -3, 8), ("A", 10, 6), ("A", 38, 5), ("A", 46, 3),
       ("B", 0, 7), ("B", 7, 6), ("B", 8, 9), ("B", 49, 4),
       ("C", 14, 5), ("C", 42, 3),
       ("D", 0, 0), ("D", 42, 0),
       ("F", 0, 10), ("F", 50, 9),
       ("Z", 0, 5), ("Z", 42, 1)]
#               baseline (day, value)  endpoint (day, value)  latest (day, value)
EXPECTED = {"A": ((-3, 8.0), (38, 5.0), (46, 3.0)),
            "B": ((7, 6.0), (49, 4.0), (49, 4.0)),
            "C": ((None, np.nan), (42, 3.0), (42, 3.0)),
            "D": ((0, 0.0), (42, 0.0), (42, 0.0)),
            "E": ((None, np.nan), (None, np.nan), (None, np.nan)),
            "F": ((0, 10.0), (None, np.nan), (50, 9.0))}


def _day(d: int | None) -> pd.Timestamp:
    return pd.NaT if d is None else START + pd.Timedelta(days=d)


def _cohort() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scored, patients) with a line-number index like load_dataset gives."""
    patients = pd.DataFrame({"patient_id": list("ABCDEF"), "enrolled_on": [START] * 6,
                             "schedule": ["weekly", "guided"] * 3}, index=range(2, 8))
    scored = pd.DataFrame({
        "patient_id": [p for p, _, _ in LEG],
        "assessed_on": [_day(d) for _, d, _ in LEG],
        "leg_pain": [float(v) for _, _, v in LEG],
        # back pain: recorded only at A's day -3 and 38, missing elsewhere
        "back_pain": [4.0, np.nan, 2.0, *[np.nan] * (len(LEG) - 3)],
    }, index=range(10, 10 + len(LEG)))
    return scored, patients


# -------------------------------------------------------------- selection


def test_select_baseline_hand_checked() -> None:
    scored, patients = _cohort()
    base = select_baseline(scored, patients, outcome="leg_pain")
    assert list(base.columns) == ["patient_id", "baseline_date", "baseline"]
    assert isinstance(base.index, pd.RangeIndex)
    assert base["patient_id"].tolist() == list("ABCDEF")  # every patient, Z dropped
    for pid, ((day, value), _, _) in EXPECTED.items():
        row = base.set_index("patient_id").loc[pid]
        assert (pd.isna(row["baseline_date"]) if day is None else row["baseline_date"] == _day(day)), pid
        assert_allclose(row["baseline"], value, err_msg=pid)


def test_select_baseline_window_is_inclusive_and_configurable() -> None:
    scored, patients = _cohort()
    assert select_baseline(scored, patients, outcome="leg_pain").loc[1, "baseline"] == 6.0  # day 7
    narrow = select_baseline(scored, patients, outcome="leg_pain", window_days=6)
    assert narrow.loc[1, "baseline"] == 7.0  # B: day 7 now outside, day 0 taken
    wide = select_baseline(scored, patients, outcome="leg_pain", window_days=8)
    assert wide.loc[1, "baseline"] == 9.0  # B: day 8 now inside and last


def test_select_baseline_skips_missing_values() -> None:
    scored, patients = _cohort()
    back = select_baseline(scored, patients, outcome="back_pain")
    assert back.loc[0, "baseline"] == 4.0 and back.loc[0, "baseline_date"] == _day(-3)
    assert back["baseline"].iloc[1:].isna().all()


def test_value_at_week_hand_checked() -> None:
    scored, patients = _cohort()
    end = value_at_week(scored, patients, outcome="leg_pain", week=6)
    assert list(end.columns) == ["patient_id", "date", "week", "value"]
    for pid, (_, (day, value), _) in EXPECTED.items():
        row = end.set_index("patient_id").loc[pid]
        assert (pd.isna(row["date"]) if day is None else row["date"] == _day(day)), pid
        assert_allclose([row["value"], row["week"]], [value, np.nan if day is None else day / 7], err_msg=pid)


def test_value_at_week_other_week_and_window() -> None:
    scored, patients = _cohort()
    wk1 = value_at_week(scored, patients, outcome="leg_pain", week=1, window_days=3).set_index("patient_id")
    # A: day 10 (3 from day 7); B: day 7 itself; C: nothing within days 4..10
    assert wk1.loc["A", "value"] == 6.0 and wk1.loc["B", "value"] == 6.0 and np.isnan(wk1.loc["C", "value"])
    wide = value_at_week(scored, patients, outcome="leg_pain", week=6, window_days=8).set_index("patient_id")
    assert wide.loc["F", "value"] == 9.0  # day 50 now inside


def test_selection_errors_name_parameter_and_value() -> None:
    scored, patients = _cohort()
    with pytest.raises(ValueError, match="scored has no column 'odi'"):
        select_baseline(scored, patients, outcome="odi")
    with pytest.raises(ValueError, match="window_days must be between 0 and 3660, got -1"):
        select_baseline(scored, patients, outcome="leg_pain", window_days=-1)
    with pytest.raises(TypeError, match="week must be a number, got '6'"):
        value_at_week(scored, patients, outcome="leg_pain", week="6")
    with pytest.raises(ValueError, match="patients has patient_id 'A' more than once"):
        select_baseline(scored, pd.concat([patients, patients.iloc[:1]]), outcome="leg_pain")
    with pytest.raises(ValueError, match="more than one leg_pain for patient 'A' on 2026-01-02"):
        select_baseline(pd.concat([scored, scored.iloc[:1]]), patients, outcome="leg_pain")
    with pytest.raises(TypeError, match=r"patients\['enrolled_on'\] must hold dates"):
        select_baseline(scored, patients.assign(enrolled_on="2026-01-05"), outcome="leg_pain")


# ----------------------------------------------------------------- change


def test_percent_change() -> None:
    b = pd.Series([10.0, 0.0, np.nan, 4.0], index=[5, 6, 7, 8])
    v = pd.Series([7.0, 2.0, 3.0, np.nan], index=[5, 6, 7, 8])
    pct = percent_change(b, v)
    assert list(pct.index) == [5, 6, 7, 8]
    assert_allclose(pct, [-30.0, np.nan, np.nan, np.nan])
    assert_allclose(percent_change([8, 2], [2, 3]), [-75.0, 50.0])
    with pytest.raises(ValueError, match="same length"):
        percent_change([1, 2], [1])


def _responder(before: list[float], after: list[float], rule: ResponderRule, **kw: object) -> list:
    b, a = np.array(before, float), np.array(after, float)
    return is_responder(a - b, percent_change(b, a), rule=rule, **kw).tolist()


def test_default_nrs_rule_needs_two_points_and_thirty_percent() -> None:
    # DOMAIN.md: 10 -> 8 (20 %) and 1 -> 0 (1 point) are not responses; 7 -> 4 is.
    assert _responder([10, 1, 7], [8, 0, 4], NRS) == [False, False, True]
    assert _responder([7, 5], [5, 3], NRS) == [False, True]  # 28.6 % vs 40 %
    assert _responder([4], [6], NRS) == [False]  # worse


def test_odi_rule_needs_ten_points_or_thirty_percent() -> None:
    # 40 -> 31: 9 points, 22.5 %; 40 -> 30: 10 points; 20 -> 14: 6 points but exactly 30 %
    assert _responder([40, 40, 20, 60], [31, 30, 14, 62], ODI) == [False, True, True, False]
    # recorded totals on the boundary: floating point gives -9.999999999999998 and -29.999999999999996
    assert _responder([16.4], [6.4], ResponderRule(points=10)) == [True]
    assert _responder([12.0], [8.4], ResponderRule(percent=30)) == [True]


def test_responder_higher_is_better_and_missing() -> None:
    slr = ResponderRule(points=10)
    assert _responder([40, 60], [60, 40], slr, higher_is_worse=False) == [True, False]
    assert _responder([40, 60], [60, 40], slr, higher_is_worse=True) == [False, True]
    # Kleene: missing endpoint -> NA; with 'all', a failed known criterion decides
    change = pd.Series([np.nan, -1.0, -3.0], index=[3, 4, 5])
    pct = pd.Series([np.nan, np.nan, np.nan], index=[3, 4, 5])
    out = is_responder(change, pct, rule=NRS)
    assert out.dtype == "boolean" and list(out.index) == [3, 4, 5]
    assert out.tolist() == [pd.NA, False, pd.NA]
    # baseline 0 under 'any': no percent, change 0 cannot reach 10 points -> undecided
    assert is_responder([0.0], [np.nan], rule=ODI).tolist() == [pd.NA]


def test_responder_endpoint_state() -> None:
    state = ResponderRule(endpoint_at_most=1)  # pain-free or nearly (Ashar et al. 2022)
    flags = is_responder(None, None, rule=state, endpoint=[0, 1, 2, np.nan])
    assert flags.tolist() == [True, True, False, pd.NA]
    both = ResponderRule(points=2, percent=30, endpoint_at_most=1)
    b, a = np.array([7.0, 3.0, 2.0]), np.array([4.0, 1.0, 1.0])
    assert is_responder(a - b, percent_change(b, a), rule=both, endpoint=a).tolist() == [False, True, False]


def test_responder_errors() -> None:
    with pytest.raises(ValueError, match="rule has neither points, percent nor endpoint_at_most"):
        is_responder([1.0], [1.0], rule=ResponderRule())
    with pytest.raises(TypeError, match="rule must be an outcomes.config.ResponderRule, got dict"):
        is_responder([1.0], [1.0], rule={"points": 2})
    with pytest.raises(ValueError, match=r"rule.points must be a positive amount .* got -2"):
        is_responder([1.0], [1.0], rule=ResponderRule(points=-2))
    with pytest.raises(ValueError, match=r"endpoint is None but rule.endpoint_at_most = 1 needs it"):
        is_responder([1.0], [1.0], rule=ResponderRule(points=2, endpoint_at_most=1))
    with pytest.raises(ValueError, match="rule.combine must be 'all' or 'any', got 'both'"):
        is_responder([1.0], [1.0], rule=ResponderRule(points=2, combine="both"))


# -------------------------------------------------------- reliable change


def test_reliable_change_domain_check() -> None:
    # DOMAIN.md: SD 5, r 0.80 -> SE 2.2361, S_diff 3.1623 (Jacobson & Truax 1991)
    assert_allclose(reliable_change_errors(sd=5, reliability=0.80), (2.2361, 3.1623), rtol=1e-4)
    rc = reliable_change([10.0, 10.0, np.nan], [10 + 3.16227766, 4.0, 3.0], sd=5, reliability=0.8)
    assert isinstance(rc, np.ndarray)
    assert_allclose(rc, [1.0, -6 / math.sqrt(10), np.nan], rtol=1e-8)
    series = reliable_change(pd.Series([1.0], index=[9]), pd.Series([2.0], index=[9]), sd=5, reliability=0)
    assert list(series.index) == [9] and series.iloc[0] == pytest.approx(1 / (5 * math.sqrt(2)))


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"sd": 0, "reliability": 0.8}, ValueError, "sd must be positive, got 0.0"),
    ({"sd": "5", "reliability": 0.8}, TypeError, "sd must be a number, got '5'"),
    ({"sd": 5, "reliability": 1.0}, ValueError, "reliability must be at least 0 and below 1, got 1.0"),
    ({"sd": 5, "reliability": -0.1}, ValueError, "reliability must be at least 0 and below 1, got -0.1"),
])
def test_reliable_change_validates(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        reliable_change([1.0], [2.0], **kwargs)


def test_classify_reliable_change() -> None:
    rc = [-2.5, -1.96, 0.0, 1.96, 2.5, np.nan]
    cats = classify_reliable_change(rc)
    assert list(cats.categories) == list(RC_CATEGORIES)
    assert list(cats.astype(object)[:5]) == ["improved", "unchanged", "unchanged", "unchanged",
                                             "deteriorated"]
    assert pd.isna(cats[5])
    flipped = classify_reliable_change(rc, higher_is_worse=False)
    assert flipped[0] == "deteriorated" and flipped[4] == "improved"
    assert classify_reliable_change([1.5], critical=1.0)[0] == "deteriorated"
    with pytest.raises(ValueError, match="critical must be positive, got -1.0"):
        classify_reliable_change(rc, critical=-1)


# ------------------------------------------------------------------- tidy


def test_outcome_changes_hand_checked() -> None:
    scored, patients = _cohort()
    out = outcome_changes(scored, patients, outcomes=("leg_pain",))
    assert isinstance(out.index, pd.RangeIndex)
    assert list(out.columns) == ["patient_id", "outcome", "baseline_date", "baseline", "endpoint_date",
                                 "endpoint_week", "endpoint", "change", "pct_change", "responder", "rc",
                                 "rc_class", "latest_date", "latest"]
    assert out["patient_id"].tolist() == list("ABCDEF") and set(out["outcome"]) == {"leg_pain"}
    row = out.set_index("patient_id")
    for pid, ((bd, bv), (ed, ev), (ld, lv)) in EXPECTED.items():
        values = row.loc[pid, ["baseline", "endpoint", "latest"]].astype(float)
        assert_allclose(values, [bv, ev, lv], err_msg=pid)
        for col, day in (("baseline_date", bd), ("endpoint_date", ed), ("latest_date", ld)):
            assert (pd.isna(row.loc[pid, col]) if day is None else row.loc[pid, col] == _day(day)), (pid, col)
    # change, percent, responder by hand: A 8 -> 5 (-3, -37.5 %) yes; B 6 -> 4 (-2, -33.3 %) yes;
    # D 0 -> 0 (0, no percent) no; C, E, F missing
    assert_allclose(row["change"], [-3, -2, np.nan, 0, np.nan, np.nan])
    assert_allclose(row["pct_change"], [-37.5, -100 / 3, np.nan, np.nan, np.nan, np.nan])
    assert row["responder"].tolist() == [True, True, pd.NA, False, pd.NA, pd.NA]
    assert_allclose(row["endpoint_week"], [38 / 7, 7, 6, 6, np.nan, np.nan])
    # RC: SD = sample SD of the baselines 8, 6, 0, 10 = sqrt(56 / 3) = 4.3205; r = 0.95 for the NRS,
    # so S_diff = 4.3205 x sqrt(0.05) x sqrt(2) = 1.3663: A -3 -> RC -2.196 (reliable), B -2 -> -1.464 (not)
    s_diff = math.sqrt(56 / 3) * math.sqrt(1 - 0.95) * math.sqrt(2)
    assert s_diff == pytest.approx(1.3663, rel=1e-4)
    assert_allclose(row["rc"], np.array([-3, -2, np.nan, 0, np.nan, np.nan]) / s_diff)
    assert row["rc_class"].astype(object).tolist()[:2] == ["improved", "unchanged"]
    assert row["rc_class"].iloc[3] == "unchanged" and row["rc_class"].iloc[[2, 4, 5]].isna().all()


def test_outcome_changes_sd_override_and_week() -> None:
    scored, patients = _cohort()
    out = outcome_changes(scored, patients, outcomes=("leg_pain",), sd={"leg_pain": 2.0})
    assert_allclose(out["rc"].iloc[0], -3 / (2.0 * math.sqrt(0.05) * math.sqrt(2)))
    wk1 = outcome_changes(scored, patients, outcomes=("leg_pain",), week=1)
    assert wk1.loc[0, "endpoint"] == 6.0 and wk1.loc[0, "endpoint_date"] == _day(10)  # A: day 10, 3 from 7
    assert wk1.loc[1, "change"] == 0.0  # B: day 7 is both baseline and endpoint (windows overlap)
    with pytest.raises(ValueError, match=r"sd has outcomes \['odi'\] that are not among outcomes"):
        outcome_changes(scored, patients, outcomes=("leg_pain",), sd={"odi": 10.0})
    with pytest.raises(ValueError, match="sd must be positive, got 0.0"):
        outcome_changes(scored, patients, outcomes=("leg_pain",), sd={"leg_pain": 0})


def test_outcome_changes_skips_absent_outcomes_and_rejects_unknown() -> None:
    scored, patients = _cohort()
    out = outcome_changes(scored, patients)  # odi and rmdq are not in this export
    assert out["outcome"].unique().tolist() == ["leg_pain", "back_pain"]
    assert len(out) == 2 * len(patients)
    none = outcome_changes(scored, patients, outcomes=("rmdq",))
    assert len(none) == 0 and list(none.columns) == list(out.columns)
    assert none["responder"].dtype == "boolean" and none["baseline_date"].dtype.kind == "M"
    with pytest.raises(ValueError, match=r"outcomes \['leg_pian'\] are not instruments"):
        outcome_changes(scored, patients, outcomes=("leg_pian",))
    with pytest.raises(TypeError, match="outcomes must be a sequence of outcome names"):
        outcome_changes(scored, patients, outcomes="leg_pain")


def test_order_invariance_and_inputs_untouched() -> None:
    scored, patients = _cohort()
    kept = scored.copy(), patients.copy()
    expected = outcome_changes(scored, patients)
    pd.testing.assert_frame_equal(scored, kept[0])
    pd.testing.assert_frame_equal(patients, kept[1])
    rng = np.random.default_rng(7)
    for _ in range(5):
        shuffled = outcome_changes(scored.sample(frac=1, random_state=rng),
                                   patients.sample(frac=1, random_state=rng))
        pd.testing.assert_frame_equal(shuffled, expected)
        base = select_baseline(scored.sample(frac=1, random_state=rng), patients, outcome="leg_pain")
        pd.testing.assert_frame_equal(base, select_baseline(scored, patients, outcome="leg_pain"))


def test_outcome_changes_on_a_loaded_dataset(valid_dir: Path) -> None:
    frames = load_dataset(valid_dir).frames()
    out = outcome_changes(score_assessments(frames["assessments"]), frames["patients"], outcomes=("odi",))
    # conftest: every patient assessed on enrolment; P001's sections sum to 17 of 50
    assert out["patient_id"].tolist() == ["P001", "P002", "P003"]
    assert out.loc[0, "baseline"] == pytest.approx(34.0)
    assert out["endpoint"].isna().all()  # nobody assessed near week 6
    assert out.loc[0, "latest"] == pytest.approx(24.0)  # 12 of 50 on 2026-01-19


def _mean_change_by_arm(n: int, seed: int, params: dict[str, float] | None = None) -> pd.Series:
    sim = simulate(n, seed=seed, params=params)
    changes = outcome_changes(score_assessments(sim.assessments), sim.patients, outcomes=("leg_pain",))
    arm = changes.merge(sim.patients[["patient_id", "schedule"]], on="patient_id")
    assert arm["endpoint"].notna().mean() > 0.6
    return arm.groupby("schedule")["change"].mean()


def test_simulated_leg_pain_falls_in_both_arms() -> None:
    # Truth at week 6: -0.20/week x 6 (weekly) or -0.30/week x 6 (guided), plus -0.10 per level climbed,
    # so roughly -1.7 and -1.9; a change with the wrong sign would be positive.
    mean = _mean_change_by_arm(300, 1)
    assert -2.5 < mean["weekly"] < -1.0 and -2.5 < mean["guided"] < -1.0


def test_simulated_guided_arm_improves_more() -> None:
    # With the level effect switched off, the only arm difference at week 6 is the slope difference
    # -0.10/week x 6 = -0.6 points (SE about 0.07 with 2,000 patients). With levels on, the weekly arm
    # climbs faster and the difference shrinks to about -0.2, too small to test at n = 300.
    mean = _mean_change_by_arm(2000, 1, {"level": 0.0})
    assert -0.9 < mean["guided"] - mean["weekly"] < -0.3
