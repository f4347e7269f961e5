"""Progression schedules, levels over time, and fidelity to the declared schedule."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from outcomes.measures.progression import (
    SCHEDULE_DIR,
    Schedule,
    days_at_level,
    highest_level,
    level_by_day,
    level_changes,
    load_schedule,
    load_schedules,
    progression_fidelity,
)
from outcomes.simulate import simulate

ENROLLED = pd.Timestamp("2026-01-05")
WEEKLY = Schedule(name="weekly", rule="time", days_per_level=7, start_level=1, max_level=6)
GUIDED = Schedule(name="guided", rule="symptom", sessions_to_advance=5, max_pain_after=4, flare_rise=2,
                  start_level=1, max_level=6)
SCHEDULES = {"weekly": WEEKLY, "guided": GUIDED}

Q = (3, 3, "same")        # qualifies: no rise, pain after 3 <= 4
FLARE = (2, 4, "worse")   # pain rises by 2: a flare, although pain after is only 4
WORSE = (3, 3, "worse")   # no rise, but the patient says worse: a flare
SORE = (5, 5, "same")     # no flare, but pain after 5 > 4


def patients_frame(*rows: tuple[str, str | None, int | None]) -> pd.DataFrame:
    """Rows of (patient_id, schedule, discharge day or None); all enrolled on ENROLLED."""
    return pd.DataFrame({
        "patient_id": pd.array([r[0] for r in rows], dtype="str"),
        "enrolled_on": pd.to_datetime([ENROLLED] * len(rows)).as_unit("us"),
        "schedule": pd.array([r[1] for r in rows], dtype="str"),
        "discharged_on": pd.to_datetime([None if r[2] is None else ENROLLED + pd.Timedelta(days=r[2])
                                         for r in rows]).as_unit("us"),
    }, index=pd.Index(range(2, len(rows) + 2), name="line"))


def sessions_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (patient_id, day, level, (pain_before, pain_after, response)); 08:00, then 19:00 the same day."""
    seen: dict[tuple[str, int], int] = {}
    stamps = []
    for pid, d, *_ in rows:
        k = seen[(pid, d)] = seen.get((pid, d), -1) + 1
        stamps.append(ENROLLED + pd.Timedelta(days=d, hours=8 + 11 * k))
    return pd.DataFrame({
        "session_id": pd.array([f"X{i + 1:03d}" for i in range(len(rows))], dtype="str"),
        "patient_id": pd.array([r[0] for r in rows], dtype="str"),
        "performed_at": pd.to_datetime(stamps).as_unit("us"),
        "level": pd.array([r[2] for r in rows], dtype="Int64"),
        "pain_before": pd.array([r[3][0] for r in rows], dtype="Int64"),
        "pain_after": pd.array([r[3][1] for r in rows], dtype="Int64"),
        "response": pd.array([r[3][2] for r in rows], dtype="str"),
    }, index=pd.Index(range(2, len(rows) + 2), name="line"))


def run(pid: str, plan: list[tuple[int, int, tuple]]) -> list[tuple]:
    return [(pid, d, level, pain) for d, level, pain in plan]


def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    out = frame.sample(frac=1.0, random_state=seed)
    out.index = np.random.default_rng(seed).permutation(len(out)) + 100
    return out


# ---------------------------------------------------------------- schedule files


def test_shipped_schedule_files_say_what_the_design_asks():
    loaded = load_schedules()
    assert set(loaded) == {"weekly", "guided"}
    assert {k: v for k, v in loaded["weekly"].to_dict().items() if k not in ("description", "source")} == {
        "name": "weekly", "rule": "time", "days_per_level": 7, "start_level": 1, "max_level": 6}
    assert {k: v for k, v in loaded["guided"].to_dict().items() if k not in ("description", "source")} == {
        "name": "guided", "rule": "symptom", "sessions_to_advance": 5, "max_pain_after": 4,
        "flare_rise": 2, "start_level": 1, "max_level": 6}
    assert loaded["weekly"].description and loaded["guided"].description
    assert load_schedule(SCHEDULE_DIR / "weekly.json") == loaded["weekly"]
    assert loaded["weekly"].expected_level(np.array([0, 6, 7, 13, 14, 100])).tolist() == [1, 1, 2, 2, 3, 6]


