"""Stop-and-consult flags, each rule on hand-built data."""

from __future__ import annotations

import pandas as pd
import pytest

from outcomes.config import SafetyThresholds
from outcomes.measures.safety import FLAG_COLUMNS, stop_and_consult_flags

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
        ("B9", "B", D("2026-01-07 08:00"), 8, 7, "better"),  # severe before only
        ("B8", "B", D("2026-01-07 19:00"), 3, 4, "worse"),   # flare by rating only
    ])
    f = stop_and_consult_flags(_patients(), sessions=s, as_of="2026-01-07")
    assert list(f.columns) == FLAG_COLUMNS
    got = sorted(zip(f["rule"], f["source_id"], f["value"]))
    assert got == [("session_flare", "A9", 2.0), ("session_flare", "B8", 1.0),
                   ("severe_pain", "A9", 8.0), ("severe_pain", "B9", 8.0)]
    row = f[(f.rule == "severe_pain") & (f.source_id == "A9")].iloc[0]
    assert row["evidence"] == "in-session pain 6 before, 8 after (0-10)"
    assert "stop the glides and consult" in row["advice"] and row["date"] == D("2026-01-06")
    assert f[f.source_id == "B8"]["evidence"].iloc[0] == "pain rose from 3 to 4 during the session; rated 'worse'"


def test_thresholds_are_options():
    s = _sessions([("A1", "A", D("2026-01-05"), 6, 7, "same")])
    t = SafetyThresholds(severe_pain=7, flare_rise=1)
    f = stop_and_consult_flags(_patients()[:1], sessions=s, thresholds=t, as_of="2026-01-05")
    assert sorted(f["rule"]) == ["session_flare", "severe_pain"]
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
    assert w["evidence"] == "leg pain 7, 8 at 2 consecutive assessments vs baseline 5"


def test_no_inputs_no_flags_and_row_order_does_not_matter():
    assert stop_and_consult_flags(_patients()).empty
    s = _sessions(_daily("A", "2026-01-05", 3, before=8) + _daily("B", "2026-01-05", 2, after=9))
    f1 = stop_and_consult_flags(_patients(), sessions=s, as_of="2026-01-10")
    f2 = stop_and_consult_flags(_patients(), sessions=s.sample(frac=1, random_state=1), as_of="2026-01-10")
    pd.testing.assert_frame_equal(f1, f2)
