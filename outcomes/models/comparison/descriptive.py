"""Descriptive comparison of schedules, and what the comparison assumes, in plain language."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._intervals import wilson as _wilson
from ...cohort import Cohort
from ._common import _check_cohort

__all__ = ["BY_SCHEDULE_COLUMNS", "assumptions_text", "by_schedule"]

#: Columns of `by_schedule`.
BY_SCHEDULE_COLUMNS = [
    "schedule", "n_patients",
    "adherence_median", "adherence_q1", "adherence_q3",
    "adherence_capped_median", "adherence_capped_q1", "adherence_capped_q3",
    "highest_level_median", "highest_level_q1", "highest_level_q3",
    "dropout_n", "dropout_rate", "dropout_ci_lower", "dropout_ci_upper",
    "sessions_done", "n_flags", "flags_per_100_sessions",
]


def by_schedule(cohort: Cohort) -> pd.DataFrame:
    """Patients, adherence, progression, dropout and flags per schedule (one row each, sorted).

    Parameters
    ----------
    cohort : Cohort
        The linked cohort.

    Returns
    -------
    DataFrame
        :data:`BY_SCHEDULE_COLUMNS`: ``n_patients`` (every patient on the schedule, the
        denominator of the rates); overall adherence (sessions done ÷ prescribed), raw and
        capped at 1, and the highest level reached: median and quartiles over patients;
        ``dropout_n`` (status dropped_out), ``dropout_rate`` (proportion 0-1 of
        ``n_patients``) with its Wilson 95 % interval; ``sessions_done``, ``n_flags`` (every
        stop-and-consult flag of the schedule's patients) and ``flags_per_100_sessions``.
        Without a sessions export the adherence, level and session columns are NaN.

    Notes
    -----
    Adherence and dose definitions: `outcomes.measures.adherence` (raw and capped both reported);
    flags: `outcomes.measures.safety`. Quartiles are pandas' linear
    interpolation (R type 7). Wilson interval: statsmodels ``proportion_confint``.
    Small cells are not suppressed here; reports do that.
    """
    _check_cohort(cohort)
    s = cohort.patient_summary[cohort.patient_summary["schedule"].notna()].copy()
    s["schedule"] = s["schedule"].astype(str)
    for col in ("adherence", "adherence_capped", "highest_level"):
        s[col] = pd.to_numeric(s[col], errors="coerce").astype("float64") if col in s.columns else np.nan
    s["dropped"] = s["status"].eq("dropped_out")
    if cohort.sessions is not None and "sessions_done" in cohort.patient_week.columns:
        done = cohort.patient_week.groupby("patient_id")["sessions_done"].sum()
        s["sessions_done"] = s["patient_id"].map(done).fillna(0)
    else:
        s["sessions_done"] = np.nan
    s["n_flags"] = s["patient_id"].map(cohort.flags["patient_id"].value_counts()).fillna(0)
    g = s.groupby("schedule", sort=True)
    out = pd.DataFrame({"n_patients": g.size()})
    for col in ("adherence", "adherence_capped", "highest_level"):
        out[f"{col}_median"] = g[col].median()
        out[f"{col}_q1"] = g[col].quantile(0.25)
        out[f"{col}_q3"] = g[col].quantile(0.75)
    out["dropout_n"] = g["dropped"].sum().astype("int64")
    out["dropout_rate"] = out["dropout_n"] / out["n_patients"]
    out["dropout_ci_lower"], out["dropout_ci_upper"] = _wilson(out["dropout_n"], out["n_patients"])
    out["sessions_done"] = g["sessions_done"].sum(min_count=1)
    out["n_flags"] = g["n_flags"].sum().astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["flags_per_100_sessions"] = np.where(out["sessions_done"] > 0,
                                                 100 * out["n_flags"] / out["sessions_done"], np.nan)
    return out.reset_index()[BY_SCHEDULE_COLUMNS]


def assumptions_text(cohort: Cohort) -> list[str]:
    """What the schedule comparison assumes, and what its associations can mean, in plain words.

    Parameters
    ----------
    cohort : Cohort
        The linked cohort (for the dropout and missing-endpoint counts quoted).

    Returns
    -------
    list of str
        One paragraph each: missing data, the schedule comparison, adherence, level,
        flares and time to response.

    Notes
    -----
    Missing-data handling: likelihood-based mixed models under missing at random (MAR)
    and complete-case ANCOVA (Vickers & Altman 2001, BMJ 323:1123). Between- and
    within-patient adherence: Curran & Bauer 2011, Annu Rev Psychol 62:583.
    """
    _check_cohort(cohort)
    s = cohort.patient_summary
    n = len(s)
    dropped = s["status"].eq("dropped_out")
    per_arm = ", ".join(f"{arm} {int(d.sum())} of {len(d)}" for arm, d in dropped.groupby(s["schedule"], sort=True))
    week = cohort.options.endpoint_week
    outcome = next((o for o in ("leg_pain", "odi", "back_pain", "rmdq") if f"{o}_endpoint" in s.columns), None)
    missing = (f" and {int(s[f'{outcome}_endpoint'].isna().sum())} have no week-{week} {outcome.replace('_', ' ')} "
               "assessment" if outcome else "")
    return [
        (f"Missing data. Of {n} patients, {int(dropped.sum())} dropped out ({per_arm}){missing}. The mixed model "
         "uses every assessment and is unbiased if dropping out depends only on what was seen before it (missing "
         "at random, MAR): a patient who leaves after reporting high pain is allowed for, one who leaves because "
         "pain got worse after the last visit is not. The ANCOVA, the responder odds ratio and the 'assessed' "
         "responder rates use only patients seen at the endpoint (complete case), which needs more: that missing "
         "the endpoint depends only on baseline and schedule. Counting the missing as non-responders (the 'all' "
         "rates) is cautious, not assumption-free."),
        ("Schedules. If patients were randomised to a schedule, the difference between schedules estimates the "
         "effect of being offered that schedule (intention to treat), whatever each patient then did. If "
         "clinicians or patients chose the schedule, the difference also reflects who was given which, and is an "
         "association adjusted only for the covariates in the model."),
        ("Adherence. Its association with pain is observational even when schedules are randomised: patients "
         "choose how many sessions to do, and pain can drive adherence (skipping sessions when it hurts, or doing "
         "more hoping for relief) as much as adherence drives pain. The between-patient part compares different "
         "people; the within-patient, lagged part removes stable differences between people but not changes that "
         "drive both. Neither shows that doing more sessions lowers pain."),
        ("Level. In a symptom-guided schedule a patient moves up only after sessions without a flare and with low "
         "pain, so reaching a higher level is partly a result of getting better; in a time-based schedule level "
         "moves with time itself. A lower pain at higher levels therefore cannot be read as the harder glides "
         "reducing pain."),
        ("Flares. Rates are per session done. Patients who stop exercising after flares contribute less exposure "
         "and may leave early, so the rate describes the sessions that happened."),
        ("Time to response. Assessments are periodic, so a response is dated to the visit that shows it; patients "
         "who leave are assumed no more or less likely to have responded than those who stay (non-informative "
         "censoring)."),
    ]