def _write(folder: Path, name: str, content: object) -> Path:
    path = folder / f"{name}.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def test_schedules_module_and_the_old_import_path_are_one(tmp_path, monkeypatch):
    import outcomes.measures.schedules as schedules
    from outcomes._resources import schedule_dir

    assert Schedule is schedules.Schedule and load_schedules is schedules.load_schedules
    assert SCHEDULE_DIR == schedules.SCHEDULE_DIR == schedule_dir()
    assert sorted(p.name for p in SCHEDULE_DIR.glob("*.json")) == ["guided.json", "weekly.json"]
    (tmp_path / "slow.json").write_text(json.dumps({"name": "slow", "rule": "time", "days_per_level": 14,
                                                    "start_level": 1, "max_level": 3}))
    monkeypatch.setenv("OUTCOMES_SCHEDULE_DIR", str(tmp_path))
    assert schedule_dir() == tmp_path and list(load_schedules(schedule_dir())) == ["slow"]


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not a valid JSON file"),
    ([1, 2], "JSON object"),
    ({"name": "s", "rule": "time", "days_per_level": 7, "start_level": 1}, "missing key 'max_level'"),
    ({"name": "s", "rule": "time", "days_per_levle": 7, "start_level": 1, "max_level": 6},
     "unknown key 'days_per_levle'; allowed keys: .*days_per_level"),
    ({"name": "s", "rule": "fast", "start_level": 1, "max_level": 6},
     "rule must be 'time' or 'symptom', got 'fast'"),
    ({"name": "s", "rule": "symptom", "days_per_level": 7, "sessions_to_advance": 5, "max_pain_after": 4,
      "flare_rise": 2, "start_level": 1, "max_level": 6}, "'days_per_level' is not used by 'symptom'"),
    ({"name": "s", "rule": "time", "days_per_level": 7, "start_level": 3, "max_level": 2},
     "max_level must be from 3 to 20, got 2"),
    ({"name": "s", "rule": "time", "days_per_level": True, "start_level": 1, "max_level": 6},
     "days_per_level must be a whole number"),
    ({"name": "s", "rule": "symptom", "sessions_to_advance": 5, "max_pain_after": 11, "flare_rise": 2,
      "start_level": 1, "max_level": 6}, "max_pain_after must be from 0 to 10, got 11"),
    ({"name": "other", "rule": "time", "days_per_level": 7, "start_level": 1, "max_level": 6},
     "name 'other' must match the file name"),
])
def test_malformed_schedule_file_is_a_value_error_naming_file_and_key(tmp_path, content, message):
    path = _write(tmp_path, "s", content)
    with pytest.raises(ValueError, match=message) as info:
        load_schedule(path)
    assert str(path) in str(info.value)
    with pytest.raises(ValueError, match=message):
        load_schedules(tmp_path)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    path = _write(tmp_path, "s", {"name": "s", "rule": "symptom", "start_level": 0, "colour": "red"})
    with pytest.raises(ValueError) as info:
        load_schedule(path)
    text = str(info.value)
    for part in ("unknown key 'colour'", "missing key 'max_level'", "missing key 'sessions_to_advance'",
                 "start_level must be from 1 to 20, got 0"):
        assert part in text


