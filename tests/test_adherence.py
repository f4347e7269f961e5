"""Adherence per patient-week and per patient: hand-computed cases, properties, simulator truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outcomes.config import DEFAULT_OPTIONS
from outcomes.measures.adherence import overall_adherence, weekly_adherence
from outcomes.simulate import simulate

ENROLLED = pd.Timestamp("2026-01-05")  # a Monday; program day d is ENROLLED + d days


def day(d: int, hour: int = 8) -> pd.Timestamp:
    return ENROLLED + pd.Timedelta(days=d, hours=hour)


def patients_frame(*rows: tuple[str, int, int | None]) -> pd.DataFrame:
    """Rows of (patient_id, enrolment day, discharge day or None); index like a file's line numbers."""
    return pd.DataFrame({
        "patient_id": pd.array([r[0] for r in rows], dtype="str"),
        "enrolled_on": pd.to_datetime([ENROLLED + pd.Timedelta(days=r[1]) for r in rows]).as_unit("us"),
        "schedule": pd.array(["weekly"] * len(rows), dtype="str"),
        "discharged_on": pd.to_datetime([None if r[2] is None else ENROLLED + pd.Timedelta(days=r[2])
                                         for r in rows]).as_unit("us"),
    }, index=pd.Index(range(2, len(rows) + 2), name="line"))


def sessions_frame(rows: list[tuple[str, int, int | None]]) -> pd.DataFrame:
    """Rows of (patient_id, program day, reps_done); one session each, from 08:00, 20 minutes apart."""
    seen: dict[tuple[str, int], int] = {}
    stamps = []
    for pid, d, _ in rows:
        k = seen[(pid, d)] = seen.get((pid, d), -1) + 1
        stamps.append(day(d) + pd.Timedelta(minutes=20 * k))
    return pd.DataFrame({
        "session_id": pd.array([f"X{i + 1}" for i in range(len(rows))], dtype="str"),
        "patient_id": pd.array([r[0] for r in rows], dtype="str"),
        "performed_at": pd.to_datetime(stamps).as_unit("us"),
        "level": pd.array([1] * len(rows), dtype="Int64"),
        "reps_done": pd.array([r[2] for r in rows], dtype="Int64"),
    }, index=pd.Index(range(2, len(rows) + 2), name="line"))


def prescriptions_frame(*rows: tuple[str, int, int, int | None, int | None]) -> pd.DataFrame:
    """Rows of (patient_id, valid_from day, sessions_per_week, sets, reps)."""
    return pd.DataFrame({
        "patient_id": pd.array([r[0] for r in rows], dtype="str"),
        "valid_from": pd.to_datetime([ENROLLED + pd.Timedelta(days=r[1]) for r in rows]).as_unit("us"),
        "level": pd.array([1] * len(rows), dtype="Int64"),
        "sessions_per_week": pd.array([r[2] for r in rows], dtype="Int64"),
        "sets": pd.array([r[3] for r in rows], dtype="Int64"),
        "reps": pd.array([r[4] for r in rows], dtype="Int64"),
    }, index=pd.Index(range(2, len(rows) + 2), name="line"))


# ---------------------------------------------------------------- hand-computed


def test_partial_last_week_and_a_week_without_sessions():
    # discharged on day 18: weeks 0 (days 0-6), 1 (7-13, no session), 2 (14-18: 5 days)
    patients = patients_frame(("P1", 0, 18))
    sessions = sessions_frame([("P1", d, 20) for d in range(7)] + [("P1", d, 20) for d in range(14, 19)])
    presc = prescriptions_frame(("P1", 0, 14, 2, 10))
    w = weekly_adherence(sessions, patients, presc)
    assert list(w["week"]) == [0, 1, 2]
    assert list(w["week_start"]) == [ENROLLED, ENROLLED + pd.Timedelta(days=7),
                                     ENROLLED + pd.Timedelta(days=14)]
    assert list(w["days_enrolled"]) == [7, 7, 5]
    assert list(w["sessions_done"]) == [7, 0, 5]
    np.testing.assert_allclose(w["sessions_prescribed"], [14, 14, 10])  # 14 x 5/7 = 10
    np.testing.assert_allclose(w["adherence"], [0.5, 0.0, 0.5])
    assert list(w["reps_done"]) == [140, 0, 100]
    np.testing.assert_allclose(w["reps_prescribed"], [280, 280, 200])  # prescribed x 2 x 10
    np.testing.assert_allclose(w["dose_adherence"], [0.5, 0.0, 0.5])
    assert set(w["prescription_source"]) == {"prescription"}
    assert isinstance(w.index, pd.RangeIndex) and w.index.start == 0

    o = overall_adherence(w)
    assert o.shape[0] == 1 and o.loc[0, "weeks"] == 3
    assert o.loc[0, "sessions_done"] == 12
    assert o.loc[0, "adherence"] == pytest.approx(12 / 38)
    assert o.loc[0, "mean_weekly_adherence"] == pytest.approx((0.5 + 0 + 0.5) / 3)
    assert o.loc[0, "dose_adherence"] == pytest.approx(240 / 760)
    assert o.loc[0, "prescription_source"] == "prescription"


