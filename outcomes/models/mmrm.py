"""Mixed model for repeated measures (MMRM): the usual primary analysis of a longitudinal trial.

:func:`fit_mmrm` fits ``y ~ baseline + visit * arm (+ baseline:visit) + covariates`` to the
post-baseline visits, visit as a factor, with an unstructured (or compound-symmetry, or
AR(1)) covariance of the residuals within patient, by REML on all available data, and
returns an :class:`MMRMResult`: fixed effects, least-squares means per arm and visit,
differences from the reference arm at each visit with degrees of freedom, the estimated
covariance matrix and the REML log-likelihood.

statsmodels has no unstructured residual covariance, so the restricted likelihood is
written here (:mod:`outcomes.models._mmrm_reml`: vectorised over missingness patterns,
log-Cholesky parametrisation, exact gradient, checked optimum).
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import UsageError
from ._longitudinal import (arm_levels, check_choice, check_level, check_roles, covariate_design, t_inference,
                            time_label, visit_levels)
from ._mmrm_reml import STRUCTURES, MmrmFit, fit_reml

__all__ = ["CONTRAST_COLUMNS", "LSMEANS_COLUMNS", "MMRMResult", "fit_mmrm"]

#: Columns of :meth:`MMRMResult.to_frame` (the ``models`` rows of the compare contract).
CONTRAST_COLUMNS = ["table", "model", "outcome", "term", "time", "estimate", "std_error", "ci_lower", "ci_upper",
                    "p_value", "df"]
#: Columns of :attr:`MMRMResult.lsmeans`.
LSMEANS_COLUMNS = ["outcome", "arm", "time", "estimate", "std_error", "ci_lower", "ci_upper", "df", "n"]
_FIXED_COLUMNS = ["term", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "df"]
_DF_METHODS = ("satterthwaite", "between_within")
_COVARIANCE_TEXT = {"unstructured": "unstructured", "compound_symmetry": "compound symmetry", "ar1": "AR(1)"}


@dataclass(frozen=True)
class MMRMResult:
    """A fitted MMRM (:func:`fit_mmrm`).

    Attributes
    ----------
    name : str
        ``"mmrm"``.
    outcome, arm, visit, subject : str
        The columns used in each role.
    baseline : str or None
        The baseline column (a covariate), if any.
    reference : str
        The reference arm.
    arms : tuple of str
        Every arm, the reference first.
    visits : tuple
        The post-baseline visits in order (values of the ``visit`` column).
    covariance : str
        ``"unstructured"``, ``"compound_symmetry"`` or ``"ar1"``.
    df_method : str
        ``"satterthwaite"`` or ``"between_within"``.
    level : float
        Confidence level of every interval.
    fixed_effects : DataFrame
        ``term, estimate, std_error, ci_lower, ci_upper, p_value, df``; terms spelled as
        patsy would (``Intercept``, ``baseline``, ``week[T.4]``, ``arm[T.b]``,
        ``week[T.4]:arm[T.b]``, ``baseline:week[T.4]``, covariates).
    lsmeans : DataFrame
        :data:`LSMEANS_COLUMNS`: least-squares mean per arm and visit (``time``), ``n`` the
        patients observed at that visit in that arm.
    contrasts : DataFrame
        Difference of each arm from the reference at each visit: :data:`CONTRAST_COLUMNS`
        plus ``arm`` and ``reference`` (rows ordered by arm, then visit).
    covariance_matrix : DataFrame
        The estimated T × T residual covariance within patient, indexed by visit.
    vcov : DataFrame
        Covariance matrix of the fixed effects (model-based).
    loglik : float
        REML log-likelihood on nlme's scale (``logLik(gls(..., method = "REML"))``).
    n_patients, n_observations : int
        Patients and patient-visits used.
    fit_seconds : float
        Wall time of the fit (design, optimisation and inference).
    converged : bool
        The gradient of the log-likelihood vanishes at the optimum (max |∂ log L/∂θ| below
        1e-4, data scaled to unit SD), the Hessian there is positive definite, and a
        second start reached the same log-likelihood (within 1e-6).
    remarks : tuple of str
        Plain-language notes: rows left out, how least-squares means are defined, the
        degrees of freedom, convergence problems.
    meta : dict
        JSON-ready details for ``models.json``: formula, optimiser starts, gradient,
        number of missingness patterns, grid values of baseline and covariates.
    data : DataFrame
        The rows the model was fitted on (not compared, not printed).
    """

    name: str
    outcome: str
    arm: str
    visit: str
    subject: str
    baseline: str | None
    reference: str
    arms: tuple[str, ...]
    visits: tuple[Any, ...]
    covariance: str
    df_method: str
    level: float
    fixed_effects: pd.DataFrame
    lsmeans: pd.DataFrame
    contrasts: pd.DataFrame
    covariance_matrix: pd.DataFrame
    vcov: pd.DataFrame
    loglik: float
    n_patients: int
    n_observations: int
    fit_seconds: float
    converged: bool
    remarks: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    data: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def correlation_matrix(self) -> pd.DataFrame:
        """The residual correlation within patient implied by :attr:`covariance_matrix`."""
        s = np.sqrt(np.diag(self.covariance_matrix.to_numpy()))
        return self.covariance_matrix / np.outer(s, s)

    @property
    def endpoint(self) -> pd.DataFrame:
        """The contrasts at the last visit (one row per non-reference arm)."""
        return self.contrasts[self.contrasts["time"] == self.visits[-1]].reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        """The contrasts as rows of the compare contract (:data:`CONTRAST_COLUMNS`, a copy)."""
        return self.contrasts[CONTRAST_COLUMNS].copy()

    def describe(self) -> dict[str, Any]:
        """JSON-ready metadata (for ``models.json``): everything but the tables and the data."""
        return {"model": self.name, "outcome": self.outcome, "method": self.method,
                "covariance": self.covariance, "df_method": self.df_method, "reference": self.reference,
                "arms": list(self.arms), "visits": [_json(v) for v in self.visits],
                "loglik": float(self.loglik), "n_patients": int(self.n_patients),
                "n_observations": int(self.n_observations), "fit_seconds": float(self.fit_seconds),
                "converged": bool(self.converged), "remarks": list(self.remarks),
                "covariance_matrix": self.covariance_matrix.to_numpy().tolist(), **self.meta}

    @property
    def method(self) -> str:
        """One phrase: how the model was estimated."""
        df = "Satterthwaite" if self.df_method == "satterthwaite" else "between-within"
        return f"REML, {_COVARIANCE_TEXT[self.covariance]} covariance within patient, {df} degrees of freedom"

    def summary(self, digits: int = 3) -> str:
        """A plain-text summary: what, how, the contrasts, then numbered remarks."""
        fmt = lambda x: f"{x:.{digits}g}"  # noqa: E731
        lines = [f"MMRM of {self.outcome}: {self.meta.get('formula', '')}",
                 f"{self.method}; {self.n_patients} patients, {self.n_observations} observations; "
                 f"REML log-likelihood {self.loglik:.{digits + 3}g}; converged: {'yes' if self.converged else 'NO'}",
                 self.contrasts[["term", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "df"]]
                 .to_string(index=False, float_format=fmt)]
        lines += [f"{i}. {r}" for i, r in enumerate(self.remarks, start=1)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<MMRMResult {self.outcome}: {len(self.arms)} arms, {len(self.visits)} visits, "
                f"{self.covariance}, {self.n_patients} patients, {self.n_observations} observations>")

    def _repr_html_(self) -> str:
        rows = self.to_frame().to_html(index=False, float_format=lambda x: f"{x:.4g}", escape=True)
        notes = "".join(f"<li>{html.escape(r)}</li>" for r in self.remarks)
        return (f"<div><strong>MMRM of {html.escape(self.outcome)}</strong><br><small>{html.escape(self.method)}; "
                f"{self.n_patients} patients, {self.n_observations} observations</small>{rows}"
                f"{'<ol>' + notes + '</ol>' if notes else ''}</div>")


def _json(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


# --------------------------------------------------------------------------- data and design


def _prepare(data: pd.DataFrame, outcome: str, arm: str, visit: str, subject: str, baseline: str | None,
             covariates: tuple[str, ...]) -> tuple[pd.DataFrame, list[str]]:
    """The analysed rows (a new frame) and remarks on what was left out."""
    cols = list(dict.fromkeys([subject, arm, visit, outcome, *([baseline] if baseline else []), *covariates]))
    frame = data[cols].copy()
    remarks = []
    keys = frame[[subject, arm, visit]].isna().any(axis=1)
    if keys.any():
        remarks.append(f"{int(keys.sum())} rows without {subject}, {arm} or {visit} were left out.")
        frame = frame[~keys]
    frame[arm] = frame[arm].astype(str)
    arms_per = frame.groupby(subject, sort=False)[arm].nunique()
    if (arms_per > 1).any():
        bad = arms_per[arms_per > 1].index[:3].tolist()
        raise UsageError(f"MMRM: each patient must be in one arm; {subject} {', '.join(map(str, bad))} "
                         f"{'is' if len(bad) == 1 else 'are'} in several arms of {arm!r}.")
    missing_y = frame[outcome].isna()
    if missing_y.any():
        remarks.append(f"{int(missing_y.sum())} patient-visits without a value of {outcome} were left out; "
                       f"each patient contributes the visits they have (valid if missingness is at random).")
        frame = frame[~missing_y]
    dup = frame.duplicated([subject, visit], keep=False)
    if dup.any():
        first = frame.loc[dup, [subject, visit]].iloc[0]
        raise UsageError(f"MMRM: one value per patient and visit is needed; {subject} {first[subject]!s} has "
                         f"{int((frame.loc[dup, subject] == first[subject]).sum())} rows at {visit} "
                         f"{time_label(first[visit])}. Keep one assessment per visit (e.g. the nearest).")
    extra = [c for c in ([baseline] if baseline else []) + list(covariates)]
    if extra:
        gone = frame[extra].isna().any(axis=1)
        if gone.any():
            n_pat = frame.loc[gone, subject].nunique()
            remarks.append(f"{int(gone.sum())} patient-visits ({n_pat} patients) without {', '.join(extra)} "
                           f"were left out.")
            frame = frame[~gone]
    if frame.empty:
        raise UsageError(f"MMRM: no row has {outcome}, {arm}, {visit} and {subject}"
                         + (f" and {', '.join(extra)}" if extra else "") + ".")
    return frame.reset_index(drop=True), remarks


def _design(frame: pd.DataFrame, *, arm: str, visit: str, baseline: str | None, covariates: tuple[str, ...],
            arms: list[str], visits: list[Any], baseline_by_visit: bool) -> tuple[np.ndarray, list[str], Any]:
    """Design matrix, its column names and a function giving the grid row of (arm, visit)."""
    n = len(frame)
    names, cols = ["Intercept"], [np.ones(n)]
    vlab = [time_label(v) for v in visits]
    if baseline:
        names.append(baseline)
        cols.append(frame[baseline].to_numpy(dtype=float))
    vd = {v: (frame[visit] == v).to_numpy(dtype=float) for v in visits[1:]}
    ad = {a: (frame[arm] == a).to_numpy(dtype=float) for a in arms[1:]}
    names += [f"{visit}[T.{lab}]" for lab in vlab[1:]]
    cols += [vd[v] for v in visits[1:]]
    names += [f"{arm}[T.{a}]" for a in arms[1:]]
    cols += [ad[a] for a in arms[1:]]
    for a in arms[1:]:
        names += [f"{visit}[T.{lab}]:{arm}[T.{a}]" for lab in vlab[1:]]
        cols += [vd[v] * ad[a] for v in visits[1:]]
    if baseline and baseline_by_visit:
        names += [f"{baseline}:{visit}[T.{lab}]" for lab in vlab[1:]]
        cols += [vd[v] * cols[1] for v in visits[1:]]
    Xc, cnames, cgrid = covariate_design(frame, covariates)
    X = np.column_stack([*cols, Xc])
    names += cnames
    base_mean = float(np.mean(cols[1])) if baseline else 0.0

    def grid_row(a: str, v: Any) -> np.ndarray:
        row = [1.0] + ([base_mean] if baseline else [])
        row += [float(v == w) for w in visits[1:]]
        row += [float(a == b) for b in arms[1:]]
        row += [float(v == w and a == b) for b in arms[1:] for w in visits[1:]]
        if baseline and baseline_by_visit:
            row += [base_mean * float(v == w) for w in visits[1:]]
        return np.concatenate([row, cgrid])

    return X, names, (grid_row, base_mean, dict(zip(cnames, cgrid.tolist())))


def _check_rank(X: np.ndarray, names: list[str], frame: pd.DataFrame, arm: str, visit: str, arms: list[str],
                visits: list[Any]) -> None:
    norms = np.sqrt(np.sum(X ** 2, axis=0))
    if np.all(norms > 0):
        Xn = X / norms  # X'X of unit columns: its smallest eigenvalue is 0 exactly when X is rank deficient
        if np.linalg.eigvalsh(Xn.T @ Xn)[0] > 1e-10:
            return
    counts = frame.groupby([arm, visit]).size()
    empty = [(a, v) for a in arms for v in visits if counts.get((a, v), 0) == 0]
    if empty:
        cells = ", ".join(f"{a} at {visit} {time_label(v)}" for a, v in empty[:5])
        raise UsageError(f"MMRM: every arm needs observed values at every visit; none for {cells}. "
                         f"Leave that visit out or merge visits.")
    raise UsageError("MMRM: the model cannot be estimated: a covariate is constant or repeats another "
                     f"(design columns: {', '.join(names)}). Remove the redundant covariate.")


# --------------------------------------------------------------------------- degrees of freedom


def _satterthwaite(L: np.ndarray, fit: MmrmFit) -> np.ndarray:
    """Satterthwaite df of each row of L: 2 (L V L')² / (g' Cov(θ̂) g), g_j = L ∂V/∂θ_j L'."""
    V = fit.cov_beta / fit.scale ** 2  # the scale of dcov_beta and theta_cov
    var = np.einsum("ia,ab,ib->i", L, V, L)
    g = np.einsum("ia,jab,ib->ij", L, fit.dcov_beta, L)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2 * var ** 2 / np.einsum("ij,jk,ik->i", g, fit.theta_cov, g)


