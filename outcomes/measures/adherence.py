"""Adherence to the prescribed home-exercise dose, per patient-week and per patient.

Adherence is sessions done ÷ sessions prescribed over a window; dose adherence
is repetitions done ÷ repetitions prescribed. The
window is the program week: for a session on calendar date
``d`` the program day is ``(d − enrolled_on).days`` and the week is
``day // 7``, so week 0 is days 0-6. Both ratios are reported raw (a patient
who does more than prescribed scores above 1) and capped at 1.

The prescribed dose comes from the ``prescriptions`` export when there is one
for the patient and week, otherwise from the defaults in `outcomes.config`
(``Options.default_sessions_per_week``, ``default_sets``, ``default_reps``),
and every row says which (``prescription_source``).

The private helpers at the bottom (patients, follow-up, calendar days) are
shared with `outcomes.measures.progression`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..config import DEFAULT_OPTIONS, Options
from ._checks import _check_frame, _check_options

__all__ = ["overall_adherence", "weekly_adherence"]

#: ``prescription_source`` values.
SOURCE_PRESCRIPTION = "prescription"
SOURCE_DEFAULT = "schedule default"
SOURCE_MIXED = "mixed"

_WEEK_COLUMNS = (
    "patient_id", "week", "week_start", "days_enrolled", "sessions_done", "sessions_prescribed",
    "adherence", "adherence_capped", "reps_done", "reps_prescribed", "dose_adherence",
    "dose_adherence_capped", "prescription_source",
)


def weekly_adherence(
    sessions: pd.DataFrame,
    patients: pd.DataFrame,
    prescriptions: pd.DataFrame | None = None,
    *,
    as_of: Any = None,
    options: Options = DEFAULT_OPTIONS,
) -> pd.DataFrame:
    """Sessions and repetitions done against those prescribed, per patient and program week.

    Parameters
    ----------
    sessions : pandas.DataFrame
        The session log: ``patient_id``, ``performed_at`` and, for dose
        adherence, ``reps_done`` (optional; without it dose adherence is NA).
    patients : pandas.DataFrame
        ``patient_id``, ``enrolled_on`` and ``discharged_on`` (optional; empty or
        absent = still enrolled).
    prescriptions : pandas.DataFrame, optional
        ``patient_id``, ``valid_from``, ``sessions_per_week`` and, for dose
        adherence, ``sets`` and ``reps``. None (the export is absent) uses the
        defaults in ``options`` for every week.
    as_of : date-like, optional
        The day the data describe. Follow-up of a patient still enrolled ends
        on this day, and nothing after it is counted. Default: the latest date
        in the data (sessions, enrolments, discharges, prescriptions).
    options : outcomes.config.Options
        ``default_sessions_per_week``, ``default_sets``, ``default_reps``: the
        dose assumed when no prescription applies.

    Returns
    -------
    pandas.DataFrame
        One row per patient and program week, from week 0 to the week holding
        the last day of follow-up (weeks with no session are rows with 0),
        sorted by patient_id and week, with a fresh RangeIndex:

        ``patient_id``
            Patient code.
        ``week``
            Program week, ``day // 7`` (int).
        ``week_start``
            Date of the week's first day, ``enrolled_on + 7 * week``.
        ``days_enrolled``
            Days of the week inside follow-up, 1-7 (less than 7 only in the
            last week).
        ``sessions_done``
            Sessions logged on those days (int).
        ``sessions_prescribed``
            ``sessions_per_week × days_enrolled / 7`` (float; pro-rated in a
            partial week).
        ``adherence``
            ``sessions_done / sessions_prescribed``; NaN when nothing was
            prescribed (a 0 dose makes adherence undefined, not 0 or 1).
        ``adherence_capped``
            ``min(adherence, 1)``.
        ``reps_done``
            Repetitions logged that week (Int64); NA when ``reps_done`` is
            absent or missing for any session of the week (the week's dose is
            then unknown).
        ``reps_prescribed``
            ``sessions_prescribed × sets × reps`` from the same source as
            ``sessions_prescribed``; NaN when that prescription gives no sets
            or reps.
        ``dose_adherence``, ``dose_adherence_capped``
            ``reps_done / reps_prescribed``, raw and capped at 1; NaN when
            either is unknown or nothing was prescribed.
        ``prescription_source``
            ``'prescription'`` or ``'schedule default'`` (``options``' default
            dose, used when prescriptions are absent or none applies).

    Raises
    ------
    ValueError
        A frame lacks a required column, patient codes repeat in
        ``patients``, a date cannot be read, or ``as_of`` is not a date.

    Notes
    -----
    Definitions (sessions done ÷
    sessions prescribed per patient-week; dose = reps done ÷ reps prescribed;
    raw and capped at 1).

    * Follow-up runs from ``enrolled_on`` to ``discharged_on`` inclusive, or to
      ``as_of`` for a patient still enrolled (and never past ``as_of``).
      Patients enrolled after ``as_of`` have no rows.
    * The prescription of a week is the one in force on the week's first day
      (the latest ``valid_from`` on or before it). When none is in force yet,
      the latest one starting on or before the last followed day of that week
      is used, so a first prescription written a day after enrolment covers
      week 0. When two prescriptions share a ``valid_from`` the larger dose is
      used. A prescription row without ``valid_from`` or
      ``sessions_per_week`` cannot be placed or dosed and is left out.
    * A mid-week prescription change takes effect from the next week.
    * Every logged session counts as done, including those stopped early;
      dose adherence is what shows a shortened session.
    * Sessions not counted: those of codes absent from ``patients``, without
      ``performed_at``, before enrolment, after discharge (the validation
      grace period) or after ``as_of``.

    Examples
    --------
    >>> from outcomes.simulate import simulate
    >>> sim = simulate(20, seed=1)
    >>> weeks = weekly_adherence(sim.sessions, sim.patients, sim.prescriptions)
    >>> list(weeks.columns[:4])
    ['patient_id', 'week', 'week_start', 'days_enrolled']
    """
    _check_options(options)
    _check_frame(sessions, "sessions", ("patient_id", "performed_at"))
    _check_frame(patients, "patients", ("patient_id", "enrolled_on"))
    if prescriptions is not None:
        _check_frame(prescriptions, "prescriptions", ("patient_id", "valid_from", "sessions_per_week"))
    as_of_day = _resolve_as_of(as_of, sessions, patients, prescriptions)
    cohort = _cohort(patients, as_of_day)
    n_weeks = np.where(cohort.last_day >= 0, cohort.last_day // 7 + 1, 0)
    first_row = np.concatenate(([0], np.cumsum(n_weeks)[:-1])).astype(np.int64)
    total = int(n_weeks.sum())
    pidx = np.repeat(np.arange(len(cohort.ids)), n_weeks)
    week = np.arange(total, dtype=np.int64) - first_row[pidx]
    days_enrolled = np.minimum(7, cohort.last_day[pidx] - 7 * week + 1)
    week_start = cohort.enrolled[pidx] + 7 * week

    s_pidx, s_day, inside = _locate_sessions(sessions, cohort)
    row = first_row[s_pidx[inside]] + s_day[inside] // 7
    done = np.bincount(row, minlength=total)
    if "reps_done" in sessions.columns:
        reps = _numbers(sessions["reps_done"], "sessions", "reps_done")[inside]
        unknown = np.isnan(reps)
        reps_sum = np.bincount(row, weights=np.where(unknown, 0.0, reps), minlength=total)
        reps_unknown = np.bincount(row, weights=unknown, minlength=total) > 0
    else:
        reps_sum = np.zeros(total)
        reps_unknown = np.ones(total, bool)

    per_week = np.full(total, float(options.default_sessions_per_week))
    sets = np.full(total, float(options.default_sets))
    reps_per_set = np.full(total, float(options.default_reps))
    from_prescription = np.zeros(total, bool)
    if prescriptions is not None and len(prescriptions) and total:
        dose = _prescription_dose(prescriptions, cohort)
        hit = _latest_on_or_before(pidx, week_start, dose["pidx"], dose["day"])
        late = hit < 0
        hit[late] = _latest_on_or_before(pidx[late], (week_start + days_enrolled - 1)[late],
                                         dose["pidx"], dose["day"])
        from_prescription = hit >= 0
        chosen = hit[from_prescription]
        per_week[from_prescription] = dose["sessions_per_week"][chosen]
        sets[from_prescription] = dose["sets"][chosen]
        reps_per_set[from_prescription] = dose["reps"][chosen]

    prescribed = per_week * days_enrolled / 7
    reps_prescribed = prescribed * sets * reps_per_set
    adherence = _ratio(done, prescribed)
    reps_done = pd.arrays.IntegerArray(np.rint(reps_sum).astype(np.int64), reps_unknown.copy())
    dose_adherence = _ratio(np.where(reps_unknown, np.nan, reps_sum), reps_prescribed)
    return pd.DataFrame({
        "patient_id": cohort.ids.take(pidx).to_numpy(),
        "week": week,
        "week_start": _dates(week_start),
        "days_enrolled": days_enrolled.astype(np.int64),
        "sessions_done": done.astype(np.int64),
        "sessions_prescribed": prescribed,
        "adherence": adherence,
        "adherence_capped": np.minimum(adherence, 1.0),
        "reps_done": reps_done,
        "reps_prescribed": reps_prescribed,
        "dose_adherence": dose_adherence,
        "dose_adherence_capped": np.minimum(dose_adherence, 1.0),
        "prescription_source": pd.array(
            np.where(from_prescription, SOURCE_PRESCRIPTION, SOURCE_DEFAULT), dtype="str"),
    }).astype({"patient_id": cohort.ids.dtype})


def overall_adherence(patient_week: pd.DataFrame) -> pd.DataFrame:
    """Adherence over each patient's whole follow-up, from `weekly_adherence` output.

    Parameters
    ----------
    patient_week : pandas.DataFrame
        The frame returned by `weekly_adherence` (possibly filtered, e.g. to
        complete weeks or to weeks 0-5).

    Returns
    -------
    pandas.DataFrame
        One row per patient, sorted by patient_id, with a fresh RangeIndex:

        ``patient_id``
            Patient code.
        ``weeks``
            Number of patient-week rows summarised.
        ``sessions_done``, ``sessions_prescribed``
            Totals over those weeks.
        ``adherence``
            Total sessions done ÷ total sessions prescribed (NaN when nothing
            was prescribed).
        ``adherence_capped``
            ``min(adherence, 1)``.
        ``mean_weekly_adherence``
            Mean over weeks of the weekly ``adherence_capped`` (weeks with an
            undefined adherence left out), so a week done twice over cannot
            make up for a week not done; the patient's usual adherence for
            the between-patient term of the trajectory model (Curran & Bauer 2011).
        ``dose_adherence``, ``dose_adherence_capped``
            Total reps done ÷ total reps prescribed over the weeks where both
            are known, raw and capped at 1.
        ``prescription_source``
            ``'prescription'`` or ``'schedule default'`` when every week used
            that source, ``'mixed'`` otherwise.

    Raises
    ------
    ValueError
        ``patient_week`` lacks a column of the `weekly_adherence` output.

    Notes
    -----
    Adherence over a window = sessions done ÷ sessions
    prescribed; the window here is the patient's follow-up, so partial weeks
    weigh by their pro-rated prescription.
    """
    _check_frame(patient_week, "patient_week", _WEEK_COLUMNS)
    w = patient_week
    known = w["reps_done"].notna().to_numpy() & w["reps_prescribed"].notna().to_numpy()
    source = w["prescription_source"].to_numpy(dtype=object)
    work = pd.DataFrame({
        "patient_id": w["patient_id"].to_numpy(),
        "weeks": 1,
        "sessions_done": w["sessions_done"].to_numpy(dtype=float),
        "sessions_prescribed": w["sessions_prescribed"].to_numpy(dtype=float),
        "adherence_capped": w["adherence_capped"].to_numpy(dtype=float),
        "reps_done": np.where(known, w["reps_done"].to_numpy(dtype=float, na_value=0.0), 0.0),
        "reps_prescribed": np.where(known, w["reps_prescribed"].to_numpy(dtype=float), 0.0),
        "dose_known": known,
        "any_prescription": source == SOURCE_PRESCRIPTION,
        "any_default": source == SOURCE_DEFAULT,
    }).astype({"patient_id": w["patient_id"].dtype})
    groups = work.groupby("patient_id", sort=True)
    sums = groups[["weeks", "sessions_done", "sessions_prescribed", "reps_done",
                   "reps_prescribed", "dose_known", "any_prescription", "any_default"]].sum()
    adherence = _ratio(sums["sessions_done"].to_numpy(), sums["sessions_prescribed"].to_numpy())
    dose = _ratio(np.where(sums["dose_known"] > 0, sums["reps_done"], np.nan),
                  sums["reps_prescribed"].to_numpy())
    both = (sums["any_prescription"] > 0) & (sums["any_default"] > 0)
    return pd.DataFrame({
        "patient_id": sums.index.to_numpy(),
        "weeks": sums["weeks"].to_numpy(dtype=np.int64),
        "sessions_done": sums["sessions_done"].to_numpy(dtype=np.int64),
        "sessions_prescribed": sums["sessions_prescribed"].to_numpy(),
        "adherence": adherence,
        "adherence_capped": np.minimum(adherence, 1.0),
        "mean_weekly_adherence": groups["adherence_capped"].mean().to_numpy(),
        "dose_adherence": dose,
        "dose_adherence_capped": np.minimum(dose, 1.0),
        "prescription_source": pd.array(
            np.where(both, SOURCE_MIXED,
                     np.where(sums["any_prescription"] > 0, SOURCE_PRESCRIPTION, SOURCE_DEFAULT)),
            dtype="str"),
    }).astype({"patient_id": w["patient_id"].dtype})


# ------------------------------------------------------------ shared helpers
# (also used by outcomes.measures.progression)


@dataclass(frozen=True)
class _Cohort:
    """Patients sorted by code, with calendar days as integers (days since 1970-01-01)."""

    patients: pd.DataFrame  # sorted by patient_id, fresh RangeIndex
    ids: pd.Index
    enrolled: np.ndarray  # day number of enrolled_on
    last_day: np.ndarray  # last program day of follow-up (-1: none up to as_of)


def _day_numbers(values: pd.Series, frame: str, column: str) -> np.ndarray:
    """Calendar date of each value as int64 days since 1970-01-01; missing values are NaN (float)."""
    s = values
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_localize(None)  # the local calendar date
    elif not pd.api.types.is_datetime64_dtype(s.dtype):
        try:
            s = pd.to_datetime(s)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{frame}.{column} must hold dates; could not read it ({exc})") from None
    days = s.to_numpy(dtype="datetime64[us]").astype("datetime64[D]")
    out = days.astype(np.int64).astype(float)
    out[np.isnat(days)] = np.nan
    return out


def _numbers(values: pd.Series, frame: str, column: str) -> np.ndarray:
    try:
        return pd.to_numeric(values).to_numpy(dtype=float, na_value=np.nan)
    except (ValueError, TypeError):
        raise ValueError(f"{frame}.{column} must hold numbers") from None


def _resolve_as_of(as_of: Any, sessions: pd.DataFrame | None, patients: pd.DataFrame,
                   prescriptions: pd.DataFrame | None = None) -> float:
    """Day number of ``as_of``, or of the latest date anywhere in the data (NaN: no dates)."""
    if as_of is not None:
        stamp = pd.NaT
        if isinstance(as_of, (str, dt.date, np.datetime64)):
            try:
                stamp = pd.Timestamp(as_of)
            except ValueError:
                pass
        if stamp is pd.NaT:
            raise ValueError(f"as_of must be a date such as '2026-03-01', got {as_of!r}")
        if stamp.tz is not None:
            stamp = stamp.tz_localize(None)  # the local calendar date
        return float(stamp.to_datetime64().astype("datetime64[D]").astype(np.int64))
    candidates = [(patients, "patients", "enrolled_on"), (patients, "patients", "discharged_on"),
                  (sessions, "sessions", "performed_at"),
                  (prescriptions, "prescriptions", "valid_from")]
    latest = [np.nanmax(d) for frame, name, col in candidates
              if frame is not None and col in frame.columns and len(frame)
              for d in [_day_numbers(frame[col], name, col)] if not np.isnan(d).all()]
    return max(latest) if latest else np.nan


def _cohort(patients: pd.DataFrame, as_of_day: float) -> _Cohort:
    """Sort patients by code and work out each one's follow-up (the time axis of the trajectory model)."""
    ids = patients["patient_id"]
    if ids.isna().any():
        raise ValueError(f"patients.patient_id is missing in {int(ids.isna().sum())} row(s)")
    dupes = ids[ids.duplicated()]
    if len(dupes):
        raise ValueError(f"patients.patient_id must be unique; repeated: "
                         f"{', '.join(map(str, dupes.unique()[:5]))}")
    p = patients.iloc[np.argsort(ids.to_numpy(), kind="stable")].reset_index(drop=True)
    enrolled = _day_numbers(p["enrolled_on"], "patients", "enrolled_on")
    if np.isnan(enrolled).any():
        bad = p["patient_id"][np.isnan(enrolled)]
        raise ValueError(f"patients.enrolled_on is missing for {len(bad)} patient(s), "
                         f"e.g. {bad.iloc[0]}; every follow-up starts at enrolment")
    end = np.full(len(p), as_of_day)
    if "discharged_on" in p.columns:
        discharged = _day_numbers(p["discharged_on"], "patients", "discharged_on")
        end = np.fmin(np.where(np.isnan(discharged), end, discharged), end)
    last = np.where(np.isnan(end), -1, end - enrolled)
    return _Cohort(patients=p, ids=pd.Index(p["patient_id"]), enrolled=enrolled.astype(np.int64),
                   last_day=np.maximum(last, -1).astype(np.int64))


