"""Missing data at the endpoint: multiple imputation under MAR and a tipping-point analysis.

:func:`multiple_imputation` imputes each missing endpoint value from a Bayesian normal
linear regression, per arm, on the baseline, the covariates and the intermediate visits
the patient has, draws the regression's σ and β from their posterior (proper
imputation), fits the endpoint ANCOVA (baseline + arm + covariates) to each completed
dataset and combines the fits with Rubin's rules (Barnard–Rubin degrees of freedom).

:func:`tipping_point` repeats the analysis with δ added to the imputed values of each
non-reference arm, in the direction unfavourable to that arm, and reports the smallest
δ at which the conclusion (significance at ``alpha``, or the sign of the difference)
changes: how far from missing-at-random the dropouts would have to be to overturn it.

Both are seeded (a numpy Generator): the same data and seed give identical results, and
the tipping-point analysis at δ = 0 equals the multiple imputation with the same seed.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import linalg

from ..errors import UsageError
from ._longitudinal import (arm_levels, check_choice, check_level, check_roles, covariate_design, t_inference,
                            time_label, visit_levels)

__all__ = ["DEFAULT_SEED", "SENSITIVITY_COLUMNS", "ImputationResult", "TippingPointResult", "multiple_imputation",
           "pool_rubin", "tipping_point"]

#: Columns of the ``sensitivity`` rows of the compare contract.
SENSITIVITY_COLUMNS = ["table", "method", "delta", "outcome", "term", "estimate", "std_error", "ci_lower",
                       "ci_upper", "p_value"]
#: Seed used when none is given, so that a report is the same every time it is made.
DEFAULT_SEED = 20261130
_POOLED_COLUMNS = ["term", "arm", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "df", "fmi",
                   "within_variance", "between_variance"]
_DIRECTIONS = ("lower_is_better", "higher_is_better")


# --------------------------------------------------------------------------- Rubin's rules


def pool_rubin(estimates: Any, variances: Any, df_complete: float, *, level: float = 0.95) -> dict[str, float]:
    """Combine one parameter's estimates from m completed datasets (Rubin's rules).

    Parameters
    ----------
    estimates, variances : array-like, shape (m,)
        Each completed-data estimate and its squared standard error.
    df_complete : float
        Residual degrees of freedom of the complete-data analysis (n − k for OLS).
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    dict
        ``estimate`` Q̄ (mean), ``within_variance`` Ū (mean variance), ``between_variance``
        B (variance of the estimates), ``std_error`` √T with T = Ū + (1 + 1/m) B, ``df``
        (Barnard & Rubin 1999, Biometrika 86:948: ν = 1/(1/ν_old + 1/ν_obs) with
        ν_old = (m − 1)/λ², λ = (1 + 1/m) B / T, ν_obs = (ν_com + 1)/(ν_com + 3) ν_com (1 − λ)),
        ``fmi`` (fraction of missing information, (r + 2/(ν + 3))/(r + 1) with
        r = (1 + 1/m) B / Ū, as mice), ``ci_lower``, ``ci_upper``, ``p_value`` (t with ν).
        When B = 0 (nothing was imputed) the df are ν_com and the result is the
        complete-data analysis.
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    m = len(q)
    qbar, ubar = float(np.mean(q)), float(np.mean(u))
    b = float(np.var(q, ddof=1)) if m > 1 else 0.0
    t = ubar + (1 + 1 / m) * b
    if b <= 0:
        df, fmi = float(df_complete), 0.0
    else:
        lam = (1 + 1 / m) * b / t
        nu_old = (m - 1) / lam ** 2
        nu_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
        df = nu_old * nu_obs / (nu_old + nu_obs)
        r = (1 + 1 / m) * b / ubar
        fmi = (r + 2 / (df + 3)) / (r + 1)
    se = math.sqrt(t)
    lo, hi, p = t_inference(qbar, se, df, level)
    return {"estimate": qbar, "std_error": se, "ci_lower": float(lo), "ci_upper": float(hi), "p_value": float(p),
            "df": float(df), "fmi": float(fmi), "within_variance": ubar, "between_variance": b}