def test_schedule_folder_and_direct_construction_are_checked(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        load_schedules(tmp_path / "nowhere")
    assert load_schedules(tmp_path) == {}
    with pytest.raises(ValueError, match="days_per_level"):
        Schedule(name="x", rule="time", start_level=1, max_level=6)
    with pytest.raises(ValueError, match="expected_level needs a 'time' schedule"):
        GUIDED.expected_level(3)


# ---------------------------------------------------------------- levels


def test_level_changes_highest_level_and_tie_breaking():
    rows = run("P2", [(0, 1, Q), (1, 1, Q), (2, 2, Q), (3, 2, Q), (9, 3, Q), (10, 2, Q)]) + run("P1", [(0, 1, Q)])
    sessions = sessions_frame(rows)
    ch = level_changes(sessions)
    assert ch.to_dict("list") == {
        "patient_id": ["P2", "P2", "P2"],
        "date": [ENROLLED + pd.Timedelta(days=d) for d in (2, 9, 10)],
        "from_level": [1, 2, 3], "to_level": [2, 3, 2], "session_id": ["X003", "X005", "X006"]}
    pd.testing.assert_frame_equal(ch, level_changes(_shuffled(sessions, 1)))
    top = highest_level(sessions)
    assert top.to_dict("list") == {"patient_id": ["P1", "P2"], "highest_level": [1, 3],
                                   "reached_on": [ENROLLED, ENROLLED + pd.Timedelta(days=9)]}
    # two sessions at the same moment are ordered by session_id, whatever the row order
    tied = sessions_frame(run("P1", [(0, 1, Q), (1, 2, Q)]))
    tied.loc[tied.index[1], "performed_at"] = tied["performed_at"].iloc[0]
    assert level_changes(tied)["session_id"].tolist() == ["X002"]
    assert level_changes(tied.iloc[::-1])["session_id"].tolist() == ["X002"]


def test_level_by_day_carries_the_latest_session_forward_within_each_patient():
    patients = patients_frame(("P1", "guided", 5), ("P2", "mystery", 2), ("P3", "weekly", 1))
    sessions = sessions_frame(run("P1", [(2, 1, Q), (2, 2, Q), (4, 3, Q)]))
    daily = level_by_day(sessions, patients, schedules=SCHEDULES)
    assert daily["patient_id"].tolist() == ["P1"] * 6 + ["P2"] * 3 + ["P3"] * 2
    assert daily["day"].tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 0, 1]
    assert daily["date"].iloc[5] == ENROLLED + pd.Timedelta(days=5)
    # start level before the first session; the day's last session wins; P3 has no session at all;
    # P2's schedule is unknown, so its level is unknown (never P1's level carried over)
    assert daily["level"].tolist() == [1, 1, 2, 2, 3, 3, pd.NA, pd.NA, pd.NA, 1, 1]
    plain = level_by_day(sessions, patients)
    assert plain["level"].tolist()[:6] == [pd.NA, pd.NA, 2, 2, 3, 3]
    at = days_at_level(sessions, patients, schedules=SCHEDULES)
    assert at.to_dict("list") == {
        "patient_id": ["P1", "P1", "P1", "P3"], "level": [1, 2, 3, 1], "days": [2, 2, 2, 2],
        "first_date": [ENROLLED + pd.Timedelta(days=d) for d in (0, 2, 4, 0)],
        "last_date": [ENROLLED + pd.Timedelta(days=d) for d in (1, 3, 5, 1)]}
    active = level_by_day(sessions, patients_frame(("P1", "guided", None)), as_of="2026-01-08")
    assert active["day"].tolist() == [0, 1, 2, 3]


# ---------------------------------------------------------------- fidelity, by hand

GUIDED_CASES = {
    # 2 + 2 + 1 qualifying sessions end day 2 with a run of 5: level 2 from day 3
    "G_exact": [(0, 1, Q), (0, 1, Q), (1, 1, Q), (1, 1, Q), (2, 1, Q), (3, 2, Q)],
    # up on day 2 after only 4
    "G_early": [(0, 1, Q), (0, 1, Q), (1, 1, Q), (1, 1, Q), (2, 2, Q)],
    # a flare on day 1 restarts the run: 4 by the end of day 3, so day 4 is too early
    "G_flare": [(0, 1, Q), (0, 1, Q), (1, 1, Q), (1, 1, FLARE), (2, 1, Q), (2, 1, Q), (3, 1, Q), (3, 1, Q),
                (4, 2, Q)],
    # same, but after the reset 5 in a row are done first: followed
    "G_flare_ok": [(0, 1, Q), (0, 1, Q), (1, 1, WORSE), (1, 1, Q), (2, 1, Q), (2, 1, Q), (3, 1, Q), (3, 1, Q),
                   (4, 2, Q)],
    # too much pain after the 5th session in the evening of day 2: no level up on day 3
    "G_sore": [(0, 1, Q), (0, 1, Q), (1, 1, Q), (1, 1, Q), (2, 1, Q), (2, 1, SORE), (3, 1, Q)],
    # the 5th qualifying session is on the morning of day 2: the new level starts the next day, not that evening
    "G_same_day": [(0, 1, Q), (0, 1, Q), (1, 1, Q), (1, 1, Q), (2, 1, Q), (2, 2, Q)],
    # due on day 3, still at level 1 on days 3 and 4: one 'too late', then up on day 5
    "G_late": [(0, 1, Q), (0, 1, Q), (1, 1, Q), (1, 1, Q), (2, 1, Q), (3, 1, Q), (4, 1, Q), (4, 1, Q),
               (5, 2, Q)],
}
WEEKLY_CASES = {
    "W_ahead": [(0, 1, Q), (3, 2, Q), (7, 2, Q), (14, 3, Q)],              # a level ahead on days 3-6
    "W_behind": [(0, 1, Q), (8, 1, Q), (15, 1, Q), (16, 2, Q), (21, 4, Q)],  # misses two level-ups
    "W_skip": [(0, 1, Q), (7, 3, Q)],
    "W_down": [(0, 1, Q), (7, 2, Q), (8, 1, Q), (9, 2, Q)],
    "W_late_start": [(10, 2, Q), (40, 6, Q)],                              # first session on day 10, top level
}