def test_prescription_change_mid_program_applies_from_the_next_week():
    # active patient followed to day 20; new prescription from day 10 (mid week 1)
    patients = patients_frame(("P1", 0, None))
    sessions = sessions_frame([("P1", d, 20) for d in range(21)])  # one a day
    presc = prescriptions_frame(("P1", 0, 14, 2, 10), ("P1", 10, 7, 3, 12))
    w = weekly_adherence(sessions, patients, presc, as_of="2026-01-25")
    np.testing.assert_allclose(w["sessions_prescribed"], [14, 14, 7])
    np.testing.assert_allclose(w["adherence"], [0.5, 0.5, 1.0])
    np.testing.assert_allclose(w["reps_prescribed"], [280, 280, 7 * 3 * 12])
    np.testing.assert_allclose(w["dose_adherence"], [0.5, 0.5, 140 / 252])


def test_first_prescription_written_after_enrolment_covers_week_zero():
    patients = patients_frame(("P1", 0, 13))
    presc = prescriptions_frame(("P1", 2, 7, 2, 10))
    w = weekly_adherence(sessions_frame([("P1", 3, 20)]), patients, presc)
    assert list(w["prescription_source"]) == ["prescription", "prescription"]
    np.testing.assert_allclose(w["sessions_prescribed"], [7, 7])


def test_no_prescriptions_uses_the_schedule_default_and_says_so():
    patients = patients_frame(("P1", 0, 6))
    sessions = sessions_frame([("P1", d, 20) for d in range(7)])
    w = weekly_adherence(sessions, patients)
    assert list(w["prescription_source"]) == ["schedule default"]
    expected = DEFAULT_OPTIONS.default_sessions_per_week
    assert w.loc[0, "sessions_prescribed"] == pytest.approx(expected)
    assert w.loc[0, "reps_prescribed"] == pytest.approx(
        expected * DEFAULT_OPTIONS.default_sets * DEFAULT_OPTIONS.default_reps)
    # the default comes from the options, not from a number in the code
    opts = dataclasses.replace(DEFAULT_OPTIONS, default_sessions_per_week=7, default_sets=1, default_reps=10)
    w7 = weekly_adherence(sessions, patients, options=opts)
    assert w7.loc[0, "adherence"] == pytest.approx(1.0)
    assert w7.loc[0, "dose_adherence"] == pytest.approx(140 / 70)


def test_weeks_before_the_first_prescription_are_default_and_overall_is_mixed():
    patients = patients_frame(("P1", 0, 20), ("P2", 0, 6))
    sessions = sessions_frame([("P1", d, 20) for d in range(0, 21, 2)] + [("P2", 1, 20)])
    presc = prescriptions_frame(("P1", 14, 7, 2, 10))  # P2 has none: default
    w = weekly_adherence(sessions, patients, presc)
    assert list(w["prescription_source"]) == ["schedule default", "schedule default", "prescription",
                                              "schedule default"]
    o = overall_adherence(w)
    assert list(o["prescription_source"]) == ["mixed", "schedule default"]


def test_dose_adherence_above_one_raw_is_capped_at_one():
    patients = patients_frame(("P1", 0, 6))
    sessions = sessions_frame([("P1", d, 30) for d in range(7)])  # 30 reps against 2 x 10
    w = weekly_adherence(sessions, patients, prescriptions_frame(("P1", 0, 7, 2, 10)))
    assert w.loc[0, "adherence"] == pytest.approx(1.0)
    assert w.loc[0, "dose_adherence"] == pytest.approx(1.5)
    assert w.loc[0, "dose_adherence_capped"] == pytest.approx(1.0)
    o = overall_adherence(w)
    assert o.loc[0, "dose_adherence"] == pytest.approx(1.5)
    assert o.loc[0, "dose_adherence_capped"] == pytest.approx(1.0)


def test_sessions_above_the_prescription_give_raw_above_one_but_capped_mean():
    patients = patients_frame(("P1", 0, 13))
    twice = [("P1", d, 20) for d in range(7) for _ in range(2)]  # 14 in week 0, none in week 1
    w = weekly_adherence(sessions_frame(twice), patients, prescriptions_frame(("P1", 0, 7, 2, 10)))
    np.testing.assert_allclose(w["adherence"], [2.0, 0.0])
    np.testing.assert_allclose(w["adherence_capped"], [1.0, 0.0])
    o = overall_adherence(w)
    assert o.loc[0, "adherence"] == pytest.approx(1.0)  # 14 / 14: the busy week makes up for the empty one
    assert o.loc[0, "mean_weekly_adherence"] == pytest.approx(0.5)  # ... but not week by week