# --------------------------------------------------------------------------- result objects


@dataclass(frozen=True)
class ImputationResult:
    """The endpoint ANCOVA after multiple imputation under MAR (:func:`multiple_imputation`).

    Attributes
    ----------
    outcome, arm, reference : str
        The outcome column, the arm column and the reference arm.
    endpoint : object
        The endpoint visit (a value of the visit column).
    arms : tuple of str
        Every arm, the reference first.
    imputations : int
        Number of completed datasets m.
    seed : int or None
        The seed of the numpy Generator (None when a Generator was given).
    level : float
        Confidence level.
    table : DataFrame
        One row per non-reference arm: ``term`` ("<arm> vs <reference> at <endpoint>"),
        ``arm``, pooled ``estimate``, ``std_error``, ``ci_lower``, ``ci_upper``,
        ``p_value``, ``df`` (Barnard–Rubin), ``fmi``, ``within_variance``,
        ``between_variance``.
    counts : DataFrame
        Per arm: ``arm, n, n_observed, n_imputed`` (patients analysed, with an observed
        endpoint, with an imputed one).
    per_imputation : DataFrame
        ``imputation, term, estimate, variance``: each completed-data ANCOVA (for checks).
    n_patients : int
        Patients analysed (everyone with a baseline and covariates).
    remarks : tuple of str
        Plain-language notes (who was left out, predictors dropped for lack of donors).
    meta : dict
        JSON-ready details: the imputation model, ``df_complete``, ``fit_seconds`` (wall time of the
        imputations and their analyses).
    """

    outcome: str
    arm: str
    reference: str
    endpoint: Any
    arms: tuple[str, ...]
    imputations: int
    seed: int | None
    level: float
    table: pd.DataFrame
    counts: pd.DataFrame
    per_imputation: pd.DataFrame = field(repr=False)
    n_patients: int = 0
    remarks: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    method: str = "multiple_imputation"

    def to_frame(self) -> pd.DataFrame:
        """``sensitivity`` rows (:data:`SENSITIVITY_COLUMNS`), δ = 0."""
        out = self.table.assign(table="sensitivity", method=self.method, delta=0.0, outcome=self.outcome)
        return out[SENSITIVITY_COLUMNS].reset_index(drop=True)

    def describe(self) -> dict[str, Any]:
        """JSON-ready metadata (for ``models.json``)."""
        return {"model": self.method, "outcome": self.outcome, "reference": self.reference,
                "endpoint": _json(self.endpoint), "imputations": self.imputations, "seed": self.seed,
                "n_patients": self.n_patients, "counts": self.counts.to_dict("records"),
                "remarks": list(self.remarks), **self.meta}

    def summary(self, digits: int = 3) -> str:
        lines = [f"Multiple imputation (MAR) of {self.outcome} at {time_label(self.endpoint)}: {self.imputations} "
                 f"imputations, seed {self.seed}; {self.n_patients} patients, "
                 f"{int(self.counts['n_imputed'].sum())} endpoints imputed",
                 self.table.drop(columns=["arm"]).to_string(index=False, float_format=lambda x: f"{x:.{digits}g}")]
        return "\n".join(lines + [f"{i}. {r}" for i, r in enumerate(self.remarks, start=1)])

    def __repr__(self) -> str:
        return (f"<ImputationResult {self.outcome} at {time_label(self.endpoint)}: m={self.imputations}, "
                f"{self.n_patients} patients, {int(self.counts['n_imputed'].sum())} imputed>")

    def _repr_html_(self) -> str:
        return (f"<div><strong>{html.escape(self.summary().splitlines()[0])}</strong>"
                f"{self.to_frame().to_html(index=False, float_format=lambda x: f'{x:.4g}')}</div>")