@pytest.fixture(scope="module")
def hand_fidelity():
    rows = [r for pid, plan in {**GUIDED_CASES, **WEEKLY_CASES}.items() for r in run(pid, plan)]
    rows += run("U1", [(0, 1, Q)])
    patients = patients_frame(*[(pid, "guided", None) for pid in GUIDED_CASES],
                              *[(pid, "weekly", None) for pid in WEEKLY_CASES],
                              ("U1", "fast", None), ("N1", "weekly", None), ("Z1", None, None))
    sessions = sessions_frame(rows)
    summary, deviations = progression_fidelity(sessions, patients, SCHEDULES)
    return sessions, patients, summary.set_index("patient_id"), deviations


def _devs(deviations: pd.DataFrame, pid: str) -> list[tuple]:
    d = deviations[deviations["patient_id"] == pid]
    return list(zip(d["day"], d["from_level"], d["to_level"], d["expected_level"], d["kind"]))


def test_guided_patients_by_hand(hand_fidelity):
    _, _, summary, dev = hand_fidelity
    followed = summary["followed"]
    assert followed["G_exact"] and followed["G_flare_ok"] and followed["G_sore"]
    assert summary.loc["G_exact", "n_changes"] == 1 and summary.loc["G_exact", "n_deviations"] == 0
    assert _devs(dev, "G_exact") == []
    assert _devs(dev, "G_early") == [(2, 1, 2, 1, "too early")]
    assert _devs(dev, "G_flare") == [(4, 1, 2, 1, "too early")]
    assert _devs(dev, "G_same_day") == [(2, 1, 2, 1, "too early")]
    assert _devs(dev, "G_late") == [(3, 1, 1, 2, "too late")]
    assert not followed["G_early"] and not followed["G_late"]
    reason = dev.loc[dev["patient_id"] == "G_flare", "reason"].iloc[0]
    assert "level 1 to level 2 on 2026-01-09" in reason and "the run was 4" in reason
    assert "5 qualifying sessions in a row" in reason
    late = dev.loc[dev["patient_id"] == "G_late", "reason"].iloc[0]
    assert late.startswith("At level 1 on 2026-01-08") and "called for level 2" in late


def test_weekly_patients_by_hand(hand_fidelity):
    _, _, summary, dev = hand_fidelity
    assert _devs(dev, "W_ahead") == [(3, 1, 2, 1, "too early")]
    assert _devs(dev, "W_behind") == [(8, 1, 1, 2, "too late"), (15, 1, 1, 3, "too late")]
    assert _devs(dev, "W_skip") == [(7, 1, 3, 2, "skipped a level")]
    assert _devs(dev, "W_down") == [(8, 2, 1, 2, "went down")]
    assert _devs(dev, "W_late_start") == []
    assert summary.loc["W_late_start", "followed"]
    assert summary.loc["W_behind", "n_deviations"] == 2 and summary.loc["W_behind", "n_changes"] == 2
    ahead = dev.loc[dev["patient_id"] == "W_ahead", "reason"].iloc[0]
    assert ahead == ("Moved up from level 1 to level 2 on 2026-01-08, but the 'weekly' schedule "
                     "(one level every 7 days) has level 1 on day 3.")
    assert "clinical decision" in dev.loc[dev["patient_id"] == "W_down", "reason"].iloc[0]


def test_unknown_schedule_and_no_sessions_are_reported_not_errors(hand_fidelity):
    _, _, summary, dev = hand_fidelity
    assert not summary.loc["U1", "known_schedule"] and pd.isna(summary.loc["U1", "followed"])
    assert "'fast'" in summary.loc["U1", "note"] and "guided, weekly" in summary.loc["U1", "note"]
    assert summary.loc["N1", "known_schedule"] and pd.isna(summary.loc["N1", "followed"])
    assert summary.loc["N1", "n_sessions"] == 0 and "No sessions" in summary.loc["N1", "note"]
    assert pd.isna(summary.loc["Z1", "followed"]) and not summary.loc["Z1", "known_schedule"]
    assert pd.isna(summary.loc["G_exact", "note"])
    assert not set(dev["patient_id"]) & {"U1", "N1", "Z1"}
    assert summary["followed"].dtype == "boolean"


