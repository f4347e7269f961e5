"""Case-mix adjustment: observed ÷ expected responders from a logistic model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ...cohort import Cohort
from ..results import ModelResult, coefficient_table
from ._common import (
    GROUPINGS,
    _check_by,
    _check_cohort,
    _check_k,
    _check_level,
    _check_outcome,
)
from .suppression import suppress_counts

# ------------------------------------------------------------------ case mix


#: Candidate case-mix covariates (Gozalo et al. 2016, Health Serv Res 51:768: intake
#: severity, age, symptom duration), as ``name -> (summary column, description)``.
_CASEMIX = {
    "baseline": ("{outcome}_baseline", "baseline {label} ({unit})"),
    "log_duration": ("symptom_duration_weeks", "symptom duration (log of weeks)"),
    "age": ("age_years", "age (years)"),
}


def casemix_model(cohort: Cohort, *, outcome: str = "leg_pain") -> ModelResult:
    """Logistic model of responder status on case mix, for expected responders.

    Parameters
    ----------
    cohort : Cohort
    outcome : str, default "leg_pain"
        Responder status at the endpoint of this instrument (complete case).

    Returns
    -------
    ModelResult
        ``name="casemix_logit"``, coefficients on the log-odds scale; ``data`` holds
        the patients fitted (``patient_id``, units, ``responder``, covariates,
        ``expected`` = predicted probability); ``meta`` has ``covariates`` (used)
        and ``unavailable`` (with the reason).

    Raises
    ------
    ValueError
        When no covariate is usable or fewer than 10 patients, or no responders
        and non-responders both, can be fitted.

    Notes
    -----
    Covariates: baseline severity (the outcome's baseline), symptom duration (log,
    as durations are right-skewed) and age, the intake factors outpatient
    rehabilitation registries adjust for (Gozalo et al. 2016, Health Serv Res
    51:768); sex, surgery history, comorbidity and fear-avoidance are not in the
    data contract. A covariate is left out when absent or constant; patients
    missing a used covariate are left out (a remark says how many). Binomial GLM by
    maximum likelihood (statsmodels, IRLS); with an intercept, the fitted
    probabilities sum to the observed responders, so O/E over everyone is 1.
    """
    import statsmodels.api as sm

    _check_cohort(cohort)
    _check_outcome(cohort, outcome)
    s = cohort.patient_summary
    spec = cohort.options.instruments[outcome]
    y = s[f"{outcome}_responder"].astype("boolean")
    data = s[[c for c in ("patient_id", *GROUPINGS) if c in s.columns]].copy()
    data["responder"] = y.astype("float64").to_numpy()
    used, unavailable, described = [], {}, []
    for name, (col, text) in _CASEMIX.items():
        col = col.format(outcome=outcome)
        if col not in s.columns:
            unavailable[name] = f"no {col} column"
            continue
        x = pd.to_numeric(s[col], errors="coerce").astype("float64")
        if name == "log_duration":
            x = np.log(x.where(x > 0))
        ok = x[data["responder"].notna()].dropna()
        if ok.nunique() < 2:
            unavailable[name] = f"{col} is missing or constant"
            continue
        data[name] = x.to_numpy()
        used.append(name)
        described.append(text.format(label=spec.label.lower(), unit=spec.unit))
    if not used:
        raise ValueError("casemix_model: none of baseline severity, symptom duration or age is usable "
                         f"({'; '.join(unavailable.values())})")
    fit_rows = data.dropna(subset=["responder", *used]).reset_index(drop=True)
    n_resp = int(fit_rows["responder"].sum())
    if len(fit_rows) < 10 or n_resp in (0, len(fit_rows)):
        raise ValueError(f"casemix_model needs at least 10 patients with responders and non-responders among "
                         f"them; got {len(fit_rows)} patients, {n_resp} responders")
    X = sm.add_constant(fit_rows[used].to_numpy(dtype=float), has_constant="add")
    X = pd.DataFrame(X, columns=["Intercept", *used])
    raw = sm.GLM(fit_rows["responder"].to_numpy(dtype=float), X, family=sm.families.Binomial()).fit()
    fit_rows["expected"] = np.asarray(raw.fittedvalues, dtype=float)
    assessed = int(data["responder"].notna().sum())
    remarks = [f"Covariates used: {', '.join(described)}."]
    if unavailable:
        remarks.append("Not used: " + "; ".join(f"{k} ({v})" for k, v in unavailable.items()) + ".")
    remarks.append("Sex, surgery history, comorbidity and fear-avoidance (Gozalo et al. 2016) are not in "
                   "the data contract, so they are not adjusted for.")
    if assessed - len(fit_rows):
        remarks.append(f"{assessed - len(fit_rows)} of {assessed} patients with a responder status were left "
                       "out for a missing covariate.")
    converged = bool(getattr(raw, "converged", True))
    if not converged:
        remarks.append("The fit did not converge: expected counts are unreliable.")
    formula = "responder ~ " + " + ".join(used)
    return ModelResult(
        name="casemix_logit",
        description=f"Log-odds of being a {spec.label.lower()} responder at week "
                    f"{cohort.options.endpoint_week} by case mix (for expected responders per unit).",
        table=coefficient_table(raw.params, raw.bse, raw.conf_int(), raw.pvalues),
        scale="log odds", formula=formula, method="maximum likelihood (binomial GLM, IRLS)",
        n_patients=len(fit_rows), n_observations=len(fit_rows), converged=converged,
        remarks=tuple(remarks),
        meta={"outcome": outcome, "covariates": used, "covariate_labels": described,
              "unavailable": unavailable, "duration_transform": "log"},
        raw=raw, data=fit_rows,
    )


def _byar(observed: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximation to the exact Poisson interval for an observed count
    (Breslow & Day 1987, Statistical Methods in Cancer Research II, p. 69)."""
    z = stats.norm.ppf((1 + level) / 2)
    o = observed.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(o > 0, o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3, 0.0)
    o1 = o + 1
    hi = o1 * (1 - 1 / (9 * o1) + z / (3 * np.sqrt(o1))) ** 3
    return lo, hi