@dataclass(frozen=True)
class TippingPointResult:
    """The tipping-point analysis (:func:`tipping_point`).

    Attributes
    ----------
    outcome, reference, direction : str
        ``direction`` is the outcome's better direction; δ moves the imputed values of the
        non-reference arms the other way (up when lower is better).
    deltas : tuple of float
        The δ analysed (0 always included), ascending.
    alpha : float
        Significance level defining the conclusion.
    rows : DataFrame
        :data:`SENSITIVITY_COLUMNS` plus ``arm``, ``df`` and ``significant``; one row per δ
        and non-reference arm.
    tipping : DataFrame
        One row per non-reference arm: ``outcome, term, arm, estimate_mar, p_value_mar,
        significant_mar, tipping_delta`` (the smallest δ analysed at which the conclusion
        differs from δ = 0: significance at ``alpha`` or the sign of the estimate; NaN when
        none does) and ``sentence`` (the finding in words).
    imputation : ImputationResult
        The multiple imputation (δ = 0) it builds on.
    meta : dict
        JSON-ready details: ``fit_seconds`` (the δ grid's analyses, after the imputation's own time).
    """

    outcome: str
    reference: str
    direction: str
    deltas: tuple[float, ...]
    alpha: float
    rows: pd.DataFrame
    tipping: pd.DataFrame
    imputation: ImputationResult = field(repr=False)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The ``sensitivity`` rows (:data:`SENSITIVITY_COLUMNS`, a copy)."""
        return self.rows[SENSITIVITY_COLUMNS].copy()

    def describe(self) -> dict[str, Any]:
        return {"model": "tipping_point", "outcome": self.outcome, "reference": self.reference,
                "direction": self.direction, "deltas": list(self.deltas), "alpha": self.alpha,
                "tipping": [{k: _json(v) for k, v in r.items()} for r in self.tipping.to_dict("records")],
                "imputations": self.imputation.imputations, "seed": self.imputation.seed, **self.meta}

    def summary(self, digits: int = 3) -> str:
        table = self.to_frame().drop(columns=["table", "outcome"])
        return "\n".join([f"Tipping point ({self.direction.replace('_', ' ')}) for {self.outcome}",
                          table.to_string(index=False, float_format=lambda x: f"{x:.{digits}g}"),
                          *self.tipping["sentence"]])

    def __repr__(self) -> str:
        tips = ", ".join(f"{r.arm}: {'none' if math.isnan(r.tipping_delta) else f'{r.tipping_delta:g}'}"
                         for r in self.tipping.itertuples())
        return f"<TippingPointResult {self.outcome}, deltas {list(self.deltas)}; tipping delta {tips}>"


def _json(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# --------------------------------------------------------------------------- data


@dataclass
class _Prepared:
    wide: pd.DataFrame            # one row per patient: arm, baseline, covariates, visit columns
    visit_cols: list[Any]         # intermediate visits, in order
    endpoint: Any
    arms: list[str]
    cov_X: np.ndarray             # covariate design (patients × c)
    cov_names: list[str]
    covariates: tuple[str, ...]
    remarks: list[str]


def _prepare(data: Any, *, outcome: str, arm: str, visit: str, subject: str, baseline: str, reference: str,
             covariates: Any, endpoint: Any, who: str) -> _Prepared:
    if baseline is None:
        raise UsageError(f"{who}: baseline is required (the analysis is the endpoint ANCOVA adjusted for it).")
    covariates = check_roles(data, who=who, outcome=outcome, arm=arm, visit=visit, subject=subject,
                             baseline=baseline, covariates=covariates, reference=reference)
    frame = data[list(dict.fromkeys([subject, arm, visit, outcome, baseline, *covariates]))].copy()
    remarks: list[str] = []
    keys = frame[[subject, arm, visit]].isna().any(axis=1)
    if keys.any():
        remarks.append(f"{int(keys.sum())} rows without {subject}, {arm} or {visit} were left out.")
        frame = frame[~keys]
    frame[arm] = frame[arm].astype(str)
    if (frame.groupby(subject)[arm].nunique() > 1).any():
        raise UsageError(f"{who}: each patient must be in one arm of {arm!r}.")
    visits = visit_levels(frame[visit])
    if endpoint is None:
        endpoint = visits[-1] if visits else None
    if endpoint not in visits:
        raise UsageError(f"{who}: endpoint = {endpoint!r} is not a visit of {visit!r} "
                         f"(visits: {', '.join(time_label(v) for v in visits)}).")
    inter = visits[:visits.index(endpoint)]
    valued = frame[frame[outcome].notna() & frame[visit].isin([*inter, endpoint])]
    dup = valued.duplicated([subject, visit])
    if dup.any():
        row = valued[dup].iloc[0]
        raise UsageError(f"{who}: one value per patient and visit is needed; {subject} {row[subject]!s} has "
                         f"several at {visit} {time_label(row[visit])}.")
    patients = frame.groupby(subject, sort=True).agg(
        **{"_arm": (arm, "first"), "_baseline": (baseline, "first"),
           **{f"_c{i}": (c, "first") for i, c in enumerate(covariates)}})
    wide = valued.pivot(index=subject, columns=visit, values=outcome).reindex(
        index=patients.index, columns=[*inter, endpoint])
    wide.columns = list(range(len(inter) + 1))
    patients = patients.rename(columns={f"_c{i}": c for i, c in enumerate(covariates)})
    incomplete = patients[["_baseline", *covariates]].isna().any(axis=1)
    if incomplete.any():
        remarks.append(f"{int(incomplete.sum())} patients without {', '.join([baseline, *covariates])} were "
                       f"left out (the ANCOVA needs them).")
    keep = ~incomplete.to_numpy()
    patients, wide = patients[keep], wide[keep]
    if reference not in set(patients["_arm"].unique()):
        raise UsageError(f"{who}: the reference arm {reference!r} has no patient with a {baseline}.")
    arms = arm_levels(patients["_arm"], reference)
    if len(arms) < 2:
        raise UsageError(f"{who}: comparing arms needs at least two; only {reference!r} has patients.")
    cov_X, cov_names, _ = covariate_design(patients.reset_index(drop=True), covariates)
    both = pd.concat([patients.reset_index(drop=True)[["_arm", "_baseline"]], wide.reset_index(drop=True)], axis=1)
    return _Prepared(wide=both, visit_cols=list(range(len(inter))), endpoint=endpoint, arms=arms, cov_X=cov_X,
                     cov_names=cov_names, covariates=covariates, remarks=remarks)


# --------------------------------------------------------------------------- imputation


def _independent_columns(X: np.ndarray) -> np.ndarray:
    """Indices of a maximal set of linearly independent columns (pivoted QR), in order."""
    _, R, piv = linalg.qr(X, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    rank = int(np.sum(d > 1e-10 * max(d[0], 1.0))) if len(d) else 0
    return np.sort(piv[:rank])


def _impute(prep: _Prepared, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Completed endpoints (patients × m), the mask of imputed patients, remarks."""
    w = prep.wide
    end = len(prep.visit_cols)
    y_end = w[end].to_numpy(dtype=float)
    completed = np.repeat(y_end[:, None], m, axis=1)
    missing = np.isnan(y_end)
    inter = w[prep.visit_cols].to_numpy(dtype=float) if prep.visit_cols else np.empty((len(w), 0))
    base = np.column_stack([np.ones(len(w)), w["_baseline"].to_numpy(dtype=float), prep.cov_X])
    remarks = []
    for a in prep.arms:
        in_arm = (w["_arm"] == a).to_numpy()
        todo = in_arm & missing
        if not todo.any():
            continue
        seen = ~np.isnan(inter)
        patterns = {tuple(row) for row in seen[todo]}
        for pattern in sorted(patterns, key=lambda t: (sum(t), t), reverse=True):
            who = todo & np.all(seen == np.array(pattern, dtype=bool), axis=1) if pattern else todo
            used = [j for j, s in enumerate(pattern) if s]
            while True:
                donors = in_arm & ~missing & (np.all(seen[:, used], axis=1) if used else True)
                X_d = np.column_stack([base[donors], inter[np.ix_(donors, used)]])
                cols = _independent_columns(X_d) if len(X_d) else np.arange(0)
                if len(X_d) - len(cols) >= 2 or not used:
                    break
                used = used[1:]  # too few donors for this many predictors: drop the earliest visit
            if len(X_d) - len(cols) < 2:
                raise UsageError(f"multiple imputation: arm {a!r} has {int(donors.sum())} patients with an endpoint "
                                 f"value; at least {len(cols) + 2} are needed to impute the others.")
            if len(used) < sum(pattern):
                remarks.append(f"In arm {a}, {int(who.sum())} patients were imputed from fewer of their visits "
                               f"than they have (too few complete patients with those visits).")
            X_d = X_d[:, cols]
            X_m = np.column_stack([base[who], inter[np.ix_(who, used)]])[:, cols]
            y_d = y_end[donors]
            Q, R = np.linalg.qr(X_d)
            beta = linalg.solve_triangular(R, Q.T @ y_d)
            resid = y_d - X_d @ beta
            dof = len(y_d) - len(cols)
            rss = float(resid @ resid)
            R_inv = linalg.solve_triangular(R, np.eye(len(cols)))  # (X'X)⁻¹ = R⁻¹R⁻ᵀ
            sigma = np.sqrt(rss / rng.chisquare(dof, size=m))                          # (m,)
            betas = beta[None, :] + sigma[:, None] * (rng.standard_normal((m, len(cols))) @ R_inv.T)
            noise = rng.standard_normal((m, int(who.sum()))) * sigma[:, None]
            completed[who] = (X_m @ betas.T) + noise.T
    return completed, missing, remarks


