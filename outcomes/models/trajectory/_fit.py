"""`fit_trajectory`: the model frame, the formula, and the choice of LMM or GEE."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ...cohort import Cohort
from ...config import DEFAULT_OPTIONS
from ..comparison._common import _reference_remark
from ..results import ModelResult
from ._common import _BASE_COLUMNS, ADJUSTMENT_TERMS, _check_choice, _check_covariates
from ._data import trajectory_data
from ._gee import _fit_gee
from ._lmm import _fit_lmm

__all__ = ["fit_trajectory"]

_TIMES = ("linear", "log", "spline")
_RANDOM = ("slope", "intercept")
_METHODS = ("lmm", "gee")
_GEE_STRUCTURES = ("exchangeable", "unstructured")


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
        Which of the adherence and level terms enter (the adjusted model uses all
        three); those absent from the data are left out with a remark.

    Returns
    -------
    ModelResult
        ``name`` "trajectory_lmm" or "trajectory_gee"; ``table`` the fixed
        effects in points, named as patsy does (``week``, ``schedule[T.guided]``,
        ``week:schedule[T.guided]``, ...); ``meta`` with ``outcome, time,
        random, groups, re_formula, fixed_formula, reference, schedules,
        covariates, adjusted_for, reml, optimizer, attempts, cov_fe`` (fixed-effects
        covariance, table order), ``fit_seconds``, LMM also ``reml_loglik,
        convergence, max_abs_gradient``, and ``variance_components``
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
    *Method.* REML by the project's engine (:func:`outcomes.models._reml.fit_lmm`):
    the restricted likelihood computed from per-patient sufficient statistics,
    maximised by L-BFGS-B and Newton steps from per-patient moment estimates and
    again from a second start; the fit is ``converged`` only when the gradient
    is small at the optimum and both starts reach the same REML log-likelihood
    (``meta["attempts"]`` holds both; ``meta["convergence"]`` says which check
    failed, also in ``remarks``). Standard errors are model-based given the
    variance components, σ²(X'V⁻¹X)⁻¹, as lme4's ``vcov``; intervals and
    p-values are Wald (normal). Against lme4 1.1-31 (tight bobyqa) on
    ``tests/reference/trajectory_data.csv`` and on an unbalanced dataset with
    dropout (``tests/reference/reml_data.csv``) fixed effects, standard errors,
    variance components and the REML log-likelihood agree within 1e-6
    (relative). ``meta["fit_seconds"]`` is the fit's wall time. The schedule
    main effect is the difference at week 0; ``week:schedule`` terms are
    differences in weekly change.

    *Adherence and level.* The between/within split follows Curran & Bauer
    2011 (Annu Rev Psychol 62:583); see :func:`trajectory_data`. Neither part
    is randomised: the between term compares patients who differ in much else,
    and pain can drive adherence as much as adherence drives pain (Curran & Bauer 2011),
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
    # Text covariates as Categorical with patsy's own (sorted) level order: the same design,
    # but patsy reads the codes instead of testing every string for missingness (1 s at 100,000 rows).
    for c in extra:
        if not (pd.api.types.is_numeric_dtype(frame[c].dtype) or isinstance(frame[c].dtype, pd.CategoricalDtype)):
            frame[c] = pd.Categorical(frame[c], categories=sorted(frame[c].unique()))
    if time == "log":
        if (frame["week"] <= -1).any():
            raise ValueError(f"time='log' needs week > -1; the data have week {frame['week'].min():g}")
        frame["log_week"] = np.log1p(frame["week"])
        remarks.append("Time is log_week = log(week + 1).")
    elif time == "spline":
        remarks.append("Time is a cubic B-spline of week with 3 degrees of freedom (patsy bs(week, df=3)).")
    return frame.sort_values(["patient_id", "week"], kind="stable").reset_index(drop=True), order
