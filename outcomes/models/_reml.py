"""REML (and ML) for linear mixed models with a per-patient random intercept, or intercept and slope.

The model, for patient i with n_i rows::

    y_i = X_i β + Z_i b_i + e_i,   b_i ~ N(0, D),   e_i ~ N(0, σ² I),   Z_i = [1] or [1, t_i]

:func:`fit_lmm` maximises the restricted (or full) log-likelihood with σ² profiled
out. Every term reduces, by the Woodbury identity and the matrix determinant lemma,
to per-patient q × q blocks (q = 1 or 2) and p × p sums built once from the
per-patient sufficient statistics ``Z_i'Z_i``, ``Z_i'X_i``, ``Z_i'y_i`` and the global
``X'X``, ``X'y``, ``y'y``; one evaluation of the likelihood and its exact gradient is a
handful of array operations over patients (no loop over patients, no n × n matrix).

Notation (lme4's, Bates et al. 2015, J Stat Softw 67(1), section 3): Ψ = D / σ² = ΛΛ'
with Λ lower triangular; per patient M_i = I + Λ'A_iΛ with A_i = Z_i'Z_i, and
W_i = Λ M_i⁻¹ Λ' = Ψ (I + A_iΨ)⁻¹. Then, with B_i = Z_i'X_i and c_i = Z_i'y_i,

* X'V⁻¹X σ² = C = X'X − Σ B_i'W_iB_i (and likewise X'V⁻¹y σ², y'V⁻¹y σ²);
* log|V / σ²| = Σ log|M_i|;
* −2 log L_REML = Σ log|M_i| + log|C| + (n − p)(1 + log(2π r² / (n − p))), with r² the
  penalised residual sum of squares y'V⁻¹y σ² − β̂'X'V⁻¹y σ², which is lme4's
  ``devianceREML`` (ML: without log|C| and with n for n − p).

The gradient with respect to Ψ is G = Σ_i [H_i − K_i C⁻¹ K_i'] − (n − p)/r² Σ_i u_iu_i',
where N_i = (I + A_iΨ)⁻¹, H_i = N_iA_i = Z_i'V_i⁻¹Z_i σ², K_i = N_iB_i and
u_i = N_i(c_i − B_iβ̂) (the ML gradient drops the K term and uses n); it is carried to
the parameters by dΨ = dΛΛ' + ΛdΛ'. The optimiser works on (log λ₁₁, λ₂₁, log λ₂₂),
which keeps Λ's diagonal positive and avoids the saddle at λ₂₂ = 0 where a plain
parametrisation stalls.

Fitting: L-BFGS-B (on the criterion per observation) from per-patient moment
estimates, then Newton steps on the finite-difference Hessian of the exact gradient;
then the same from a second, different start (and, if those two disagree, a third
near the better optimum). The fit is declared converged only when the gradient of
the log-likelihood is small at the optimum AND two starts reach the same
log-likelihood; on the boundary (D singular) the gradient check is KKT on Ψ.
Standard errors of β are σ̂²C⁻¹ (model-based, as lme4's ``vcov``). BLAS is held to
one thread during the fit.

The criterion and its gradient live in :mod:`outcomes.models._reml_likelihood`; this
module holds the starts, the optimisation, the convergence checks and the result.

Checked against lme4 1.1-31 (tight bobyqa) in ``tests/test_reml.py``: fixed effects,
standard errors, variance components and REML log-likelihood within 1e-6 relative.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
from scipy import optimize
from threadpoolctl import threadpool_limits

from ._reml_likelihood import _FAILED, _chol_solve, _Problem

__all__ = ["RemlFit", "fit_lmm"]

#: Bounds of log λ (λ = random-effect SD relative to σ): exp(-20) ≈ 2e-9 is zero for every
#: practical purpose, exp(12) ≈ 1.6e5 far beyond any outcome scale.
_LOG_BOUNDS = (-20.0, 12.0)
#: Converged: max |∂ log L / ∂θ| at most this (θ = log λ₁₁, λ₂₁, log λ₂₂) ...
GRADIENT_TOL = 1e-4
#: ... and two starts' log-likelihoods within this (absolute, plus 1e-9 relative).
AGREEMENT_TOL = 1e-6
#: A diagonal element of Λ below 1e-4 (log λ below this) is on the boundary: D is singular,
#: lme4's ``isSingular(tol = 1e-4)``. There log λ drifts down a flat asymptote, the
#: likelihood no longer changing, and the optimum is checked by KKT on Ψ instead.
BOUNDARY_LOG_LAMBDA = math.log(1e-4)


@dataclass(frozen=True)
class RemlFit:
    """A fitted linear mixed model (:func:`fit_lmm`).

    Attributes
    ----------
    beta : ndarray, shape (p,)
        Fixed effects (GLS at the variance components).
    cov_beta : ndarray, shape (p, p)
        σ̂² (X'V⁻¹X σ²)⁻¹, as lme4's ``vcov``.
    sigma2 : float
        Residual variance (REML: pwrss / (n − p), as lme4's ``sigma(fit)^2``).
    cov_re : ndarray, shape (q, q)
        Random-effects covariance D (absolute scale, as lme4's ``VarCorr``).
    loglik : float
        REML (or ML) log-likelihood on lme4's scale (``logLik(fit)``).
    reml : bool
    theta : ndarray
        Optimised parameters (log λ₁₁[, λ₂₁, log λ₂₂]) of Λ = chol(D / σ²).
    gradient : ndarray
        ∂ log L / ∂θ at the optimum.
    converged : bool
        Small gradient and a second start reaching the same log-likelihood (when the
        first two disagree, a third start near the better optimum may be that second).
    boundary : bool
        D is singular (a diagonal element of Λ below 1e-4, as lme4's ``isSingular``):
        a random-effect SD is zero or the intercept-slope correlation is ±1.
    starts : tuple of dict
        One record per start: ``start`` (θ₀), ``loglik``, ``max_abs_gradient``,
        ``evaluations``, ``message``.
    message : str
        Plain-language convergence statement.
    n_observations, n_groups : int
    seconds : float
        Wall time of the fit (sufficient statistics included).
    """

    beta: np.ndarray
    cov_beta: np.ndarray
    sigma2: float
    cov_re: np.ndarray
    loglik: float
    reml: bool
    theta: np.ndarray
    gradient: np.ndarray
    converged: bool
    boundary: bool
    starts: tuple[dict[str, Any], ...]
    message: str
    n_observations: int
    n_groups: int
    seconds: float = field(default=0.0)

    @property
    def max_abs_gradient(self) -> float:
        return float(np.max(np.abs(self.gradient))) if self.gradient.size else 0.0


# --------------------------------------------------------------------------- BLAS threads


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    """Limit BLAS to one thread inside the block.

    The fit is a long sequence of small matrix products; with a multi-threaded BLAS on
    2 busy cores each one waited for threads and a 20,000-patient fit took 10 s instead
    of 0.5 s (measured with OpenBLAS, load 7 on 2 cores).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --------------------------------------------------------------------------- starts


def _moment_start(prob: _Problem, x: np.ndarray, y: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """θ from per-patient OLS of the OLS residuals on Z_i (method of moments)."""
    q, p = prob.q, prob.p
    beta = np.linalg.lstsq(prob.xtx, prob.xty, rcond=None)[0]
    rss_total = prob.yty - 2 * beta @ prob.xty + beta @ prob.xtx @ beta
    if q == 1:
        A = prob.a00[:, None, None]
        c_res = (prob.c0 - beta @ prob.b0)[:, None]  # Z_i'e_i
        det = prob.a00
    else:
        A = np.stack([np.stack([prob.a00, prob.a01], -1), np.stack([prob.a01, prob.a11], -1)], 1)
        c_res = np.stack([prob.c0 - beta @ prob.b0, prob.c1 - beta @ prob.b1], -1)
        det = prob.a00 * prob.a11 - prob.a01 ** 2
    ok = det > 1e-8 * (np.abs(A[:, 0, 0]) * np.abs(A[:, q - 1, q - 1]) + 1e-300)
    n_i = A[:, 0, 0]
    ok &= n_i > q  # need residual degrees of freedom within the patient
    sigma2 = max(rss_total / max(prob.n - p, 1), 1e-12)
    psi = np.eye(q)
    if ok.sum() >= q + 2:
        Ai = np.linalg.inv(A[ok])
        b = np.einsum("mij,mj->mi", Ai, c_res[ok])
        # within-patient residual variance, pooled
        e = y - x @ beta
        e2 = np.bincount(codes, weights=e * e, minlength=prob.m)[ok]
        within = (e2 - np.einsum("mi,mi->m", b, c_res[ok])).sum() / max((n_i[ok] - q).sum(), 1)
        within = max(float(within), 1e-8 * sigma2)
        cov_b = np.cov(b.T).reshape(q, q) - within * Ai.mean(axis=0)
        w, v = np.linalg.eigh(cov_b)
        floor = 0.01 * np.maximum(np.diag(np.cov(b.T).reshape(q, q)), 1e-12)
        w = np.maximum(w, floor.min())
        psi = (v * w) @ v.T / within
    return _theta_from_psi(psi)


def _theta_from_psi(psi: np.ndarray) -> np.ndarray:
    q = psi.shape[0]
    lam = np.linalg.cholesky(psi + 1e-12 * np.eye(q))
    lo, hi = _LOG_BOUNDS
    if q == 1:
        return np.array([np.clip(math.log(lam[0, 0]), lo + 1, hi - 1)])
    return np.array([np.clip(math.log(lam[0, 0]), lo + 1, hi - 1), lam[1, 0],
                     np.clip(math.log(lam[1, 1]), lo + 1, hi - 1)])


def _agree(f1: float, f2: float) -> bool:
    """Two values of −2 log L at the same optimum (:data:`AGREEMENT_TOL` on the log-likelihood)."""
    return abs(f1 - f2) / 2 <= AGREEMENT_TOL + 1e-9 * abs(f1) / 2


def _third_start(theta: np.ndarray) -> np.ndarray:
    """Near a candidate optimum: each log λ half a unit up, no correlation."""
    out = np.asarray(theta, dtype=float) + 0.5
    if out.size == 3:
        out[1] = 0.0
    return np.minimum(out, _LOG_BOUNDS[1] - 1)


def _second_start(theta: np.ndarray) -> np.ndarray:
    """A different start: variances off by a factor of 4 in opposite directions, no correlation."""
    if theta.size == 1:
        return theta + math.log(0.25) if theta[0] > 0 else theta + math.log(4.0)
    return np.array([theta[0] + math.log(2.0), 0.0, theta[2] - math.log(2.0)])


# --------------------------------------------------------------------------- optimisation


def _bounds(q: int) -> list[tuple[float, float]]:
    return [_LOG_BOUNDS] if q == 1 else [_LOG_BOUNDS, (-1e6, 1e6), _LOG_BOUNDS]


def _optimise(prob: _Problem, theta0: np.ndarray) -> dict[str, Any]:
    """L-BFGS-B then Newton polishing; restarted when it stops on a false boundary.

    With log λ a variance near zero is a flat asymptote (the gradient in log λ vanishes
    there whether or not zero is optimal), so a run ending at the lower bound is checked
    on the scale of Ψ: at a boundary optimum ∂f/∂Ψ is positive semi-definite (KKT for
    Ψ ⪰ 0). If it is not, the coordinate is reset to its start value and the run repeated.
    """
    start_evals = prob.evaluations
    theta = np.asarray(theta0, dtype=float).copy()
    message = ""
    for attempt in range(3):
        # a restart is Newton only: L-BFGS-B's line search is what ran into the flat region
        theta, f, g, said = _lbfgs_and_polish(prob, theta, lbfgs=attempt == 0)
        message = said if not message else f"{message}; {said}"
        low = _at_lower_bound(theta, prob.q)
        if not low:
            break
        G = prob.evaluate(theta)[2]["G"]
        if np.linalg.eigvalsh(G)[0] >= -1e-8 * prob.n:
            break  # a genuine boundary optimum
        for j in low:
            theta[j] = theta0[j] if theta0[j] > _LOG_BOUNDS[0] + 5 else 0.0
        message += "; restarted from a false boundary"
    return {"theta": theta, "f": f, "grad": g, "evaluations": prob.evaluations - start_evals,
            "message": message}


def _at_lower_bound(theta: np.ndarray, q: int) -> list[int]:
    idx = [0] if q == 1 else [0, 2]
    return [j for j in idx if theta[j] <= _LOG_BOUNDS[0] + 5]


def _lbfgs_and_polish(prob: _Problem, theta0: np.ndarray, *, lbfgs: bool = True,
                      ) -> tuple[np.ndarray, float, np.ndarray, str]:
    bounds = _bounds(prob.q)
    theta, message = np.asarray(theta0, dtype=float), "Newton"
    if lbfgs:
        # per observation, so that the gradient is O(1): L-BFGS-B's first step is the raw
        # gradient, and a gradient in the tens of thousands (100,000 rows) threw it to the bounds
        scale = 1.0 / prob.dof

        def scaled(t: np.ndarray) -> tuple[float, np.ndarray]:
            f, g, _ = prob.evaluate(t)
            return f * scale, g * scale

        res = optimize.minimize(scaled, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                                options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-9})
        theta, message = np.asarray(res.x, dtype=float), f"L-BFGS-B: {res.message}; Newton"
    f, g, _ = prob.evaluate(theta)
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    for _ in range(50):
        free = ~(((theta <= lo + 1e-9) & (g > 0)) | ((theta >= hi - 1e-9) & (g < 0)))
        if not free.any() or np.max(np.abs(g[free])) < 1e-9:
            break
        h = _hessian(prob, theta, g)
        hf = h[np.ix_(free, free)]
        try:
            w = np.linalg.eigvalsh(hf)
            if w.min() <= 0:
                hf = hf + (abs(w.min()) + 1e-6) * np.eye(hf.shape[0])
            step = np.zeros_like(theta)
            step[free] = -np.linalg.solve(hf, g[free])
            step *= min(1.0, 2.0 / np.max(np.abs(step)))  # at most 2 units of log λ per step
        except np.linalg.LinAlgError:
            break
        t = 1.0
        improved = False
        for _ in range(30):
            cand = np.clip(theta + t * step, lo, hi)
            fc, gc, _ = prob.evaluate(cand)
            if fc <= f + 1e-12 * abs(f):
                improved = fc < f or np.max(np.abs(gc[free])) < np.max(np.abs(g[free]))
                theta, f, g = cand, fc, gc
                break
            t *= 0.5
        if not improved:
            break
    return theta, f, g, message


def _hessian(prob: _Problem, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Forward differences of the exact gradient (enough for Newton steps near the optimum)."""
    k = theta.size
    h = np.empty((k, k))
    for j in range(k):
        eps = 1e-6 * max(1.0, abs(theta[j]))
        tp = theta.copy()
        tp[j] += eps
        h[:, j] = (prob.evaluate(tp)[1] - g) / eps
    return 0.5 * (h + h.T)


# --------------------------------------------------------------------------- public


def fit_lmm(x: np.ndarray, y: np.ndarray, groups: np.ndarray, z: np.ndarray, *, reml: bool = True,
            start: np.ndarray | None = None) -> RemlFit:
    """Fit a linear mixed model with a random intercept (``z`` one column of ones) or intercept and slope.

    Parameters
    ----------
    x : ndarray, shape (n, p)
        Fixed-effects design (full column rank).
    y : ndarray, shape (n,)
        Response.
    groups : array-like, shape (n,)
        Patient of each row (any hashable labels; rows need not be sorted).
    z : ndarray, shape (n, q), q in {1, 2}
        Random-effects design: ``[1]`` or ``[1, t]``.
    reml : bool, default True
        Restricted (True) or full maximum likelihood.
    start : ndarray, optional
        θ₀ = (log λ₁₁[, λ₂₁, log λ₂₂]) of Λ = chol(D / σ²); default per-patient moment
        estimates.

    Returns
    -------
    RemlFit

    Raises
    ------
    ValueError
        Shapes disagree, values are not finite, q is not 1 or 2, fewer rows than
        fixed effects, or the fixed-effects design is rank-deficient.
    """
    t0 = time.perf_counter()
    x = np.ascontiguousarray(x, dtype=float)
    y = np.ascontiguousarray(np.ravel(y), dtype=float)
    z = np.ascontiguousarray(z, dtype=float)
    if z.ndim == 1:
        z = z[:, None]
    n = len(y)
    if x.ndim != 2 or x.shape[0] != n or z.shape[0] != n or len(groups) != n:
        raise ValueError(f"x, y, z and groups must have the same number of rows; got {x.shape[0]}, {n}, "
                         f"{z.shape[0]} and {len(groups)}")
    if z.shape[1] not in (1, 2):
        raise ValueError(f"z must have 1 (intercept) or 2 (intercept, slope) columns, got {z.shape[1]}")
    if not (np.isfinite(x).all() and np.isfinite(y).all() and np.isfinite(z).all()):
        raise ValueError("x, y and z must be finite (drop rows with missing values first)")
    p = x.shape[1]
    if n <= p:
        raise ValueError(f"{n} rows for {p} fixed effects: too few to fit")
    codes, uniques = _factorize(groups)
    _check_rank(x)
    with single_thread_blas(), np.errstate(all="ignore"):
        prob = _Problem(x, y, z, codes, len(uniques), reml)
        first = np.asarray(start, dtype=float) if start is not None else _moment_start(prob, x, y, codes)
        if first.shape != (len(_bounds(prob.q)),):
            raise ValueError(f"start must have {len(_bounds(prob.q))} values, got {first.shape}")
        origins = [first, _second_start(first)]
        runs = [_optimise(prob, t) for t in origins]
        if not _agree(runs[0]["f"], runs[1]["f"]):
            # a third start, near the better optimum: if it gets back there, two starts agree
            better = min(runs, key=lambda r: r["f"])["theta"]
            origins.append(_third_start(better))
            runs.append(_optimise(prob, origins[-1]))
        best = min(runs, key=lambda r: r["f"])
        f, g, parts = prob.evaluate(best["theta"])
        if f >= _FAILED:
            raise RuntimeError("the mixed model could not be evaluated at any point tried (X'V^-1X is "
                               "numerically singular); check the design for collinear or huge-valued columns")
    dof = prob.dof
    sigma2 = parts["r2"] / dof
    lam = parts["lam"]
    cov_re = sigma2 * lam @ lam.T
    chol = parts["C_chol"]
    cov_beta = sigma2 * _chol_solve(chol, np.eye(p))
    loglik = -0.5 * f
    grad_ll = -0.5 * g
    # On the boundary (a λ_jj numerically zero) the gradient in log λ vanishes whatever the
    # data say, so there the optimum is checked on Ψ's scale instead: ∂f/∂Ψ ⪰ 0 (KKT).
    log_idx = [0] if prob.q == 1 else [0, 2]
    at_bound = bool(np.any(best["theta"][log_idx] <= BOUNDARY_LOG_LAMBDA))
    small = bool(np.all(np.abs(grad_ll) <= GRADIENT_TOL))
    if at_bound:
        small = small and bool(np.linalg.eigvalsh(parts["G"])[0] >= -1e-8 * prob.n)
    lls = [-0.5 * r["f"] for r in runs]
    at_best = [ll for r, ll in zip(runs, lls) if _agree(r["f"], best["f"])]
    converged = small and len(at_best) >= 2
    what = "REML" if reml else "ML"
    said = " and ".join(f"{ll:.6f}" for ll in lls)
    if converged:
        message = (f"{what} optimum reached from {len(at_best)} of {len(runs)} starts (log-likelihoods {said}; "
                   f"max |gradient| {np.max(np.abs(grad_ll)) if grad_ll.size else 0:.1e}).")
    elif not small:
        message = (f"{what} did not converge: the gradient at the best point is "
                   f"{np.max(np.abs(grad_ll)):.2g} (tolerance {GRADIENT_TOL:g}).")
    else:
        message = (f"{what} did not converge: {len(runs)} starts reached different log-likelihoods "
                   f"({said}); the highest is reported.")
    starts = tuple({"start": r0.tolist(), "loglik": -0.5 * r["f"], "max_abs_gradient":
                    float(np.max(np.abs(r["grad"]))) * 0.5, "evaluations": r["evaluations"],
                    "message": r["message"]} for r0, r in zip(origins, runs))
    return RemlFit(beta=parts["beta"], cov_beta=cov_beta, sigma2=float(sigma2), cov_re=cov_re, loglik=loglik,
                   reml=reml, theta=best["theta"].copy(), gradient=grad_ll, converged=converged,
                   boundary=at_bound, starts=starts, message=message, n_observations=n, n_groups=len(uniques),
                   seconds=time.perf_counter() - t0)


def _factorize(groups: Any) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    codes, uniques = pd.factorize(np.asarray(groups), sort=False)
    if (codes < 0).any():
        raise ValueError("groups has missing values")
    return codes.astype(np.intp), np.asarray(uniques)


def _check_rank(x: np.ndarray) -> None:
    """Raise ValueError when the columns of x are (numerically) collinear."""
    xtx = x.T @ x
    d = np.sqrt(np.diag(xtx))
    if np.any(d == 0):
        raise ValueError("the fixed-effects design has a column of zeros")
    corr = xtx / np.outer(d, d)
    w = np.linalg.eigvalsh(corr)
    if w[0] <= 1e-12 * w[-1]:
        raise ValueError("the fixed-effects design is rank-deficient (collinear columns); drop a term")
