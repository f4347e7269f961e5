"""Synthetic glide-program cohorts with known true effects.

`simulate` draws a complete dataset in the data contract (``patients``,
``prescriptions``, ``sessions``, ``assessments``; see ``data/schemas``) from
a documented generative model, and returns it with a `SimulationTruth` that
holds every number the model used. `write_dataset` writes it to a folder.
The data are used for the demo, for tests that must recover a known truth,
and for power calculations. They are entirely synthetic.

Generative model
----------------
Numbers in brackets are the defaults; each is a field of `SimulationTruth`.
Time ``t`` is in weeks since enrolment (day / 7); program week ``w`` covers
days ``7w .. 7w + 6``.

*Patients.* Enrolment days are uniform over ``enrolment_days`` [548] from
``start``; codes ``P001``... (zero-padded to the width of ``n_patients``)
are given in enrolment order. ``n_sites`` [6] sites ``S01``... with uneven
caseloads (Dirichlet(4) weights) and 2-4 clinicians each (``C01``...,
clinician nested in site, chosen uniformly within the site). Age ~
round(N(50, 14)) clipped to 18-85; sex female/male/other/unknown with
probabilities .52/.45/.01/.02; affected side left/right/bilateral
.46/.46/.08; symptom duration ~ lognormal(log 12, 1) weeks clipped to
1-200; diagnosis 'lumbar radiculopathy' (.8) or 'sciatica'. The schedule is
randomised 1:1 (a random permutation of a balanced list).

*Adherence.* Propensity ``a_i`` ~ Beta with mean ``adherence_mean`` [0.7]
and concentration ``adherence_concentration`` [6]; weekly ``a_iw =
clip(a_i + N(0, adherence_weekly_sd [0.15]), 0, 1)`` for weeks 0-11. Each
day has a morning and an evening slot (14 sessions per week prescribed);
each slot is done with probability ``a_iw``, so sessions done in week ``w``
~ Binomial(14, a_iw). The *realised* weekly adherence ``r_iw`` = sessions
done / 14 (counted over the whole program, before any dropout) is what
enters the pain model, so the adherence effects are defined on the scale
the toolkit measures. ``abar_i`` is the mean of ``r_iw`` over weeks 0-11.

*Progression* (levels 1 to ``max_level`` [6]). ``weekly``: level =
min(1 + floor(day / 7), 6). ``guided``: a patient advances one level at the
start of the day after ending a day with a run of at least
``guided_sessions_to_advance`` [5] consecutive *qualifying* sessions (no
flare and pain_after <= ``guided_max_pain_after`` [4]); any non-qualifying
session resets the run to 0, and so does advancing. Each level change is
a prescription row (valid_from = first day at the level; 2 sets of
10 + 2 * (level - 1) reps, 14 sessions per week). Levels 1-3 are sliders,
4-6 tensioners; positions seated, supine, supine, leg_raised, standing,
standing.

*Leg pain.* The true mean on day t (weeks) is::

    mu_i(t) = intercept + u0_i + site_s + clinician_c
              + (week_slope + week_slope_diff_guided * [guided] + u1_i) * t
              + adherence_between * (abar_i - adherence_centre)
              + adherence_within * (r_i,w-1 - abar_i)      # 0 in week 0
              + level * level_i(t)

with (u0, u1) bivariate normal (``sd_intercept`` [1.0], ``sd_slope``
[0.08], ``corr_intercept_slope`` [-0.2]), site ~ N(0, ``sd_site`` [0.3]),
clinician ~ N(0, ``sd_clinician`` [0.2]); the realised site and clinician
effects are stored in the truth. Defaults: intercept 6.5 (the mean at week
0 for adherence 0.7 and level 0, so 6.4 at level 1), week_slope -0.20
points/week for ``weekly`` (the reference), week_slope_diff_guided -0.10,
adherence_between -2.0 and adherence_within -0.8 points per 1.0 of
adherence, level -0.10 points per level. An assessment on day d scores
``leg_pain = round(clip(mu_i(d / 7) + N(0, sd_residual [1.0]), 0, 10))``.
Rounding and clipping to the integer NRS make the observed score a slightly
attenuated version of this linear truth (most visibly near 0 and 10).
In the guided schedule level depends on past pain, so it is not exogenous.

*Sessions.* pain_before = round(clip(mu_i + N(0, session_pain_sd [1.0]),
0, 10)). A flare (pain_after - pain_before of 2, or 3 with probability .3)
happens with probability ``flare_prob`` [0.03], or
``flare_prob_after_level_change`` [0.10] in the first
``flare_after_level_change_sessions`` [3] sessions after a level change;
its response is 'worse' (also when pain_before >= 9 caps the rise). Other
sessions change pain by -2/-1/0/+1 with probabilities .10/.35/.45/.10
(response 'better' if pain fell, else 'same'), so a flare is exactly
``response == 'worse'``. stopped_early with probability
``stopped_early_prob_flare`` [0.4] on flares, ``stopped_early_prob``
[0.01] otherwise (then fewer reps than prescribed); 5 % of other sessions
miss a few reps. Times are 06:30-10:59 (morning) or 17:00-21:59 (evening).
A short note is written with probability ``note_prob`` [0.02], or
``note_prob_flare`` [0.25] on flares.

*Assessments* at weeks 0, 2, 4, 6, 8, 12: week 0 on enrolment day or up to
3 days later, the others within +/- 3 days of target. With ``y`` the leg
pain before rounding: back_pain = 0.6 y + 1 + N(0, 1.3); numbness =
0.4 y + c_i + N(0, 1.2) with c_i ~ N(1, 1); a latent ODI % = 5 + 5.5 y +
b_i + N(0, 6), b_i ~ N(0, 8), gives the ten 0-5 items (latent / 20 + item
offset from -0.3 to 0.3 + N(0, 0.7)) and rmdq (0.24 x latent + N(0, 2));
slr_deg = 85 - 5 y + N(0, 8) clipped to 30-90; pgic = 4 + 0.8 x (y - y at
week 0) + N(0, 0.8) at follow-ups only. All are rounded and clipped to
their ranges. ODI items are missing with probability 0.02, the other
secondary outcomes with ``secondary_missing_prob`` [0.02]. Each red flag is
true with probability ``red_flag_prob`` [0.001].

*Dropout* is missing at random: after each follow-up before week 12, a
patient drops out with probability ``logistic(dropout_alpha [-3.5] +
dropout_beta [0.25] * observed leg_pain)``; the dropout day is uniform
between the day after that visit and the day before the next visit's
window; discharged_on is that day (reason 'dropped_out'). Completers are
discharged on their week-12 visit ('completed'). Sessions happen only on
program days 0-83 before discharged_on. Set ``dropout_alpha`` to, e.g.,
-50 to switch dropout off; all other draws are made before the dropout
draws, so a dataset with dropout is the dataset without it, cut short.

*Study "today"* is ``start + today_offset_days`` [608]. Nothing on or after
it is exported; patients not discharged by then are still active (empty
discharged_on and discharge_reason). For dropouts and still-active
patients the exported sessions cover only part of the weeks that define
``abar_i``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .io.writers import atomic_open, atomic_write_text

__all__ = ["SimulationTruth", "SimulatedDataset", "simulate", "write_dataset"]

KNOWN_SCHEDULES = ("weekly", "guided")
_TABLES = ("patients", "prescriptions", "sessions", "assessments")
_PROGRAM_DAYS = 84  # 12 weeks of sessions: days 0..83
_SLOTS = 2 * _PROGRAM_DAYS  # morning and evening slot per day
_VISIT_WEEKS = (0, 2, 4, 6, 8, 12)
_WINDOW = 3  # days either side of a visit target
# (exercise, glide_type, position) by level 1..6
_LEVELS = (
    ("seated sciatic nerve slider", "slider", "seated"),
    ("supine sciatic nerve slider", "slider", "supine"),
    ("supine sciatic nerve slider with hip flexion", "slider", "supine"),
    ("leg-raised sciatic nerve tensioner", "tensioner", "leg_raised"),
    ("standing sciatic nerve tensioner", "tensioner", "standing"),
    ("standing sciatic nerve tensioner with trunk flexion", "tensioner", "standing"),
)
_SEX = (("female", "male", "other", "unknown"), (0.52, 0.45, 0.01, 0.02))
_SIDE = (("left", "right", "bilateral"), (0.46, 0.46, 0.08))
_DIAGNOSIS = (("lumbar radiculopathy", "sciatica"), (0.8, 0.2))
_DELTA_NO_FLARE = ((-2, -1, 0, 1), (0.10, 0.35, 0.45, 0.10))
_NOTES = (
    "tight behind knee", "felt easier", "did it after a walk", "felt looser",
    "calf tight, eased after", "tingling in foot afterwards",
    "couldn't fully straighten knee", "short on time, rushed it",
)
_FLARE_NOTES = (
    "pain down the leg after", "stopped, too sore", "sharp pain behind knee",
    "worse after second set", "pins and needles in toes",
)
_RESPONSES = ("better", "same", "worse")
_REASONS = ("completed", "dropped_out")
_DATE_COLUMNS = ("enrolled_on", "discharged_on", "valid_from", "assessed_on")


@dataclass(frozen=True)
class SimulationTruth:
    """Every parameter of one `simulate` run (see the module docstring).

    Pain quantities are in NRS points (0-10), time in weeks unless a name
    says days, adherence as a proportion (1.0 = every prescribed session).

    Attributes
    ----------
    n_patients, seed : int
        Cohort size and the seed of ``np.random.default_rng``.
    schedules : tuple of str
        Progression schedules randomised 1:1 ('weekly' and/or 'guided').
    reference_schedule : str
        Schedule whose slope is ``week_slope`` ('weekly').
    start : str
        ISO date of the first possible enrolment.
    enrolment_days : int
        Enrolment is uniform over this many days from ``start``.
    today_offset_days : int
        Study "today" (data extraction) is ``start`` + this many days.
    study_today : str
        ISO date of study "today"; nothing on or after it is exported.
    n_sites : int
        Number of sites ``S01``...
    site_effects, clinician_effects : dict of str to float
        Realised site / clinician random effects on leg pain (points).
    clinician_sites : dict of str to str
        Site of each clinician (clinicians are nested in sites).
    visit_weeks : tuple of int
        Planned assessment weeks; ``visit_window_days`` either side.
    visit_window_days : int
        Visit window half-width (week 0: on enrolment day or up to this many
        days after).
    program_weeks : int
        Weeks of sessions (12).
    sessions_per_week, sets : int
        Prescribed dose: sessions per week (twice daily) and sets/session.
    reps_level1, reps_per_level : int
        Prescribed reps per set: reps_level1 + reps_per_level * (level - 1).
    max_level : int
        Highest progression level.
    weekly_days_per_level : int
        'weekly': days at each level.
    guided_sessions_to_advance, guided_max_pain_after : int
        'guided': run of qualifying sessions needed to advance, and the
        highest pain_after (points) for a session to qualify.
    adherence_mean, adherence_concentration : float
        Beta distribution of the adherence propensity (mean, a + b).
    adherence_weekly_sd : float
        SD of the weekly deviation from the propensity (proportion).
    intercept : float
        Mean leg pain at week 0, adherence ``adherence_centre``, level 0.
    week_slope : float
        Leg pain change per week in the reference schedule (points/week).
    week_slope_diff_guided : float
        Extra change per week in 'guided' (points/week).
    adherence_between : float
        Points per 1.0 of the patient's mean realised adherence.
    adherence_within : float
        Points per 1.0 of last week's deviation from the patient's mean.
    adherence_centre : float
        Centre of the between-patient adherence term (proportion).
    level : float
        Points per progression level.
    sd_intercept, sd_slope, corr_intercept_slope : float
        Patient random intercept (points) and slope (points/week) and their
        correlation.
    sd_residual, sd_site, sd_clinician : float
        Residual, site and clinician SDs (points).
    session_pain_sd : float
        SD of in-session pain_before around the true mean (points).
    flare_prob, flare_prob_after_level_change : float
        Per-session flare probability, and in the first
        ``flare_after_level_change_sessions`` sessions after a level change.
    flare_after_level_change_sessions : int
        Number of sessions with the raised flare probability.
    stopped_early_prob, stopped_early_prob_flare : float
        Probability of stopping early in an ordinary / a flare session.
    note_prob, note_prob_flare : float
        Probability of a free-text note in an ordinary / a flare session.
    dropout_alpha, dropout_beta : float
        Dropout after a follow-up visit: logistic(alpha + beta * leg_pain).
    back_pain_per_leg_pain, back_pain_offset, back_pain_sd : float
        back_pain = per_leg_pain * y + offset + N(0, sd) (points).
    numbness_per_leg_pain, numbness_mean, numbness_sd_patient, numbness_sd : float
        numbness = per_leg_pain * y + N(mean, sd_patient) + N(0, sd).
    odi_offset, odi_per_leg_pain, odi_sd_patient, odi_sd, odi_item_sd : float
        Latent ODI (percent) = offset + per_leg_pain * y + N(0, sd_patient)
        + N(0, sd); each item = latent / 20 + offset + N(0, item_sd).
    rmdq_per_odi, rmdq_sd : float
        rmdq = per_odi * latent ODI % + N(0, sd).
    slr_intercept, slr_per_leg_pain, slr_sd : float
        slr_deg = intercept + per_leg_pain * y + N(0, sd) (degrees).
    pgic_per_change, pgic_sd : float
        pgic = 4 + per_change * (y - y at week 0) + N(0, sd).
    odi_item_missing_prob, secondary_missing_prob, red_flag_prob : float
        Missingness of ODI items and other secondary outcomes; probability
        of each red flag per assessment.
    """

    n_patients: int = 200
    seed: int = 0
    schedules: tuple[str, ...] = KNOWN_SCHEDULES
    reference_schedule: str = "weekly"
    start: str = "2025-01-06"
    enrolment_days: int = 548
    today_offset_days: int = 608
    study_today: str = "2026-09-06"
    n_sites: int = 6
    site_effects: dict[str, float] = field(default_factory=dict, hash=False)
    clinician_effects: dict[str, float] = field(default_factory=dict, hash=False)
    clinician_sites: dict[str, str] = field(default_factory=dict, hash=False)
    visit_weeks: tuple[int, ...] = _VISIT_WEEKS
    visit_window_days: int = _WINDOW
    program_weeks: int = _PROGRAM_DAYS // 7
    sessions_per_week: int = 14
    sets: int = 2
    reps_level1: int = 10
    reps_per_level: int = 2
    max_level: int = len(_LEVELS)
    weekly_days_per_level: int = 7
    guided_sessions_to_advance: int = 5
    guided_max_pain_after: int = 4
    adherence_mean: float = 0.7
    adherence_concentration: float = 6.0
    adherence_weekly_sd: float = 0.15
    intercept: float = 6.5
    week_slope: float = -0.20
    week_slope_diff_guided: float = -0.10
    adherence_between: float = -2.0
    adherence_within: float = -0.8
    adherence_centre: float = 0.7
    level: float = -0.10
    sd_intercept: float = 1.0
    sd_slope: float = 0.08
    corr_intercept_slope: float = -0.2
    sd_residual: float = 1.0
    sd_site: float = 0.3
    sd_clinician: float = 0.2
    session_pain_sd: float = 1.0
    flare_prob: float = 0.03
    flare_prob_after_level_change: float = 0.10
    flare_after_level_change_sessions: int = 3
    stopped_early_prob: float = 0.01
    stopped_early_prob_flare: float = 0.4
    note_prob: float = 0.02
    note_prob_flare: float = 0.25
    dropout_alpha: float = -3.5
    dropout_beta: float = 0.25
    back_pain_per_leg_pain: float = 0.6
    back_pain_offset: float = 1.0
    back_pain_sd: float = 1.3
    numbness_per_leg_pain: float = 0.4
    numbness_mean: float = 1.0
    numbness_sd_patient: float = 1.0
    numbness_sd: float = 1.2
    odi_offset: float = 5.0
    odi_per_leg_pain: float = 5.5
    odi_sd_patient: float = 8.0
    odi_sd: float = 6.0
    odi_item_sd: float = 0.7
    rmdq_per_odi: float = 0.24
    rmdq_sd: float = 2.0
    slr_intercept: float = 85.0
    slr_per_leg_pain: float = -5.0
    slr_sd: float = 8.0
    pgic_per_change: float = 0.8
    pgic_sd: float = 0.8
    odi_item_missing_prob: float = 0.02
    secondary_missing_prob: float = 0.02
    red_flag_prob: float = 0.001

    def to_dict(self) -> dict[str, Any]:
        """Return the truth as JSON-ready built-ins (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimulationTruth:
        """Rebuild a truth from `to_dict` output (e.g. a loaded truth.json)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown SimulationTruth fields: {unknown}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v)
                      for k, v in data.items()})


# Model parameters `simulate(params=...)` may override (numbers only).
_TUNABLE = tuple(
    f.name for f in dataclasses.fields(SimulationTruth)
    if f.type in ("float", "int") and f.name not in {
        "n_patients", "seed", "n_sites", "visit_window_days", "program_weeks",
        "sessions_per_week", "max_level"}
)


@dataclass(frozen=True, eq=False)
class SimulatedDataset:
    """A simulated dataset in the data contract, with its truth.

    Attributes
    ----------
    patients, prescriptions, sessions, assessments : pandas.DataFrame
        One frame per export, columns in schema order, typed: datetime64
        for dates, ``Int64`` for integers, float for numbers, bool for
        booleans, ``str`` for text (missing values as NA/NaT).
    truth : SimulationTruth
        Every parameter used to generate the data.
    """

    patients: pd.DataFrame
    prescriptions: pd.DataFrame
    sessions: pd.DataFrame
    assessments: pd.DataFrame
    truth: SimulationTruth

    def frames(self) -> dict[str, pd.DataFrame]:
        """Return the four exports by name, in contract order."""
        return {name: getattr(self, name) for name in _TABLES}

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v):,}" for k, v in self.frames().items())
        return f"SimulatedDataset({sizes}, seed={self.truth.seed})"


def simulate(
    n_patients: int = 200,
    *,
    seed: int = 0,
    schedules: Sequence[str] = KNOWN_SCHEDULES,
    start: str | dt.date = "2025-01-06",
    params: Mapping[str, float] | None = None,
) -> SimulatedDataset:
    """Simulate a glide-program cohort with known true effects.

    Parameters
    ----------
    n_patients : int, default 200
        Number of patients (at least 1).
    seed : int, default 0
        Seed for ``numpy.random.default_rng``; the same arguments give
        identical frames (and byte-identical files from `write_dataset`).
    schedules : sequence of str, default ('weekly', 'guided')
        Progression schedules to randomise between, 1:1; any non-empty
        subset of 'weekly' (one level per week) and 'guided' (symptom
        guided).
    start : str or datetime.date, default '2025-01-06'
        First possible enrolment date (ISO 'YYYY-MM-DD').
    params : mapping of str to number, optional
        Overrides of `SimulationTruth` model parameters by name, e.g.
        ``{"week_slope_diff_guided": 0.0}`` or ``{"dropout_alpha": -50}``
        (no dropout).

    Returns
    -------
    SimulatedDataset
        ``patients``, ``prescriptions``, ``sessions``, ``assessments`` in the
        data contract, and ``truth``.

    Notes
    -----
    The generative model is described in the module docstring. Work is
    vectorised over patients; only the 168 session slots are looped over.
    """
    truth = _make_truth(n_patients, seed, schedules, start, params)
    rng = np.random.default_rng(seed)
    n = truth.n_patients
    cohort = _draw_patients(truth, rng)
    truth = dataclasses.replace(truth, **cohort.pop("realised"))
    done = _draw_slots(truth, rng, n)
    # realised weekly adherence r_iw, its patient mean, lagged deviation
    r = done.reshape(12, 14, n).sum(axis=1) / truth.sessions_per_week
    abar = r.mean(axis=0)
    lag_dev = np.vstack([np.zeros((1, n)), r - abar])  # row w: r_(w-1) - abar
    within = truth.adherence_within * lag_dev
    z = rng.standard_normal((n, 2))
    rho = truth.corr_intercept_slope
    u0 = truth.sd_intercept * z[:, 0]
    u1 = truth.sd_slope * (rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1])
    guided = cohort["schedule"] == KNOWN_SCHEDULES.index("guided")
    base = (truth.intercept + u0 + cohort["site_effect"] + cohort["clinician_effect"]
            + truth.adherence_between * (abar - truth.adherence_centre))
    slope = truth.week_slope + truth.week_slope_diff_guided * guided + u1
    slots = _run_sessions(truth, rng, done, base, slope, within, guided)
    details = _draw_session_details(truth, rng, done, slots)
    visits = _draw_assessments(truth, rng, base, slope, within, slots["level_day"])
    end = _draw_dropout(truth, rng, cohort, visits)
    start_day = np.datetime64(truth.start, "D")
    enrolled = start_day + cohort["enrol_day"]
    ids = _codes("P", np.arange(1, n + 1), len(str(n)))
    return SimulatedDataset(
        patients=_patients_frame(truth, cohort, enrolled, ids, end),
        prescriptions=_prescriptions_frame(truth, slots["level_day"], enrolled, ids, end),
        sessions=_sessions_frame(truth, done, slots, details, enrolled, ids, end),
        assessments=_assessments_frame(visits, enrolled, ids),
        truth=truth,
    )


def write_dataset(
    dataset: SimulatedDataset, out_dir: str | os.PathLike[str], *, format: str = "csv"
) -> dict[str, Path]:
    """Write a simulated dataset in the contract layout, plus ``truth.json``.

    Parameters
    ----------
    dataset : SimulatedDataset
        Output of `simulate`.
    out_dir : path-like
        Folder to write into; created (with parents) if needed.
    format : {'csv', 'parquet'}, default 'csv'
        CSV: UTF-8, ``,``-separated, ``\\n`` line ends, dates 'YYYY-MM-DD',
        performed_at 'YYYY-MM-DDTHH:MM', booleans 'true'/'false', missing
        values empty, fields quoted only when they hold ``,``, ``"`` or a line
        break. Parquet: dates as DATE, performed_at as a timestamp.

    Returns
    -------
    dict of str to pathlib.Path
        Path of each file written, keyed 'patients', 'prescriptions',
        'sessions', 'assessments' and 'truth'.

    Notes
    -----
    Each file is written to a temporary file in ``out_dir`` and moved into
    place with ``os.replace``, so a reader never sees a half-written file.
    """
    if format not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', got {format!r}")
    if not isinstance(dataset, SimulatedDataset):
        raise TypeError(f"dataset must be a SimulatedDataset, got {type(dataset).__name__}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in dataset.frames().items():
        table = _to_arrow(frame)
        path = out / f"{name}.{format}"
        with atomic_open(path) as fh:
            if format == "parquet":
                pq.write_table(table, fh)
            else:
                _write_csv(table, fh)
        paths[name] = path
    paths["truth"] = out / "truth.json"
    atomic_write_text(paths["truth"], json.dumps(dataset.truth.to_dict(), indent=2) + "\n")
    return paths


# ----------------------------------------------------------------- arguments


def _make_truth(n_patients: Any, seed: Any, schedules: Any, start: Any,
                params: Mapping[str, float] | None) -> SimulationTruth:
    if not isinstance(n_patients, numbers.Integral) or isinstance(n_patients, bool) \
            or n_patients < 1:
        raise ValueError(f"n_patients must be a positive integer, got {n_patients!r}")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(schedules, str) or not isinstance(schedules, Sequence):
        raise TypeError(f"schedules must be a sequence of names, got {schedules!r}")
    chosen = tuple(schedules)
    if not chosen or len(set(chosen)) != len(chosen) or not set(chosen) <= set(KNOWN_SCHEDULES):
        raise ValueError(f"schedules must be distinct names from {KNOWN_SCHEDULES}, "
                         f"got {chosen!r}")
    try:
        day0 = dt.date.fromisoformat(start if isinstance(start, str) else start.isoformat())
    except (AttributeError, ValueError):
        raise ValueError(f"start must be an ISO date 'YYYY-MM-DD', got {start!r}") from None
    overrides: dict[str, Any] = {}
    for name, value in (params or {}).items():
        if name not in _TUNABLE:
            raise ValueError(f"params: {name!r} is not a tunable parameter; "
                             f"choose from {', '.join(_TUNABLE)}")
        is_int = SimulationTruth.__dataclass_fields__[name].type == "int"
        if (not isinstance(value, numbers.Real) or isinstance(value, bool)
                or not np.isfinite(value) or (is_int and value != int(value))):
            kind = "a whole number" if is_int else "a finite number"
            raise ValueError(f"params: {name} must be {kind}, got {value!r}")
        low, high = _limits(name)
        if not low <= value <= high:
            raise ValueError(f"params: {name} must be between {low} and {high}, got {value!r}")
        overrides[name] = int(value) if is_int else float(value)
    truth = SimulationTruth(n_patients=int(n_patients), seed=int(seed), schedules=chosen,
                            start=day0.isoformat(), **overrides)
    if truth.today_offset_days < truth.enrolment_days:
        raise ValueError("params: today_offset_days must be at least enrolment_days, got "
                         f"{truth.today_offset_days} < {truth.enrolment_days}")
    today = day0 + dt.timedelta(days=truth.today_offset_days)
    return dataclasses.replace(truth, study_today=today.isoformat())


def _limits(name: str) -> tuple[float, float]:
    """Allowed range of a tunable parameter."""
    parts = name.split("_")
    if name.startswith("flare_prob"):
        return 0.0, 0.99  # a sure flare leaves no room for ordinary sessions
    if "prob" in parts or name == "adherence_centre":
        return 0.0, 1.0
    if name == "adherence_mean":
        return 0.001, 0.999
    if name == "corr_intercept_slope":
        return -1.0, 1.0
    if name == "guided_max_pain_after":
        return 0.0, 10.0
    if name in ("weekly_days_per_level", "guided_sessions_to_advance", "sets",
                "reps_level1", "enrolment_days", "adherence_concentration"):
        return 1.0, np.inf
    if "sd" in parts or parts[-1] in ("days", "sessions") or name == "reps_per_level":
        return 0.0, np.inf
    return -np.inf, np.inf


# ------------------------------------------------------------------ the model


def _draw_patients(truth: SimulationTruth, rng: np.random.Generator) -> dict[str, Any]:
    n, k = truth.n_patients, truth.n_sites
    site_w = rng.dirichlet(np.full(k, 4.0))
    per_site = rng.integers(2, 5, k)
    first = np.concatenate([[0], np.cumsum(per_site)[:-1]])
    site_eff = rng.normal(0.0, truth.sd_site, k)
    clin_eff = rng.normal(0.0, truth.sd_clinician, per_site.sum())
    site = rng.choice(k, n, p=site_w)
    clin = first[site] + (rng.random(n) * per_site[site]).astype(np.int64)
    site_ids = [f"S{i + 1:02d}" for i in range(k)]
    clin_ids = [f"C{i + 1:02d}" for i in range(per_site.sum())]
    clin_site = np.repeat(np.arange(k), per_site)
    realised = {
        "site_effects": dict(zip(site_ids, site_eff.tolist())),
        "clinician_effects": dict(zip(clin_ids, clin_eff.tolist())),
        "clinician_sites": {c: site_ids[s] for c, s in zip(clin_ids, clin_site)},
    }
    order = [KNOWN_SCHEDULES.index(s) for s in truth.schedules]
    return {
        "realised": realised,
        "enrol_day": np.sort(rng.integers(0, truth.enrolment_days, n)),
        "site": site, "clinician": clin, "site_ids": site_ids, "clinician_ids": clin_ids,
        "site_effect": site_eff[site], "clinician_effect": clin_eff[clin],
        "schedule": np.asarray(order)[rng.permutation(np.arange(n) % len(order))],
        "age": np.clip(np.rint(rng.normal(50, 14, n)), 18, 85).astype(np.int64),
        "sex": rng.choice(len(_SEX[0]), n, p=_SEX[1]),
        "side": rng.choice(len(_SIDE[0]), n, p=_SIDE[1]),
        "duration": np.clip(np.round(rng.lognormal(np.log(12), 1.0, n), 1), 1, 200),
        "diagnosis": rng.choice(len(_DIAGNOSIS[0]), n, p=_DIAGNOSIS[1]),
    }


def _draw_slots(truth: SimulationTruth, rng: np.random.Generator, n: int) -> np.ndarray:
    """Return done[slot, patient] (168 x n): slot j is day j // 2, j % 2 = evening."""
    m, c = truth.adherence_mean, truth.adherence_concentration
    a = rng.beta(m * c, (1 - m) * c, n)
    weekly = np.clip(a + rng.normal(0.0, truth.adherence_weekly_sd, (12, n)), 0, 1)
    return (rng.random((12, 14, n)) < weekly[:, None, :]).reshape(_SLOTS, n)


def _run_sessions(truth: SimulationTruth, rng: np.random.Generator, done: np.ndarray,
                  base: np.ndarray, slope: np.ndarray, within: np.ndarray,
                  guided: np.ndarray) -> dict[str, np.ndarray]:
    """Step through the slots, applying the progression rules to every patient."""
    n = done.shape[1]
    level = np.ones(n, np.int8)
    run = np.zeros(n, np.int32)
    since = np.full(n, 1 << 20, np.int32)  # sessions since the last level change
    level_day = np.empty((_PROGRAM_DAYS, n), np.int8)
    out = {k: np.empty((_SLOTS, n), np.int8) for k in ("level", "before", "after")}
    out["flare"] = np.empty((_SLOTS, n), bool)
    d_values, d_probs = _DELTA_NO_FLARE
    d_cum = np.cumsum(d_probs)[:-1]
    for day in range(_PROGRAM_DAYS):
        new = np.where(guided, level + ((run >= truth.guided_sessions_to_advance)
                                        & (level < truth.max_level)),
                       min(1 + day // truth.weekly_days_per_level, truth.max_level))
        changed = new != level
        level = new.astype(np.int8)
        run[changed] = 0
        since[changed] = 0
        level_day[day] = level
        mu = base + slope * (day / 7) + within[day // 7] + truth.level * level
        for j in (2 * day, 2 * day + 1):
            before = np.clip(np.rint(mu + truth.session_pain_sd * rng.standard_normal(n)), 0, 10)
            u = rng.random(n)
            p = np.where(since < truth.flare_after_level_change_sessions,
                         truth.flare_prob_after_level_change, truth.flare_prob)
            flare = u < p
            calm = np.asarray(d_values)[np.searchsorted(d_cum, (u - p) / (1 - p), "right")]
            after = np.clip(before + np.where(flare, 2 + (u < 0.3 * p), calm), 0, 10)
            ok = ~flare & (after <= truth.guided_max_pain_after)
            m = done[j]
            run = np.where(m, np.where(ok, run + 1, 0), run)
            since += m
            out["level"][j], out["before"][j], out["after"][j] = level, before, after
            out["flare"][j] = flare
    out["level_day"] = level_day
    return out


def _draw_session_details(truth: SimulationTruth, rng: np.random.Generator,
                          done: np.ndarray, slots: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Dose, time and note of every session done (patient-major), before dropout."""
    slot, pat = np.nonzero(done.T)[::-1]
    k = slot.size
    flare = slots["flare"][slot, pat]
    full_reps = truth.reps_level1 + truth.reps_per_level * (slots["level"][slot, pat] - 1)
    u = rng.random(k)
    p_stop = np.where(flare, truth.stopped_early_prob_flare, truth.stopped_early_prob)
    stopped = u < p_stop
    partial = ~stopped & (u < p_stop + 0.05)
    v = rng.random(k)
    total = truth.sets * full_reps
    reps = np.where(stopped, 1 + (v * (total - 1)).astype(np.int64),
                    total - partial * (1 + (v * (full_reps - 1)).astype(np.int64)))
    sets_done = np.where(stopped, reps // full_reps, truth.sets)
    minute = np.where(slot % 2 == 0, 390 + (rng.random(k) * 270).astype(np.int64),
                      1020 + (rng.random(k) * 300).astype(np.int64))
    w = rng.random(k)
    p_note = np.where(flare, truth.note_prob_flare, truth.note_prob)
    has_note = w < p_note
    pick = w / p_note
    note = np.where(~has_note, -1,
                    np.where(flare, len(_NOTES) + (pick * len(_FLARE_NOTES)).astype(np.int64),
                             (pick * len(_NOTES)).astype(np.int64)))
    return {"slot": slot, "patient": pat, "reps": reps, "sets": sets_done,
            "stopped": stopped, "minute": minute, "note": note}


def _draw_assessments(truth: SimulationTruth, rng: np.random.Generator, base: np.ndarray,
                      slope: np.ndarray, within: np.ndarray,
                      level_day: np.ndarray) -> dict[str, np.ndarray]:
    """All six planned visits of every patient, before dropout (n x 6)."""
    n, v = base.size, len(truth.visit_weeks)
    wk = np.asarray(truth.visit_weeks)
    day = 7 * wk + rng.integers(-_WINDOW, _WINDOW + 1, (n, v))
    day[:, 0] = rng.integers(0, _WINDOW + 1, n)
    cols = np.arange(n)[:, None]
    lvl = level_day[np.minimum(day, _PROGRAM_DAYS - 1), cols]
    y = (base[:, None] + slope[:, None] * day / 7 + within[day // 7, cols]
         + truth.level * lvl + truth.sd_residual * rng.standard_normal((n, v)))
    t = truth
    odi_lat = (t.odi_offset + t.odi_per_leg_pain * y + rng.normal(0, t.odi_sd_patient, (n, 1))
               + rng.normal(0, t.odi_sd, (n, v)))
    item_offset = np.linspace(-0.3, 0.3, 10)
    items = odi_lat[..., None] / 20 + item_offset + rng.normal(0, t.odi_item_sd, (n, v, 10))
    pgic = 4 + t.pgic_per_change * (y - y[:, :1]) + rng.normal(0, t.pgic_sd, (n, v))
    out = {
        "day": day,
        "leg_pain": _score(y, 0, 10),
        "back_pain": _score(t.back_pain_per_leg_pain * y + t.back_pain_offset
                            + rng.normal(0, t.back_pain_sd, (n, v)), 0, 10),
        "numbness": _score(t.numbness_per_leg_pain * y
                           + rng.normal(t.numbness_mean, t.numbness_sd_patient, (n, 1))
                           + rng.normal(0, t.numbness_sd, (n, v)), 0, 10),
        **{f"odi_{i + 1}": _score(items[..., i], 0, 5) for i in range(10)},
        "rmdq": _score(t.rmdq_per_odi * odi_lat + rng.normal(0, t.rmdq_sd, (n, v)), 0, 24),
        "slr_deg": _score(t.slr_intercept + t.slr_per_leg_pain * y
                          + rng.normal(0, t.slr_sd, (n, v)), 30, 90).astype(float),
        "pgic": _score(pgic, 1, 7),
    }
    miss = rng.random((n, v, 15))
    for i in range(10):
        out[f"odi_{i + 1}"] = np.ma.masked_array(out[f"odi_{i + 1}"],
                                                 miss[..., i] < t.odi_item_missing_prob)
    for i, name in enumerate(("back_pain", "numbness", "rmdq", "slr_deg", "pgic")):
        gone = miss[..., 10 + i] < t.secondary_missing_prob
        if name == "pgic":
            gone[:, 0] = True  # no impression of change at baseline
        out[name] = np.ma.masked_array(out[name], gone)
    flags = rng.random((n, v, 3)) < t.red_flag_prob
    for i, name in enumerate(("rf_saddle_anaesthesia", "rf_bladder_bowel",
                              "rf_progressive_weakness")):
        out[name] = flags[..., i]
    return out


def _draw_dropout(truth: SimulationTruth, rng: np.random.Generator, cohort: dict[str, Any],
                  visits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Apply MAR dropout and study "today"; mark visits observed; return end days."""
    n = truth.n_patients
    day = visits["day"]
    today = truth.today_offset_days - cohort["enrol_day"]
    u_drop, u_day = rng.random((2, n, len(truth.visit_weeks) - 2))
    alive = np.ones(n, bool)
    drop_day = np.full(n, np.iinfo(np.int64).max)
    seen = np.zeros(day.shape, bool)
    seen[:, 0] = day[:, 0] < today
    for k in range(1, day.shape[1] - 1):
        seen[:, k] = alive & (day[:, k] < today)
        eta = truth.dropout_alpha + truth.dropout_beta * visits["leg_pain"][:, k]
        drop = seen[:, k] & (u_drop[:, k - 1] < 1 / (1 + np.exp(-eta)))
        lo = day[:, k] + 1
        hi = 7 * truth.visit_weeks[k + 1] - _WINDOW - 1
        drop_day = np.where(drop, lo + (u_day[:, k - 1] * (hi - lo + 1)).astype(np.int64),
                            drop_day)
        alive &= ~drop
    seen[:, -1] = alive & (day[:, -1] < today)
    discharge = np.where(alive, day[:, -1], drop_day)
    left = discharge < today
    visits["seen"] = seen
    return {"discharge": np.where(left, discharge, -1),
            "reason": np.where(left, np.where(alive, 0, 1), -1),
            "last": np.minimum(np.where(left, discharge, today), _PROGRAM_DAYS)}


def _score(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(np.rint(x), lo, hi).astype(np.int64)


# ------------------------------------------------------------------- frames


def _codes(prefix: str, numbers_: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers_), pa.large_string()), width, "0")
    return pc.binary_join_element_wise(_lit(prefix), digits, _lit(""))


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _text(values: Sequence[str], index: np.ndarray) -> pd.Series:
    """A ``str`` Series of ``values[index]``; index -1 gives a missing value."""
    missing = index < 0
    idx = pa.array(index, mask=missing) if missing.any() else pa.array(index)
    return pd.Series(pa.array(values, pa.large_string()).take(idx), dtype="str")


def _ids(ids: pa.Array, index: np.ndarray) -> pd.Series:
    return pd.Series(ids.take(pa.array(index)), dtype="str")


def _int(values: np.ndarray) -> pd.arrays.IntegerArray:
    if np.ma.isMaskedArray(values):
        return pd.arrays.IntegerArray(values.data.astype(np.int64), np.ma.getmaskarray(values))
    return pd.arrays.IntegerArray(np.asarray(values, np.int64), np.zeros(len(values), bool))


def _dates(days: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(days, "datetime64[D]").astype("datetime64[us]"))


def _patients_frame(truth: SimulationTruth, c: dict[str, Any], enrolled: np.ndarray,
                    ids: pa.Array, end: dict[str, np.ndarray]) -> pd.DataFrame:
    left = end["discharge"] >= 0
    discharged = np.where(left, enrolled + end["discharge"], np.datetime64("NaT"))
    return pd.DataFrame({
        "patient_id": pd.Series(ids, dtype="str"),
        "site_id": _text(c["site_ids"], c["site"]),
        "clinician_id": _text(c["clinician_ids"], c["clinician"]),
        "enrolled_on": _dates(enrolled),
        "age_years": _int(c["age"]),
        "sex": _text(_SEX[0], c["sex"]),
        "affected_side": _text(_SIDE[0], c["side"]),
        "symptom_duration_weeks": c["duration"],
        "diagnosis": _text(_DIAGNOSIS[0], c["diagnosis"]),
        "schedule": _text(KNOWN_SCHEDULES, c["schedule"]),
        "discharged_on": _dates(discharged),
        "discharge_reason": _text(_REASONS, end["reason"]),
    })


def _prescriptions_frame(truth: SimulationTruth, level_day: np.ndarray, enrolled: np.ndarray,
                         ids: pa.Array, end: dict[str, np.ndarray]) -> pd.DataFrame:
    start = np.vstack([np.ones((1, level_day.shape[1]), bool), level_day[1:] != level_day[:-1]])
    start &= np.arange(_PROGRAM_DAYS)[:, None] < end["last"]
    pat, day = np.nonzero(start.T)
    level = level_day[day, pat].astype(np.int64)
    k = pat.size
    return pd.DataFrame({
        "patient_id": _ids(ids, pat),
        "valid_from": _dates(enrolled[pat] + day),
        "level": _int(level),
        "exercise": _text([x[0] for x in _LEVELS], level - 1),
        "sessions_per_week": _int(np.full(k, truth.sessions_per_week)),
        "sets": _int(np.full(k, truth.sets)),
        "reps": _int(truth.reps_level1 + truth.reps_per_level * (level - 1)),
    })


def _sessions_frame(truth: SimulationTruth, done: np.ndarray, slots: dict[str, np.ndarray],
                    d: dict[str, np.ndarray], enrolled: np.ndarray, ids: pa.Array,
                    end: dict[str, np.ndarray]) -> pd.DataFrame:
    keep = d["slot"] // 2 < end["last"][d["patient"]]
    slot, pat = d["slot"][keep], d["patient"][keep]
    level = slots["level"][slot, pat].astype(np.int64)
    before = slots["before"][slot, pat].astype(np.int64)
    after = slots["after"][slot, pat].astype(np.int64)
    flare = slots["flare"][slot, pat]
    at = ((enrolled[pat] + slot // 2).astype("datetime64[m]")
          + d["minute"][keep].astype("timedelta64[m]"))
    return pd.DataFrame({
        "session_id": pd.Series(_codes("X", np.arange(1, slot.size + 1), 1), dtype="str"),
        "patient_id": _ids(ids, pat),
        "performed_at": pd.Series(at.astype("datetime64[us]")),
        "exercise": _text([x[0] for x in _LEVELS], level - 1),
        "glide_type": _text([x[1] for x in _LEVELS], level - 1),
        "position": _text([x[2] for x in _LEVELS], level - 1),
        "level": _int(level),
        "sets_done": _int(d["sets"][keep]),
        "reps_done": _int(d["reps"][keep]),
        "pain_before": _int(before),
        "pain_after": _int(after),
        "response": _text(_RESPONSES, np.where(flare, 2, np.where(after < before, 0, 1))),
        "stopped_early": d["stopped"][keep],
        "note": _text(_NOTES + _FLARE_NOTES, d["note"][keep]),
    })


def _assessments_frame(v: dict[str, np.ndarray], enrolled: np.ndarray,
                       ids: pa.Array) -> pd.DataFrame:
    pat, k = np.nonzero(v["seen"])
    frame = {"patient_id": _ids(ids, pat), "assessed_on": _dates(enrolled[pat] + v["day"][pat, k])}
    for name, values in v.items():
        if name in ("day", "seen"):
            continue
        x = values[pat, k]
        if name == "slr_deg":
            frame[name] = np.ma.filled(x.astype(float), np.nan)
        elif x.dtype == bool:
            frame[name] = np.asarray(x)
        else:
            frame[name] = _int(x)
    return pd.DataFrame(frame)


# ------------------------------------------------------------------- writing


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table with contract dates as DATE (date32)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name in _DATE_COLUMNS:
        if name in table.column_names:
            i = table.column_names.index(name)
            table = table.set_column(i, name, pc.cast(table[name], pa.date32()))
    return table


def _csv_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """One column as CSV field text (nulls stay null, written as empty)."""
    if pa.types.is_timestamp(column.type):  # 'YYYY-MM-DD HH:MM:SS...' -> 'YYYY-MM-DDTHH:MM'
        text = pc.utf8_slice_codeunits(pc.cast(column, pa.large_string()), 0, 16)
        return pc.replace_substring(text, " ", "T")
    if pa.types.is_large_string(column.type):
        if not any(_has_special_bytes(chunk) for chunk in column.chunks):
            return column
        escaped = pc.replace_substring(column, '"', '""')
        quoted = pc.binary_join_element_wise(_lit('"'), escaped, _lit('"'), _lit(""))
        return pc.if_else(pc.match_substring_regex(column, '[",\r\n]'), quoted, column)
    return pc.cast(column, pa.large_string())


def _has_special_bytes(chunk: pa.Array) -> bool:
    """Whether a string chunk's data holds ',', '"', CR or LF (a cheap pre-check)."""
    data = chunk.buffers()[2]
    if data is None:
        return False
    b = np.frombuffer(data, np.uint8)
    return bool(((b == 44) | (b == 34) | (b == 10) | (b == 13)).any())


def _write_csv(table: pa.Table, handle: Any, chunk_rows: int = 1 << 20) -> None:
    """Stream ``table`` as CSV, building each chunk's lines with Arrow kernels."""
    handle.write((",".join(table.column_names) + "\n").encode("utf-8"))
    for start in range(0, table.num_rows, chunk_rows):
        part = table.slice(start, chunk_rows)
        cols = [pc.cast(_csv_text(part[c]), pa.large_string()) for c in part.column_names]
        line = pc.binary_join_element_wise(*cols, _lit(","), null_handling="replace",
                                           null_replacement="")
        line = pc.binary_join_element_wise(line, _lit(""), _lit("\n")).combine_chunks()
        _, offsets, data = line.buffers()
        pos = np.frombuffer(offsets, np.int64)[line.offset: line.offset + len(line) + 1]
        handle.write(memoryview(data)[pos[0]:pos[-1]])


