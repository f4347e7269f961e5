"""Progression through the glide levels, and whether it followed the declared schedule.

A *progression schedule* is the rule for moving up levels: time-based (e.g.
one level per week) or symptom-guided (advance after N sessions without a
flare and with in-session pain at or below a threshold). The level a patient
is at is read from the session log: every session records the level it was
done at.

The schedules themselves (their files, `Schedule`, `load_schedules`) are in
`outcomes.measures.schedules`; they are importable from here too.

Session order
-------------
Sessions are ordered by ``performed_at`` within patient, ties broken by
``session_id``. Sessions without a level, a time or a known patient are left
out of every function here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._checks import _check_frame
from .adherence import _Cohort, _cohort, _dates, _day_numbers, _numbers, _positions, _resolve_as_of
from .schedules import SCHEDULE_DIR, Schedule, load_schedule, load_schedules

__all__ = [
    "SCHEDULE_DIR",
    "Schedule",
    "days_at_level",
    "highest_level",
    "level_by_day",
    "level_changes",
    "load_schedule",
    "load_schedules",
    "progression_fidelity",
]

_DEVIATION_COLUMNS = ("patient_id", "schedule", "session_id", "date", "day", "from_level",
                      "to_level", "expected_level", "kind", "reason")


def level_changes(sessions: pd.DataFrame) -> pd.DataFrame:
    """Every change of level between a patient's consecutive sessions.

    Parameters
    ----------
    sessions : pandas.DataFrame
        ``patient_id``, ``performed_at``, ``level`` and ``session_id``.

    Returns
    -------
    pandas.DataFrame
        One row per change, sorted by patient_id and time, fresh RangeIndex:
        ``patient_id``; ``date`` (calendar date of the first session at the
        new level); ``from_level`` and ``to_level`` (Int64: the previous
        session's level and this one's); ``session_id`` (the first session at
        the new level). The first session of a patient is never a change.
    """
    _check_frame(sessions, "sessions", ("patient_id", "performed_at", "level"))
    codes, ids = pd.factorize(sessions["patient_id"], sort=True)
    s = _ordered_sessions(sessions, codes)
    at = np.flatnonzero(~s["first"] & (s["level"] != s["prev_level"]))
    return pd.DataFrame({
        "patient_id": ids.take(s["key"][at]).to_numpy(),
        "date": _dates(s["date"][at]),
        "from_level": pd.array(s["prev_level"][at], dtype="Int64"),
        "to_level": pd.array(s["level"][at], dtype="Int64"),
        "session_id": _session_ids(sessions, s["row"][at]),
    }).astype({"patient_id": ids.dtype})


def highest_level(sessions: pd.DataFrame) -> pd.DataFrame:
    """The highest level each patient reached, and when.

    Returns
    -------
    pandas.DataFrame
        One row per patient with a session, sorted by patient_id, fresh
        RangeIndex: ``patient_id``; ``highest_level`` (Int64, the largest
        session level); ``reached_on`` (calendar date of the first session at
        that level).
    """
    _check_frame(sessions, "sessions", ("patient_id", "performed_at", "level"))
    codes, ids = pd.factorize(sessions["patient_id"], sort=True)
    s = _ordered_sessions(sessions, codes)
    starts = np.flatnonzero(s["first"])
    top = np.maximum.reduceat(s["level"], starts) if len(starts) else np.zeros(0, np.int64)
    group = np.cumsum(s["first"]) - 1
    at_top = np.flatnonzero(s["level"] == top[group])
    first_at_top = at_top[np.unique(group[at_top], return_index=True)[1]]
    return pd.DataFrame({
        "patient_id": ids.take(s["key"][starts]).to_numpy(),
        "highest_level": pd.array(top, dtype="Int64"),
        "reached_on": _dates(s["date"][first_at_top]),
    }).astype({"patient_id": ids.dtype})


def level_by_day(
    sessions: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    as_of: Any = None,
    schedules: Mapping[str, Schedule] | None = None,
) -> pd.DataFrame:
    """Each patient's level on every day of follow-up.

    Parameters
    ----------
    sessions : pandas.DataFrame
        ``patient_id``, ``performed_at``, ``level`` (``session_id`` breaks ties).
    patients : pandas.DataFrame
        ``patient_id``, ``enrolled_on``, optional ``discharged_on`` and, to
        know the level before the first session, ``schedule``.
    as_of : date-like, optional
        Follow-up of a patient still enrolled ends here (default: the latest
        session, enrolment or discharge date in the data).
    schedules : mapping of str to Schedule, optional
        E.g. `load_schedules()`; gives the start level of each patient's
        schedule.

    Returns
    -------
    pandas.DataFrame
        One row per patient and day of follow-up (enrolled_on to
        discharged_on inclusive, or to ``as_of``), sorted by patient_id and
        day, fresh RangeIndex: ``patient_id``; ``date``; ``day`` (days since
        enrolment); ``level`` (Int64): the level of the latest session on or
        before that day (the day's last session on a day with several);
        before the first session the start level of the patient's schedule,
        or NA when the schedule is not in ``schedules``.
    """
    _check_frame(sessions, "sessions", ("patient_id", "performed_at", "level"))
    _check_frame(patients, "patients", ("patient_id", "enrolled_on"))
    cohort = _cohort(patients, _resolve_as_of(as_of, sessions, patients))
    n_days = cohort.last_day + 1
    first_row = np.concatenate(([0], np.cumsum(n_days)[:-1])).astype(np.int64)
    total = int(n_days.sum())
    pidx = np.repeat(np.arange(len(cohort.ids)), n_days)
    day = np.arange(total, dtype=np.int64) - first_row[pidx]

    s = _ordered_sessions(sessions, _positions(sessions["patient_id"], cohort.ids))
    s_day = s["date"] - cohort.enrolled[s["key"]]
    inside = (s_day >= 0) & (s_day <= cohort.last_day[s["key"]])
    row = first_row[s["key"][inside]] + s_day[inside]
    last_of_day = np.r_[row[1:] != row[:-1], True] if len(row) else np.zeros(0, bool)
    value = np.full(total, np.nan)
    value[row[last_of_day]] = s["level"][inside][last_of_day]
    block_start = first_row[n_days > 0]
    start = _start_levels(cohort, schedules)[n_days > 0]
    value[block_start] = np.where(np.isnan(value[block_start]), start, value[block_start])
    anchor = ~np.isnan(value)
    anchor[block_start] = True  # never carry a level over from the previous patient
    level = value[np.maximum.accumulate(np.where(anchor, np.arange(total), 0))] if total else value
    return pd.DataFrame({
        "patient_id": cohort.ids.take(pidx).to_numpy(),
        "date": _dates(cohort.enrolled[pidx] + day),
        "day": day,
        "level": pd.arrays.IntegerArray(np.nan_to_num(level).astype(np.int64), np.isnan(level)),
    }).astype({"patient_id": cohort.ids.dtype})


def days_at_level(
    sessions: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    as_of: Any = None,
    schedules: Mapping[str, Schedule] | None = None,
) -> pd.DataFrame:
    """How many days of follow-up each patient spent at each level.

    Parameters are those of `level_by_day`, whose daily levels are counted.

    Returns
    -------
    pandas.DataFrame
        One row per patient and level reached, sorted by patient_id and level,
        fresh RangeIndex: ``patient_id``; ``level`` (Int64); ``days`` (days of
        follow-up at that level, not necessarily in one stretch);
        ``first_date`` and ``last_date`` (first and last such day). Days whose
        level is unknown (before the first session, schedule unknown) are not
        counted.
    """
    daily = level_by_day(sessions, patients, as_of=as_of, schedules=schedules)
    return (daily.dropna(subset=["level"])
            .groupby(["patient_id", "level"], sort=True)
            .agg(days=("day", "size"), first_date=("date", "min"), last_date=("date", "max"))
            .reset_index())


def progression_fidelity(
    sessions: pd.DataFrame,
    patients: pd.DataFrame,
    schedules: Mapping[str, Schedule],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Whether each patient's levels followed their progression schedule.

    Parameters
    ----------
    sessions : pandas.DataFrame
        ``patient_id``, ``performed_at``, ``level``, ``session_id``; for
        ``'symptom'`` schedules also ``pain_before``, ``pain_after`` and
        (optional) ``response``.
    patients : pandas.DataFrame
        ``patient_id``, ``enrolled_on``, ``schedule``.
    schedules : mapping of str to Schedule
        Schedules by the name used in ``patients.schedule``, e.g.
        `load_schedules()`. A patient whose schedule is not here is reported
        (``known_schedule`` False), not an error.

    Returns
    -------
    summary : pandas.DataFrame
        One row per patient, sorted by patient_id, fresh RangeIndex:
        ``patient_id``; ``schedule``; ``known_schedule`` (bool);
        ``n_sessions`` (sessions with a level); ``n_changes`` (level changes,
        as in `level_changes`); ``n_deviations`` (rows in ``deviations``);
        ``followed`` (boolean: no deviation; NA when the schedule is unknown,
        there are no sessions, or a symptom rule lacks the pain columns);
        ``note`` (why ``followed`` is NA, else NA).
    deviations : pandas.DataFrame
        One row per departure from the schedule, sorted by patient and time:
        ``patient_id``, ``schedule``, ``session_id`` and ``date`` of the
        session where it shows, ``day`` (days since enrolment),
        ``from_level`` (the previous session's level, or the schedule's start
        level for a first session), ``to_level`` (this session's level),
        ``expected_level``, ``kind`` and ``reason`` (a sentence for a
        clinician). Kinds: 'too early' (moved up one level before the rule
        allowed), 'skipped a level' (moved up two or more), 'too late' (below
        the expected level without having gone down), 'went down', 'ahead of
        schedule' (above it without having moved up), 'above the top level'.

    Notes
    -----
    Expected level of each session:

    * ``'time'``: ``min(start_level + day // days_per_level, max_level)`` for
      the session's program day.
    * ``'symptom'``: the rule is applied to the patient's actual course. For
      the sessions of a day, the expected level is the level of the previous
      session day's last session (the start level before any session), plus
      one when the run of qualifying sessions at the end of that day had
      reached ``sessions_to_advance`` and that level was below
      ``max_level``. The run counts back to the latest non-qualifying session
      or level change. A session with ``pain_before`` or ``pain_after``
      missing cannot be shown to qualify and ends the run; a missing
      ``response`` is not a flare. Because expectations follow the actual
      level, one early or late move is one deviation, not a cascade.

    A deviation is reported at the first session of a stretch whose level
    differs from the expected one, and again when the gap widens or changes
    side (e.g. a weekly patient stuck at level 1 gives one 'too late' for
    each missed week); a stretch that stays the same or narrows is not
    counted twice. The rules are those of the schedule files; a 'went down'
    may well be a sound clinical decision after a flare, which the reason says.
    """
    _check_frame(sessions, "sessions", ("patient_id", "performed_at", "level"))
    _check_frame(patients, "patients", ("patient_id", "enrolled_on", "schedule"))
    if not isinstance(schedules, Mapping) or not all(isinstance(v, Schedule) for v in schedules.values()):
        raise TypeError("schedules must be a mapping of name to Schedule, e.g. load_schedules()")
    cohort = _cohort(patients, np.nan)
    names = list(schedules)
    plan = pd.Index(names, dtype=object).get_indexer(cohort.patients["schedule"].astype(object))
    param = _schedule_table(schedules)

    s = _ordered_sessions(sessions, _positions(sessions["patient_id"], cohort.ids))
    k = s["key"]
    sched = plan[k]
    judged = sched >= 0
    level, prev = s["level"], s["prev_level"].copy()
    start = param["start_level"][sched]
    prev[s["first"]] = start[s["first"]]
    day = s["date"] - cohort.enrolled[k]
    symptom = param["symptom"][sched] & judged
    can_replay = {"pain_before", "pain_after"} <= set(sessions.columns)
    if not can_replay:
        judged &= ~symptom

    expected = np.where(param["symptom"][sched], 0,
                        np.minimum(start + np.maximum(day, 0) // np.maximum(param["days_per_level"][sched], 1),
                                   param["max_level"][sched]))
    run = np.zeros(len(k), np.int64)
    if can_replay and symptom.any():
        sym_expected, run = _replay_symptom_rule(sessions, s, sched, param, prev)
        expected = np.where(symptom, sym_expected, expected)
    gap = np.where(judged, level - expected, 0)
    prev_gap = np.r_[0, gap[:-1]]
    prev_gap[s["first"]] = 0
    new = (gap != 0) & ((prev_gap == 0) | (np.sign(gap) != np.sign(prev_gap))
                        | (np.abs(gap) > np.abs(prev_gap)))
    at = np.flatnonzero(new)
    deviations = _describe_deviations(sessions, s, at, cohort, names, sched, param, prev,
                                      expected, day, run)

    n = len(cohort.ids)
    n_sessions = np.bincount(k, minlength=n)
    n_changes = np.bincount(k[~s["first"] & (level != s["prev_level"])], minlength=n)
    n_dev = np.bincount(k[at], minlength=n)
    schedule = cohort.patients["schedule"]
    known = plan >= 0
    pain_missing = known & param["symptom"][plan] & (not can_replay)
    note = np.select(
        [schedule.isna().to_numpy(), ~known, n_sessions == 0, pain_missing],
        ["No schedule recorded for this patient.",
         ("No schedule file for '" + schedule.astype(str) + "' (known: "
          + (", ".join(sorted(names)) or "none") + "), so progression was not checked.").to_numpy(object),
         "No sessions logged, so progression could not be checked.",
         "The session log has no pain_before/pain_after, so the symptom-guided rule "
         "could not be replayed."],
        "")
    summary = pd.DataFrame({
        "patient_id": cohort.ids.to_numpy(),
        "schedule": schedule.to_numpy(),
        "known_schedule": known,
        "n_sessions": n_sessions,
        "n_changes": n_changes,
        "n_deviations": n_dev,
        "followed": pd.array(np.where(note == "", n_dev == 0, None), dtype="boolean"),
        "note": pd.array(np.where(note == "", None, note), dtype="str"),
    }).astype({"patient_id": cohort.ids.dtype, "schedule": schedule.dtype})
    return summary, deviations


# ------------------------------------------------------------------ helpers


def _schedule_table(schedules: Mapping[str, Schedule]) -> dict[str, np.ndarray]:
    """Schedule parameters as arrays indexed by schedule position; position -1 (unknown) is a dummy."""
    rows = [*schedules.values(), Schedule(name="unknown", rule="time", start_level=1,
                                          max_level=1, days_per_level=1)]

    def column(attr: str) -> np.ndarray:
        return np.array([getattr(r, attr) or 0 for r in rows], dtype=np.int64)

    return {"symptom": np.array([r.rule == "symptom" for r in rows]),
            **{a: column(a) for a in ("start_level", "max_level", "days_per_level",
                                      "sessions_to_advance", "max_pain_after", "flare_rise")}}


def _start_levels(cohort: _Cohort, schedules: Mapping[str, Schedule] | None) -> np.ndarray:
    """Start level of each patient's schedule (NaN when unknown)."""
    if not schedules or "schedule" not in cohort.patients.columns:
        return np.full(len(cohort.ids), np.nan)
    starts = pd.Series({name: float(s.start_level) for name, s in schedules.items()}, dtype=float)
    return cohort.patients["schedule"].astype(object).map(starts).to_numpy(dtype=float)


def _ordered_sessions(sessions: pd.DataFrame, key: np.ndarray) -> dict[str, np.ndarray]:
    """Sessions with a patient ``key`` (>= 0), a time and a level, ordered by key, time, session_id.

    Returns arrays: ``row`` (position in ``sessions``), ``key``, ``date``
    (day number), ``level``, ``prev_level`` (the patient's previous session's
    level; undefined where ``first``) and ``first`` (first session of its patient).
    """
    stamps = sessions["performed_at"]
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_localize(None)
    days = _day_numbers(stamps, "sessions", "performed_at")
    time = pd.to_datetime(stamps).to_numpy(dtype="datetime64[us]").astype(np.int64)
    levels = _numbers(sessions["level"], "sessions", "level")
    row = np.flatnonzero((np.asarray(key) >= 0) & ~np.isnan(days) & ~np.isnan(levels))
    key = np.asarray(key)[row]
    t = time[row]
    del time
    if len(key) < 2 or ((key[1:] > key[:-1]) | ((key[1:] == key[:-1]) & (t[1:] >= t[:-1]))).all():
        order = None  # already by patient and time (the usual export order): no sort
        tied = (key[1:] == key[:-1]) & (t[1:] == t[:-1])
    else:
        order = np.lexsort((t, key))
        tied = (key[order][1:] == key[order][:-1]) & (t[order][1:] == t[order][:-1])
    if tied.any() and "session_id" in sessions.columns:
        sid = pd.factorize(sessions["session_id"].iloc[row], sort=True)[0]
        order = np.lexsort((sid, t, key))
    if order is not None:
        row = row[order]
        key = key[order]
    level = levels[row].astype(np.int64)
    first = np.r_[True, key[1:] != key[:-1]] if len(row) else np.zeros(0, bool)
    return {"row": row, "key": key, "date": days[row].astype(np.int64), "level": level,
            "prev_level": np.r_[0, level[:-1]].astype(np.int64), "first": first}


def _session_ids(sessions: pd.DataFrame, rows: np.ndarray) -> pd.Series | np.ndarray:
    if "session_id" in sessions.columns:
        return sessions["session_id"].iloc[rows].reset_index(drop=True)
    return pd.array([None] * len(rows), dtype="str")


def _replay_symptom_rule(sessions: pd.DataFrame, s: dict[str, np.ndarray], sched: np.ndarray,
                         param: dict[str, np.ndarray], prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected level of every session under its patient's symptom rule, and the run it was based on.

    Vectorised over all sessions at once: the run after each session is the
    number of sessions since the latest reset (a non-qualifying session, or
    the first session at a new level), found with running maxima.
    """
    n = len(s["row"])
    rows = s["row"]
    before = _numbers(sessions["pain_before"], "sessions", "pain_before")[rows]
    after = _numbers(sessions["pain_after"], "sessions", "pain_after")[rows]
    worse = np.zeros(n, bool)
    if "response" in sessions.columns:
        worse = (sessions["response"].iloc[rows] == "worse").fillna(False).to_numpy(dtype=bool)
    with np.errstate(invalid="ignore"):
        calm = (after - before) < param["flare_rise"][sched]  # False when either is missing
        qualifies = calm & ~worse & (after <= param["max_pain_after"][sched])
    i = np.arange(n)
    reset_before = s["first"] | (s["level"] != s["prev_level"])
    run_start = np.maximum(np.maximum.accumulate(np.where(reset_before, i, -1)),
                           np.maximum.accumulate(np.where(qualifies, -1, i + 1)))
    run = i - run_start + 1  # qualifying sessions in a row, up to and including this one
    new_day = s["first"] | (s["date"] != np.r_[-1, s["date"][:-1]])
    run_before = np.where(s["first"], 0, np.r_[0, run[:-1]])
    day_level = prev  # previous session's level (the start level for a first session)
    due = (run_before >= param["sessions_to_advance"][sched]) & (day_level < param["max_level"][sched])
    day_first = np.maximum.accumulate(np.where(new_day, i, 0))
    expected = (day_level + due)[day_first]
    return expected, run_before[day_first]


def _describe_deviations(sessions: pd.DataFrame, s: dict[str, np.ndarray], at: np.ndarray,
                         cohort: _Cohort, names: list[str], sched: np.ndarray,
                         param: dict[str, np.ndarray], prev: np.ndarray, expected: np.ndarray,
                         day: np.ndarray, run: np.ndarray) -> pd.DataFrame:
    """The deviations frame: one row per session in ``at``, with its kind and a plain reason."""
    level, prev, expected, day, run = (a[at] for a in (s["level"], prev, expected, day, run))
    sch = sched[at]
    top = param["max_level"][sch]
    gap = level - expected
    kind = np.select(
        [level > top, (gap < 0) & (level < prev), (gap > 0) & (level - prev >= 2),
         (gap > 0) & (level > prev), gap < 0],
        ["above the top level", "went down", "skipped a level", "too early", "too late"],
        "ahead of schedule")
    date = _dates(s["date"][at])
    name = pd.Series(np.array(names + [""], dtype=object)[sch], dtype=object)
    txt = {k: pd.Series(v, dtype=object).astype(str) for k, v in
           {"level": level, "prev": prev, "exp": expected, "day": day, "run": run, "top": top,
            "dpl": param["days_per_level"][sch], "n": param["sessions_to_advance"][sch],
            "pain": param["max_pain_after"][sch],
            "date": np.datetime_as_string(date.astype("datetime64[D]"))}.items()}
    moved = "Moved up from level " + txt["prev"] + " to level " + txt["level"] + " on " + txt["date"]
    head = pd.Series(np.select(
        [kind == "too early", kind == "skipped a level", kind == "went down"],
        [moved, moved + ", skipping a level",
         "Went down from level " + txt["prev"] + " to level " + txt["level"] + " on " + txt["date"]],
        "At level " + txt["level"] + " on " + txt["date"]), dtype=object)
    sched_name = "the '" + name + "' schedule"
    time_tail = (", but " + sched_name + " (one level every " + txt["dpl"] + " days) has level "
                 + txt["exp"] + " on day " + txt["day"] + ".")
    early_tail = (", but " + sched_name + " moves up only from the day after " + txt["n"]
                  + " qualifying sessions in a row (no flare, pain after at most " + txt["pain"]
                  + "/10); the run was " + txt["run"] + ", so level " + txt["exp"] + " was expected.")
    late_tail = (", but the last " + txt["run"] + " sessions before that day all qualified (" + txt["n"]
                 + " in a row are needed), so " + sched_name + " called for level " + txt["exp"] + ".")
    down_tail = (", but " + sched_name + " never steps down (expected level " + txt["exp"]
                 + "); a step back may be a sound clinical decision after a flare: check the notes.")
    top_tail = ", above the top level (" + txt["top"] + ") of " + sched_name + "."
    symptom = param["symptom"][sch]
    tail = np.select(
        [kind == "above the top level", kind == "went down", ~symptom, gap > 0],
        [top_tail, down_tail, time_tail, early_tail], late_tail)
    return pd.DataFrame({
        "patient_id": cohort.ids.take(s["key"][at]).to_numpy(),
        "schedule": name.to_numpy(),
        "session_id": _session_ids(sessions, s["row"][at]),
        "date": date,
        "day": day,
        "from_level": pd.array(prev, dtype="Int64"),
        "to_level": pd.array(level, dtype="Int64"),
        "expected_level": pd.array(expected, dtype="Int64"),
        "kind": pd.array(kind, dtype="str"),
        "reason": pd.array((head + pd.Series(tail, dtype=object)).to_numpy(), dtype="str"),
    }, columns=list(_DEVIATION_COLUMNS)).astype({"patient_id": cohort.ids.dtype, "schedule": "str"})
