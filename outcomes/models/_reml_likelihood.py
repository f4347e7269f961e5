"""The profiled REML/ML criterion of :mod:`outcomes.models._reml` and its exact gradient.

:class:`_Problem` holds the per-patient sufficient statistics and evaluates −2 log L
(σ² profiled out) and its gradient in θ = (log λ₁₁[, λ₂₁, log λ₂₂]); the formulas are
in the docstring of :mod:`outcomes.models._reml`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.linalg import cho_solve

#: −2 log L returned where X'V⁻¹X or the residual sum of squares is numerically degenerate.
_FAILED = 1e300


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
    return cho_solve((chol, True), b, check_finite=False)
