"""The parameters of a simulated cohort (`SimulationTruth`) and the result (`SimulatedDataset`).

The generative model they parametrise is described in `outcomes.simulate`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import DEFAULT_VISIT_WEEKS, PROGRAM_WEEKS, SIMULATION_FIGURES

__all__ = ["KNOWN_SCHEDULES", "SimulatedDataset", "SimulationTruth"]

KNOWN_SCHEDULES = ("weekly", "guided")
_TABLES = ("patients", "prescriptions", "sessions", "assessments")
_PROGRAM_DAYS = 7 * PROGRAM_WEEKS  # 12 weeks of sessions: days 0..83
_SLOTS = 2 * _PROGRAM_DAYS  # morning and evening slot per day
_VISIT_WEEKS = DEFAULT_VISIT_WEEKS  # the planned visits of the analyses
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
_DELTA_NO_FLARE = ((-2, -1, 0, 1), (0.12, 0.38, 0.47, 0.03))
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
_REASONS = ("completed", "dropped_out", "referred")
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
    red_flag_referral_prob : float
        Probability that a patient with a red flag is referred (discharged,
        reason 'referred') on that visit's day; otherwise sessions go on.

    The defaults of the session, flare, red-flag, adherence and dropout
    parameters come from `outcomes.config.SIMULATION_FIGURES`, which names
    the published figure (or the stated assumption) behind each.
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
    adherence_mean: float = SIMULATION_FIGURES["adherence_mean"].value
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
    session_pain_sd: float = SIMULATION_FIGURES["session_pain_sd"].value
    flare_prob: float = SIMULATION_FIGURES["flare_prob"].value
    flare_prob_after_level_change: float = SIMULATION_FIGURES["flare_prob_after_level_change"].value
    flare_after_level_change_sessions: int = 3
    stopped_early_prob: float = 0.01
    stopped_early_prob_flare: float = 0.4
    note_prob: float = 0.02
    note_prob_flare: float = 0.25
    dropout_alpha: float = -4.2
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
    red_flag_prob: float = SIMULATION_FIGURES["red_flag_prob"].value
    red_flag_referral_prob: float = SIMULATION_FIGURES["red_flag_referral_prob"].value

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
