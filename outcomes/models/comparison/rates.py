"""Flare rate per session by schedule: Poisson, or negative binomial when overdispersed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
# The model classes themselves, not statsmodels.api / formula.api: those import every model,
# time series and graphics too (0.4-0.7 s of start-up for every compare run).
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.discrete.discrete_model import NegativeBinomial

from ...cohort import Cohort
from ..results import ModelResult
from ._common import (
    _arms,
    _check_cohort,
    _check_events,
    _check_number,
    _check_reference,
    _fit_noting,
    _patients,
    _per_arm,
    _ratio_table,
    _reference_remark,
    _check_covariates,
    _terms,
    _with_covariates,
)

__all__ = ["DISPERSION_THRESHOLD", "flare_rates"]

#: Pearson χ²/df of the Poisson fit above which the negative binomial model is used.
DISPERSION_THRESHOLD = 1.5


def _session_counts(cohort: Cohort) -> pd.DataFrame:
    """patient_id, schedule, flares, sessions: every patient (0 when no week was logged)."""
    pw = cohort.patient_week
    if cohort.sessions is None or not {"sessions_done", "flares"} <= set(pw.columns):
        raise ValueError("flare rates need a sessions export (sessions done and flares per patient); "
                         "this cohort has none")
    per = pw.groupby("patient_id", sort=False).agg(flares=("flares", "sum"), sessions=("sessions_done", "sum"))
    out = _patients(cohort).merge(per.reset_index(), on="patient_id", how="left")
    out[["flares", "sessions"]] = out[["flares", "sessions"]].fillna(0).astype("int64")
    return out


def flare_rates(cohort: Cohort, *, reference: str | None = None,
                dispersion_threshold: float = DISPERSION_THRESHOLD, covariates: Sequence[str] = ()) -> ModelResult:
    """Rate ratio of session flares per session done, by schedule.

    Parameters
    ----------
    cohort : Cohort
        The linked cohort; needs a sessions export.
    reference : str, optional
        Reference schedule; default the first in sorted order.
    dispersion_threshold : float, default 1.5
        When the Poisson fit's Pearson χ²/df exceeds this, the negative binomial model is
        reported instead (``0`` forces it, ``inf`` keeps Poisson).
    covariates : sequence of str, default ()
        Baseline covariates (columns of ``cohort.patient_summary``) added to the model.

    Returns
    -------
    ModelResult
        ``scale`` "rate ratio": exp of the coefficients and Wald 95 % bounds
        (``std_error`` of the log rate ratio); ``Intercept`` is the flare rate per session
        in the reference arm, ``schedule[T.<arm>]`` the ratio of rates per session.
        ``data``: ``patient_id, schedule, flares, sessions`` (patients with at least one
        session). ``meta``: family, offset ``log(sessions)``, dispersion (Pearson χ²/df of
        the Poisson fit), dispersion_threshold and, for the negative binomial, ``alpha``
        (NB2: variance μ + αμ²) and ``theta`` = 1/α (R's parametrisation).

    Raises
    ------
    ValueError
        No sessions export; a bad argument; too few patients with sessions in the
        reference arm or every other arm; an arm without any flare.

    Notes
    -----
    A flare is a session whose pain rose by ``options.safety.flare_rise`` (2) points or
    more, or rated "worse" (`outcomes.measures.safety`); flares and sessions done
    are summed from ``cohort.patient_week``. Model: ``flares ~ schedule`` with offset
    log(sessions done), Poisson GLM. Overdispersion is checked with Pearson χ²/df
    (Cameron & Trivedi 2013, Regression Analysis of Count Data, §3.2); above the
    threshold, α is estimated by maximum likelihood with statsmodels' discrete
    ``NegativeBinomial`` (NB2) and the coefficients refitted as a GLM with that α fixed,
    which is what R's ``MASS::glm.nb`` reports (its SEs treat θ as known). Checked
    against R ``glm(family = poisson)`` with ``offset(log(sessions))`` and ``glm.nb``.
    """
    _check_cohort(cohort)
    threshold = _check_number(dispersion_threshold, "dispersion_threshold", low=0, allow_inf=True)
    ref = _check_reference(cohort, reference)
    covariates = _check_covariates(cohort, covariates)
    frame, n_no_cov = _with_covariates(cohort, _session_counts(cohort), covariates)
    none = frame["sessions"] == 0
    remarks = [_reference_remark(ref, reference is not None),
               ("Flares: sessions with pain rising by "
                f"{cohort.options.safety.flare_rise} or more points, or rated worse; exposure: sessions done. "
                "The rate is per session, so it compares how often a session flares, not how many flares a "
                "patient has (that also depends on adherence).")]
    if none.any():
        remarks.append(f"{int(none.sum())} patient(s) logged no session and add no exposure: excluded "
                       f"({_per_arm(frame.assign(m=none), 'm')}).")
    if n_no_cov:
        remarks.append(f"{n_no_cov} patient(s) without a covariate value are excluded.")
    data = frame[~none].reset_index(drop=True)
    if data.empty:
        raise ValueError("no patient logged a session: there is no exposure to compare flare rates on")
    return _fit_flares(data, reference=ref, dispersion_threshold=threshold, remarks=remarks, covariates=covariates)


def _fit_flares(data: pd.DataFrame, *, reference: str, dispersion_threshold: float = DISPERSION_THRESHOLD,
                remarks: Sequence[str] = (), covariates: Sequence[str] = ()) -> ModelResult:
    data, arm_remarks = _arms(data, reference, what="patients with a logged session")
    _check_events(data, "flares", what="a flare", both_ends=False,
                  advice="report the flare counts per schedule instead")
    formula = _terms("flares ~ schedule", covariates)
    offset = np.log(data["sessions"].to_numpy(dtype=float))
    res, notes, trouble = _fit_noting(
        lambda: GLM.from_formula(formula, data=data, family=families.Poisson(), offset=offset).fit())
    dispersion = float(res.pearson_chi2 / res.df_resid) if res.df_resid > 0 else float("nan")
    meta = {"family": "poisson", "link": "log", "offset": "log(sessions)", "dispersion": dispersion,
            "dispersion_threshold": dispersion_threshold, "reference": reference,
            "std_error_scale": "log rate ratio", "covariates": list(covariates)}
    method = "Poisson GLM (IRLS), offset log(sessions)"
    converged = bool(res.converged) and not trouble
    if dispersion > dispersion_threshold:
        nb, nb_notes, nb_trouble = _fit_noting(lambda: NegativeBinomial.from_formula(
            formula, data=data, offset=offset, loglike_method="nb2").fit(disp=0, maxiter=200))
        alpha = float(nb.params["alpha"])
        res, notes, trouble = _fit_noting(lambda: GLM.from_formula(
            formula, data=data, family=families.NegativeBinomial(alpha=alpha), offset=offset).fit())
        notes = nb_notes + notes
        converged = bool(res.converged and nb.mle_retvals.get("converged", True)) and not (trouble or nb_trouble)
        meta.update(family="negative binomial (NB2)", alpha=alpha, theta=1.0 / alpha)
        method = "negative binomial GLM (NB2, α by maximum likelihood), offset log(sessions)"
        choice = (f"Pearson χ²/df of the Poisson fit = {dispersion:.2f}, above {dispersion_threshold:g}: "
                  f"overdispersed, so the negative binomial model is reported (α = {alpha:.3g}, variance "
                  "μ + αμ²; α by maximum likelihood, coefficients refitted as a GLM with α fixed).")
    else:
        choice = (f"Pearson χ²/df of the Poisson fit = {dispersion:.2f}, not above {dispersion_threshold:g}: "
                  "the Poisson model is kept.")
    k = data.groupby("schedule", observed=True)[["flares", "sessions"]].sum()
    rates = ", ".join(f"{s} {100 * r.flares / r.sessions:.2f}" for s, r in k.iterrows())
    return ModelResult(
        name="flare_rates",
        description=f"Ratio of flares per session done versus the reference ({reference}).",
        table=_ratio_table(res.params, res.bse, res.conf_int(), res.pvalues),
        scale="rate ratio", formula=formula, method=method, n_patients=len(data),
        n_observations=len(data), converged=converged,
        remarks=(*remarks, *arm_remarks, choice, *notes, f"Flares per 100 sessions: {rates}.",
                 ("Rate ratios are exp(coefficient) with Wald 95 % intervals; std_error is that of the log rate "
                  "ratio; the Intercept is the flare rate per session in the reference arm.")),
        meta=meta, raw=res, data=data)