def _ancova(prep: _Prepared, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Arm coefficients and their variances for each column of Y; residual df."""
    w = prep.wide
    arm_cols = np.column_stack([(w["_arm"] == a).to_numpy(dtype=float) for a in prep.arms[1:]])
    X = np.column_stack([np.ones(len(w)), arm_cols, w["_baseline"].to_numpy(dtype=float), prep.cov_X])
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise UsageError("endpoint ANCOVA: the design is not of full rank (a covariate is constant or repeats "
                         f"another: {', '.join(prep.cov_names) or 'none'}). Remove it.")
    Q, R = np.linalg.qr(X)
    coef = linalg.solve_triangular(R, Q.T @ Y)
    dof = X.shape[0] - X.shape[1]
    s2 = np.sum((Y - X @ coef) ** 2, axis=0) / dof
    R_inv = linalg.solve_triangular(R, np.eye(X.shape[1]))
    xtx_inv_diag = np.sum(R_inv ** 2, axis=1)
    k = len(prep.arms) - 1
    return coef[1:1 + k], xtx_inv_diag[1:1 + k, None] * s2[None, :], dof


def _check_imputations(imputations: Any) -> int:
    ok = (not isinstance(imputations, bool) and isinstance(imputations, (int, np.integer))
          and 2 <= imputations <= 10_000)
    if not ok:
        raise UsageError(f"imputations must be a whole number from 2 to 10000 (50 is usual); got {imputations!r}")
    return int(imputations)


def _rng(seed: Any) -> tuple[np.random.Generator, int | None]:
    if isinstance(seed, np.random.Generator):
        return seed, None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be a non-negative whole number (or a numpy Generator); got {seed!r}")
    return np.random.default_rng(int(seed)), int(seed)


def _run(data: Any, *, who: str, outcome: str, arm: str, visit: str, subject: str, baseline: str, reference: str,
         endpoint: Any, covariates: Any, imputations: Any, seed: Any, level: Any
         ) -> tuple[ImputationResult, _Prepared, np.ndarray, np.ndarray]:
    t0 = time.perf_counter()
    m = _check_imputations(imputations)
    rng, seed_used = _rng(seed)
    level = check_level(level)
    prep = _prepare(data, outcome=outcome, arm=arm, visit=visit, subject=subject, baseline=baseline,
                    reference=reference, covariates=covariates, endpoint=endpoint, who=who)
    completed, missing, remarks = _impute(prep, m, rng)
    est, var, dof = _ancova(prep, completed)
    label = time_label(prep.endpoint)
    terms = [f"{a} vs {reference} at {label}" for a in prep.arms[1:]]
    table = pd.DataFrame([{"term": t, "arm": a, **pool_rubin(est[i], var[i], dof, level=level)}
                          for i, (t, a) in enumerate(zip(terms, prep.arms[1:]))])[_POOLED_COLUMNS]
    arms_col = prep.wide["_arm"].to_numpy()
    counts = pd.DataFrame([{"arm": a, "n": int((arms_col == a).sum()),
                            "n_observed": int(((arms_col == a) & ~missing).sum()),
                            "n_imputed": int(((arms_col == a) & missing).sum())} for a in prep.arms])
    per = pd.DataFrame({"imputation": np.tile(np.arange(1, m + 1), len(terms)), "term": np.repeat(terms, m),
                        "estimate": est.ravel(), "variance": var.ravel()})
    notes = list(prep.remarks) + remarks
    notes.append(f"{int(missing.sum())} of {len(missing)} endpoint values imputed {m} times under missing at random, "
                 f"per arm, from {', '.join([baseline, *prep.covariates])} and the earlier visits each patient "
                 f"has; estimates combined with Rubin's rules.")
    if not missing.any():
        notes.append("No endpoint value is missing: the result is the complete-data ANCOVA.")
    result = ImputationResult(
        outcome=outcome, arm=arm, reference=reference, endpoint=prep.endpoint, arms=tuple(prep.arms),
        imputations=m, seed=seed_used, level=level, table=table, counts=counts, per_imputation=per,
        n_patients=len(missing), remarks=tuple(notes),
        meta={"fit_seconds": time.perf_counter() - t0, "df_complete": int(dof),
              "analysis": f"{outcome} at {label} ~ {arm} + {baseline}" + "".join(f" + {c}" for c in prep.cov_names),
              "imputation_model": "Bayesian normal linear regression per arm (proper: σ², β drawn from their "
                                  "posterior)"})
    return result, prep, completed, missing


# --------------------------------------------------------------------------- public API


def multiple_imputation(data: pd.DataFrame, *, outcome: str, arm: str, visit: str, subject: str, baseline: str,
                        reference: str, endpoint: Any = None, covariates: Sequence[str] = (),
                        imputations: int = 50, seed: int | np.random.Generator = DEFAULT_SEED,
                        level: float = 0.95) -> ImputationResult:
    """Endpoint ANCOVA with missing endpoints multiply imputed under missing at random.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per patient and post-baseline visit (rows with a missing
        outcome allowed). Every patient appearing with a baseline (and the covariates) is
        analysed; one with no post-baseline value at all is imputed from baseline and
        covariates. Not modified.
    outcome, arm, visit, subject : str
        Column roles, as in :func:`outcomes.models.mmrm.fit_mmrm`.
    baseline : str
        Numeric column with the patient's baseline value.
    reference : str
        The arm the others are compared with.
    endpoint : optional
        The endpoint visit (a value of ``visit``); default the last visit. Visits before it
        are the intermediate visits used to impute; later ones are ignored.
    covariates : sequence of str, default ()
        Adjustment in both the imputation and the analysis model.
    imputations : int, default 50
        Number of completed datasets m.
    seed : int or numpy Generator, default :data:`DEFAULT_SEED`
        Seed of ``numpy.random.default_rng``; the same seed gives the same result.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    ImputationResult
        Pooled differences from the reference (``table``; ``to_frame()`` gives the
        ``sensitivity`` rows with ``method = "multiple_imputation"``, ``delta = 0``).

    Raises
    ------
    outcomes.errors.UsageError
        Bad columns or options; an arm with too few patients with an endpoint value to fit
        its imputation model.

    Notes
    -----
    Imputation model, per arm and per pattern of observed intermediate visits: the
    endpoint regressed on (1, baseline, covariates, the intermediate visits the patient
    has) in the patients of that arm who have the endpoint and those visits; if fewer
    than k + 2 such patients exist, the earliest visits are dropped from the predictors
    (said in a remark). Each imputation draws σ² = RSS / χ²(n − k), β ~ N(β̂, σ²(X'X)⁻¹)
    and the value ~ N(x'β, σ²) (Rubin 1987, p. 167; mice's ``norm``). Analysis: OLS of the
    endpoint on arm + baseline + covariates; pooling by :func:`pool_rubin`. With no
    missing endpoint the result equals the complete-data ANCOVA exactly.
    """
    return _run(data, who="multiple imputation", outcome=outcome, arm=arm, visit=visit, subject=subject,
                baseline=baseline, reference=reference, endpoint=endpoint, covariates=covariates,
                imputations=imputations, seed=seed, level=level)[0]


def tipping_point(data: pd.DataFrame, *, outcome: str, arm: str, visit: str, subject: str, baseline: str,
                  reference: str, direction: Literal["lower_is_better", "higher_is_better"],
                  deltas: Sequence[float] = (0, 1, 2, 3), endpoint: Any = None, covariates: Sequence[str] = (),
                  imputations: int = 50, seed: int | np.random.Generator = DEFAULT_SEED, level: float = 0.95,
                  alpha: float = 0.05) -> TippingPointResult:
    """Tipping-point analysis: how far from MAR must dropouts be to change the conclusion?

    Parameters
    ----------
    data, outcome, arm, visit, subject, baseline, reference, endpoint, covariates, imputations, seed, level
        As in :func:`multiple_imputation` (the same seed gives the same imputations, so δ = 0
        reproduces it).
    direction : {"lower_is_better", "higher_is_better"}
        The outcome's better direction. δ is added to the imputed endpoint values of every
        non-reference arm in the unfavourable direction: +δ when lower is better (pain,
        disability), −δ when higher is better.
    deltas : sequence of float, default (0, 1, 2, 3)
        Non-negative shifts, in the outcome's units; 0 (MAR) is always analysed.
    alpha : float, default 0.05
        Significance level defining the conclusion.

    Returns
    -------
    TippingPointResult
        ``to_frame()``: ``sensitivity`` rows ``{"table": "sensitivity", "method":
        "tipping_point", "delta", "outcome", "term", "estimate", "std_error",
        "ci_lower", "ci_upper", "p_value"}``; ``tipping``: per arm, the smallest δ at which
        the conclusion (significance at ``alpha`` or the sign) differs from δ = 0, and a
        sentence.

    Notes
    -----
    The δ-adjusted pattern-mixture approach (Ratitch, O'Kelly & Tosiello 2013, Pharm Stat
    12:337): patients who dropped out of the experimental arms are assumed to do δ worse
    than similar patients who stayed. The same imputations are shifted for every δ, so the
    estimates move linearly (monotonically) with δ.
    """
    check_choice(direction, "direction", _DIRECTIONS)
    try:
        grid = sorted({0.0, *(float(d) for d in deltas)})
    except (TypeError, ValueError):
        raise UsageError(f"deltas must be a list of numbers (e.g. [0, 1, 2, 3]); got {deltas!r}") from None
    if any(d < 0 or not math.isfinite(d) for d in grid):
        raise UsageError(f"deltas must be non-negative amounts in the outcome's units (they are applied in the "
                         f"unfavourable direction); got {list(deltas)!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise UsageError(f"alpha must be a significance level between 0 and 1; got {alpha!r}")
    mi, prep, completed, missing = _run(
        data, who="tipping point", outcome=outcome, arm=arm, visit=visit, subject=subject, baseline=baseline,
        reference=reference, endpoint=endpoint, covariates=covariates, imputations=imputations, seed=seed,
        level=level)
    t0 = time.perf_counter()
    sign = 1.0 if direction == "lower_is_better" else -1.0
    shifted = (missing & (prep.wide["_arm"] != reference).to_numpy()).astype(float)[:, None]
    # Every δ shifts the same imputations, and the analysis design (arm, baseline, covariates) does not
    # depend on δ: one least-squares solve of all m × len(grid) completed endpoints (one QR of the
    # design instead of one per δ), then pooled per δ. Each column is the same fit as before.
    m = completed.shape[1]
    est_all, var_all, dof = _ancova(prep, np.concatenate([completed + sign * d * shifted for d in grid], axis=1))
    rows = []
    for j, d in enumerate(grid):
        est, var = est_all[:, j * m:(j + 1) * m], var_all[:, j * m:(j + 1) * m]
        for i, a in enumerate(prep.arms[1:]):
            pooled = pool_rubin(est[i], var[i], dof, level=mi.level)
            rows.append({"table": "sensitivity", "method": "tipping_point", "delta": d, "outcome": outcome,
                         "term": mi.table["term"].iloc[i], **{k: pooled[k] for k in SENSITIVITY_COLUMNS[5:]},
                         "arm": a, "df": pooled["df"], "significant": bool(pooled["p_value"] < alpha)})
    frame = pd.DataFrame(rows)[[*SENSITIVITY_COLUMNS, "arm", "df", "significant"]]
    tipping = pd.DataFrame([_tipping(frame[frame["arm"] == a], a, reference, outcome, alpha, direction)
                            for a in prep.arms[1:]])
    return TippingPointResult(outcome=outcome, reference=reference, direction=direction, deltas=tuple(grid),
                              alpha=float(alpha), rows=frame, tipping=tipping, imputation=mi,
                              meta={"fit_seconds": time.perf_counter() - t0})


def _tipping(rows: pd.DataFrame, arm: str, reference: str, outcome: str, alpha: float, direction: str) -> dict:
    rows = rows.sort_values("delta")
    first = rows.iloc[0]
    conclusion = (np.sign(first["estimate"]), bool(first["significant"]))
    changed = rows[[(np.sign(r.estimate), bool(r.significant)) != conclusion for r in rows.itertuples()]]
    delta = float(changed["delta"].iloc[0]) if len(changed) else math.nan
    worse = "higher" if direction == "lower_is_better" else "lower"
    state = (f"the {'significant' if conclusion[1] else 'non-significant'} difference under missing at random "
             f"({first['estimate']:+.3g}, p = {first['p_value']:.2g})")
    if math.isnan(delta):
        sentence = (f"{arm} vs {reference}: {state} holds even when the imputed {outcome} values in {arm} are "
                    f"{rows['delta'].max():g} {worse}.")
    else:
        at = changed.iloc[0]
        sentence = (f"{arm} vs {reference}: {state} changes when the imputed {outcome} values in {arm} are "
                    f"{delta:g} {worse} (estimate {at['estimate']:+.3g}, p = {at['p_value']:.2g}).")
    return {"outcome": outcome, "term": first["term"], "arm": arm, "estimate_mar": float(first["estimate"]),
            "p_value_mar": float(first["p_value"]), "significant_mar": conclusion[1], "tipping_delta": delta,
            "sentence": sentence}
