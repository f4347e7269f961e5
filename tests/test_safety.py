"""Stop-and-consult flags, each rule on hand-built data."""

from __future__ import annotations

import pandas as pd
import pytest

from outcomes.config import SafetyThresholds
from outcomes.measures.safety import FLAG_COLUMNS, flag_episodes, patient_flag_summary, stop_and_consult_flags

D = pd.Timestamp


def _patients(discharged=None):
    return pd.DataFrame({"patient_id": ["A", "B"], "enrolled_on": [D("2026-01-05"), D("2026-01-05")],
                         "discharged_on": [discharged, pd.NaT]})


def _sessions(rows):
    return pd.DataFrame(rows, columns=["session_id", "patient_id", "performed_at", "pain_before", "pain_after",
                                       "response"]).astype({"performed_at": "datetime64[us]"})


def _daily(pid, start, days, before=3, after=3):
    return [(f"{pid}{i}", pid, D(start) + pd.Timedelta(days=i), before, after, "same") for i in range(days)]


def test_severe_pain_and_flare_from_sessions():
    s = _sessions(_daily("A", "2026-01-05", 3) + _daily("B", "2026-01-05", 3) + [
        ("A9", "A", D("2026-01-06 19:00"), 6, 8, "worse"),   # severe (8) and flare (+2, worse)
        ("B9", "B", D("2026-01-07 08:00"), 8, 7, "better"),  # high pain at rest, not severe during
        ("B8", "B", D("2026-01-07 19:00"), 3, 4, "worse"),   # flare by rating only
    ])
    f = stop_and_consult_flags(_patients(), sessions=s, as_of="2026-01-07")
    assert list(f.columns) == FLAG_COLUMNS
    got = sorted(zip(f["rule"], f["source_id"], f["value"]))
    assert got == [("high_pain_at_rest", "B9", 8.0), ("session_flare", "A9", 2.0), ("session_flare", "B8", 1.0),
                   ("severe_pain", "A9", 8.0)]
    row = f[(f.rule == "severe_pain") & (f.source_id == "A9")].iloc[0]
    assert row["evidence"] == "pain 6 before the session, 8 after (0-10)"
    assert "stop the glides and consult" in row["advice"] and row["date"] == D("2026-01-06")
    assert f[f.source_id == "B8"]["evidence"].iloc[0] == "pain rose from 3 to 4 during the session; rated 'worse'"


def test_thresholds_are_options():
    s = _sessions([("A1", "A", D("2026-01-05"), 6, 7, "same")])
    t = SafetyThresholds(severe_pain=7, flare_rise=1)
    f = stop_and_consult_flags(_patients()[:1], sessions=s, thresholds=t, as_of="2026-01-05")
    assert sorted(f["rule"]) == ["session_flare", "severe_pain"]
    assert set(f["status"]) == {"active"} and set(f["episode"]) == {1}
    with pytest.raises(ValueError, match="thresholds.severe_pain"):
        stop_and_consult_flags(_patients(), sessions=s, thresholds=SafetyThresholds(severe_pain=0))


def test_disengagement_gaps_inside_follow_up_only():
    # A: sessions days 0-2, then nothing until day 12 (9 empty days), discharged day 14 -> 1 gap.
    # B: enrolled, first session on day 8 (8 empty days from enrolment), active until as_of.
    s = _sessions(_daily("A", "2026-01-05", 3) + [("A12", "A", D("2026-01-17"), 3, 3, "same")]
                  + [("B8", "B", D("2026-01-13"), 3, 3, "same")] + _daily("B", "2026-01-14", 4))
    f = stop_and_consult_flags(_patients(discharged=D("2026-01-19")), sessions=s, as_of="2026-01-17")
    d = f[f.rule == "disengagement"].sort_values("patient_id")
    assert d["patient_id"].tolist() == ["A", "B"]
    assert d["value"].tolist() == [9.0, 8.0]
    assert d["evidence"].iloc[0] == "no session logged from 2026-01-08 to 2026-01-16 (9 days)"
    assert d["date"].tolist() == [D("2026-01-14"), D("2026-01-11")]  # the 7th empty day
    # 6 empty days is not disengagement
    s2 = _sessions([("A0", "A", D("2026-01-05"), 3, 3, "same"), ("A7", "A", D("2026-01-12"), 3, 3, "same")])
    f2 = stop_and_consult_flags(_patients(discharged=D("2026-01-12"))[:1], sessions=s2)
    assert f2.empty