def _between_within(L: np.ndarray, X: np.ndarray, codes: np.ndarray, n_patients: int) -> tuple[np.ndarray, dict]:
    """Between-within df: each coefficient is between- or within-patient; a contrast gets the smallest."""
    order = np.argsort(codes, kind="stable")
    Xs, cs = X[order], codes[order]
    starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]])
    lo = np.minimum.reduceat(Xs, starts, axis=0)
    hi = np.maximum.reduceat(Xs, starts, axis=0)
    between = np.all(hi - lo == 0, axis=0)
    rank_b = np.linalg.matrix_rank(X[:, between]) if between.any() else 0
    df_b = n_patients - rank_b
    df_w = len(X) - n_patients - (X.shape[1] - rank_b)
    per_coef = np.where(between, df_b, df_w).astype(float)
    per_coef[per_coef <= 0] = np.nan
    used = np.abs(L) > 1e-12
    df = np.array([np.min(per_coef[u]) if u.any() else np.nan for u in used])
    return df, {"df_between": int(df_b), "df_within": int(df_w)}


# --------------------------------------------------------------------------- the fit


def fit_mmrm(data: pd.DataFrame, *, outcome: str, arm: str, visit: str, subject: str, reference: str,
             baseline: str | None = None, covariates: Sequence[str] = (),
             covariance: Literal["unstructured", "compound_symmetry", "ar1"] = "unstructured",
             df: Literal["satterthwaite", "between_within"] = "satterthwaite", baseline_by_visit: bool = False,
             level: float = 0.95) -> MMRMResult:
    """Fit a mixed model for repeated measures (MMRM) by REML.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per patient and post-baseline visit (rows with a missing
        outcome are allowed and left out). Not modified.
    outcome : str
        Numeric column: the response at each post-baseline visit.
    arm : str
        Treatment arm of the patient (constant within patient; compared as text).
    visit : str
        The visit (e.g. week); a factor in the model. Numeric visits are ordered by value,
        categorical ones by category order, text sorted.
    subject : str
        Patient identifier.
    reference : str
        The arm the others are compared with.
    baseline : str, optional
        Numeric column with the patient's baseline value (a covariate).
    covariates : sequence of str, default ()
        Further adjustment; numeric columns enter as they are, others as categories.
    covariance : {"unstructured", "compound_symmetry", "ar1"}, default "unstructured"
        Residual covariance within patient. Unstructured: a variance per visit and a
        correlation per pair of visits (nlme ``corSymm`` + ``varIdent``); compound
        symmetry: one variance, one correlation (``corCompSymm``); AR(1): one variance,
        correlation ρ^k between visits k positions apart in visit order (``corAR1`` on
        the visit's position).
    df : {"satterthwaite", "between_within"}, default "satterthwaite"
        Degrees of freedom of tests and intervals. Satterthwaite: per contrast, from the
        variance of its variance (as emmeans' ``mode = "satterthwaite"`` for gls);
        between-within: residual df split into between-patient (n_patients − rank of the
        columns constant within patient) and within-patient (the rest), each coefficient
        getting its part and a contrast the smallest of the coefficients it involves
        (as SAS ``DDFM=BETWITHIN``, conservative for contrasts mixing both).
    baseline_by_visit : bool, default False
        Add ``baseline:visit`` (the baseline's effect may differ by visit).
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    MMRMResult
        Fixed effects, least-squares means per arm and visit, differences from the
        reference at each visit (:meth:`MMRMResult.to_frame`: rows
        ``{"table": "models", "model": "mmrm", "outcome", "term": "<arm> vs <reference>
        at <time>", "time", "estimate", "std_error", "ci_lower", "ci_upper", "p_value",
        "df"}``), the covariance matrix, the REML log-likelihood, counts and fit time.

    Raises
    ------
    outcomes.errors.UsageError
        A column missing or of the wrong kind, an unknown reference arm or option, a
        patient in two arms, two rows for one patient and visit, fewer than two arms or
        visits, an arm with no value at some visit, a redundant covariate.

    Notes
    -----
    Model: ``outcome ~ baseline + visit * arm (+ baseline:visit) + covariates`` on every
    available patient-visit (all available data: valid under missing at random),
    ``Cov(y_i) = Σ[S_i, S_i]`` for the visits S_i patient i has. Least-squares means
    (emmeans' defaults): baseline and numeric covariates at their mean over the analysed
    rows, categorical covariates averaged over their levels with equal weights.
    Standard errors are model-based ((X'V⁻¹X)⁻¹, as ``vcov(gls)``); the Satterthwaite
    df use the inverse observed information of the covariance parameters.

    Checked against R ``nlme::gls(y ~ baseline + visit * arm, correlation = corSymm(~
    visit_index | id), weights = varIdent(~ 1 | visit), method = "REML")`` with
    ``emmeans(fit, ~ arm | visit)`` and ``contrast(., "trt.vs.ctrl")`` (also with
    ``baseline:visit`` and covariates, ``corCompSymm`` and ``corAR1``) on a synthetic
    three-arm trial with dropout (tests/reference/mmrm.R): estimates, standard errors,
    least-squares means and differences equal R's within 1e-4 relative and the REML
    log-likelihood within 1e-5 (ours is the higher: nlme stops a hair short). The
    Satterthwaite df equal emmeans' within 1e-4 when nlme's covariance of the variance
    parameters (``apVar``, a coarse finite-difference Hessian) is recomputed accurately;
    with nlme's own ``apVar`` they differ by up to 1 %.
    """
    t0 = time.perf_counter()
    covariates = check_roles(data, who="MMRM", outcome=outcome, arm=arm, visit=visit, subject=subject,
                             baseline=baseline, covariates=covariates, reference=reference)
    check_choice(covariance, "covariance", tuple(STRUCTURES))
    check_choice(df, "df", _DF_METHODS)
    level = check_level(level)
    frame, remarks = _prepare(data, outcome, arm, visit, subject, baseline, covariates)
    if reference not in set(frame[arm].unique()):
        raise UsageError(f"MMRM: the reference arm {reference!r} has no patient with a value of {outcome}.")
    arms = arm_levels(frame[arm], reference)
    visits = visit_levels(frame[visit])
    if len(arms) < 2:
        raise UsageError(f"MMRM: comparing arms needs at least two with data; only {reference!r} has values.")
    if len(visits) < 2:
        raise UsageError(f"MMRM: repeated measures need at least two post-baseline visits; {visit!r} has "
                         f"{len(visits)}. For a single visit use the ANCOVA.")
    X, names, (grid_row, base_mean, cov_grid) = _design(
        frame, arm=arm, visit=visit, baseline=baseline, covariates=covariates, arms=arms, visits=visits,
        baseline_by_visit=bool(baseline_by_visit))
    _check_rank(X, names, frame, arm, visit, arms, visits)

    codes, patients = pd.factorize(frame[subject])
    vpos = pd.Categorical(frame[visit], categories=visits).codes
    T, p = len(visits), X.shape[1]
    Z = np.zeros((len(patients), T, p + 1))
    mask = np.zeros((len(patients), T), dtype=bool)
    Z[codes, vpos, :p] = X
    Z[codes, vpos, p] = frame[outcome].to_numpy(dtype=float)
    mask[codes, vpos] = True
    fit = fit_reml(Z, mask, covariance)

    grid = {(a, v): grid_row(a, v) for a in arms for v in visits}
    L_fixed = np.eye(p)
    L_means = np.array([grid[a, v] for a in arms for v in visits])
    L_diff = np.array([grid[a, v] - grid[reference, v] for a in arms[1:] for v in visits])
    if df == "satterthwaite":
        dfs = [_satterthwaite(L, fit) for L in (L_fixed, L_means, L_diff)]
        df_meta: dict[str, Any] = {}
    else:
        out = [_between_within(L, X, codes, len(patients)) for L in (L_fixed, L_means, L_diff)]
        dfs, df_meta = [o[0] for o in out], out[0][1]

    def infer(L: np.ndarray, d: np.ndarray) -> dict[str, np.ndarray]:
        est = L @ fit.beta
        se = np.sqrt(np.einsum("ia,ab,ib->i", L, fit.cov_beta, L))
        lo, hi, pv = t_inference(est, se, d, level)
        return {"estimate": est, "std_error": se, "ci_lower": lo, "ci_upper": hi, "p_value": pv, "df": d}

    fixed = pd.DataFrame({"term": names, **infer(L_fixed, dfs[0])})[_FIXED_COLUMNS]
    n_obs = frame.groupby([arm, visit]).size()
    lsm = pd.DataFrame({"outcome": outcome, "arm": [a for a in arms for v in visits],
                        "time": [v for a in arms for v in visits], **infer(L_means, dfs[1]),
                        "n": [int(n_obs.get((a, v), 0)) for a in arms for v in visits]})[LSMEANS_COLUMNS]
    con = pd.DataFrame({"table": "models", "model": "mmrm", "outcome": outcome,
                        "term": [f"{a} vs {reference} at {time_label(v)}" for a in arms[1:] for v in visits],
                        "time": [v for a in arms[1:] for v in visits], **infer(L_diff, dfs[2]),
                        "arm": [a for a in arms[1:] for v in visits], "reference": reference})
    con = con[[*CONTRAST_COLUMNS, "arm", "reference"]]

    remarks.append(_lsmeans_remark(baseline, base_mean, covariates, cov_grid, frame))
    remarks.append(_df_remark(df, df_meta))
    if not fit.converged:
        remarks.append("The fit may not have reached the maximum of the likelihood (two starting points "
                       "disagree or the slope there is not flat): treat the estimates with caution.")
    formula = (f"{outcome} ~ " + " + ".join([*([baseline] if baseline else []), f"{visit} * {arm}",
                                              *([f"{baseline}:{visit}"] if baseline and baseline_by_visit else []),
                                              *covariates]))
    meta = {"formula": formula, "n_parameters_covariance": len(fit.theta), "n_patterns": fit.n_patterns,
            "max_gradient": fit.gradient_max, "starts": list(fit.starts), "evaluations": fit.evaluations,
            "grid": {"baseline": base_mean if baseline else None, **cov_grid}, **df_meta}
    vlab = [time_label(v) for v in visits]
    return MMRMResult(
        name="mmrm", outcome=outcome, arm=arm, visit=visit, subject=subject, baseline=baseline,
        reference=reference, arms=tuple(arms), visits=tuple(visits), covariance=covariance, df_method=df,
        level=level, fixed_effects=fixed, lsmeans=lsm, contrasts=con,
        covariance_matrix=pd.DataFrame(fit.sigma, index=vlab, columns=vlab),
        vcov=pd.DataFrame(fit.cov_beta, index=names, columns=names), loglik=fit.loglik,
        n_patients=len(patients), n_observations=len(frame), fit_seconds=time.perf_counter() - t0,
        converged=fit.converged, remarks=tuple(remarks), meta=meta, data=frame)


def _lsmeans_remark(baseline: str | None, base_mean: float, covariates: tuple[str, ...], cov_grid: dict,
                    frame: pd.DataFrame) -> str:
    parts = []
    if baseline:
        parts.append(f"{baseline} at its mean ({base_mean:.4g})")
    numeric = [c for c in covariates if c in cov_grid]
    cats = [c for c in covariates if c not in cov_grid]
    if numeric:
        parts.append(", ".join(f"{c} at its mean ({cov_grid[c]:.4g})" for c in numeric))
    if cats:
        parts.append(f"{', '.join(cats)} averaged over {'its' if len(cats) == 1 else 'their'} categories "
                     f"with equal weights")
    return ("Least-squares means are the model's predictions for each arm and visit"
            + (" with " + "; ".join(parts) if parts else "") + " (means over the analysed patient-visits).")


def _df_remark(method: str, meta: dict) -> str:
    if method == "satterthwaite":
        return "Degrees of freedom: Satterthwaite approximation."
    return (f"Degrees of freedom: between-within ({meta['df_between']} between patients, "
            f"{meta['df_within']} within); a comparison involving both gets the smaller.")