def test_level_above_the_top_and_staying_at_the_top():
    short = Schedule(name="short", rule="symptom", sessions_to_advance=2, max_pain_after=4, flare_rise=2,
                     start_level=1, max_level=2)
    sessions = sessions_frame(run("A", [(0, 1, Q), (0, 1, Q), (1, 2, Q), (1, 2, Q), (2, 2, Q), (3, 2, Q)])
                              + run("B", [(0, 1, Q), (0, 1, Q), (1, 2, Q), (1, 2, Q), (2, 3, Q)]))
    summary, dev = progression_fidelity(sessions, patients_frame(("A", "short", None), ("B", "short", None)),
                                        {"short": short})
    assert summary["followed"].tolist() == [True, False]
    assert _devs(dev, "B") == [(2, 2, 3, 2, "above the top level")]


def test_symptom_rule_without_pain_columns_is_not_judged(hand_fidelity):
    sessions, patients, _, _ = hand_fidelity
    summary, dev = progression_fidelity(sessions.drop(columns=["pain_before", "pain_after"]), patients,
                                        SCHEDULES)
    summary = summary.set_index("patient_id")
    assert summary.loc[list(GUIDED_CASES), "followed"].isna().all()
    assert "pain_before/pain_after" in summary.loc["G_exact", "note"]
    assert not summary.loc["W_ahead", "followed"]  # time schedules need no pain
    assert set(dev["patient_id"]) <= set(WEEKLY_CASES)
    # without a response column, the rise in pain alone decides: WORSE no longer resets the run
    no_response = progression_fidelity(sessions.drop(columns="response"), patients, SCHEDULES)[1]
    assert _devs(no_response, "G_flare") == [(4, 1, 2, 1, "too early")]
    assert "G_flare_ok" in set(no_response["patient_id"])  # day 3 now had 7 in a row: moving on day 4 is late


def test_missing_pain_ends_the_run():
    gap = (3, None, "same")
    sessions = sessions_frame(run("G", [(0, 1, Q), (0, 1, Q), (1, 1, gap), (1, 1, Q), (2, 1, Q), (2, 1, Q),
                                        (3, 2, Q)]))
    _, dev = progression_fidelity(sessions, patients_frame(("G", "guided", None)), SCHEDULES)
    assert _devs(dev, "G") == [(3, 1, 2, 1, "too early")]


def test_fidelity_is_order_free_and_leaves_inputs_alone(hand_fidelity):
    sessions, patients, summary, dev = hand_fidelity
    before = sessions.copy(deep=True), patients.copy(deep=True)
    s2, d2 = progression_fidelity(_shuffled(sessions, 4), _shuffled(patients, 5), SCHEDULES)
    pd.testing.assert_frame_equal(s2, summary.reset_index())
    pd.testing.assert_frame_equal(d2, dev)
    pd.testing.assert_frame_equal(before[0], sessions)
    pd.testing.assert_frame_equal(before[1], patients)
    assert isinstance(d2.index, pd.RangeIndex)


def test_bad_arguments():
    sessions = sessions_frame(run("A", [(0, 1, Q)]))
    with pytest.raises(ValueError, match="patients has no column 'schedule'"):
        progression_fidelity(sessions, patients_frame(("A", "guided", None)).drop(columns="schedule"),
                             SCHEDULES)
    with pytest.raises(TypeError, match="load_schedules"):
        progression_fidelity(sessions, patients_frame(("A", "guided", None)), {"guided": {"rule": "time"}})
    with pytest.raises(ValueError, match="sessions has no column 'level'"):
        level_changes(sessions.drop(columns="level"))
    with pytest.raises(ValueError, match="as_of"):
        level_by_day(sessions, patients_frame(("A", "guided", None)), as_of="soon")


# ---------------------------------------------------------------- a plain reference, on random histories


