"""Endpoint comparisons of schedules: ANCOVA, responder odds ratio and responder rates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
# The model classes themselves, not statsmodels.api / formula.api: those import every model,
# time series and graphics too (0.4-0.7 s of start-up for every compare run).
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.proportion import confint_proportions_2indep

from .._intervals import wilson as _wilson
from ...cohort import Cohort
from ..results import ModelResult, coefficient_table
from ._common import (
    _arms,
    _baseline_endpoint,
    _check_cohort,
    _check_covariates,
    _check_endpoint_week,
    _check_events,
    _check_number,
    _check_outcome,
    _check_reference,
    _fit_noting,
    _per_arm,
    _ratio_table,
    _reference_remark,
    _responders,
    _rule_text,
    _terms,
    _with_covariates,
)
from .arms import instrument_definition

__all__ = ["ancova", "endpoint_regression", "responder_odds", "responder_rates"]

#: A log-odds-ratio standard error above this means the coefficient diverged (quasi-separation).
_SEPARATED_SE = 50.0

_MAR = ("Complete case: this is unbiased when whether the endpoint is missing depends only on baseline "
        "and schedule (missing at random given the model's covariates). If patients who drop out do worse "
        "(or better) than similar patients who stay, for example because pain drove the dropout, the "
        "estimate is biased; the mixed model, which uses every assessment, relies on the weaker assumption "
        "that dropout depends only on what was observed before it.")


def _week_text(week: float) -> str:
    return f"{week:g}"


def _beyond_the_data(cohort: Cohort, outcome: str, week: float, window_days: float) -> str:
    """A hint when the endpoint lies after every assessment of ``outcome`` ("" otherwise)."""
    a = cohort.assessments
    if outcome not in a.columns or "week" not in a.columns:
        return ""
    weeks = pd.to_numeric(a.loc[a[outcome].notna(), "week"], errors="coerce").dropna()
    if weeks.empty or weeks.max() >= week - window_days / 7.0:
        return ""
    return (f"; the latest {outcome} assessment is at week {weeks.max():.3g}, so no endpoint at week "
            f"{_week_text(week)} exists in these data (choose the endpoint with --endpoint-week, or the "
            "plan's endpoint_week)")


# ------------------------------------------------------------------ ANCOVA


def ancova(cohort: Cohort, *, outcome: str = "leg_pain", endpoint_week: float = 6,
           window_days: int | None = None, reference: str | None = None,
           covariates: Sequence[str] = ()) -> ModelResult:
    """ANCOVA: the endpoint value by schedule, adjusted for baseline (OLS).

    Parameters
    ----------
    cohort : Cohort
        The linked cohort.
    outcome : str, default 'leg_pain'
        A numeric column of ``cohort.assessments`` (leg_pain, back_pain, odi, rmdq, slr_deg...).
    endpoint_week : float, default 6
        Week of the endpoint (program end); must be positive.
    window_days : int, optional
        The endpoint is the assessment nearest ``endpoint_week`` within this many days
        either side; default ``cohort.options.visit_window_days``.
    reference : str, optional
        Reference schedule; default the first in sorted order (said in a remark).
    covariates : sequence of str, default ()
        Further adjustment: columns of ``cohort.patient_summary`` (e.g. ``age_years``,
        ``sex``, ``symptom_duration_weeks``, ``site_id``); text columns enter as categories.

    Returns
    -------
    ModelResult
        ``name`` ``ancova_<outcome>_week<w>``; table terms ``Intercept``,
        ``schedule[T.<arm>]`` (difference from the reference arm at the endpoint, in the
        outcome's units, adjusted for baseline), ``baseline`` and the covariates.
        ``data`` holds ``patient_id, schedule, baseline, endpoint`` and the covariates:
        one row per patient used. ``meta``: outcome, endpoint_week, window_days,
        reference, covariates, family ("gaussian"), n_excluded.

    Raises
    ------
    ValueError
        A bad argument (named with the value received); no patient with both a baseline
        and an endpoint; the reference arm, or all other arms, with fewer than two such
        patients.

    Notes
    -----
    Model: ``endpoint ~ schedule + baseline [+ covariates]``, ordinary least squares,
    t-based 95 % intervals. ANCOVA on the endpoint adjusted for baseline is the usual
    primary analysis of such trials (Vickers & Altman 2001, BMJ 323:1123): it
    is more precise than comparing change scores and unbiased under randomisation.
    Baseline = last assessment on or before enrolment + ``baseline_window_days``;
    endpoint by `outcomes.measures.change.value_at_week`. Denominator:
    patients with both values (complete case); the rest are counted in a remark.
    Checked against R ``stats::lm`` (tests/reference/comparison.R).
    """
    _check_cohort(cohort)
    outcome = _check_outcome(cohort, outcome, needs_rule=False)
    week = _check_endpoint_week(endpoint_week)
    window = cohort.options.visit_window_days if window_days is None else int(
        _check_number(window_days, "window_days", low=0, high=366, integer=True))
    covariates = _check_covariates(cohort, covariates)
    ref = _check_reference(cohort, reference)

    frame = _baseline_endpoint(cohort, outcome, week, window)
    if covariates:
        frame = frame.merge(cohort.patient_summary[["patient_id", *covariates]], on="patient_id", how="left")
    w = _week_text(week)
    remarks = [_reference_remark(ref, reference is not None),
               (f"Endpoint: the {outcome} assessment nearest week {w} within ±{window} days; baseline: the last "
                f"on or before enrolment + {cohort.options.baseline_window_days} days.")]
    no_base = frame["baseline"].isna()
    no_end = frame["endpoint"].isna() & ~no_base
    no_cov = frame[list(covariates)].isna().any(axis=1) & ~no_base & ~no_end  # all False without covariates
    if no_base.any() or no_end.any() or no_cov.any():
        parts = [f"{int(no_base.sum())} without a baseline"] if no_base.any() else []
        if no_end.any():
            parts.append(f"{int(no_end.sum())} without a week-{w} endpoint "
                         f"({_per_arm(frame.assign(m=no_end), 'm')})")
        if no_cov.any():
            parts.append(f"{int(no_cov.sum())} without a covariate value")
        remarks.append(f"Of {len(frame)} patients, " + ", ".join(parts) + " are excluded. " + _MAR)
    data = frame[~(no_base | no_end | no_cov)].reset_index(drop=True)
    if data.empty:
        raise ValueError(f"no patient has both a baseline and a week-{w} {outcome} (within ±{window} days): "
                         f"there is nothing to fit{_beyond_the_data(cohort, outcome, week, window)}")
    return _fit_ancova(data, reference=ref, outcome=outcome, endpoint_week=week, window_days=window,
                       covariates=covariates, remarks=remarks, n_excluded=len(frame) - len(data))


def _fit_ancova(data: pd.DataFrame, *, reference: str, outcome: str, endpoint_week: float, window_days: int,
                covariates: Sequence[str] = (), remarks: Sequence[str] = (), n_excluded: int = 0) -> ModelResult:
    w = _week_text(endpoint_week)
    data, arm_remarks = _arms(data, reference, what=f"patients with a baseline and a week-{w} {outcome}")
    formula = "endpoint ~ " + " + ".join(["schedule", "baseline", *covariates])
    res, notes, _ = _fit_noting(lambda: OLS.from_formula(formula, data=data).fit())
    return ModelResult(
        name=f"ancova_{outcome}_week{w}",
        description=(f"Difference in {outcome} at week {w} between schedules and the reference "
                     f"({reference}), adjusted for baseline{' and ' + ', '.join(covariates) if covariates else ''}."),
        table=coefficient_table(res.params, res.bse, res.conf_int(), res.pvalues),
        scale="points", formula=formula, method="OLS", n_patients=len(data), n_observations=len(data),
        converged=None, remarks=(*remarks, *arm_remarks, *notes),
        meta={"outcome": outcome, "endpoint_week": endpoint_week, "window_days": window_days,
              "reference": reference, "covariates": list(covariates), "family": "gaussian",
              "n_excluded": int(n_excluded)},
        raw=res, data=data)


def endpoint_regression(cohort: Cohort, *, outcome: str = "leg_pain", endpoint_week: float = 6,
                        window_days: int | None = None, reference: str | None = None,
                        covariates: Sequence[str] = ()) -> ModelResult:
    """The endpoint value by schedule adjusted for covariates only (OLS; no baseline).

    The plan's ``primary = "regression"``: for a trial without a baseline measurement.
    Every patient with an endpoint value (and the covariates) is used. Columns, ``data``
    and ``meta`` as in `ancova` (name ``regression_<outcome>_week<w>``).

    Raises
    ------
    ValueError
        A bad argument; no patient with an endpoint; too few patients in the reference arm
        or every other arm.
    """
    _check_cohort(cohort)
    outcome = _check_outcome(cohort, outcome, needs_rule=False)
    week = _check_endpoint_week(endpoint_week)
    window = cohort.options.visit_window_days if window_days is None else int(
        _check_number(window_days, "window_days", low=0, high=366, integer=True))
    covariates = _check_covariates(cohort, covariates)
    ref = _check_reference(cohort, reference)
    frame = _baseline_endpoint(cohort, outcome, week, window).drop(columns="baseline")
    frame = frame[frame["endpoint"].notna()]
    frame, n_no_cov = _with_covariates(cohort, frame, covariates)
    w = _week_text(week)
    if frame.empty:
        raise ValueError(f"no patient has a week-{w} {outcome} (within ±{window} days): there is nothing to "
                         f"fit{_beyond_the_data(cohort, outcome, week, window)}")
    data, arm_remarks = _arms(frame.reset_index(drop=True), ref, what=f"patients with a week-{w} {outcome}")
    formula = _terms("endpoint ~ schedule", covariates)
    res, notes, _ = _fit_noting(lambda: OLS.from_formula(formula, data=data).fit())
    remarks = [_reference_remark(ref, reference is not None),
               f"Endpoint: the {outcome} assessment nearest week {w} within ±{window} days; not adjusted for "
               "a baseline value." + (f" {n_no_cov} patient(s) without a covariate value are excluded."
                                      if n_no_cov else "")]
    return ModelResult(
        name=f"regression_{outcome}_week{w}",
        description=(f"Difference in {outcome} at week {w} between schedules and the reference ({ref})"
                     f"{', adjusted for ' + ', '.join(covariates) if covariates else ''}."),
        table=coefficient_table(res.params, res.bse, res.conf_int(), res.pvalues),
        scale="points", formula=formula, method="OLS", n_patients=len(data), n_observations=len(data),
        converged=None, remarks=(*remarks, *arm_remarks, *notes),
        meta={"outcome": outcome, "endpoint_week": week, "window_days": window, "reference": ref,
              "covariates": list(covariates), "family": "gaussian"},
        raw=res, data=data)


# ------------------------------------------------------------- responders


def _responder_data(cohort: Cohort, outcome: str, endpoint_week: float, reference: str | None,
                    definition: object = None, window_days: int | None = None
                    ) -> tuple[pd.DataFrame, str, float, object]:
    _check_cohort(cohort)
    if definition is None:
        outcome = _check_outcome(cohort, outcome, needs_rule=True)
        definition = instrument_definition(cohort, outcome)
    else:
        _check_outcome(cohort, definition.outcome, needs_rule=False)
    week = _check_endpoint_week(endpoint_week)
    return (_responders(cohort, definition, week, window_days), _check_reference(cohort, reference), week,
            definition)


def responder_odds(cohort: Cohort, *, outcome: str = "leg_pain", endpoint_week: float = 6,
                   reference: str | None = None, definition: object = None, covariates: Sequence[str] = (),
                   window_days: int | None = None) -> ModelResult:
    """Odds ratio of being a responder at the endpoint, by schedule, adjusted for baseline.

    Parameters
    ----------
    cohort : Cohort
        The linked cohort.
    outcome : str, default 'leg_pain'
        An instrument of ``cohort.options.instruments`` (its responder rule is used).
    endpoint_week : float, default 6
        Endpoint week (the nearest assessment within ``options.visit_window_days``).
    reference : str, optional
        Reference schedule; default the first in sorted order.
    definition : ResponderDefinition, optional
        Who is a responder (an analysis plan's definition; its ``outcome`` replaces
        ``outcome``); default the instrument's published rule.
    covariates : sequence of str, default ()
        Further adjustment (columns of ``cohort.patient_summary``), as in `ancova`.
    window_days : int, optional
        Endpoint window; default ``cohort.options.visit_window_days``.

    Returns
    -------
    ModelResult
        ``scale`` "odds ratio": ``estimate``, ``ci_lower``, ``ci_upper`` are exp of the
        logistic coefficients and of their Wald 95 % bounds; ``std_error`` is the SE of the
        log odds ratio and ``p_value`` its Wald z-test. Terms ``Intercept`` (odds in the
        reference arm at baseline 0), ``schedule[T.<arm>]``, ``baseline`` (per point).
        ``data``: ``patient_id, schedule, baseline, responder`` (0/1) for the patients used.

    Raises
    ------
    ValueError
        A bad argument; too few assessed patients in the reference arm or in every other
        arm; an arm where no one, or everyone, responded (the odds ratio is then 0 or
        infinite: report `responder_rates` instead).

    Notes
    -----
    Responder rule from ``cohort.options``: NRS ≥ 2 points and ≥ 30 %
    (Farrar et al. 2001, Pain 94:149), ODI ≥ 10 points or 30 %, RMDQ ≥ 5 points or 30 %
    (Ostelo et al. 2008, Spine 33:90). Model: binomial GLM with logit link,
    ``responder ~ schedule + baseline``, fitted on the patients with a baseline and an
    endpoint (complete case; the denominator is stated in a remark). Baseline enters
    because the percent criterion makes responding depend on it. Checked against R
    ``glm(family = binomial)`` with Wald intervals.
    """
    covariates = _check_covariates(cohort, covariates)
    frame, ref, week, definition = _responder_data(cohort, outcome, endpoint_week, reference, definition,
                                                   window_days)
    outcome = definition.outcome
    w = _week_text(week)
    frame, n_no_cov = _with_covariates(cohort, frame, covariates)
    assessed = frame["responder"].notna()
    remarks = [_reference_remark(ref, reference is not None),
               f"Responder at week {w}: {_rule_text(cohort, definition)}.",
               f"Denominator: the {int(assessed.sum())} of {len(frame)} patients with a baseline and a week-{w} "
               f"{outcome} (complete case); {int((~assessed).sum())} without are excluded "
               f"({_per_arm(frame.assign(m=~assessed), 'm')}). responder_rates also counts them as "
               "non-responders. " + _MAR]
    if n_no_cov:
        remarks.append(f"{n_no_cov} patient(s) without a covariate value are excluded.")
    keep = ["patient_id", "schedule", "baseline", "responder", *covariates]
    data = frame.loc[assessed & frame["baseline"].notna(), keep].reset_index(drop=True)
    data["responder"] = data["responder"].astype(int)
    if data.empty:
        raise ValueError(f"no patient has both a baseline and a week-{w} {outcome}: there is nothing to fit")
    return _fit_responder(data, reference=ref, outcome=outcome, endpoint_week=week, remarks=remarks,
                          covariates=covariates, definition=getattr(definition, "name", "improved"))


def _fit_responder(data: pd.DataFrame, *, reference: str, outcome: str, endpoint_week: float,
                   remarks: Sequence[str] = (), covariates: Sequence[str] = (),
                   definition: str = "improved") -> ModelResult:
    w = _week_text(endpoint_week)
    data, arm_remarks = _arms(data, reference, what=f"patients assessed at week {w}")
    _check_events(data, "responder", what="a response", both_ends=True,
                  advice="report responder_rates instead")
    formula = _terms("responder ~ schedule + baseline", covariates)
    res, notes, trouble = _fit_noting(lambda: GLM.from_formula(formula, data=data, family=families.Binomial()).fit())
    # quasi-separation (a covariate category with no responder, or only responders): the coefficient runs off
    # to ±infinity and its standard error explodes; say which, rather than print an odds ratio of e^-20
    diverged = [t for t in res.bse.index if not np.isfinite(res.bse[t]) or res.bse[t] > _SEPARATED_SE]
    if diverged:
        notes = [*notes, f"{', '.join(diverged)}: no finite estimate (a category in which no one, or everyone, "
                         "responded: quasi-separation); its odds ratio is not estimable and should be ignored, "
                         "the other estimates stand."]
    return ModelResult(
        name=f"responder_odds_{outcome}_week{w}",
        description=f"Odds ratio of a {outcome} response ({definition}) at week {w} versus the reference "
                    f"({reference}), adjusted for baseline{' and ' + ', '.join(covariates) if covariates else ''}.",
        table=_ratio_table(res.params, res.bse, res.conf_int(), res.pvalues),
        scale="odds ratio", formula=formula, method="logistic regression (binomial GLM, IRLS)",
        n_patients=len(data), n_observations=len(data), converged=bool(res.converged) and not trouble,
        remarks=(*remarks, *arm_remarks, *notes,
                 ("Odds ratios are exp(coefficient) with Wald 95 % intervals; std_error is that of the log odds "
                  "ratio. An odds ratio overstates the risk ratio when responses are common.")),
        meta={"outcome": outcome, "endpoint_week": endpoint_week, "reference": reference,
              "family": "binomial", "link": "logit", "std_error_scale": "log odds ratio", "diverged": diverged,
              "covariates": list(covariates), "responder": definition},
        raw=res, data=data)


def responder_rates(cohort: Cohort, *, outcome: str = "leg_pain", endpoint_week: float = 6,
                    reference: str | None = None, definition: object = None) -> pd.DataFrame:
    """Responder rates per schedule with both denominators, and the difference from the reference.

    Parameters
    ----------
    cohort, outcome, endpoint_week, reference, definition
        As in `responder_odds`. ``outcome/compare`` reports the plan's responder table
        (`outcomes.models.trial.responder_table`, the same responder status); this is the
        two-row-per-arm form of one definition.

    Returns
    -------
    DataFrame
        Two rows per schedule (reference first, then sorted), columns ``outcome,
        endpoint_week, schedule, denominator`` ('all': every patient on the schedule,
        missing = non-responder, intention to treat; 'assessed': those with a baseline and
        an endpoint, complete case), ``responders, n, rate`` (proportion 0-1),
        ``ci_lower, ci_upper`` (Wilson 95 %), ``difference, difference_ci_lower,
        difference_ci_upper`` (rate minus the reference's on the same denominator, Newcomb
        95 % interval; NaN on the reference rows and where a denominator is 0) and
        ``reference``.

    Raises
    ------
    ValueError
        A bad argument.

    Notes
    -----
    Stating both denominators follows Ashar et al. 2022 (JAMA Psychiatry 79:13), who
    count every randomised patient and the missing as non-responders. Wilson interval:
    ``proportion_confint(method="wilson")`` (33/50 →
    0.5215-0.7756); Newcomb hybrid score interval for the difference:
    ``confint_proportions_2indep(compare="diff", method="newcomb")`` (33/50 vs 5/50 →
    0.381-0.689).
    """
    frame, ref, week, definition = _responder_data(cohort, outcome, endpoint_week, reference, definition)
    outcome = definition.outcome
    frame = frame[frame["schedule"].notna()]
    order = [ref] + sorted(s for s in frame["schedule"].astype(str).unique() if s != ref)
    g = frame.assign(yes=frame["responder"].fillna(False).astype(bool), seen=frame["responder"].notna()).groupby(
        frame["schedule"].astype(str)).agg(responders=("yes", "sum"), all=("yes", "size"), assessed=("seen", "sum"))
    g = g.reindex(order)
    rows = []
    for denominator in ("all", "assessed"):
        part = pd.DataFrame({"schedule": order, "denominator": denominator,
                             "responders": g["responders"].to_numpy(dtype="int64"),
                             "n": g[denominator].to_numpy(dtype="int64")})
        k, n = part["responders"].to_numpy(), part["n"].to_numpy()
        part["rate"] = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
        part["ci_lower"], part["ci_upper"] = _wilson(k, n)
        k0, n0 = k[0], n[0]
        part["difference"] = part["rate"] - part["rate"].iloc[0]
        lo = np.full(len(part), np.nan)
        hi = np.full(len(part), np.nan)
        ok = (n > 0) & (n0 > 0) & (np.arange(len(part)) > 0)
        if ok.any():
            lo[ok], hi[ok] = confint_proportions_2indep(k[ok], n[ok], np.full(ok.sum(), k0), np.full(ok.sum(), n0),
                                                        compare="diff", method="newcomb")
        part.loc[0, "difference"] = np.nan
        part["difference_ci_lower"], part["difference_ci_upper"] = lo, hi
        rows.append(part)
    out = pd.concat(rows, ignore_index=True)
    out = out.sort_values("schedule", key=lambda s: s.map(order.index), kind="stable").reset_index(drop=True)
    out.insert(0, "endpoint_week", week)
    out.insert(0, "outcome", outcome)
    out["reference"] = ref
    return out
