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

__all__ = ["RemlFit", "fit_lmm"]

#: Bounds of log λ (λ = random-effect SD relative to σ): exp(-20) ≈ 2e-9 is zero for every
#: practical purpose, exp(12) ≈ 1.6e5 far beyond any outcome scale.
_LOG_BOUNDS = (-20.0, 12.0)
#: −2 log L returned where X'V⁻¹X or the residual sum of squares is numerically degenerate.
_FAILED = 1e300
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


# --------------------------------------------------------------------------- sufficient statistics


class _Problem:
    """Per-patient sufficient statistics and the profiled likelihood with its gradient.

    Per patient (m of them) the entries of A = Z'Z (``a00, a01, a11``), the rows of
    B = Z'X (``b0, b1``, stored transposed, p × m, so that scaling by a per-patient
    weight runs along contiguous memory) and c = Z'y (``c0, c1``); the 2 × 2 algebra is
    written out entry by entry, several times faster than stacked ``einsum``/``inv``.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, codes: np.ndarray, n_groups: int,
                 reml: bool) -> None:
        n, p = x.shape
        q = z.shape[1]
        if np.all(codes[1:] >= codes[:-1]):
            xs, ys, zs, sorted_codes = x, y, z, codes
        else:
            order = np.argsort(codes, kind="stable")
            xs, ys, zs, sorted_codes = x[order], y[order], z[order], codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        self.n, self.p, self.q, self.m, self.reml = n, p, q, n_groups, reml
        z0 = zs[:, 0]
        self.a00 = np.add.reduceat(z0 * z0, starts)
        self.b0 = np.ascontiguousarray(np.add.reduceat(xs * z0[:, None], starts, axis=0).T)
        self.c0 = np.add.reduceat(ys * z0, starts)
        if q == 2:
            z1 = zs[:, 1]
            self.a01 = np.add.reduceat(z0 * z1, starts)
            self.a11 = np.add.reduceat(z1 * z1, starts)
            self.b1 = np.ascontiguousarray(np.add.reduceat(xs * z1[:, None], starts, axis=0).T)
            self.c1 = np.add.reduceat(ys * z1, starts)
        self.xtx = x.T @ x
        self.xty = x.T @ y
        self.yty = float(y @ y)
        self.dof = n - p if reml else n
        self.evaluations = 0
        self.failures = 0

    def lam(self, theta: np.ndarray) -> np.ndarray:
        """Λ (lower triangular) from θ = (log λ₁₁[, λ₂₁, log λ₂₂])."""
        if self.q == 1:
            return np.array([[math.exp(theta[0])]])
        return np.array([[math.exp(theta[0]), 0.0], [theta[1], math.exp(theta[2])]])

    def evaluate(self, theta: np.ndarray, gradient: bool = True) -> tuple[float, np.ndarray, dict[str, Any]]:
        """−2 log L (σ² profiled out), its gradient in θ, and the pieces needed afterwards."""
        self.evaluations += 1
        lam = self.lam(theta)
        if self.q == 1:
            pieces = self._blocks_1(lam)
        else:
            pieces = self._blocks_2(lam)
        C, xvy, yvy, logdet_m = pieces["C"], pieces["xvy"], pieces["yvy"], pieces["logdet_m"]
        try:
            chol = np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            chol = None
        beta = _chol_solve(chol, xvy) if chol is not None else None
        r2 = yvy - float(beta @ xvy) if beta is not None else -1.0
        dof = self.dof
        f = math.inf
        if r2 > 0 and math.isfinite(logdet_m):
            logdet_c = 2.0 * float(np.log(np.diag(chol)).sum())
            f = logdet_m + (logdet_c if self.reml else 0.0) + dof * (1.0 + math.log(2 * math.pi * r2 / dof))
        if not math.isfinite(f):
            # rounding at an extreme θ (X'V⁻¹X = X'X − ΣB'WB cancels when a variance is huge):
            # a value no optimum can have, so that a line search steps back
            self.failures += 1
            return _FAILED, np.zeros(theta.size), {"theta": theta}
        parts = {"beta": beta, "C_chol": chol, "r2": r2, "lam": lam}
        if not gradient:
            return f, np.empty(0), parts
        cinv = _chol_solve(chol, np.eye(self.p)) if self.reml else None
        G = self._psi_gradient(pieces, beta, r2, cinv)
        parts["G"] = G
        gl = 2.0 * G @ lam  # ∂f/∂Λ
        if self.q == 1:
            grad = np.array([gl[0, 0] * lam[0, 0]])
        else:
            grad = np.array([gl[0, 0] * lam[0, 0], gl[1, 0], gl[1, 1] * lam[1, 1]])
        return f, grad, parts

    def _blocks_1(self, lam: np.ndarray) -> dict[str, Any]:
        l2 = lam[0, 0] ** 2
        mdet = 1.0 + l2 * self.a00
        w = l2 / mdet  # W = Λ M⁻¹ Λ'
        f0 = self.b0 * np.sqrt(w)
        wc = w * self.c0
        return {"C": self.xtx - f0 @ f0.T, "xvy": self.xty - self.b0 @ wc,
                "yvy": self.yty - float(self.c0 @ wc), "logdet_m": float(np.log(mdet).sum()), "w00": w}

    def _blocks_2(self, lam: np.ndarray) -> dict[str, Any]:
        l11, l21, l22 = lam[0, 0], lam[1, 0], lam[1, 1]
        a00, a01, a11 = self.a00, self.a01, self.a11
        # M = I + Λ'AΛ
        t0 = a00 * l11 + a01 * l21  # (AΛ)₀₀
        t1 = a01 * l11 + a11 * l21  # (AΛ)₁₀
        m00 = 1.0 + l11 * t0 + l21 * t1
        m01 = l22 * (l11 * a01 + l21 * a11)
        m11 = 1.0 + l22 * l22 * a11
        det = m00 * m11 - m01 * m01
        s00, s01, s11 = m11 / det, -m01 / det, m00 / det
        # W = Λ M⁻¹ Λ'
        u = l21 * s00 + l22 * s01
        w00 = l11 * l11 * s00
        w01 = l11 * u
        w11 = l21 * u + l22 * (l21 * s01 + l22 * s11)
        b0, b1, c0, c1 = self.b0, self.b1, self.c0, self.c1
        # B'WB = F'F with W = RR' (R lower triangular, per patient): F = [r00 b0 + r10 b1; r11 b1]
        r00 = np.sqrt(w00)
        r10 = np.divide(w01, r00, out=np.zeros_like(w01), where=r00 > 0)
        r11 = np.sqrt(np.maximum(w11 - r10 * r10, 0.0))
        f0 = b0 * r00 + b1 * r10
        f1 = b1 * r11
        wc0 = w00 * c0 + w01 * c1
        wc1 = w01 * c0 + w11 * c1
        C = self.xtx - f0 @ f0.T - f1 @ f1.T
        return {"C": C, "xvy": self.xty - b0 @ wc0 - b1 @ wc1,
                "yvy": self.yty - float(c0 @ wc0 + c1 @ wc1), "logdet_m": float(np.log(det).sum()),
                "w00": w00, "w01": w01, "w11": w11}

    def _psi_gradient(self, pieces: dict[str, Any], beta: np.ndarray, r2: float,
                      cinv: np.ndarray | None) -> np.ndarray:
        """G = ∂(−2 log L)/∂Ψ: Σ H_i − Σ K_i C⁻¹ K_i' (REML) − dof/r² Σ u_iu_i'."""
        k = self.dof / r2
        if self.q == 1:
            n00 = 1.0 - self.a00 * pieces["w00"]  # N = (I + AΨ)⁻¹
            h = float(n00 @ self.a00)
            u0 = n00 * (self.c0 - beta @ self.b0)
            g = h - k * float(u0 @ u0)
            if cinv is not None:
                k0 = self.b0 * n00
                g -= float(np.sum(cinv * (k0 @ k0.T)))
            return np.array([[g]])
        a00, a01, a11 = self.a00, self.a01, self.a11
        w00, w01, w11 = pieces["w00"], pieces["w01"], pieces["w11"]
        n00 = 1.0 - (a00 * w00 + a01 * w01)
        n01 = -(a00 * w01 + a01 * w11)
        n10 = -(a01 * w00 + a11 * w01)
        n11 = 1.0 - (a01 * w01 + a11 * w11)
        h00 = float(n00 @ a00 + n01 @ a01)
        h01 = float(n00 @ a01 + n01 @ a11)
        h11 = float(n10 @ a01 + n11 @ a11)
        r0 = self.c0 - beta @ self.b0
        r1 = self.c1 - beta @ self.b1
        u0 = n00 * r0 + n01 * r1
        u1 = n10 * r0 + n11 * r1
        g = np.array([[h00 - k * float(u0 @ u0), h01 - k * float(u0 @ u1)],
                      [0.0, h11 - k * float(u1 @ u1)]])
        if cinv is not None:
            # Σ_i K_i C⁻¹ K_i' entry (j, l) = tr(C⁻¹ K_j K_l'), K_j the p × m rows
            k0 = self.b0 * n00 + self.b1 * n01
            k1 = self.b0 * n10 + self.b1 * n11
            g[0, 0] -= float(np.sum(cinv * (k0 @ k0.T)))
            g[0, 1] -= float(np.sum(cinv * (k0 @ k1.T)))
            g[1, 1] -= float(np.sum(cinv * (k1 @ k1.T)))
        g[1, 0] = g[0, 1]
        return g


def _chol_solve(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.linalg import cho_solve

    return cho_solve((chol, True), b, check_finite=False)


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