def casemix_oe(cohort: Cohort, *, by: str | None = "site_id", model: ModelResult | None = None,
               k: int = 11, level: float = 0.95, outcome: str = "leg_pain") -> pd.DataFrame:
    """Observed ÷ expected responders per unit, expected from the case-mix model.

    Parameters
    ----------
    cohort : Cohort
    by : {"site_id", "clinician_id", "schedule", None}, default "site_id"
        None gives one row for everyone (O/E = 1 by construction).
    model : ModelResult, optional
        From :func:`casemix_model` (fitted once and shared between groupings);
        fitted here when not given.
    k : int, default 11
        Small-cell threshold for the observed count, its complement and ``n``.
    level : float, default 0.95
    outcome : str, default "leg_pain"

    Returns
    -------
    DataFrame
        ``by, unit, n`` (patients fitted), ``observed, expected, oe, ci_lower,
        ci_upper, observed_rate, expected_rate, adjusted_rate`` (O/E × the overall
        rate: indirect standardisation), ``position`` ("as expected",
        "more responders than expected", "fewer responders than expected": whether
        the interval excludes 1), ``suppressed``.

    Notes
    -----
    The interval treats the expected count as fixed and the observed as Poisson
    (Byar's approximation, Breslow & Day 1987); it ignores the model's own
    uncertainty, which is small beside a unit's when the units are many.
    """
    _check_cohort(cohort)
    _check_by(by, allow_none=True)
    k = _check_k(k)
    level = _check_level(level)
    if model is None:
        model = casemix_model(cohort, outcome=outcome)
    elif not isinstance(model, ModelResult) or model.data is None or "expected" not in model.data.columns:
        raise TypeError("model must be the ModelResult of casemix_model(), got "
                        f"{type(model).__name__}")
    d = model.data
    key = d[by].astype(str) if by else pd.Series("all patients", index=d.index)
    g = pd.DataFrame({"unit": key, "o": d["responder"], "e": d["expected"]}).groupby("unit", sort=True)
    t = pd.DataFrame({"n": g.size(), "observed": g["o"].sum(), "expected": g["e"].sum()}).reset_index()
    t.insert(0, "by", by or "all")
    o, e = t["observed"].to_numpy(dtype=float), t["expected"].to_numpy(dtype=float)
    lo, hi = _byar(o, level)
    t["oe"] = o / e
    t["ci_lower"], t["ci_upper"] = lo / e, hi / e
    t["observed_rate"] = o / t["n"]
    t["expected_rate"] = e / t["n"]
    overall = float(d["responder"].mean())
    t["adjusted_rate"] = t["oe"] * overall
    t["position"] = np.where(t["ci_lower"] > 1, "more responders than expected",
                             np.where(t["ci_upper"] < 1, "fewer responders than expected", "as expected"))
    hide_n, hide_d = suppress_counts(t["observed"], t["n"], k=k, proportion=True, lines=by is not None)
    t["n"] = t["n"].astype("Int64")
    t["observed"] = t["observed"].round().astype("Int64")
    t.loc[hide_d, "n"] = pd.NA
    t.loc[hide_n | hide_d, "observed"] = pd.NA
    t.loc[hide_n | hide_d, ["oe", "ci_lower", "ci_upper", "observed_rate", "adjusted_rate"]] = np.nan
    t.loc[hide_d, ["expected", "expected_rate"]] = np.nan
    t["suppressed"] = hide_n | hide_d
    return t.reset_index(drop=True)