def test_trailing_gap_until_as_of_for_active_patients():
    s = _sessions(_daily("B", "2026-01-05", 2))
    f = stop_and_consult_flags(_patients()[1:], sessions=s, as_of="2026-01-20")
    assert f["evidence"].tolist() == ["no session logged from 2026-01-07 to 2026-01-20 (14 days)"]


def test_red_flags_and_sustained_worsening():
    a = pd.DataFrame({
        "patient_id": ["A"] * 5 + ["B"] * 3,
        "assessed_on": pd.to_datetime(["2026-01-05", "2026-01-19", "2026-02-02", "2026-02-16", "2026-03-02",
                                       "2026-01-05", "2026-01-19", "2026-02-02"]),
        "leg_pain": [5, 7, 6, 7, 8, 4, 6, 5],
        "rf_saddle_anaesthesia": [False] * 7 + [True],
        "rf_bladder_bowel": pd.array([False] * 6 + [None, True], dtype="boolean"),
    })
    base = pd.DataFrame({"patient_id": ["A", "B"], "baseline": [5, 4],
                         "baseline_date": pd.to_datetime(["2026-01-05", "2026-01-05"])})
    f = stop_and_consult_flags(_patients(), assessments=a, baseline=base)
    assert f["rule"].tolist() == ["red_flag", "sustained_worsening"]  # priority order
    rf = f.iloc[0]
    assert rf["patient_id"] == "B" and rf["value"] == 2
    assert "saddle anaesthesia, new bladder or bowel dysfunction" in rf["evidence"]
    assert "refer urgently" in rf["advice"]
    w = f.iloc[1]
    # A: +2 (week 2), +1 (breaks the run), +2, +3 -> flagged at the second consecutive (2026-03-02)
    assert (w["patient_id"], w["date"], w["value"]) == ("A", D("2026-03-02"), 3.0)
    assert w["evidence"] == "Leg pain 7, 8 at 2 consecutive assessments vs baseline 5"


def test_no_inputs_no_flags_and_row_order_does_not_matter():
    assert stop_and_consult_flags(_patients()).empty
    s = _sessions(_daily("A", "2026-01-05", 3, before=8) + _daily("B", "2026-01-05", 2, after=9))
    f1 = stop_and_consult_flags(_patients(), sessions=s, as_of="2026-01-10")
    f2 = stop_and_consult_flags(_patients(), sessions=s.sample(frac=1, random_state=1), as_of="2026-01-10")
    pd.testing.assert_frame_equal(f1, f2)


def _series(pid, start, afters, before=3):
    """One session a day with these pain_after values (pain_before fixed)."""
    return [(f"{pid}{i}", pid, D(start) + pd.Timedelta(days=i), before, a, "same") for i, a in enumerate(afters)]