def test_as_of_ends_follow_up_of_active_patients_and_defaults_to_latest_date():
    patients = patients_frame(("P1", 0, None))
    sessions = sessions_frame([("P1", d, 20) for d in (0, 2, 5, 9)])
    w = weekly_adherence(sessions, patients, as_of=pd.Timestamp("2026-01-08"))  # day 3
    assert list(w["days_enrolled"]) == [4]
    assert list(w["sessions_done"]) == [2]
    assert w.loc[0, "sessions_prescribed"] == pytest.approx(DEFAULT_OPTIONS.default_sessions_per_week * 4 / 7)
    latest = weekly_adherence(sessions, patients)  # latest date in the data: the session on day 9
    assert list(latest["days_enrolled"]) == [7, 3]
    assert list(latest["sessions_done"]) == [3, 1]
    # a patient discharged after as_of is followed up to as_of only
    assert len(weekly_adherence(sessions, patients_frame(("P1", 0, 30)), as_of="2026-01-08")) == 1


def test_sessions_outside_follow_up_or_of_unknown_patients_are_not_counted():
    patients = patients_frame(("P1", 3, 8))
    sessions = sessions_frame([("P1", 2, 20), ("P1", 3, 20), ("P1", 8, 20), ("P1", 9, 20), ("P9", 4, 20)])
    w = weekly_adherence(sessions, patients)
    assert list(w["sessions_done"]) == [2]  # days 3 and 8 are program days 0 and 5; day 9 is after discharge
    w = weekly_adherence(sessions, patients_frame(("P1", 3, 10)))
    assert list(w["sessions_done"]) == [3, 0]  # day 9 is program day 6; week 1 is program day 7 only


def test_nothing_prescribed_gives_nan_not_infinity():
    patients = patients_frame(("P1", 0, 6))
    w = weekly_adherence(sessions_frame([("P1", 1, 20)]), patients, prescriptions_frame(("P1", 0, 0, 2, 10)))
    assert np.isnan(w.loc[0, "adherence"]) and np.isnan(w.loc[0, "adherence_capped"])
    assert np.isnan(w.loc[0, "dose_adherence"])
    assert np.isnan(overall_adherence(w).loc[0, "adherence"])


def test_missing_reps_make_the_week_dose_unknown_and_missing_sets_too():
    patients = patients_frame(("P1", 0, 13))
    sessions = sessions_frame([("P1", 1, 20), ("P1", 2, None), ("P1", 8, 20)])
    w = weekly_adherence(sessions, patients, prescriptions_frame(("P1", 0, 7, 2, 10)))
    assert w["reps_done"].isna().tolist() == [True, False]
    assert np.isnan(w.loc[0, "dose_adherence"]) and w.loc[1, "dose_adherence"] == pytest.approx(20 / 140)
    assert list(w["sessions_done"]) == [2, 1]  # the session still counts as done
    o = overall_adherence(w)
    assert o.loc[0, "dose_adherence"] == pytest.approx(20 / 140)  # over the weeks where both are known
    no_sets = weekly_adherence(sessions, patients, prescriptions_frame(("P1", 0, 7, None, None)))
    assert no_sets["reps_prescribed"].isna().all() and no_sets["dose_adherence"].isna().all()
    no_column = weekly_adherence(sessions.drop(columns="reps_done"), patients)
    assert no_column["reps_done"].isna().all()
    assert list(no_column["sessions_done"]) == [2, 1]


def test_patient_enrolled_after_as_of_has_no_rows_and_empty_input_is_fine():
    patients = patients_frame(("P1", 0, 6), ("P2", 30, None))
    w = weekly_adherence(sessions_frame([("P1", 1, 20)]), patients, as_of="2026-01-20")
    assert set(w["patient_id"]) == {"P1"}
    empty = weekly_adherence(sessions_frame([]), patients_frame())
    assert empty.empty and "adherence" in empty.columns
    assert overall_adherence(empty).empty


