"""REML for a linear model with an unstructured (or CS, AR(1)) residual covariance within patient.

The model (the MMRM of :func:`outcomes.models.mmrm.fit_mmrm`), for patient i observed at
the visit subset S_i of T visits::

    y_i = X_i β + e_i,   e_i ~ N(0, Σ[S_i, S_i])

with one T × T covariance Σ shared by all patients; a patient contributes the visits
they have (all available data: likelihood-valid under missing at random).

Vectorised over missingness patterns. Patients with the same visit subset S share
Σ_S = Σ[S, S], so one Cholesky per pattern suffices; and with Z_i = [X_i | y_i] every
term of the likelihood depends on the data only through the per-pattern cross-products
G_S[s, a, t, b] = Σ_i Z_i[s, a] Z_i[t, b] (built once, one matrix product per pattern).
With A_S = Σ_S⁻¹ and M = Σ_S Σ_st A_S[s, t] G_S[s, ·, t, ·] = [[X'V⁻¹X, X'V⁻¹y], [·, y'V⁻¹y]]:

* β̂ = (X'V⁻¹X)⁻¹ X'V⁻¹y, r'V⁻¹r = y'V⁻¹y − β̂'X'V⁻¹y;
* f(θ) = −2 log L_REML − const = Σ_S n_S log|Σ_S| + log|X'V⁻¹X| + r'V⁻¹r;
* ∂f/∂Σ_S = n_S A_S − A_S (H_S + R_S) A_S, with H_S = Σ_i X_i P⁻¹ X_i' (P = X'V⁻¹X)
  and R_S = Σ_i r_i r_i', both one contraction of G_S; carried to θ by dΣ/dθ.

So an evaluation costs O(patterns × T² p²), whatever the number of patients.

Parametrisations (θ, all unconstrained): unstructured Σ = LL' with L lower triangular,
θ = its rows (log of the diagonal); compound symmetry σ²((1 − ρ)I + ρJ) with
θ = (log σ², logit-scaled ρ ∈ (−1/(T − 1), 1)); AR(1) σ² ρ^|j − k| on the visit
positions, θ = (log σ², atanh ρ).

Fitting: BFGS with the exact gradient, then Newton steps on the finite-difference
Hessian of the exact gradient, from two starts (pairwise moment estimate; then the
diagonal of it, no correlation). Converged only when the gradient of log L is small at
the optimum and both starts reach the same log-likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg, optimize

__all__ = ["STRUCTURES", "MmrmFit", "fit_reml", "make_structure"]

#: Converged: max |∂ log L / ∂θ| at most this (data scaled to unit SD) ...
GRADIENT_TOL = 1e-4
#: ... and the two starts' log-likelihoods within this (log-likelihood units).
AGREEMENT_TOL = 1e-6
#: Relative step of the central differences of the exact gradient (Hessian).
_HESSIAN_STEP = 1e-4


# --------------------------------------------------------------------------- covariance structures


class _Unstructured:
    name = "unstructured"

    def __init__(self, n_visits: int) -> None:
        self.T = n_visits
        self.rows, self.cols = np.tril_indices(n_visits)
        self.n_params = len(self.rows)
        self.diag = self.rows == self.cols

    def _chol(self, theta: np.ndarray) -> np.ndarray:
        L = np.zeros((self.T, self.T))
        L[self.rows, self.cols] = np.where(self.diag, np.exp(theta), theta)
        return L

    def sigma(self, theta: np.ndarray) -> np.ndarray:
        L = self._chol(theta)
        return L @ L.T

    def dsigma(self, theta: np.ndarray) -> np.ndarray:
        L = self._chol(theta)
        out = np.empty((self.n_params, self.T, self.T))
        for j, (r, c) in enumerate(zip(self.rows, self.cols)):
            E = np.zeros((self.T, self.T))
            E[r, c] = L[r, c] if r == c else 1.0
            EL = E @ L.T
            out[j] = EL + EL.T
        return out

    def theta_of(self, S: np.ndarray) -> np.ndarray:
        L = np.linalg.cholesky(S)
        vals = L[self.rows, self.cols]
        return np.where(self.diag, np.log(np.where(self.diag, vals, 1.0)), vals)

    def rescale(self, theta: np.ndarray, c: float) -> np.ndarray:
        """θ for data multiplied by c (Σ → c²Σ)."""
        return np.where(self.diag, theta + math.log(c), theta * c)


class _CompoundSymmetry:
    name = "compound_symmetry"
    n_params = 2

    def __init__(self, n_visits: int) -> None:
        self.T = n_visits
        self.low = -1.0 / (n_visits - 1)

    def _rho(self, z: float) -> tuple[float, float]:
        e = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
        return self.low + (1 - self.low) * e, (1 - self.low) * e * (1 - e)

    def sigma(self, theta: np.ndarray) -> np.ndarray:
        s2, (rho, _) = math.exp(theta[0]), self._rho(theta[1])
        return s2 * ((1 - rho) * np.eye(self.T) + rho * np.ones((self.T, self.T)))

    def dsigma(self, theta: np.ndarray) -> np.ndarray:
        s2, (_, drho) = math.exp(theta[0]), self._rho(theta[1])
        return np.stack([self.sigma(theta), s2 * drho * (np.ones((self.T, self.T)) - np.eye(self.T))])

    def theta_of(self, S: np.ndarray) -> np.ndarray:
        s2 = float(np.mean(np.diag(S)))
        off = S[~np.eye(self.T, dtype=bool)]
        rho = float(np.clip(np.mean(off) / s2, self.low + 0.05 * (1 - self.low), 0.95))
        e = (rho - self.low) / (1 - self.low)
        return np.array([math.log(s2), math.log(e / (1 - e))])

    def rescale(self, theta: np.ndarray, c: float) -> np.ndarray:
        return np.array([theta[0] + 2 * math.log(c), theta[1]])


class _AR1:
    name = "ar1"
    n_params = 2

    def __init__(self, n_visits: int) -> None:
        self.T = n_visits
        idx = np.arange(n_visits)
        self.lag = np.abs(idx[:, None] - idx[None, :])

    def sigma(self, theta: np.ndarray) -> np.ndarray:
        return math.exp(theta[0]) * np.tanh(theta[1]) ** self.lag

    def dsigma(self, theta: np.ndarray) -> np.ndarray:
        s2, rho = math.exp(theta[0]), math.tanh(theta[1])
        lagm1 = np.maximum(self.lag - 1, 0)
        d = np.where(self.lag > 0, s2 * self.lag * rho ** lagm1 * (1 - rho ** 2), 0.0)
        return np.stack([self.sigma(theta), d])

    def theta_of(self, S: np.ndarray) -> np.ndarray:
        s2 = float(np.mean(np.diag(S)))
        lag1 = np.mean(np.diag(S, 1)) / s2 if self.T > 1 else 0.0
        return np.array([math.log(s2), math.atanh(float(np.clip(lag1, -0.9, 0.9)))])

    def rescale(self, theta: np.ndarray, c: float) -> np.ndarray:
        return np.array([theta[0] + 2 * math.log(c), theta[1]])


#: Covariance structures by name.
STRUCTURES = {"unstructured": _Unstructured, "compound_symmetry": _CompoundSymmetry, "ar1": _AR1}


def make_structure(name: str, n_visits: int) -> Any:
    """The covariance structure object for ``name`` and ``n_visits`` visits."""
    return STRUCTURES[name](n_visits)


# --------------------------------------------------------------------------- the likelihood


class _Problem:
    """Per-pattern cross-products and the REML criterion f(θ) = −2 log L_REML − const."""

    def __init__(self, Z: np.ndarray, mask: np.ndarray, structure: Any) -> None:
        # Z: (patients, T, p + 1) with [X | y] per visit (anything where mask is False)
        self.structure = structure
        self.p = Z.shape[2] - 1
        self.N = int(mask.sum())
        codes = mask.astype(np.int64) @ (1 << np.arange(mask.shape[1], dtype=np.int64))
        uniq, inverse = np.unique(codes, return_inverse=True)
        self.patterns: list[tuple[np.ndarray, int, np.ndarray]] = []
        p1 = self.p + 1
        for k, code in enumerate(uniq):
            if code == 0:
                continue
            idx = np.flatnonzero(inverse == k)
            S = np.flatnonzero(mask[idx[0]])
            Zk = Z[idx][:, S, :].reshape(len(idx), len(S) * p1)
            G = (Zk.T @ Zk).reshape(len(S), p1, len(S), p1)
            self.patterns.append((S, len(idx), G))
        self.evaluations = 0

    @property
    def n_patterns(self) -> int:
        return len(self.patterns)

    def _inverses(self, Sig: np.ndarray) -> tuple[list[np.ndarray], float]:
        A, logdet = [], 0.0
        for S, n, _ in self.patterns:
            c = np.linalg.cholesky(Sig[np.ix_(S, S)])
            ci = np.linalg.inv(c)  # tiny (at most T × T): LAPACK's general inverse is fastest here
            A.append(ci.T @ ci)
            logdet += 2.0 * n * float(np.sum(np.log(np.diag(c))))
        return A, logdet

    def evaluate(self, theta: np.ndarray, *, gradient: bool = True) -> dict[str, Any]:
        """f, its gradient, β̂ and P = X'V⁻¹X at θ (raises LinAlgError if Σ is not PD)."""
        self.evaluations += 1
        p = self.p
        Sig = self.structure.sigma(theta)
        A, logdet = self._inverses(Sig)
        M = np.zeros((p + 1, p + 1))
        for Ak, (_, _, G) in zip(A, self.patterns):
            M += np.tensordot(Ak, G, axes=([0, 1], [0, 2]))
        P = M[:p, :p]
        cP = np.linalg.cholesky(P)
        beta = linalg.cho_solve((cP, True), M[:p, p])
        quad = float(M[p, p] - M[:p, p] @ beta)
        f = logdet + 2.0 * float(np.sum(np.log(np.diag(cP)))) + quad
        out: dict[str, Any] = {"f": f, "beta": beta, "P": P, "cP": cP, "A": A, "quad": quad}
        if gradient:
            Pinv = linalg.cho_solve((cP, True), np.eye(p))
            w = np.append(-beta, 1.0)
            Q = np.outer(w, w)
            Q[:p, :p] += Pinv
            D = np.zeros_like(Sig)
            for Ak, (S, n, G) in zip(A, self.patterns):
                HR = np.tensordot(G, Q, axes=([1, 3], [0, 1]))
                D[np.ix_(S, S)] += n * Ak - Ak @ HR @ Ak
            out["grad"] = np.tensordot(self.structure.dsigma(theta), D, axes=([1, 2], [0, 1]))
        return out

    def fg(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            e = self.evaluate(theta)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(theta)
        if not np.isfinite(e["f"]):
            return np.inf, np.zeros_like(theta)
        return e["f"], e["grad"]

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Central differences of the exact gradient of f, symmetrised."""
        q = len(theta)
        H = np.empty((q, q))
        for j in range(q):
            h = _HESSIAN_STEP * max(1.0, abs(theta[j]))
            up, down = theta.copy(), theta.copy()
            up[j] += h
            down[j] -= h
            H[:, j] = (self.evaluate(up)["grad"] - self.evaluate(down)["grad"]) / (2 * h)
        return (H + H.T) / 2

    def dP(self, theta: np.ndarray, A: list[np.ndarray]) -> np.ndarray:
        """∂(X'V⁻¹X)/∂θ_j for every j, shape (q, p, p)."""
        p = self.p
        dS = self.structure.dsigma(theta)
        out = np.zeros((len(theta), p, p))
        for Ak, (S, _, G) in zip(A, self.patterns):
            dA = -np.einsum("st,jtu,uv->jsv", Ak, dS[:, S][:, :, S], Ak)
            out += np.tensordot(dA, G[:, :p, :, :p], axes=([1, 2], [0, 2]))
        return out


# --------------------------------------------------------------------------- optimisation


def _minimise(prob: _Problem, theta0: np.ndarray) -> dict[str, Any]:
    start = prob.evaluations
    res = optimize.minimize(prob.fg, theta0, jac=True, method="BFGS",
                            options={"gtol": 1e-6, "maxiter": 2000})
    theta = res.x
    f, g = prob.fg(theta)
    # f is a sum of terms of the order of the number of observations: its rounding error is
    # about 1e-16 times that, so a Newton step may look like a (tiny) increase near the optimum
    tol = 1e-11 * (abs(f) + prob.N)
    newton = 0
    for _ in range(30):
        gmax = np.max(np.abs(g)) / 2
        if gmax < 1e-9:
            break
        try:
            step = linalg.cho_solve(linalg.cho_factor(prob.hessian(theta)), g)
        except linalg.LinAlgError:
            break  # not locally convex: leave it to the gradient check
        t = 1.0
        while t > 1e-6:
            f_new, g_new = prob.fg(theta - t * step)
            if f_new <= f + tol:
                break
            t /= 2
        else:
            break
        if f_new >= f - tol and np.max(np.abs(g_new)) / 2 >= gmax:
            break  # no progress left at this precision
        theta, f, g = theta - t * step, f_new, g_new
        newton += 1
    return {"theta": theta, "f": f, "grad": g, "bfgs_message": str(res.message), "newton_steps": newton,
            "evaluations": prob.evaluations - start}


def _moment_start(prob: _Problem, T: int) -> np.ndarray:
    """Pairwise-available covariance of OLS residuals by visit, made positive definite.

    Computed from the per-pattern cross-products alone (X'X, X'y and the residual
    cross-products are sums of blocks of G), so it costs nothing per patient.
    """
    p = prob.p
    M = sum(np.einsum("sasb->ab", G) for _, _, G in prob.patterns)
    beta = np.linalg.lstsq(M[:p, :p], M[:p, p], rcond=None)[0]
    w = np.append(-beta, 1.0)
    C, counts = np.zeros((T, T)), np.zeros((T, T))
    for S, n, G in prob.patterns:
        C[np.ix_(S, S)] += np.einsum("satb,a,b->st", G, w, w)
        counts[np.ix_(S, S)] += n
    S = C / np.maximum(counts, 1)
    var = np.diag(S).copy()
    var[var <= 0] = np.mean(var[var > 0]) if np.any(var > 0) else 1.0
    S[counts < 2] = 0.0
    np.fill_diagonal(S, var)
    w_, v = np.linalg.eigh(S)
    w_ = np.maximum(w_, 1e-2 * w_.max())
    return (v * w_) @ v.T


@dataclass(frozen=True)
class MmrmFit:
    """The numerical fit (in the data's units): what :func:`fit_reml` found."""

    beta: np.ndarray
    cov_beta: np.ndarray
    sigma: np.ndarray
    loglik: float
    theta: np.ndarray
    theta_cov: np.ndarray
    dcov_beta: np.ndarray
    gradient_max: float
    converged: bool
    starts: tuple[dict[str, Any], ...]
    n_patterns: int
    evaluations: int
    #: The outcome's SD: θ̂'s covariance and ∂Cov(β̂)/∂θ are for the outcome divided by it.
    scale: float = 1.0


def fit_reml(Z: np.ndarray, mask: np.ndarray, structure_name: str) -> MmrmFit:
    """Maximise the REML likelihood; see the module docstring.

    Parameters
    ----------
    Z : ndarray, shape (patients, T, p + 1)
        Per patient and visit the design row and, last, the outcome (any value where
        ``mask`` is False).
    mask : ndarray of bool, shape (patients, T)
        Which visits each patient has.
    structure_name : str
        A key of :data:`STRUCTURES`.

    Returns
    -------
    MmrmFit
        ``loglik`` on nlme's scale (``logLik(gls(..., method = "REML"))``: the
        restricted likelihood without a ½ log|X'X| term); ``theta_cov`` the inverse observed information of θ (scaled data);
        ``dcov_beta`` ∂ Cov(β̂) / ∂θ_j (scaled data: both only feed Satterthwaite degrees
        of freedom, which do not depend on the scale).
    """
    T, p = mask.shape[1], Z.shape[2] - 1
    y_obs = Z[:, :, p][mask]
    scale = float(np.std(y_obs)) or 1.0
    Zs = Z.copy()
    Zs[:, :, p] = Z[:, :, p] / scale
    structure = make_structure(structure_name, T)
    prob = _Problem(Zs, mask, structure)
    S0 = _moment_start(prob, T)
    starts = []
    for label, S in (("moments", S0), ("diagonal", np.diag(np.diag(S0)))):
        r = _minimise(prob, structure.theta_of(S))
        r["start"] = label
        r["loglik_scaled"] = -r["f"] / 2
        starts.append(r)
    f_min = min(r["f"] for r in starts)
    # starts within the agreement tolerance are the same optimum: keep the flattest gradient
    best = min((r for r in starts if r["f"] <= f_min + 2 * AGREEMENT_TOL),
               key=lambda r: float(np.max(np.abs(r["grad"]))))
    theta = best["theta"]
    ev = prob.evaluate(theta)
    H = prob.hessian(theta)
    gmax = float(np.max(np.abs(ev["grad"]))) / 2
    agree = max(r["f"] for r in starts) - f_min <= 2 * AGREEMENT_TOL
    try:
        info = H / 2  # observed information of θ (f = −2 log L)
        theta_cov = linalg.cho_solve(linalg.cho_factor(info), np.eye(len(theta)))
        pd = True
    except linalg.LinAlgError:
        theta_cov = np.full((len(theta), len(theta)), np.nan)
        pd = False
    cov_s = linalg.cho_solve((ev["cP"], True), np.eye(p))
    dcov = -np.einsum("ab,jbc,cd->jad", cov_s, prob.dP(theta, ev["A"]), cov_s)
    n_p = prob.N - p

    def loglik(f: float) -> float:
        return -(f + n_p * math.log(2 * math.pi)) / 2 - n_p * math.log(scale)

    theta_orig = structure.rescale(theta, scale)
    return MmrmFit(
        beta=ev["beta"] * scale, cov_beta=cov_s * scale ** 2, sigma=structure.sigma(theta_orig),
        loglik=loglik(best["f"]), theta=theta_orig, theta_cov=theta_cov, dcov_beta=dcov,
        gradient_max=gmax, converged=bool(gmax < GRADIENT_TOL and agree and pd),
        starts=tuple({"start": r["start"], "loglik": loglik(r["f"]),
                      "max_gradient": float(np.max(np.abs(r["grad"]))) / 2, "bfgs": r["bfgs_message"],
                      "newton_steps": r["newton_steps"], "evaluations": r["evaluations"]} for r in starts),
        n_patterns=prob.n_patterns, evaluations=prob.evaluations, scale=scale)