def _positions(values: pd.Series, ids: pd.Index) -> np.ndarray:
    """Position of each value in the unique ``ids`` (-1: absent), hashing each distinct value once
    (the category codes of a categorical)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
    else:
        codes, uniques = pd.factorize(values)
    where = np.r_[ids.get_indexer(uniques), -1]
    return where[np.where(codes >= 0, codes, len(where) - 1)]


def _locate_sessions(sessions: pd.DataFrame,
                     cohort: _Cohort) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each session's patient (row of ``cohort``), program day, and whether it is in follow-up."""
    pidx = _positions(sessions["patient_id"], cohort.ids)
    days = _day_numbers(sessions["performed_at"], "sessions", "performed_at")
    known = (pidx >= 0) & ~np.isnan(days)
    day = np.where(known, np.nan_to_num(days) - cohort.enrolled[np.maximum(pidx, 0)], -1).astype(np.int64)
    inside = known & (day >= 0) & (day <= cohort.last_day[np.maximum(pidx, 0)])
    return pidx, day, inside


def _prescription_dose(prescriptions: pd.DataFrame, cohort: _Cohort) -> dict[str, np.ndarray]:
    """Usable prescriptions as arrays sorted by patient, valid_from and dose."""
    p = prescriptions
    n = len(p)
    pidx = _positions(p["patient_id"], cohort.ids)
    day = _day_numbers(p["valid_from"], "prescriptions", "valid_from")
    per_week = _numbers(p["sessions_per_week"], "prescriptions", "sessions_per_week")
    sets = _numbers(p["sets"], "prescriptions", "sets") if "sets" in p.columns else np.full(n, np.nan)
    reps = _numbers(p["reps"], "prescriptions", "reps") if "reps" in p.columns else np.full(n, np.nan)
    keep = (pidx >= 0) & ~np.isnan(day) & ~np.isnan(per_week)
    pidx, day, per_week, sets, reps = (a[keep] for a in (pidx, day, per_week, sets, reps))
    day = day.astype(np.int64)
    # ties on valid_from: the larger dose sorts last and so is the one used
    order = np.lexsort((np.nan_to_num(reps, nan=-1), np.nan_to_num(sets, nan=-1), per_week, day, pidx))
    return {"pidx": pidx[order], "day": day[order], "sessions_per_week": per_week[order],
            "sets": sets[order], "reps": reps[order]}


def _latest_on_or_before(pidx: np.ndarray, day: np.ndarray, ref_pidx: np.ndarray,
                         ref_day: np.ndarray) -> np.ndarray:
    """Position in the sorted reference rows of the patient's latest one on or before ``day``; -1 if none."""
    key = (pidx.astype(np.int64) << 32) + (day.astype(np.int64) + (1 << 31))
    ref = (ref_pidx.astype(np.int64) << 32) + (ref_day.astype(np.int64) + (1 << 31))
    pos = np.searchsorted(ref, key, side="right") - 1
    ok = pos >= 0
    ok[ok] = ref_pidx[pos[ok]] == pidx[ok]
    return np.where(ok, pos, -1)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0 or unknown."""
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _dates(day_numbers: np.ndarray) -> np.ndarray:
    return np.asarray(day_numbers, dtype=np.int64).astype("datetime64[D]").astype("datetime64[us]")
