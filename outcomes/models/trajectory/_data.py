"""The long analysis frame of the trajectory model (:func:`trajectory_data`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ...cohort import Cohort
from ...measures.adherence import overall_adherence
from ._common import _BASE_COLUMNS, ADJUSTMENT_TERMS, _check_covariates

__all__ = ["trajectory_data"]


def trajectory_data(cohort: Cohort, *, outcome: str = "leg_pain",
                    covariates: Sequence[str] = ()) -> pd.DataFrame:
    """The long analysis frame of the trajectory model: one row per assessment.

    Parameters
    ----------
    cohort : Cohort
        The linked cohort (:class:`outcomes.cohort.Cohort`).
    outcome : str, default "leg_pain"
        A scored column of ``cohort.assessments`` (e.g. ``"back_pain"``, ``"odi"``).
    covariates : sequence of str, default ()
        Baseline columns of ``cohort.patients`` to carry along (``age_years``,
        ``sex``, ``symptom_duration_weeks``, ...).

    Returns
    -------
    pandas.DataFrame
        Sorted by patient_id and week, fresh RangeIndex:

        ``patient_id``
            Patient code.
        ``schedule``
            Progression schedule (text).
        ``week``
            Exact time of the assessment, days since enrolment / 7 (float;
            ``cohort.assessments["week"]``).
        ``y``
            The outcome (float); rows where it is missing are left out.
        ``adherence_between``
            With sessions only. The patient's usual adherence: the mean over
            all their follow-up weeks in ``cohort.patient_week`` of the weekly
            ``adherence_capped`` (sessions done ÷ prescribed, capped at 1), i.e.
            ``mean_weekly_adherence`` of
            :func:`outcomes.measures.adherence.overall_adherence`.
        ``adherence_within``
            With sessions only. The previous program week's ``adherence_capped``
            minus ``adherence_between`` (lagged one week); 0 for assessments in
            week 0 (or before enrolment), which have no previous program week.
        ``level``
            With sessions only. The progression level in force in the
            assessment's program week (``cohort.patient_week["level"]``: the
            highest level done that week, carried forward); before the
            patient's first session, the level of that first session.
        *covariates*
            As requested, from ``cohort.patients`` (integers as float).

        ``frame.attrs["remarks"]`` lists, as sentences, the rows left out and why;
        :func:`fit_trajectory` copies them into its remarks.

    Raises
    ------
    TypeError
        ``cohort`` is not a Cohort.
    ValueError
        ``outcome`` is not an assessment column, or a covariate is not a patient
        column (or clashes with a column of this frame).

    Notes
    -----
    Adherence is split into a between-patient part (the patient's usual
    adherence) and a within-patient part (last week's deviation from it),
    after Curran & Bauer 2011 (Annu Rev Psychol 62:583): the two answer
    different questions (do patients who usually adhere have less pain? is a
    patient's pain lower after a better-than-usual week?) and a single
    adherence term would blend them. The within part is lagged one week so
    that the exposure precedes the assessment. Completers seen on or after
    day 84 are followed into program week 12, after the 12-week program, and
    that week (usually no sessions) enters ``adherence_between`` like any
    other; in simulations, averaging over weeks 0-11 only moved the between
    estimate by less than 0.05 points.

    Rows are left out (and counted in the remarks) when the previous program
    week has no adherence (an assessment after follow-up ended) or the
    patient never logged a session (no level).
    """
    if not isinstance(cohort, Cohort):
        raise TypeError(f"cohort must be an outcomes.cohort.Cohort, got {type(cohort).__name__}")
    frame, remarks = _build_data(cohort, outcome, _check_covariates(covariates, cohort.patients.columns,
                                                                    "cohort.patients"))
    frame.attrs["remarks"] = remarks
    return frame


def _build_data(cohort: Cohort, outcome: str, covariates: tuple[str, ...]) -> tuple[pd.DataFrame, list[str]]:
    a = cohort.assessments
    if not isinstance(outcome, str) or outcome not in a.columns or outcome in ("patient_id", "assessed_on"):
        scored = [c for c in ("leg_pain", "back_pain", "numbness", "odi", "rmdq", "slr_deg", "pgic")
                  if c in a.columns]
        raise ValueError(f"outcome={outcome!r} is not an assessment column; use one of {', '.join(scored)}")
    remarks: list[str] = []
    y = pd.to_numeric(a[outcome], errors="coerce").astype(float)
    keep = y.notna() & a["week"].notna()
    if not keep.any():
        raise ValueError(f"outcome {outcome!r} has no recorded value in the assessments")
    frame = pd.DataFrame({"patient_id": a["patient_id"][keep].to_numpy(),
                          "week": a["week"].to_numpy(dtype=float)[keep.to_numpy()],
                          "week_index": a["week_index"].to_numpy(dtype=float)[keep.to_numpy()],
                          "y": y.to_numpy()[keep.to_numpy()]})
    patients = cohort.patients[["patient_id", "schedule", *covariates]]
    frame = frame.merge(patients, on="patient_id", how="left", validate="many_to_one")
    for c in covariates:
        if pd.api.types.is_numeric_dtype(frame[c].dtype) and not pd.api.types.is_bool_dtype(frame[c].dtype):
            frame[c] = frame[c].astype(float)
    has_sessions = cohort.sessions is not None and {"adherence_capped", "level"} <= set(cohort.patient_week.columns)
    if has_sessions:
        frame, dropped = _add_adherence(frame, cohort.patient_week)
        remarks += dropped
    frame = frame.sort_values(["patient_id", "week"], kind="stable")
    cols = [*_BASE_COLUMNS, *(ADJUSTMENT_TERMS if has_sessions else ()), *covariates]
    return frame[cols].reset_index(drop=True), remarks


def _add_adherence(frame: pd.DataFrame, patient_week: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """adherence_between, adherence_within (lagged one week) and level for each assessment row."""
    usual = overall_adherence(patient_week).set_index("patient_id")["mean_weekly_adherence"]
    pw = patient_week[["patient_id", "week", "adherence_capped", "level"]].copy()
    pw["level"] = pw["level"].astype(float)
    pw["level"] = pw.groupby("patient_id", sort=False)["level"].ffill()
    pw["level"] = pw.groupby("patient_id", sort=False)["level"].bfill()  # before the first session
    pw["week"] = pw["week"].astype(float)

    wk = frame["week_index"].clip(lower=0)
    out = frame.assign(_wk=wk, _prev=wk - 1)
    out["adherence_between"] = out["patient_id"].map(usual).astype(float)
    prev = pw.rename(columns={"week": "_prev", "adherence_capped": "_prev_adherence"})[
        ["patient_id", "_prev", "_prev_adherence"]]
    out = out.merge(prev, on=["patient_id", "_prev"], how="left")
    out["adherence_within"] = np.where(out["_wk"] <= 0, 0.0, out["_prev_adherence"] - out["adherence_between"])
    # the level in force: that week's row, or the last row before it (assessments after follow-up)
    out = out.sort_values("_wk", kind="stable")
    levels = pw[["patient_id", "week", "level"]].sort_values("week", kind="stable")
    out = pd.merge_asof(out, levels, left_on="_wk", right_on="week", by="patient_id",
                        direction="backward", suffixes=("", "_pw")).drop(columns="week_pw")
    remarks = []
    missing = out[list(ADJUSTMENT_TERMS)].isna()
    no_level = missing["level"] & ~missing["adherence_between"]
    no_lag = missing["adherence_within"] & ~missing["level"]
    other = missing.any(axis=1) & ~no_level & ~no_lag
    for mask, why in ((no_level, "the patient logged no session, so no level is known"),
                      (no_lag, ("the previous program week is outside the patient's follow-up, so its "
                                "adherence is unknown")),
                      (other, "adherence is undefined (nothing prescribed)")):
        if mask.any():
            remarks.append(f"{int(mask.sum())} assessment(s) of {out.loc[mask, 'patient_id'].nunique()} "
                           f"patient(s) left out: {why}.")
    out = out.loc[~missing.any(axis=1)]
    return out.drop(columns=["_wk", "_prev", "_prev_adherence"]), remarks