def _reference_deviations(sessions: pd.DataFrame, patients: pd.DataFrame,
                          schedules: dict[str, Schedule]) -> set[tuple]:
    """The documented rules, written as a slow per-patient loop."""
    found = set()
    for pid, sched_name in zip(patients["patient_id"], patients["schedule"]):
        sch = schedules.get(sched_name)
        if sch is None:
            continue
        mine = sessions[sessions["patient_id"] == pid].sort_values(["performed_at", "session_id"])
        prev_level, run_, prev_gap, today, day_expected = sch.start_level, 0, 0, None, None
        for sid, at, level, before, after, response in zip(
                mine["session_id"], mine["performed_at"], mine["level"], mine["pain_before"],
                mine["pain_after"], mine["response"]):
            d = (at.normalize() - ENROLLED).days
            if d != today and sch.rule == "symptom":
                advance = run_ >= sch.sessions_to_advance and prev_level < sch.max_level
                day_expected = prev_level + advance
            today = d
            expected = (min(sch.start_level + d // sch.days_per_level, sch.max_level)
                        if sch.rule == "time" else day_expected)
            if level != prev_level:
                run_ = 0
            qualifies = sch.rule == "symptom" and not pd.isna(before) and not pd.isna(after) and (
                after - before < sch.flare_rise and response != "worse" and after <= sch.max_pain_after)
            run_ = run_ + 1 if qualifies else 0
            gap = level - expected
            if gap and (not prev_gap or np.sign(gap) != np.sign(prev_gap) or abs(gap) > abs(prev_gap)):
                found.add((pid, sid, int(expected)))
            prev_gap, prev_level = gap, level
    return found


def test_vectorised_fidelity_matches_a_plain_loop_on_random_histories():
    rng = np.random.default_rng(11)
    pains = [Q, Q, Q, Q, FLARE, WORSE, SORE, (3, None, "same"), (4, 4, None)]
    rows, pats = [], []
    for i in range(40):
        pid = f"R{i:02d}"
        pats.append((pid, ["weekly", "guided"][i % 2], None))
        level = 1
        for d in sorted(rng.choice(40, rng.integers(0, 25), replace=False)):
            for _ in range(rng.integers(1, 3)):
                level = int(np.clip(level + rng.choice([0, 0, 0, 0, 1, 1, -1, 2]), 1, 7))
                rows.append((pid, int(d), level, pains[rng.integers(len(pains))]))
    sessions, patients = sessions_frame(rows), patients_frame(*pats)
    _, dev = progression_fidelity(sessions, patients, SCHEDULES)
    got = set(zip(dev["patient_id"], dev["session_id"], dev["expected_level"].astype(int)))
    assert len(got) > 40  # the random histories do deviate
    assert got == _reference_deviations(sessions, patients, SCHEDULES)


# ---------------------------------------------------------------- simulator truth


def test_simulated_patients_follow_their_declared_schedules():
    sim = simulate(300, seed=1)
    schedules = load_schedules()
    summary, dev = progression_fidelity(sim.sessions, sim.patients, schedules)
    assert summary["known_schedule"].all()
    has_sessions = summary["n_sessions"] > 0
    assert summary.loc[has_sessions, "followed"].all() and dev.empty
    assert summary["n_changes"].sum() > 300  # there was progression to check
    # the check can fail: a stricter guided rule flags the same patients
    stricter = {**schedules, "guided": dataclasses.replace(schedules["guided"], sessions_to_advance=6)}
    summary6, dev6 = progression_fidelity(sim.sessions, sim.patients, stricter)
    guided = summary6["schedule"] == "guided"
    assert not summary6.loc[guided & has_sessions, "followed"].all()
    assert summary6.loc[~guided & has_sessions, "followed"].all()
    assert set(dev6["kind"]) == {"too early"}
    # every weekly-arm session is at the schedule's level for its day; days without a session carry it
    enrolled = sim.sessions["patient_id"].map(sim.patients.set_index("patient_id")["enrolled_on"])
    day = (sim.sessions["performed_at"].dt.normalize() - enrolled).dt.days.to_numpy()
    schedule_of = sim.sessions["patient_id"].map(sim.patients.set_index("patient_id")["schedule"])
    weekly = (schedule_of == "weekly").to_numpy()
    assert (sim.sessions["level"].to_numpy()[weekly] == schedules["weekly"].expected_level(day[weekly])).all()
    daily = level_by_day(sim.sessions, sim.patients, schedules=schedules)
    assert daily["level"].notna().all() and len(daily) > len(sim.sessions) / 2
    changes = level_changes(sim.sessions)
    guided_changes = changes[changes["patient_id"].map(sim.patients.set_index("patient_id")["schedule"])
                             == "guided"]
    assert (guided_changes["to_level"] == guided_changes["from_level"] + 1).all()  # one level at a time
    assert (changes["to_level"] > changes["from_level"]).all()  # a weekly patient may skip a week's level
    top = highest_level(sim.sessions)
    assert top["highest_level"].max() == sim.truth.max_level