def test_consecutive_sessions_are_one_episode_and_old_resolved_episodes_do_not_stop():
    # A: severe (and a flare) on days 0-2 (one episode each), then 30 calm days; B: severe on days 0, 2 (two episodes)
    # and on its last day (active: recent). C: calm but pain 9 before every session (a note only).
    s = _sessions(_series("A", "2026-01-05", [9, 9, 8] + [3] * 30) + _series("B", "2026-01-05", [9, 3, 9, 3, 3, 3, 9])
                  + _series("C", "2026-01-05", [6] * 5, before=9))
    pts = pd.DataFrame({"patient_id": ["A", "B", "C"], "enrolled_on": [D("2026-01-05")] * 3,
                        "discharged_on": [pd.NaT, pd.NaT, D("2026-01-09")]})
    f = stop_and_consult_flags(pts, sessions=s, as_of="2026-02-06")
    sev = f[f.rule == "severe_pain"]
    assert sev.groupby("patient_id")["episode"].max().to_dict() == {"A": 1, "B": 3}
    ep = flag_episodes(f)
    a = ep[(ep.patient_id == "A") & (ep.rule == "severe_pain")].iloc[0]
    assert (a["records"], a["status"], a["first"], a["last"]) == (3, "resolved", D("2026-01-05"), D("2026-01-07"))
    b = ep[(ep.patient_id == "B") & (ep.rule == "severe_pain")].sort_values("episode")
    # episode 1 is followed by one calm session only (< 3): active; 3 is recent
    assert b["status"].tolist() == ["active", "active", "active"]
    summ = patient_flag_summary(f, ["A", "B", "C", "D"]).set_index("patient_id")
    assert summ["stop_and_consult"].to_dict() == {"A": False, "B": True, "C": False, "D": False}
    assert summ.loc["C", "rest_pain_notes"] == 1 and summ.loc["C", "active_flags"] == 0
    assert summ.loc["A", "resolved_flags"] == 2 and summ.loc["B", "most_urgent_active"] == "severe_pain"


def test_three_calm_sessions_resolve_only_outside_the_last_14_days():
    s = _sessions(_series("A", "2026-01-05", [9, 3, 3, 3]))
    pts = pd.DataFrame({"patient_id": ["A"], "enrolled_on": [D("2026-01-05")]})
    f = stop_and_consult_flags(pts, sessions=s, as_of="2026-01-08")
    assert f.loc[f.rule == "severe_pain", "status"].tolist() == ["active"]
    s2 = _sessions(_series("A", "2026-01-05", [9, 3, 3, 3]) + [("Z", "A", D("2026-01-25"), 3, 3, "same")]
                   + _series("A", "2026-01-26", [3] * 5))
    f = stop_and_consult_flags(pts, sessions=s2, as_of="2026-01-30")
    assert f.loc[f.rule == "severe_pain", "status"].tolist() == ["resolved"]


def test_red_flag_always_stops_and_sessions_after_it_are_their_own_signal():
    s = _sessions(_series("A", "2026-01-05", [3] * 40))
    a = pd.DataFrame({"patient_id": ["A", "A", "A"],
                      "assessed_on": pd.to_datetime(["2026-01-05", "2026-01-19", "2026-02-02"]),
                      "rf_bladder_bowel": [False, True, False]})
    pts = pd.DataFrame({"patient_id": ["A"], "enrolled_on": [D("2026-01-05")]})
    f = stop_and_consult_flags(pts, sessions=s, assessments=a, as_of="2026-02-13")
    after = f[f.rule == "sessions_after_red_flag"].iloc[0]
    assert after["value"] == 25.0 and after["status"] == "active"  # days 15-39 after the flag on day 14
    assert "25 glide sessions logged after the red flag of 2026-01-19" in after["evidence"]
    summ = patient_flag_summary(f).iloc[0]
    assert summ["stop_and_consult"] and summ["red_flags"] == 1 and summ["sessions_after_red_flag"] == 25


def test_sustained_worsening_follows_the_outcome_direction():
    a = pd.DataFrame({"patient_id": ["A"] * 4, "assessed_on": pd.to_datetime(
        ["2026-01-05", "2026-01-19", "2026-02-02", "2026-02-16"]), "slr": [60, 55, 50, 45]})
    base = pd.DataFrame({"patient_id": ["A"], "baseline": [60], "baseline_date": pd.to_datetime(["2026-01-05"])})
    pts = pd.DataFrame({"patient_id": ["A"], "enrolled_on": [D("2026-01-05")]})
    up = stop_and_consult_flags(pts, assessments=a, baseline=base, outcome="slr", outcome_label="SLR")
    assert up.empty  # falling is "worse" only when higher is better
    down = stop_and_consult_flags(pts, assessments=a, baseline=base, outcome="slr", outcome_label="SLR",
                                  higher_is_better=True)
    assert down["value"].tolist() == [10.0, 15.0] and down["episode"].tolist() == [1, 1]
    assert "below baseline" in down["advice"].iloc[0] and down["evidence"].iloc[0].startswith("SLR 55, 50")