def test_bad_arguments_name_the_parameter():
    patients = patients_frame(("P1", 0, 6))
    sessions = sessions_frame([("P1", 1, 20)])
    with pytest.raises(ValueError, match="as_of.*'yesterday'"):
        weekly_adherence(sessions, patients, as_of="yesterday")
    with pytest.raises(ValueError, match="as_of"):
        weekly_adherence(sessions, patients, as_of=3)
    with pytest.raises(ValueError, match="sessions has no column 'performed_at'"):
        weekly_adherence(sessions.drop(columns="performed_at"), patients)
    with pytest.raises(ValueError, match="prescriptions has no column 'sessions_per_week'"):
        weekly_adherence(sessions, patients, prescriptions_frame(("P1", 0, 7, 2, 10))
                         .drop(columns="sessions_per_week"))
    with pytest.raises(ValueError, match="unique.*P1"):
        weekly_adherence(sessions, patients_frame(("P1", 0, 6), ("P1", 1, 6)))
    with pytest.raises(ValueError, match="patient_week has no column"):
        overall_adherence(pd.DataFrame({"patient_id": ["P1"]}))
    with pytest.raises(TypeError, match="options"):
        weekly_adherence(sessions, patients, options={"default_sessions_per_week": 7})


# ---------------------------------------------------------------- properties


def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    out = frame.sample(frac=1.0, random_state=seed)
    out.index = np.random.default_rng(seed).permutation(len(out)) + 100  # an index never to rely on
    return out


def test_inputs_are_not_mutated_and_row_order_does_not_matter():
    sim = simulate(30, seed=3)
    frames = (sim.sessions, sim.patients, sim.prescriptions)
    before = [f.copy(deep=True) for f in frames]
    result = weekly_adherence(*frames)
    for original, after in zip(before, frames):
        pd.testing.assert_frame_equal(original, after)
    shuffled = weekly_adherence(*(_shuffled(f, i) for i, f in enumerate(frames)))
    pd.testing.assert_frame_equal(result, shuffled)
    summary = overall_adherence(result)
    pd.testing.assert_frame_equal(summary, overall_adherence(_shuffled(result, 7)))
    pd.testing.assert_frame_equal(result, weekly_adherence(*frames))  # and the week rows were not touched


@st.composite
def small_cohorts(draw):
    n = draw(st.integers(1, 4))
    pats = [(f"P{i}", draw(st.integers(0, 10)), draw(st.one_of(st.none(), st.integers(5, 40))))
            for i in range(n)]
    rows = draw(st.lists(st.tuples(st.sampled_from([p[0] for p in pats] + ["P9"]), st.integers(-3, 45),
                                   st.one_of(st.none(), st.integers(0, 60))), max_size=40))
    presc = draw(st.lists(st.tuples(st.sampled_from([p[0] for p in pats]), st.integers(-5, 40),
                                    st.integers(0, 21), st.integers(1, 3), st.integers(5, 15)),
                          max_size=5, unique_by=lambda r: (r[0], r[1])))
    return pats, rows, presc


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(small_cohorts())
def test_property_never_negative_counts_reconcile_and_order_free(cohort):
    pats, rows, presc = cohort
    patients, sessions = patients_frame(*pats), sessions_frame(rows)
    prescriptions = prescriptions_frame(*presc) if presc else None
    w = weekly_adherence(sessions, patients, prescriptions)
    for col in ("adherence", "adherence_capped", "dose_adherence", "dose_adherence_capped"):
        assert not (w[col] < 0).any()
        assert not np.isinf(w[col]).any()
    assert (w["adherence_capped"].dropna() <= 1).all()
    assert w["days_enrolled"].between(1, 7).all()
    # every session inside follow-up is counted exactly once
    as_of = max([r[1] for r in rows] + [p[1] for p in pats] + [p[2] for p in pats if p[2] is not None]
                + [r[1] for r in presc])
    inside = 0
    for pid, enrol, discharge in pats:
        end = min(as_of if discharge is None else discharge, as_of)
        inside += sum(1 for r in rows if r[0] == pid and enrol <= r[1] <= end)
    assert w["sessions_done"].sum() == inside
    again = weekly_adherence(_shuffled(sessions, 1), _shuffled(patients, 2),
                             None if prescriptions is None else _shuffled(prescriptions, 3))
    pd.testing.assert_frame_equal(w, again)


# ---------------------------------------------------------------- simulator truth


def test_mean_weekly_adherence_recovers_the_simulated_truth():
    sim = simulate(300, seed=1)
    w = weekly_adherence(sim.sessions, sim.patients, sim.prescriptions)
    complete = w[w["days_enrolled"] == 7]
    assert abs(complete["adherence"].mean() - sim.truth.adherence_mean) < 0.03
    per_patient = overall_adherence(complete)["mean_weekly_adherence"].mean()
    assert abs(per_patient - sim.truth.adherence_mean) < 0.03
    # the simulator prescribes its own dose, so every week's dose comes from the prescriptions
    assert (w["prescription_source"] == "prescription").all()
    np.testing.assert_allclose(w["sessions_prescribed"], sim.truth.sessions_per_week * w["days_enrolled"] / 7)
    # and every session the simulator logged falls in some patient-week (none before discharge is lost)
    assert w["sessions_done"].sum() == len(sim.sessions)
