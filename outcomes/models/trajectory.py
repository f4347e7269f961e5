"""Outcome trajectories over the program and the comparison of progression schedules.

:func:`trajectory_data` builds the long analysis frame (one row per assessment)
from a :class:`~outcomes.cohort.Cohort`; :func:`fit_trajectory` fits the
DESIGN.md §5 trajectory model to it, a linear mixed model by default
(statsmodels ``MixedLM``, REML)::

    y ~ week * schedule + adherence_between + adherence_within + level [+ covariates]
    random intercept and week slope per patient (re_formula "~week")

or a population-averaged GEE; :func:`marginal_means` and
:func:`schedule_contrast` turn a fit into estimated means by schedule and week,
and schedule differences with confidence intervals.

The mixed model is checked against R ``lme4::lmer`` on a fixed synthetic
dataset (``tests/reference/trajectory.R``: fixed effects, standard errors,
variance components and REML log-likelihood agree within 1e-5, relative) and
recovers the simulated schedule and adherence effects
(``tests/test_trajectory.py``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import patsy
from scipy import stats
from statsmodels.genmod import cov_struct as gee_cov
from statsmodels.genmod.families import Gaussian
from statsmodels.genmod.generalized_estimating_equations import GEE
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from ..cohort import Cohort
from ..config import DEFAULT_OPTIONS
from ..measures.adherence import overall_adherence
from .comparison._common import _reference_remark
from .results import ModelResult, coefficient_table

__all__ = ["ADJUSTMENT_TERMS", "OPTIMIZERS", "fit_trajectory", "marginal_means", "schedule_contrast",
           "trajectory_data"]

#: MixedLM optimisers tried in order (STACK.md: lbfgs matches lme4; powell copes with
#: near-singular variance components; Nelder-Mead is the last resort).
OPTIMIZERS: tuple[str, ...] = ("lbfgs", "powell", "nm")

_TIMES = ("linear", "log", "spline")
_RANDOM = ("slope", "intercept")
_METHODS = ("lmm", "gee")
_GEE_STRUCTURES = ("exchangeable", "unstructured")
#: The adherence and level terms of DESIGN.md §5 (``fit_trajectory(adjust_for=...)``).
ADJUSTMENT_TERMS: tuple[str, ...] = ("adherence_between", "adherence_within", "level")
_BASE_COLUMNS = ("patient_id", "schedule", "week", "y")
_RESERVED = frozenset(_BASE_COLUMNS + ADJUSTMENT_TERMS + ("log_week", "visit"))
#: statsmodels flags any random-effect variance below 0.01 as "may be on the boundary";
#: a slope SD of 0.08 points/week (variance 0.0064) is small but interior, so this
#: warning is reported, not retried (a retry cannot change the estimate).
_BOUNDARY_MESSAGE = "on the boundary of the parameter space"


# --------------------------------------------------------------------------- data


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
    frame = pd.DataFrame({"patient_id": a["patient_id"].to_numpy()[keep.to_numpy()],
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


def _check_covariates(covariates: Any, available: Any, where: str) -> tuple[str, ...]:
    if isinstance(covariates, str):  # a value error: a name where a sequence of names belongs
        raise ValueError(  # noqa: TRY004
            f"covariates must be a sequence of column names, got the string {covariates!r}; write ({covariates!r},)")
    if not isinstance(covariates, Sequence):
        raise TypeError(f"covariates must be a sequence of column names, got {type(covariates).__name__}")
    covariates = tuple(covariates)
    bad = [c for c in covariates if not isinstance(c, str) or c not in available]
    if bad:
        raise ValueError(f"covariates={list(covariates)!r}: {', '.join(map(repr, bad))} not a column of {where}")
    clash = [c for c in covariates if c in _RESERVED or c == "patient_id"]
    if clash:
        raise ValueError(f"covariates={list(covariates)!r}: {', '.join(map(repr, clash))} is a model column, "
                         f"not a baseline covariate")
    if len(set(covariates)) != len(covariates):
        raise ValueError(f"covariates={list(covariates)!r} names a column twice")
    return covariates


def _check_choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; use one of {', '.join(map(repr, allowed))}")


# --------------------------------------------------------------------------- fit


def fit_trajectory(
    cohort_or_data: Cohort | pd.DataFrame,
    *,
    outcome: str = "leg_pain",
    time: Literal["linear", "log", "spline"] = "linear",
    random: Literal["slope", "intercept"] = "slope",
    method: Literal["lmm", "gee"] = "lmm",
    gee_structure: Literal["exchangeable", "unstructured"] = "exchangeable",
    covariates: Sequence[str] = (),
    reference: str | None = None,
    adjust_for: Sequence[str] = ADJUSTMENT_TERMS,
) -> ModelResult:
    """Fit the outcome trajectory by schedule, adjusted for adherence and level.

    Parameters
    ----------
    cohort_or_data : Cohort or pandas.DataFrame
        A cohort (the frame is built with :func:`trajectory_data`), or a frame
        with its columns: ``patient_id, schedule, week, y`` and, optionally,
        ``adherence_between, adherence_within, level`` and the covariates.
    outcome : str, default "leg_pain"
        Assessment column modelled (with a frame: only a label).
    time : {"linear", "log", "spline"}, default "linear"
        Time trend: ``week``; ``log_week = log(week + 1)``; or a cubic B-spline
        ``bs(week, df=3)`` (patsy; knots at quantiles of the fitted weeks).
    random : {"slope", "intercept"}, default "slope"
        LMM only: random intercept and time slope per patient
        (``re_formula="~week"``; ``"~log_week"`` with log time; the spline keeps
        a linear random slope), or a random intercept only.
    method : {"lmm", "gee"}, default "lmm"
        Linear mixed model (REML, subject-specific) or GEE (Gaussian, identity
        link, population-averaged, robust standard errors).
    gee_structure : {"exchangeable", "unstructured"}, default "exchangeable"
        GEE working correlation. Unstructured indexes each assessment by its
        nearest planned visit (``Options.visits`` within ``visit_window_days``);
        assessments that are not a visit's nearest are left out of that fit.
    covariates : sequence of str, default ()
        Baseline covariates added as main effects (categorical when text).
    reference : str, optional
        Reference schedule; default the first in sorted order.
    adjust_for : sequence of str, default ("adherence_between", "adherence_within", "level")
        Which of the adherence and level terms enter (DESIGN.md §5 uses all
        three); those absent from the data are left out with a remark.

    Returns
    -------
    ModelResult
        ``name`` "trajectory_lmm" or "trajectory_gee"; ``table`` the fixed
        effects in points, named as patsy does (``week``, ``schedule[T.guided]``,
        ``week:schedule[T.guided]``, ...); ``meta`` with ``outcome, time,
        random, groups, re_formula, fixed_formula, reference, schedules,
        covariates, adjusted_for, reml, optimizer, attempts, cov_fe``
        (fixed-effects covariance, table order) and ``variance_components``
        (LMM: ``intercept_sd, slope_sd, intercept_slope_corr, residual_sd``;
        GEE: ``residual_sd, working_correlation``); ``data`` the exact frame
        fitted.

    Raises
    ------
    TypeError
        ``cohort_or_data`` is neither a Cohort nor a DataFrame.
    ValueError
        An option is not one of its allowed values (the message names it), the
        frame lacks a column, ``reference`` is not a schedule in the data, log
        time meets a week ≤ -1, or no rows remain.

    Notes
    -----
    *Method.* REML with ``MixedLM.fit(method="lbfgs")``, which matches lme4
    (STACK.md). If lbfgs raises, does not converge or warns (any
    ``ConvergenceWarning`` except the "boundary" heuristic, which statsmodels
    raises for every variance below 0.01 and which a retry cannot change), Powell
    and then Nelder-Mead are tried; every attempt and warning is in ``remarks``
    and ``meta["attempts"]``, and ``converged`` is False if none succeeded (the
    fit with the highest REML log-likelihood is returned). Standard errors are
    model-based given the variance components, σ²(X'V⁻¹X)⁻¹, as lme4's
    ``vcov``; intervals and p-values are Wald (normal). Against lme4 1.1-31 on
    ``tests/reference/trajectory_data.csv`` fixed effects, standard errors and
    variance components agree within 1e-5 (relative). The schedule main effect
    is the difference at week 0; ``week:schedule`` terms are differences in
    weekly change.

    *Adherence and level.* The between/within split follows Curran & Bauer
    2011 (Annu Rev Psychol 62:583); see :func:`trajectory_data`. Neither part
    is randomised: the between term compares patients who differ in much else,
    and pain can drive adherence as much as adherence drives pain (DOMAIN.md),
    so both are adjusted associations, not causal effects (the lag only guards
    against the most direct reverse causation). ``level`` is a post-randomisation
    variable: in a symptom-guided schedule patients advance when sessions go
    well, so it depends on past pain and on the patient's random effects, and
    the mixed model's assumption that covariates are independent of them fails.
    In simulations (``outcomes.simulate`` with no true level effect, 3,000
    patients) adjusting for level gave a spurious level effect of about -0.08
    points per level and moved the ``week:schedule[T.guided]`` difference from
    -0.10 to about -0.12, while ``adjust_for=("adherence_between",
    "adherence_within")`` recovered it. Level also carries part of the
    schedule effect (a schedule may work through faster progression). For the
    randomised schedule comparison, prefer leaving level out, and read a level
    coefficient as descriptive.

    *Missing data.* Every available assessment enters; the likelihood is valid
    when missingness (dropout, missed visits) is missing at random given the
    observed outcomes and covariates. GEE needs missing completely at random
    unless weighted.
    """
    _check_choice("time", time, _TIMES)
    _check_choice("random", random, _RANDOM)
    _check_choice("method", method, _METHODS)
    _check_choice("gee_structure", gee_structure, _GEE_STRUCTURES)
    if isinstance(adjust_for, str) or not all(t in ADJUSTMENT_TERMS for t in adjust_for):
        raise ValueError(f"adjust_for={adjust_for!r}: use a sequence drawn from {', '.join(ADJUSTMENT_TERMS)}")
    options = DEFAULT_OPTIONS
    if isinstance(cohort_or_data, Cohort):
        covariates = _check_covariates(covariates, cohort_or_data.patients.columns, "cohort.patients")
        data = trajectory_data(cohort_or_data, outcome=outcome, covariates=covariates)
        options = cohort_or_data.options
    elif isinstance(cohort_or_data, pd.DataFrame):
        data = cohort_or_data
        missing = [c for c in _BASE_COLUMNS if c not in data.columns]
        if missing:
            raise ValueError(f"cohort_or_data has no column {', '.join(map(repr, missing))}; a trajectory frame "
                             f"needs {', '.join(_BASE_COLUMNS)} (see trajectory_data)")
        covariates = _check_covariates(covariates, data.columns, "cohort_or_data")
    else:
        raise TypeError(f"cohort_or_data must be a Cohort or a pandas DataFrame, "
                        f"got {type(cohort_or_data).__name__}")
    remarks = list(data.attrs.get("remarks", []))
    adjusted = [t for t in ADJUSTMENT_TERMS if t in adjust_for and t in data.columns]
    absent = [t for t in ADJUSTMENT_TERMS if t in adjust_for and t not in data.columns]
    if absent:
        remarks.append(f"Not adjusted for {', '.join(absent)}: not in the data"
                       + (" (no session data)." if len(absent) == len(ADJUSTMENT_TERMS) else "."))
    left = [t for t in ADJUSTMENT_TERMS if t not in adjust_for]
    if left:
        remarks.append(f"Not adjusted for {', '.join(left)} (adjust_for).")
    frame, order = _model_frame(data, [*adjusted, *covariates], outcome=outcome, reference=reference,
                                time=time, remarks=remarks)
    time_term = {"linear": "week", "log": "log_week", "spline": "bs(week, df=3)"}[time]
    formula = " + ".join([f"y ~ {time_term}" + (" * schedule" if len(order) > 1 else ""), *adjusted, *covariates])
    meta: dict[str, Any] = {
        "outcome": outcome, "time": time, "random": random if method == "lmm" else None, "groups": "patient_id",
        "fixed_formula": formula, "reference": order[0], "schedules": order, "covariates": list(covariates),
        "adjusted_for": adjusted,
    }
    if method == "lmm":
        return _fit_lmm(frame, formula, meta, remarks, random=random, time=time)
    return _fit_gee(frame, formula, meta, remarks, structure=gee_structure, visits=options.visits,
                    window=options.visit_window_days)


def _model_frame(data: pd.DataFrame, extra: list[str], *, outcome: str, reference: str | None, time: str,
                 remarks: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The frame to fit: complete rows, schedule as a Categorical with the reference first, time columns."""
    frame = data[[*_BASE_COLUMNS, *extra]].dropna()
    if len(frame) < len(data):
        remarks.append(f"{len(data) - len(frame)} row(s) with a missing value in a model column left out.")
    if not len(frame):
        raise ValueError(f"cohort_or_data: no assessment with a {outcome} value and complete model columns")
    schedules = sorted(map(str, frame["schedule"].unique()))
    if reference is not None and reference not in schedules:
        raise ValueError(f"reference={reference!r} is not a schedule in the data; schedules: "
                         f"{', '.join(map(repr, schedules))}")
    if len(schedules) == 1:
        remarks.append(f"Only one schedule ({schedules[0]!r}) in the data: no schedule terms.")
    else:
        remarks.append(_reference_remark(reference or schedules[0], given=reference is not None))
    reference = reference or schedules[0]
    order = [reference, *[s for s in schedules if s != reference]]
    frame = frame.assign(patient_id=frame["patient_id"].astype(str),
                         schedule=pd.Categorical(frame["schedule"].astype(str), categories=order))
    if time == "log":
        if (frame["week"] <= -1).any():
            raise ValueError(f"time='log' needs week > -1; the data have week {frame['week'].min():g}")
        frame["log_week"] = np.log1p(frame["week"])
        remarks.append("Time is log_week = log(week + 1).")
    elif time == "spline":
        remarks.append("Time is a cubic B-spline of week with 3 degrees of freedom (patsy bs(week, df=3)).")
    return frame.sort_values(["patient_id", "week"], kind="stable").reset_index(drop=True), order


def _fit_lmm(frame: pd.DataFrame, formula: str, meta: dict[str, Any], remarks: list[str], *,
             random: str, time: str) -> ModelResult:
    y, x = patsy.dmatrices(formula, frame, return_type="dataframe", NA_action="raise")
    slope = {"linear": "week", "log": "log_week", "spline": "week"}[time]
    re_formula = f"~{slope}" if random == "slope" else "~1"
    z = patsy.dmatrix(re_formula, frame, return_type="dataframe")
    model = MixedLM(y.iloc[:, 0], x, groups=frame["patient_id"].to_numpy(), exog_re=z)
    fit, attempts = _optimise(model)
    chosen = next(r for r in attempts if r.get("chosen"))
    converged = chosen["converged"]
    vc = _variance_components(fit, random)
    remarks += _attempt_remarks(attempts, vc)
    cov = _fe_covariance(fit)
    table = _wald_table(fit.fe_params, cov)
    meta.update({"re_formula": re_formula, "reml": True, "optimizer": chosen["optimizer"], "attempts": attempts,
                 "variance_components": vc, "reml_loglik": float(fit.llf), "cov_fe": cov.tolist()})
    return ModelResult(
        name="trajectory_lmm",
        description=f"Linear mixed model of {meta['outcome']} over weeks by progression schedule "
                    f"(random {'intercept and slope' if random == 'slope' else 'intercept'} per patient).",
        table=table, scale="points", formula=f"{formula} + ({'1 + ' + slope if random == 'slope' else '1'} | patient_id)",
        method=f"REML ({chosen['optimizer']})", n_patients=int(frame["patient_id"].nunique()),
        n_observations=len(frame),
        converged=converged, remarks=tuple(remarks), meta=meta, raw=fit, data=frame)


def _optimise(model: MixedLM) -> tuple[Any, list[dict[str, Any]]]:
    """REML fit with each of :data:`OPTIMIZERS` in turn until one converges cleanly.

    Returns the chosen fit (the clean one, else the highest REML log-likelihood) and one
    record per attempt: optimizer, converged, warnings, error, reml_loglik, chosen.
    """
    attempts: list[dict[str, Any]] = []
    fits: list[tuple[dict[str, Any], Any]] = []
    for optimiser in OPTIMIZERS:
        record: dict[str, Any] = {"optimizer": optimiser, "converged": False, "warnings": [], "error": None,
                                  "chosen": False}
        attempts.append(record)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit = model.fit(reml=True, method=optimiser)
            except (np.linalg.LinAlgError, ValueError, FloatingPointError, OverflowError) as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
                fit = None
        record["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
        if fit is None:
            continue
        serious = [w for w in caught if issubclass(w.category, ConvergenceWarning)
                   and _BOUNDARY_MESSAGE not in str(w.message)]
        record["converged"] = bool(fit.converged) and not serious and bool(np.all(np.isfinite(fit.bse_fe)))
        record["reml_loglik"] = float(fit.llf)
        fits.append((record, fit))
        if record["converged"]:
            break
    if not fits:
        raise RuntimeError("MixedLM failed with every optimiser: "
                           + "; ".join(f"{r['optimizer']}: {r['error']}" for r in attempts))
    record, fit = fits[-1] if fits[-1][0]["converged"] else max(fits, key=lambda rf: rf[1].llf)
    record["chosen"] = True
    return fit, attempts


def _attempt_remarks(attempts: list[dict[str, Any]], vc: dict[str, float | None]) -> list[str]:
    """Sentences on every failed attempt and warning, and on which optimiser gave the estimates."""
    out = []
    sds = ", ".join(f"{k.removesuffix('_sd')} {v:.3g}" for k, v in vc.items() if k.endswith("_sd") and v is not None)
    for rec in attempts:
        boundary = [w for w in rec["warnings"] if _BOUNDARY_MESSAGE in w]
        other = [w for w in rec["warnings"] if w not in boundary]
        if rec["error"] or not rec["converged"] or other:
            what = rec["error"] or ("converged" if rec["converged"] else "did not converge cleanly")
            out.append(f"MixedLM optimiser {rec['optimizer']}: {what}"
                       + (f" ({'; '.join(other)})" if other else "") + ".")
        if boundary and rec["chosen"]:
            out.append(f"statsmodels warned that the estimate 'may be on the boundary of the parameter space', "
                       f"which it does whenever a random-effect variance is below 0.01; estimated SDs: {sds}.")
    chosen = next(r for r in attempts if r["chosen"])
    if len(attempts) > 1 or not chosen["converged"]:
        out.append(f"Estimates are from the {chosen['optimizer']} optimiser"
                   + ("." if chosen["converged"] else "; NO optimiser converged cleanly: interpret with caution."))
    if vc["slope_sd"] is not None and vc["slope_sd"] < 1e-3:
        out.append(f"The random slope SD is {vc['slope_sd']:.2g} (at or near zero): a random-intercept model "
                   f"(random='intercept') describes these data as well.")
    return out


def _fe_covariance(fit: Any) -> np.ndarray:
    """Model-based covariance of the fixed effects given the variance components, σ²(X'V⁻¹X)⁻¹.

    This is what lme4's ``vcov`` (and SAS PROC MIXED without a df adjustment) report.
    statsmodels' ``cov_params`` instead inverts the whole observed REML Hessian, whose
    fixed-by-variance cross terms made its standard errors up to 4 % larger than lme4's
    on the reference data. Per patient, with Ψ = cov_re / σ² and the push-through
    identity (works for a singular Ψ): X'V⁻¹X = Σ [X'X − X'Z Ψ (I + Z'ZΨ)⁻¹ Z'X] / σ².
    """
    model = fit.model
    x, z = np.asarray(model.exog, dtype=float), np.asarray(model.exog_re, dtype=float)
    codes, uniques = pd.factorize(np.asarray(model.groups))
    n_groups, p, q = len(uniques), x.shape[1], z.shape[1]
    xtx = x.T @ x
    ztz = np.zeros((n_groups, q, q))
    np.add.at(ztz, codes, z[:, :, None] * z[:, None, :])
    ztx = np.zeros((n_groups, q, p))
    np.add.at(ztx, codes, z[:, :, None] * x[:, None, :])
    psi = np.asarray(fit.cov_re, dtype=float) / fit.scale
    m = psi @ np.linalg.inv(np.eye(q) + ztz @ psi)
    info = xtx - np.einsum("gqp,gqr,grs->ps", ztx, m, ztx)
    return fit.scale * np.linalg.inv(info)


def _wald_table(params: pd.Series, cov: np.ndarray) -> pd.DataFrame:
    """Coefficient table with normal-theory (Wald z) intervals and p-values from ``cov``."""
    se = pd.Series(np.sqrt(np.diag(cov)), index=params.index)
    q = stats.norm.ppf(0.975)
    ci = np.column_stack([params - q * se, params + q * se])
    return coefficient_table(params, se, ci, pd.Series(2 * stats.norm.sf(np.abs(params / se)), index=params.index))


def _variance_components(fit: Any, random: str) -> dict[str, float | None]:
    cov = np.asarray(fit.cov_re, dtype=float)
    out: dict[str, float | None] = {"intercept_sd": math.sqrt(max(cov[0, 0], 0.0)), "slope_sd": None,
                                    "intercept_slope_corr": None, "residual_sd": math.sqrt(fit.scale)}
    if random == "slope":
        out["slope_sd"] = math.sqrt(max(cov[1, 1], 0.0))
        denom = out["intercept_sd"] * out["slope_sd"]
        out["intercept_slope_corr"] = float(cov[0, 1] / denom) if denom > 0 else float("nan")
    return out


def _fit_gee(frame: pd.DataFrame, formula: str, meta: dict[str, Any], remarks: list[str], *,
             structure: str, visits: Sequence[int], window: int) -> ModelResult:
    if structure == "unstructured":
        frame = _visit_index(frame, visits, window)
        left = int(frame["visit"].isna().sum())
        if left:
            remarks.append(f"{left} assessment(s) are not the nearest to a planned visit (weeks "
                           f"{', '.join(map(str, visits))}, ±{window} days) and are left out of the "
                           f"unstructured GEE.")
        frame = frame.loc[frame["visit"].notna()].astype({"visit": "int64"}).reset_index(drop=True)
    y, x = patsy.dmatrices(formula, frame, return_type="dataframe", NA_action="raise")
    cs = gee_cov.Exchangeable() if structure == "exchangeable" else gee_cov.Unstructured()
    kwargs = {"time": frame["visit"].to_numpy()} if structure == "unstructured" else {}
    model = GEE(y.iloc[:, 0], x, groups=frame["patient_id"].to_numpy(), family=Gaussian(), cov_struct=cs, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(maxiter=100)
    messages = [f"{w.category.__name__}: {w.message}" for w in caught]
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    remarks += [f"GEE warning: {m}." for m in messages]
    remarks.append("GEE: population-averaged estimates with robust (sandwich) standard errors; valid under "
                   "missing completely at random.")
    dep = cs.dep_params
    vc = {"residual_sd": math.sqrt(float(fit.scale)),
          "working_correlation": float(dep) if np.ndim(dep) == 0 else np.asarray(dep, dtype=float).tolist()}
    cov = np.asarray(fit.cov_params(), dtype=float)
    table = _wald_table(fit.params, cov)
    meta.update({"cov_fe": cov.tolist(), "re_formula": None, "reml": False, "gee_structure": structure, "attempts": [
        {"optimizer": "gee", "converged": converged, "warnings": messages, "error": None}],
        "variance_components": vc})
    if structure == "unstructured":
        meta.update({"visits": list(visits), "visit_window_days": window})
    return ModelResult(
        name="trajectory_gee",
        description=f"GEE ({structure}) of {meta['outcome']} over weeks by progression schedule "
                    f"(population-averaged).",
        table=table, scale="points", formula=formula, method=f"GEE {structure}",
        n_patients=int(frame["patient_id"].nunique()), n_observations=len(frame), converged=converged,
        remarks=tuple(remarks), meta=meta, raw=fit, data=frame)


def _visit_index(frame: pd.DataFrame, visits: Sequence[int], window: int) -> pd.DataFrame:
    """Index of the planned visit each assessment is nearest to (NaN: unscheduled or not the nearest)."""
    targets = np.asarray(visits, dtype=float) * 7
    days = frame["week"].to_numpy(dtype=float) * 7
    dist = np.abs(days[:, None] - targets[None, :])
    idx = dist.argmin(axis=1)
    gap = dist[np.arange(len(days)), idx]
    out = frame.assign(visit=np.where(gap <= window, idx, np.nan), _gap=gap)
    ranked = out.loc[out["visit"].notna()].sort_values(["patient_id", "visit", "_gap"], kind="stable")
    first = ranked.drop_duplicates(["patient_id", "visit"]).index
    out.loc[~out.index.isin(first), "visit"] = np.nan
    return out.drop(columns="_gap")


# --------------------------------------------------------------------------- marginal means


def marginal_means(result: ModelResult, *, weeks: Sequence[float] = (0, 2, 4, 6, 8, 12)) -> pd.DataFrame:
    """Estimated mean outcome by schedule and week, from a :func:`fit_trajectory` result.

    Parameters
    ----------
    result : ModelResult
        From :func:`fit_trajectory` (LMM or GEE).
    weeks : sequence of float, default (0, 2, 4, 6, 8, 12)
        Weeks since enrolment.

    Returns
    -------
    pandas.DataFrame
        ``schedule, week, estimate, std_error, ci_lower, ci_upper`` (95 %), one
        row per schedule (reference first) and week.

    Notes
    -----
    Fixed-effects predictions (for the LMM: a typical patient, random effects
    0) with adherence, level and covariates held at their means in the fitted
    data (a categorical covariate at its observed proportions); standard
    errors by the delta method from the fixed-effects covariance matrix;
    normal-theory intervals.
    """
    rows, keys = _design_rows(result, weeks)
    return _linear_estimates(result, rows, keys)


def schedule_contrast(result: ModelResult, *, week: float) -> pd.DataFrame:
    """Difference between each schedule and the reference at ``week``, with 95 % CI.

    Parameters
    ----------
    result : ModelResult
        From :func:`fit_trajectory` with at least two schedules.
    week : float
        Week since enrolment.

    Returns
    -------
    pandas.DataFrame
        ``schedule, reference, week, estimate, std_error, ci_lower, ci_upper,
        p_value``: schedule minus reference (points; negative = lower outcome),
        one row per non-reference schedule.

    Notes
    -----
    The difference of two :func:`marginal_means` rows; adherence, level and
    covariates cancel. Delta-method standard error, Wald z test.
    """
    if not isinstance(week, (int, float, np.integer, np.floating)) or not np.isfinite(week):
        raise ValueError(f"week must be a finite number, got {week!r}")
    order = _check_result(result)["schedules"]
    if len(order) < 2:
        raise ValueError(f"result has one schedule ({order[0]!r}): there is no schedule contrast")
    rows, keys = _design_rows(result, [float(week)])
    base = rows[0]
    diffs = rows[1:] - base
    out = _linear_estimates(result, diffs, keys[1:])
    out.insert(1, "reference", order[0])
    z = out["estimate"] / out["std_error"]
    out["p_value"] = 2 * stats.norm.sf(np.abs(z))
    return out


def _check_result(result: Any) -> dict[str, Any]:
    if not isinstance(result, ModelResult) or result.name not in ("trajectory_lmm", "trajectory_gee"):
        raise ValueError(f"result must be a fit_trajectory result, got {result!r}")
    return result.meta


def _design_rows(result: ModelResult, weeks: Sequence[float]) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """Fixed-effects design rows for every schedule × week, other columns at their fitted means."""
    meta = _check_result(result)
    try:
        weeks = [float(w) for w in weeks]
    except (TypeError, ValueError):
        raise ValueError(f"weeks must be a sequence of numbers, got {weeks!r}") from None
    if not weeks or not np.all(np.isfinite(weeks)):
        raise ValueError(f"weeks must be a non-empty sequence of finite numbers, got {weeks!r}")
    if meta["time"] == "log" and min(weeks) <= -1:
        raise ValueError(f"weeks must be > -1 with log time, got {min(weeks):g}")
    data = result.data
    _, x = patsy.dmatrices(meta["fixed_formula"], data, return_type="dataframe")
    info = x.design_info
    time_factors = {"week", "log_week", "bs(week, df=3)", "schedule"}
    keys = [(s, w) for s in meta["schedules"] for w in weeks]
    new = data.iloc[[0] * len(keys)].reset_index(drop=True)  # any valid row; non-time columns are replaced
    new["schedule"] = pd.Categorical([k[0] for k in keys], categories=meta["schedules"])
    new["week"] = [k[1] for k in keys]
    if meta["time"] == "log":
        new["log_week"] = np.log1p(new["week"])
    try:
        rows = np.asarray(patsy.build_design_matrices([info], new)[0], dtype=float)
    except patsy.PatsyError as exc:
        raise ValueError(f"weeks={weeks!r} cannot be evaluated by this model's time term: {exc}") from None
    means = x.mean(axis=0).to_numpy()
    for term, cols in info.term_slices.items():
        if not {f.name() for f in term.factors} <= time_factors:
            rows[:, cols] = means[cols]
    return rows, keys


def _linear_estimates(result: ModelResult, rows: np.ndarray, keys: list[tuple[str, float]]) -> pd.DataFrame:
    beta = result.table["estimate"].to_numpy(dtype=float)
    cov = np.asarray(result.meta["cov_fe"], dtype=float)
    est = rows @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", rows, cov, rows))
    q = stats.norm.ppf(0.975)
    return pd.DataFrame({"schedule": [k[0] for k in keys], "week": [k[1] for k in keys], "estimate": est,
                         "std_error": se, "ci_lower": est - q * se, "ci_upper": est + q * se})
