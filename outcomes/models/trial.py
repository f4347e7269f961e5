"""Trial tables (issue 7): planned visits, descriptives, responders, flow, effect size, mixed model.

Every function takes a :class:`~outcomes.cohort.Cohort` and keyword-only options; it
works with or without a sessions export (an assessments-only trial dataset is enough).
Arms are ``cohort.patients["schedule"]`` (any names, any number). Contrasts are
against a reference arm: the one given, else the first name in sorted order (a
remark says which). Tables are tidy frames whose every row carries a ``"table"``
key; their sentences (exclusions, arms that could not be estimated) are in
``frame.attrs["remarks"]``.

=======================  ==========================================================
`assign_visits`          each assessment's planned visit (or unscheduled), counted
`descriptives`           n, mean, SD, median, quartiles per outcome, arm and visit
`responder_table`        responder rates (both denominators), RD and OR vs reference
                         (from `outcomes.models.comparison.responders`)
`flow`                   randomised, assessed at each visit, analysed, per arm
`hedges_g`               Hedges' g of the change from baseline vs the reference arm
`trial_ancova`           `outcomes.models.comparison.ancova` with checked covariates
`trial_mixed_model`      `fit_trajectory` with covariates; random-intercept fallback
=======================  ==========================================================

Visits and windows default to ``cohort.options`` (weeks 0, 2, 4, 6, 8, 12, ±7 days). The
per-visit tables (`descriptives`, `flow`'s "assessed" stages) use
`assign_visits`: one assessment per patient and visit. The endpoint-based tables
(`responder_table`, `hedges_g`, `flow`'s "analysed", `trial_ancova`) take, per outcome,
the baseline of `outcomes.measures.change.select_baseline` and the endpoint of
`outcomes.measures.change.value_at_week` (the nearest assessment *with a value of the
outcome*), exactly as the ANCOVA does, so their denominators agree with it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..cohort import OUTCOMES, Cohort
from .comparison import ancova
from .comparison._common import (
    _remarked,
    _week_label,
    _baseline_endpoint,
    _check_cohort,
    _check_endpoint_week,
    _check_number,
    _check_outcome,
    _check_reference,
    _reference_remark,
    _reused,
    _schedules,
)
from .comparison.responders import RESPONDER_COLUMNS, responder_table
from .results import ModelResult
from .trajectory import fit_trajectory

__all__ = [
    "DESCRIPTIVE_COLUMNS",
    "EFFECT_SIZE_COLUMNS",
    "FLOW_COLUMNS",
    "RESPONDER_COLUMNS",
    "assign_visits",
    "descriptives",
    "flow",
    "hedges_g",
    "responder_table",
    "trial_ancova",
    "trial_mixed_model",
]

DESCRIPTIVE_COLUMNS = ["table", "outcome", "schedule", "week", "time", "n", "mean", "sd", "median", "q1", "q3"]
FLOW_COLUMNS = ["table", "schedule", "stage", "week", "n"]
EFFECT_SIZE_COLUMNS = ["table", "outcome", "schedule", "reference", "g", "ci_lower", "ci_upper", "se", "n",
                       "n_reference", "mean_change", "mean_change_reference", "sd_pooled"]



# ------------------------------------------------------------------ checks


def _visits(cohort: Cohort, visits: Any, window_days: Any) -> tuple[tuple[float, ...], int]:
    visits = cohort.options.visits if visits is None else visits
    window = cohort.options.visit_window_days if window_days is None else window_days
    if isinstance(visits, (str, bytes)) or not isinstance(visits, Sequence) or not len(visits):
        raise ValueError(f"visits must be a non-empty sequence of weeks, e.g. (0, 2, 4, 6, 8, 12), got {visits!r}")
    weeks = tuple(_check_number(v, "each visit week", low=0) for v in visits)
    if list(weeks) != sorted(set(weeks)):
        raise ValueError(f"visits must be distinct weeks in increasing order, got {list(visits)!r}")
    window = int(_check_number(window, "window_days", low=0, high=366, integer=True))
    return weeks, window


# ------------------------------------------------------------------ visits


def assign_visits(cohort: Cohort, *, visits: Sequence[float] | None = None,
                  window_days: int | None = None) -> pd.DataFrame:
    """Each assessment's planned visit, or NA when it is unscheduled.

    Parameters
    ----------
    cohort : Cohort
        The linked cohort (sessions optional).
    visits : sequence of float, optional
        Planned visit weeks, distinct and increasing; default ``cohort.options.visits``
        (0, 2, 4, 6, 8, 12).
    window_days : int, optional
        Accepted distance, in days either side (inclusive), from the visit's target day
        enrolled_on + 7 × week; default ``cohort.options.visit_window_days`` (7).

    Returns
    -------
    DataFrame
        ``cohort.assessments`` (every row, same order, fresh RangeIndex) with
        ``schedule``, ``day`` (days since enrolment), ``visit`` (Float64, the planned
        week; NA when unscheduled) and ``visit_distance_days`` (distance from the
        visit's target day; NA when unscheduled). The counts of unscheduled
        assessments are in ``frame.attrs``: ``"n_unscheduled"`` (int),
        ``"unscheduled"`` (dict: ``outside_window``, assessments within no visit's
        window; ``second_in_window``, displaced by a nearer assessment of the same
        patient and visit; ``by_schedule``, the total per arm) and ``"remarks"``.

    Notes
    -----
    An assessment goes to the nearest planned visit whose window holds
    it (equally near two visits, e.g. day 7 between weeks 0 and 2: the earlier). A
    visit takes one assessment per patient: when two fall in its window the nearest
    to the target day wins (equally near: the earlier date) and the other is
    unscheduled; it does not move to another visit. Unscheduled assessments stay in
    the mixed model with their exact week and are left out of per-visit tables.
    """
    _check_cohort(cohort)
    weeks, window = _visits(cohort, visits, window_days)
    # compare_schedules asks three times (flow, Table 2, the MMRM's visit frame): computed once there
    return _reused(cohort, ("visits", tuple(weeks), window), lambda: _assign_visits(cohort, weeks, window))


def _assign_visits(cohort: Cohort, weeks: Sequence[float], window: int) -> pd.DataFrame:
    a = cohort.assessments.reset_index(drop=True).copy()
    enrolled = cohort.patients.set_index("patient_id")
    day = ((a["assessed_on"] - a["patient_id"].map(enrolled["enrolled_on"])) / pd.Timedelta(days=1)).to_numpy(float)
    targets = np.asarray(weeks, dtype=float) * 7.0
    dist = np.abs(day[:, None] - targets[None, :])
    nearest = np.argmin(np.where(np.isnan(dist), np.inf, dist), axis=1)  # first = the earlier visit on a tie
    gap = dist[np.arange(len(day)), nearest] if len(day) else np.array([])
    inside = gap <= window  # NaN (no date) is False
    a["schedule"] = a["patient_id"].map(enrolled["schedule"])
    a["day"] = day
    ranked = pd.DataFrame({"patient_id": a["patient_id"], "visit": np.where(inside, nearest, -1), "gap": gap,
                           "day": day})[inside]
    winners = ranked.sort_values(["patient_id", "visit", "gap", "day"], kind="stable").drop_duplicates(
        ["patient_id", "visit"]).index
    chosen = np.zeros(len(a), dtype=bool)
    chosen[winners] = True
    a["visit"] = pd.array(np.where(chosen, np.asarray(weeks)[nearest] if len(a) else [], np.nan), dtype="Float64")
    a["visit_distance_days"] = pd.array(np.where(chosen, gap, np.nan), dtype="Float64")
    outside, second = int((~inside).sum()), int((inside & ~chosen).sum())
    by_arm = a.loc[~chosen, "schedule"].astype(str).value_counts()
    a.attrs["n_unscheduled"] = outside + second
    a.attrs["unscheduled"] = {"outside_window": outside, "second_in_window": second,
                              "by_schedule": {s: int(by_arm.get(s, 0)) for s in _schedules(cohort)}}
    span = ", ".join(f"{_week_label(w)}" for w in weeks)
    a.attrs["remarks"] = [(
        f"Planned visits: weeks {span}, each taking the nearest assessment within ±{window} days. "
        f"{outside + second} of {len(a)} assessment(s) are unscheduled ({outside} outside every window, "
        f"{second} displaced by a nearer assessment at the same visit): kept in the mixed model with their "
        f"exact week, left out of the per-visit tables.")]
    return a


# ------------------------------------------------------------------ descriptives


def descriptives(cohort: Cohort, *, outcomes: Sequence[str] | None = None, visits: Sequence[float] | None = None,
                 window_days: int | None = None) -> pd.DataFrame:
    """Observed mean (SD), median (quartiles) and n per outcome, arm and planned visit (Table 2).

    Parameters
    ----------
    cohort : Cohort
        The linked cohort.
    outcomes : sequence of str, optional
        Numeric assessment columns; default those of ``outcomes.cohort.OUTCOMES``
        present with a value.
    visits, window_days
        As in `assign_visits`.

    Returns
    -------
    DataFrame
        :data:`DESCRIPTIVE_COLUMNS`: ``table`` ("descriptives"), ``outcome``,
        ``schedule``, ``week`` (the planned visit), ``time`` (the same in the dataset's
        time unit), ``n`` (non-missing values),
        ``mean``, ``sd`` (ddof 1), ``median``, ``q1``, ``q3`` (linear interpolation,
        R's type 7). One row per outcome × arm (sorted) × visit, also when n is 0
        (statistics NaN; SD NaN when n is 1). ``attrs["remarks"]``.

    Notes
    -----
    Observed values of the assessment assigned to each visit by `assign_visits`
    (unscheduled assessments are left out); no imputation. The week-0 visit is the
    assessment nearest enrolment within the window, which may differ from the
    analysis baseline (the last on or before enrolment + ``baseline_window_days``).
    """
    _check_cohort(cohort)
    if outcomes is None:
        outcomes = [o for o in OUTCOMES if o in cohort.assessments.columns and cohort.assessments[o].notna().any()]
    if isinstance(outcomes, str) or not isinstance(outcomes, Sequence):
        raise ValueError(  # noqa: TRY004  (a bad plan value: ValueError, as in comparison)
            f"outcomes must be a sequence of assessment columns, e.g. ('leg_pain',), got {outcomes!r}")
    outcomes = [_check_outcome(cohort, o, needs_rule=False) for o in outcomes]
    weeks, window = _visits(cohort, visits, window_days)
    assigned = assign_visits(cohort, visits=weeks, window_days=window)
    on_visit = assigned[assigned["visit"].notna()]
    arms = _schedules(cohort)
    rows = []
    for outcome in outcomes:
        values = pd.DataFrame({"schedule": on_visit["schedule"].astype(str),
                               "week": on_visit["visit"].to_numpy(dtype=float),
                               "y": pd.to_numeric(on_visit[outcome]).to_numpy(dtype=float, na_value=np.nan)})
        values = values[values["y"].notna()]
        grouped = values.groupby(["schedule", "week"])["y"]
        stats_ = pd.DataFrame({"n": grouped.size(), "mean": grouped.mean(), "sd": grouped.std(ddof=1),
                               "median": grouped.median(), "q1": grouped.quantile(0.25),
                               "q3": grouped.quantile(0.75)})
        full = pd.MultiIndex.from_product([arms, [float(w) for w in weeks]], names=["schedule", "week"])
        stats_ = stats_.reindex(full).reset_index()
        stats_["n"] = stats_["n"].fillna(0).astype("int64")
        stats_.insert(0, "outcome", outcome)
        rows.append(stats_)
    out = (pd.concat(rows, ignore_index=True) if rows
           else pd.DataFrame(columns=DESCRIPTIVE_COLUMNS[1:]))
    out.insert(0, "table", "descriptives")
    out["time"] = _in_dataset_unit(cohort, out["week"])
    return _remarked(out[DESCRIPTIVE_COLUMNS], list(assigned.attrs["remarks"]))


def _in_dataset_unit(cohort: Cohort, weeks: pd.Series) -> pd.Series:
    """Weeks since enrolment in the dataset's own time unit (weeks for dated data; the visit number
    for visit-coded data, where week = visit number)."""
    axis = getattr(cohort, "time", None)
    if axis is None or axis.dated or axis.unit == "visit":
        return weeks.astype("float64")
    return weeks.astype("float64") * 7.0 / axis.days


# ------------------------------------------------------------------ flow


def flow(cohort: Cohort, *, visits: Sequence[float] | None = None, window_days: int | None = None,
         outcome: str = "leg_pain", endpoint_week: float | None = None) -> pd.DataFrame:
    """Participant flow per arm: randomised, assessed at each planned visit, analysed.

    Parameters
    ----------
    cohort : Cohort
        The linked cohort.
    visits, window_days
        As in `assign_visits` (``window_days`` also sets the endpoint window).
    outcome : str, default "leg_pain"
        The outcome whose baseline and endpoint define "analysed".
    endpoint_week : float, optional
        Default ``cohort.options.endpoint_week``.

    Returns
    -------
    DataFrame
        :data:`FLOW_COLUMNS`: ``table`` ("flow"), ``schedule``, ``stage``, ``week``,
        ``n``. Stages in order: ``randomised`` (patients on the arm), ``assessed_week_<w>``
        for each planned visit (patients with an assessment assigned to that visit by
        `assign_visits`, whatever it recorded; ``week`` = w), ``analysed`` (patients with
        a baseline and an endpoint value of ``outcome``: the complete-case denominator of
        `trial_ancova` before covariates, and ``n_assessed`` of a change-based responder
        definition). ``week`` is NA except on the visit stages.
    """
    _check_cohort(cohort)
    weeks, window = _visits(cohort, visits, window_days)
    outcome = _check_outcome(cohort, outcome, needs_rule=False)
    week = _check_endpoint_week(cohort.options.endpoint_week if endpoint_week is None else endpoint_week)
    arms = _schedules(cohort)
    patients = cohort.patients.assign(schedule=cohort.patients["schedule"].astype(str))
    patients = patients[cohort.patients["schedule"].notna()]
    assigned = assign_visits(cohort, visits=weeks, window_days=window)
    seen = assigned[assigned["visit"].notna()].drop_duplicates(["patient_id", "visit"])
    frame = _baseline_endpoint(cohort, outcome, week, window)
    analysed = frame[frame["baseline"].notna() & frame["endpoint"].notna()]
    rows = []
    for arm in arms:
        rows.append({"schedule": arm, "stage": "randomised", "week": np.nan,
                     "n": int((patients["schedule"] == arm).sum())})
        for w in weeks:
            n = int(((seen["schedule"].astype(str) == arm) & (seen["visit"] == w)).sum())
            rows.append({"schedule": arm, "stage": f"assessed_week_{_week_label(w)}", "week": float(w), "n": n})
        rows.append({"schedule": arm, "stage": "analysed", "week": np.nan,
                     "n": int((analysed["schedule"].astype(str) == arm).sum())})
    out = pd.DataFrame(rows, columns=FLOW_COLUMNS[1:])
    out.insert(0, "table", "flow")
    return _remarked(out, [*assigned.attrs["remarks"],
                           (f"Analysed: a {outcome} baseline and a week-{_week_label(week)} {outcome} "
                            f"within ±{window} days.")])


# ------------------------------------------------------------------ effect size


def hedges_g(cohort: Cohort, *, outcome: str = "leg_pain", endpoint_week: float | None = None,
             window_days: int | None = None, reference: str | None = None) -> pd.DataFrame:
    """Hedges' g of the change from baseline, each arm against the reference arm.

    Parameters
    ----------
    cohort : Cohort
        The linked cohort (two or more arms).
    outcome : str, default "leg_pain"
        A numeric assessment column.
    endpoint_week, window_days, reference
        As in `responder_table`.

    Returns
    -------
    DataFrame
        :data:`EFFECT_SIZE_COLUMNS`, one row per non-reference arm: ``table``
        ("effect_size"), ``outcome``, ``schedule``, ``reference``, ``g`` (arm minus
        reference; negative = a larger fall), ``ci_lower, ci_upper`` (95 %), ``se``,
        ``n`` and ``n_reference`` (patients with a baseline and an endpoint),
        ``mean_change``, ``mean_change_reference``, ``sd_pooled``. NaN where an arm has
        fewer than two changes or the pooled SD is 0 (a remark says so).

    Notes
    -----
    Change = endpoint − baseline (as in `trial_ancova`). d = (mean₁ − mean₀) / s_p with
    s_p² = ((n₁−1)s₁² + (n₀−1)s₀²)/(n₁+n₀−2); g = J·d with the small-sample correction
    J = 1 − 3/(4(n₁+n₀) − 9); large-sample variance var(g) = (n₁+n₀)/(n₁n₀) +
    g²/(2(n₁+n₀)) and the interval g ± 1.96·√var(g) (Hedges & Olkin 1985, Statistical
    Methods for Meta-Analysis, ch. 5, where the corrected estimate is called d). The
    change score is what g standardises here; the ANCOVA estimate is the more
    precise between-arm difference.
    """
    _check_cohort(cohort)
    outcome = _check_outcome(cohort, outcome, needs_rule=False)
    ref = _check_reference(cohort, reference)
    week = _check_endpoint_week(cohort.options.endpoint_week if endpoint_week is None else endpoint_week)
    window = cohort.options.visit_window_days if window_days is None else int(
        _check_number(window_days, "window_days", low=0, high=366, integer=True))
    frame = _baseline_endpoint(cohort, outcome, week, window)
    frame = frame[frame["schedule"].notna()]
    change = (frame["endpoint"] - frame["baseline"]).dropna()
    by_arm = {arm: change[frame.loc[change.index, "schedule"].astype(str) == arm].to_numpy(float)
              for arm in _schedules(cohort)}
    remarks = [_reference_remark(ref, reference is not None),
               (f"Change from baseline to the {outcome} assessment nearest week {_week_label(week)} "
                f"(±{window} days); complete cases.")]
    x0 = by_arm[ref]
    rows = []
    for arm in [s for s in _schedules(cohort) if s != ref]:
        x1 = by_arm[arm]
        n1, n0 = len(x1), len(x0)
        g = lo = hi = se = sp = math.nan
        if n1 >= 2 and n0 >= 2:
            sp = math.sqrt(((n1 - 1) * x1.var(ddof=1) + (n0 - 1) * x0.var(ddof=1)) / (n1 + n0 - 2))
        if sp > 0:
            j = 1 - 3 / (4 * (n1 + n0) - 9)
            g = j * (x1.mean() - x0.mean()) / sp
            se = math.sqrt((n1 + n0) / (n1 * n0) + g**2 / (2 * (n1 + n0)))
            q = stats.norm.ppf(0.975)
            lo, hi = g - q * se, g + q * se
        else:
            remarks.append(f"Hedges' g for {arm!r} vs {ref!r} is not estimable: {n1} and {n0} patients with a "
                           f"change (two per arm and some spread are needed).")
        rows.append({"outcome": outcome, "schedule": arm, "reference": ref, "g": g, "ci_lower": lo,
                     "ci_upper": hi, "se": se, "n": n1, "n_reference": n0,
                     "mean_change": x1.mean() if n1 else math.nan,
                     "mean_change_reference": x0.mean() if n0 else math.nan, "sd_pooled": sp})
    out = pd.DataFrame(rows, columns=EFFECT_SIZE_COLUMNS[1:])
    out.insert(0, "table", "effect_size")
    return _remarked(out, remarks)


# ------------------------------------------------------------------ models


def _check_varying(values: pd.DataFrame, covariates: Sequence[str], where: str) -> None:
    """ValueError naming the first covariate with fewer than two distinct values."""
    for c in covariates:
        if c in values.columns and values[c].dropna().nunique() < 2:
            seen = values[c].dropna().unique()
            what = f"a single value ({seen[0]!r})" if len(seen) else "no value"
            raise ValueError(f"covariate {c!r} takes {what} in {where}: it cannot be adjusted for; "
                             "drop it from covariates")


def trial_ancova(cohort: Cohort, *, outcome: str = "leg_pain", endpoint_week: float | None = None,
                 window_days: int | None = None, covariates: Sequence[str] = (),
                 reference: str | None = None) -> ModelResult:
    """The endpoint ANCOVA (baseline + arm + covariates) of `outcomes.models.comparison.ancova`.

    Adds to it only a check that each covariate varies (a ValueError naming a covariate
    with a single value) and the cohort's default endpoint week. See ``ancova`` for the
    model, columns and remarks; checked against R ``lm`` on a three-arm dataset
    (tests/reference/trial.R).
    """
    _check_cohort(cohort)
    if isinstance(covariates, str):
        raise ValueError(f"covariates must be a sequence of names, e.g. ({covariates!r},)")  # noqa: TRY004
    _check_varying(cohort.patient_summary, [c for c in covariates if isinstance(c, str)], "cohort.patient_summary")
    week = cohort.options.endpoint_week if endpoint_week is None else endpoint_week
    return ancova(cohort, outcome=outcome, endpoint_week=week, window_days=window_days, reference=reference,
                  covariates=tuple(covariates))


def trial_mixed_model(cohort: Cohort | pd.DataFrame, *, outcome: str = "leg_pain", covariates: Sequence[str] = (),
                      reference: str | None = None, adjust_for: Sequence[str] = (),
                      min_per_patient: float = 3) -> ModelResult:
    """Linear mixed model ``y ~ week * schedule + covariates`` with a random slope when the data allow.

    Parameters
    ----------
    cohort : Cohort or DataFrame
        The cohort, or a `outcomes.models.trajectory.trajectory_data` frame
        (``patient_id, schedule, week, y`` and the covariates).
    outcome : str, default "leg_pain"
    covariates : sequence of str, default ()
        Baseline covariates (columns of ``cohort.patients``), main effects; text as
        categories.
    reference : str, optional
        Reference arm; default the first in sorted order.
    adjust_for : sequence of str, default ()
        Adherence/level terms of `fit_trajectory` (with sessions). None by default:
        they follow the arm assigned, and the randomised comparison should not adjust
        for them (see `fit_trajectory`).
    min_per_patient : float, default 3
        The random slope is fitted only when the median number of assessments per
        patient (with a value of ``outcome``) is at least this.

    Returns
    -------
    ModelResult
        That of `fit_trajectory` (name "trajectory_lmm", fixed effects with lme4-like
        model-based standard errors). ``meta["random"]`` is "slope" or "intercept";
        ``meta["random_fallback"]`` is None or the reason for the intercept-only
        model, also in ``remarks``; ``meta["median_assessments_per_patient"]``.

    Raises
    ------
    ValueError
        Fewer than two arms; a covariate with a single value (named); as `fit_trajectory`.

    Notes
    -----
    Falls back to a random intercept (a) when the median patient has fewer than
    ``min_per_patient`` assessments (with two per patient a slope variance is barely
    identified), or (b) when the slope fit raises or no optimiser converges.
    Unscheduled assessments are kept with their exact week. Checked against
    ``lme4::lmer(y ~ week * schedule + age_years + sex + (week | patient_id))`` on a
    three-arm dataset (tests/reference/trial.R).
    """
    if isinstance(covariates, str):
        raise ValueError(f"covariates must be a sequence of names, e.g. ({covariates!r},)")  # noqa: TRY004
    covariates = tuple(covariates)
    if isinstance(cohort, Cohort):
        arms = _schedules(cohort)
        counts_frame = cohort.assessments
        y = pd.to_numeric(counts_frame[outcome], errors="coerce") if outcome in counts_frame.columns else None
        per_patient = (counts_frame.loc[y.notna(), "patient_id"].value_counts() if y is not None
                       else pd.Series(dtype=float))
        _check_varying(cohort.patients, [c for c in covariates if isinstance(c, str)], "cohort.patients")
    elif isinstance(cohort, pd.DataFrame):
        arms = sorted(map(str, cohort["schedule"].dropna().unique())) if "schedule" in cohort.columns else []
        per_patient = cohort["patient_id"].value_counts() if "patient_id" in cohort.columns else pd.Series(dtype=float)
        _check_varying(cohort, [c for c in covariates if isinstance(c, str)], "the data")
    else:
        raise TypeError(f"cohort must be an outcomes.Cohort or a DataFrame, got {type(cohort).__name__}")
    if len(arms) < 2:
        raise ValueError(f"comparing arms needs at least two; the data have {arms or 'none'}")
    median = float(per_patient.median()) if len(per_patient) else 0.0
    kwargs = {"outcome": outcome, "covariates": covariates, "reference": reference,
              "adjust_for": tuple(adjust_for)}
    fallback = None
    if median < min_per_patient:
        fallback = (f"The median patient has {median:g} {outcome} assessment(s) (fewer than {min_per_patient:g}): "
                    "too few to estimate a random slope, so the model has a random intercept only.")
    else:
        try:
            result = fit_trajectory(cohort, random="slope", **kwargs)
        except (RuntimeError, np.linalg.LinAlgError) as exc:
            fallback = (f"The random-slope model failed ({type(exc).__name__}: {exc}); the model has a random "
                        "intercept only.")
        else:
            if not result.converged:
                fallback = ("The random-slope model did not converge with any optimiser; the model has a random "
                            "intercept only.")
    if fallback is not None:
        result = fit_trajectory(cohort, random="intercept", **kwargs)
    meta = {**result.meta, "random_fallback": fallback, "median_assessments_per_patient": median}
    remarks = (*result.remarks, *([fallback] if fallback else []))
    return dataclasses.replace(result, remarks=remarks, meta=meta)
