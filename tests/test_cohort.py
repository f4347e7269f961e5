"""The cohort on a hand-built dataset (every number computed by hand below) and on simulated truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import ASSESSMENTS, SESSIONS, write_dataset
from outcomes import Cohort, load_dataset

D = pd.Timestamp


@pytest.fixture
def cohort(valid_dir) -> Cohort:
    return Cohort.from_folder(valid_dir)


def test_follow_up_ends_at_the_latest_date_in_the_data(cohort):
    assert cohort.as_of == D("2026-01-20")  # session X5


def test_patient_week_by_hand(cohort):
    w = cohort.patient_week.set_index(["patient_id", "week"])
    # P001: follow-up 01-05..01-20 = days 0-15 -> weeks 0, 1 and 2 (2 days)
    assert w.loc["P001"].index.tolist() == [0, 1, 2]
    p1 = w.loc["P001"]
    assert p1["sessions_done"].tolist() == [2, 1, 0]
    np.testing.assert_allclose(p1["sessions_prescribed"], [14, 14, 4])
    np.testing.assert_allclose(p1["adherence"], [2 / 14, 1 / 14, 0])
    # reps: week 0 40 of 14*2*10; week 1 24 of 14*2*12 (new prescription from 01-12); week 2 0 of 4*2*12
    np.testing.assert_allclose(p1["dose_adherence"], [40 / 280, 24 / 336, 0])
    assert p1["level"].tolist() == [1, 2, 2]      # carried into the week without sessions
    assert p1["flares"].tolist() == [0, 1, 0]     # X3: 4 -> 6 and rated worse
    assert p1["leg_pain"].tolist()[0] == 7 and p1["leg_pain"].tolist()[2] == 5 and np.isnan(p1["leg_pain"].iloc[1])
    # P002 active: 01-12..01-20 -> week 0 (7 days) and week 1 (2 days); P003 follow-up capped at as_of
    np.testing.assert_allclose(w.loc["P002"]["adherence"], [1 / 14, 0])
    np.testing.assert_allclose(w.loc["P003"]["sessions_prescribed"], [4])
    assert (w["prescription_source"] == "prescription").all()


def test_patient_summary_by_hand(cohort):
    s = cohort.patient_summary.set_index("patient_id")
    assert s["status"].to_dict() == {"P001": "completed", "P002": "active", "P003": "dropped_out"}
    assert s["leg_pain_baseline"].tolist() == [7, 8, 6]
    assert s.loc["P001", "leg_pain_latest"] == 5
    assert np.isnan(s.loc["P001", "leg_pain_endpoint"])  # nothing within 7 days of week 6
    assert s["leg_pain_responder"].isna().all()
    np.testing.assert_allclose(s["adherence"], [3 / 32, 1 / 18, 1 / 4])
    assert s["highest_level"].tolist() == [2, 1, 1]
    assert s.loc["P001", "highest_level_on"] == D("2026-01-12")
    assert s["fidelity_followed"].tolist() == [True, True, True]
    assert s["n_flags"].tolist() == [2, 1, 0]


def test_flags_by_hand(cohort):
    f = cohort.flags
    got = sorted(zip(f["patient_id"], f["rule"], f["value"]))
    # P001: X3 flare (+2); no session 01-13..01-20 (8 days); P002: none 01-14..01-20 (7 days)
    assert got == [("P001", "disengagement", 8.0), ("P001", "session_flare", 2.0), ("P002", "disengagement", 7.0)]


def test_tables_have_fresh_indexes_and_inputs_are_untouched(valid_dir):
    ds = load_dataset(valid_dir)
    before = {k: v.copy() for k, v in ds.frames().items()}
    c = Cohort.from_dataset(ds)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(ds[name], frame)
    for t in (c.patients, c.assessments, c.patient_week, c.changes, c.patient_summary, c.flags):
        assert isinstance(t.index, pd.RangeIndex) and t.index.start == 0
    assert "rf_saddle_anaesthesia" in c.assessments.columns and "odi" in c.assessments.columns


def test_quarantined_rows_are_counted_as_excluded(tmp_path):
    d = write_dataset(tmp_path / "d", {"sessions": SESSIONS.replace("X4,P002", "X4,P999")})
    c = Cohort.from_folder(d)
    assert c.excluded.to_dict("records") == [{"table": "sessions", "rows": 1, "reason": "quarantined by validation"}]
    assert c.patient_summary.set_index("patient_id").loc["P002", "adherence"] == 0


def test_without_sessions_the_cohort_says_so(tmp_path):
    d = write_dataset(tmp_path / "d", {"sessions": None, "prescriptions": None})
    c = Cohort.from_folder(d)
    assert c.sessions is None and any("No sessions export" in r for r in c.remarks)
    assert "adherence" not in c.patient_summary.columns
    assert c.patient_week.groupby("patient_id").size().to_dict() == {"P001": 3, "P002": 2, "P003": 1}
    assert "No sessions export" in c.summary()


def test_without_prescriptions_adherence_uses_the_default_and_says_so(tmp_path):
    c = Cohort.from_folder(write_dataset(tmp_path / "d", {"prescriptions": None}))
    assert (c.patient_week["prescription_source"] == "schedule default").all()
    assert any("schedule default of 14 sessions a week" in r for r in c.remarks)


def test_missing_baseline_is_a_remark(tmp_path):
    text = ASSESSMENTS.replace("P002,2026-01-12,8", "P002,2026-01-30,8")  # 18 days after enrolment
    c = Cohort.from_folder(write_dataset(tmp_path / "d", {"assessments": text}))
    assert any("1 patient(s) have no baseline" in r for r in c.remarks)


def test_simulated_adherence_and_levels_come_back():
    from outcomes.simulate import simulate

    sim = simulate(400, seed=5)
    c = Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions, prescriptions=sim.prescriptions)
    w = c.patient_week.merge(c.patients[["patient_id", "schedule"]], on="patient_id")
    full = w[w["days_enrolled"] == 7]
    assert abs(full["adherence"].mean() - sim.truth.adherence_mean) < 0.03
    weekly = full[(full["schedule"] == "weekly") & (full["sessions_done"] > 0)]
    assert (weekly["level"] == np.minimum(1 + weekly["week"], sim.truth.max_level)).all()
    assert c.patient_summary["fidelity_followed"].all()
    assert set(c.flags["rule"]) >= {"severe_pain", "session_flare"}


def _messy_simulation(n: int, seed: int):
    """Simulated frames with level moves off schedule, missing pains, red flags, unknown patients, rows shuffled."""
    from outcomes.simulate import simulate

    sim = simulate(n, seed=seed)
    rng = np.random.default_rng(seed)
    s = sim.sessions.copy()
    moved = rng.random(len(s)) < 0.02
    s["level"] = s["level"].where(~moved, (s["level"] + rng.integers(-1, 3, len(s))).clip(1, 7))
    for col in ("pain_before", "pain_after"):
        s[col] = s[col].mask(rng.random(len(s)) < 0.01)
    stray = s.iloc[:20].assign(patient_id="Z999")
    s = pd.concat([s, stray], ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    a = sim.assessments.copy()
    a["rf_saddle_anaesthesia"] = a["rf_saddle_anaesthesia"] | (rng.random(len(a)) < 0.01)
    a["leg_pain"] = a["leg_pain"].mask(rng.random(len(a)) < 0.05, 10)
    return sim.patients, a, s, sim.prescriptions


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame, *, check_dtype: bool = True) -> None:
    if not check_dtype:  # categories and narrow integers compare by value
        a, b = (f.apply(lambda c: c.astype(object) if isinstance(c.dtype, pd.CategoricalDtype) else c) for f in (a, b))
    pd.testing.assert_frame_equal(a, b, check_dtype=check_dtype, check_categorical=False, rtol=1e-12, atol=1e-12)


def test_blocks_of_patients_give_the_cohort_of_one_pass(monkeypatch):
    """The session measures run on blocks of whole patients; any block size gives the same tables."""
    import outcomes.cohort as cohort_module

    patients, assessments, sessions, prescriptions = _messy_simulation(150, seed=11)
    one = Cohort.from_frames(patients, assessments, sessions=sessions, prescriptions=prescriptions)
    monkeypatch.setattr(cohort_module, "_BLOCK_SESSIONS", 1_500)  # about 10 blocks
    calls = []
    weekly = cohort_module.weekly_adherence
    monkeypatch.setattr(cohort_module, "weekly_adherence", lambda *a, **k: calls.append(1) or weekly(*a, **k))
    blocks = Cohort.from_frames(patients, assessments, sessions=sessions, prescriptions=prescriptions)
    assert len(calls) >= 5
    assert len(one.deviations) and one.flags["rule"].nunique() >= 5 and len(one.excluded)
    for name in ("patient_week", "patient_summary", "flags", "deviations", "changes", "assessments"):
        _frames_equal(getattr(one, name), getattr(blocks, name))
    assert one.remarks == blocks.remarks


@pytest.mark.parametrize("block", [None, 1_500])
def test_narrow_and_wide_dtypes_give_the_same_cohort(monkeypatch, block):
    """Categorical codes and small integers (as a memory-lean loader gives them) change no number: the
    per-patient summary, flags, patient weeks (adherence) and deviations equal those from object text and
    int64/float64 columns, in one pass or in blocks of patients."""
    import outcomes.cohort as cohort_module

    patients, assessments, sessions, prescriptions = _messy_simulation(120, seed=12)
    small = {"level": "Int8", "sets_done": "Int8", "reps_done": "Int16", "pain_before": "Int8", "pain_after": "Int8",
             "sessions_per_week": "Int8", "sets": "Int8", "reps": "Int16", "age_years": "Int16"}

    def retype(frame: pd.DataFrame, narrow: bool) -> pd.DataFrame:
        out = {}
        for c in frame.columns:
            col = frame[c]
            if col.dtype == "str" or col.dtype == object:
                out[c] = col.astype("category") if narrow else col.astype(object)
            elif c in small or (c in assessments.columns and isinstance(col.dtype, pd.Int64Dtype)):
                out[c] = col.astype(small.get(c, "Int8")) if narrow else col.astype("float64")
            else:
                out[c] = col
        return pd.DataFrame(out)

    wide = Cohort.from_frames(*(retype(f, False) for f in (patients, assessments)),
                              sessions=retype(sessions, False), prescriptions=retype(prescriptions, False))
    if block:
        monkeypatch.setattr(cohort_module, "_BLOCK_SESSIONS", block)
    narrow = Cohort.from_frames(*(retype(f, True) for f in (patients, assessments)),
                                sessions=retype(sessions, True), prescriptions=retype(prescriptions, True))
    assert isinstance(narrow.sessions["patient_id"].dtype, pd.CategoricalDtype)
    assert narrow.patient_week["patient_id"].dtype == narrow.patients["patient_id"].dtype  # all the categories
    assert wide.sessions["pain_before"].dtype == "float64"
    for name in ("patient_summary", "flags", "patient_week", "deviations"):
        _frames_equal(getattr(narrow, name), getattr(wide, name), check_dtype=False)
    assert narrow.patient_summary["adherence"].notna().all() and len(narrow.flags) > 100


@pytest.mark.parametrize("with_sessions", [True, False])
def test_flags_hold_their_repeated_text_as_categories_with_or_without_sessions(with_sessions):
    """The same dtypes whatever the exports (a frame built without sessions is not typed otherwise)."""
    from outcomes.simulate import simulate

    sim = simulate(60, seed=4)
    c = Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions if with_sessions else None,
                           prescriptions=sim.prescriptions if with_sessions else None)
    assert len(c.flags)
    for col in ("rule", "source", "evidence", "advice", "status"):
        assert isinstance(c.flags[col].dtype, pd.CategoricalDtype), col
    assert c.flags["rule"].notna().all() and c.flags["advice"].notna().all()
    assert c.flags["rule"].cat.categories.is_monotonic_increasing  # sorted: a sort by rule stays alphabetical


def test_patient_summary_keeps_each_change_columns_type():
    """Pivoting the change scores together made every column object (describe() then counted values);
    each keeps its type, and the values are the long frame's."""
    from outcomes.simulate import simulate

    sim = simulate(40, seed=2)
    c = Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions, prescriptions=sim.prescriptions)
    s = c.patient_summary
    for v in ("baseline", "latest", "endpoint", "change", "pct_change", "rc"):
        assert s[f"leg_pain_{v}"].dtype == np.float64, v
    assert s["leg_pain_responder"].dtype == "boolean"
    assert isinstance(s["leg_pain_rc_class"].dtype, pd.CategoricalDtype)
    assert "mean" in s["leg_pain_change"].describe().index
    long = c.changes[c.changes["outcome"] == "leg_pain"].set_index("patient_id")
    wide = s.set_index("patient_id").loc[long.index]
    pd.testing.assert_series_equal(wide["leg_pain_change"], long["change"], check_names=False)
    pd.testing.assert_series_equal(wide["leg_pain_responder"], long["responder"], check_names=False)
