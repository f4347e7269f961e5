"""Expected recovery: the range patients like this one reached, from the cohort's mixed model.

A clinician looking at one patient's outcome wants to know "is this patient on
track?". :func:`expected_recovery` fits the cohort's trajectory mixed model
(:func:`outcomes.models.trajectory.fit_trajectory`: ``y ~ week * schedule``,
random intercept and week slope per patient, REML) and turns it into a
**prediction band for a new patient** with a given schedule and baseline:
not the confidence interval of the mean (which narrows with more patients),
but the range a single new patient's value falls in.

For a new patient on schedule ``s``, the outcome at week ``t`` is normal with
mean ``x(t)'β`` and covariance ``K(t1, t2) = z(t1)' D z(t2) + σ² [t1 = t2]``
(``z(t) = (1, t)``, ``D`` the random-effects covariance, ``σ²`` the residual
variance). Given the patient's baseline ``b`` observed at week ``t0``, the
value at ``t`` is normal with

    mean  x(t)'β + K(t, t0) / K(t0, t0) · (b − x(t0)'β)
    var   K(t, t) − K(t, t0)² / K(t0, t0) + L' V L,   L = x(t) − K(t, t0)/K(t0, t0) · x(t0)

where ``V`` is the fixed effects' covariance (the uncertainty of β, small
next to the patient-level variance). The 50 % and 80 % bands are mean ±
0.674 and ± 1.282 standard deviations, clipped to the outcome's range. A
patient is **ahead** when their latest value is better than the 80 % band (in
the outcome's direction), **behind** when worse, **on track** inside it;
with fewer than ``min_patients`` (30) patients in the fit there is no band,
and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BAND_COLUMNS", "ExpectedRecovery", "expected_recovery"]

#: Columns of :meth:`ExpectedRecovery.band`.
BAND_COLUMNS = ["week", "mean", "lower80", "lower50", "upper50", "upper80"]
_Z50, _Z80 = 0.6744897501960817, 1.2815515655446004


@dataclass(frozen=True)
class ExpectedRecovery:
    """The cohort's expected-recovery model for one outcome (see the module docstring).

    Attributes
    ----------
    outcome, label : str
        The outcome (registry name) and its label.
    higher_is_better : bool
        Its direction ("ahead" means better in that direction).
    available : bool
        False when there is no band (too few patients, or the model failed); ``reason`` says why.
    reason : str
        One sentence for the report.
    n_patients : int
        Patients the band rests on.
    low, high : float
        The outcome's range (bands are clipped to it).
    beta : dict of str to float
        Fixed effects by term name; ``cov_fe`` their covariance (same order).
    D : ndarray
        2 × 2 random-effects covariance (intercept, week slope); ``residual_var`` σ².
    """

    outcome: str
    label: str
    higher_is_better: bool
    available: bool
    reason: str
    n_patients: int
    low: float = -np.inf
    high: float = np.inf
    beta: dict[str, float] = field(default_factory=dict)
    cov_fe: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    D: np.ndarray = field(default_factory=lambda: np.zeros((2, 2)))
    residual_var: float = 0.0
    schedules: tuple[str, ...] = ()

    def __repr__(self) -> str:
        what = f"band from {self.n_patients} patients" if self.available else f"no band: {self.reason}"
        return f"ExpectedRecovery({self.outcome}, {what})"

    def _x(self, schedule: np.ndarray, t: np.ndarray) -> np.ndarray:
        cols = []
        for term in self.beta:
            if term == "Intercept":
                cols.append(np.ones_like(t))
            elif term == "week":
                cols.append(t)
            elif term.startswith("schedule[T.") and term.endswith("]"):
                cols.append((schedule == term[11:-1]).astype(float))
            elif term.startswith("week:schedule[T.") and term.endswith("]"):
                cols.append(t * (schedule == term[16:-1]))
            else:  # pragma: no cover - the model is fitted without other terms
                raise ValueError(f"unexpected term {term!r} in the expected-recovery model")
        return np.column_stack(cols)

    def _k(self, t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
        """Random-effects covariance between times t1 and t2 (elementwise)."""
        d = self.D
        return d[0, 0] + d[0, 1] * (t1 + t2) + d[1, 1] * t1 * t2

    def predict(self, schedule: Any, baseline: Any, weeks: Any, baseline_week: Any = 0.0) -> pd.DataFrame:
        """Bands for many (schedule, baseline, baseline week, week) rows at once (broadcast).

        A missing baseline gives the unconditional band; an unknown schedule gives NaN.
        """
        t = np.asarray(weeks, dtype=float).ravel()
        n = len(t)
        sch = np.broadcast_to(np.asarray(schedule, dtype=object), (n,)).astype(str)
        base = np.broadcast_to(np.asarray(baseline, dtype=float), (n,))
        t0 = np.broadcast_to(np.asarray(baseline_week, dtype=float), (n,))
        if not self.available:
            return pd.DataFrame({"week": t, **{c: np.full(n, np.nan) for c in BAND_COLUMNS[1:]}})
        b = np.array(list(self.beta.values()))
        x, x0 = self._x(sch, t), self._x(sch, t0)
        ktt = self._k(t, t) + self.residual_var
        k00 = self._k(t0, t0) + self.residual_var
        # covariance with the baseline: the random effects, plus σ² where t is the baseline time itself
        kt0 = self._k(t, t0) + self.residual_var * (np.abs(t - t0) < 1e-9)
        w = np.where(np.isfinite(base), kt0 / k00, 0.0)
        mean = x @ b + w * np.where(np.isfinite(base), base - x0 @ b, 0.0)
        L = x - w[:, None] * x0
        var = ktt - w * kt0 + np.einsum("ij,jk,ik->i", L, self.cov_fe, L)
        sd = np.sqrt(np.maximum(var, 0.0))
        known = np.isin(sch, self.schedules) if self.available else np.zeros(n, bool)
        clip = lambda v: np.where(known, np.clip(v, self.low, self.high), np.nan)  # noqa: E731
        return pd.DataFrame({"week": t, "mean": clip(mean), "lower80": clip(mean - _Z80 * sd),
                             "lower50": clip(mean - _Z50 * sd), "upper50": clip(mean + _Z50 * sd),
                             "upper80": clip(mean + _Z80 * sd)})

    def band(self, schedule: str, baseline: float | None, weeks: Any, *, baseline_week: float = 0.0) -> pd.DataFrame:
        """The 50 % and 80 % prediction bands at ``weeks`` for a new patient.

        Parameters
        ----------
        schedule : str
            The patient's schedule (one the model was fitted on).
        baseline : float or None
            The patient's baseline value; None gives the unconditional band.
        weeks : array-like
            Weeks since enrolment.
        baseline_week : float
            When the baseline was measured.

        Returns
        -------
        DataFrame
            ``week, mean, lower80, lower50, upper50, upper80``; empty when the
            model is not available or the schedule is unknown to it.
        """
        t = np.asarray(weeks, dtype=float).ravel()
        if not self.available or schedule not in self.schedules or not len(t):
            return pd.DataFrame({c: pd.Series(dtype=float) for c in BAND_COLUMNS})
        return self.predict(schedule, np.nan if baseline is None else baseline, t, baseline_week)

    def classify(self, value: float | None, lower80: float | None, upper80: float | None) -> str:
        """``ahead``, ``on_track``, ``behind`` (against the 80 % band), or ``no_band``."""
        if value is None or lower80 is None or upper80 is None or not np.isfinite(
                [value, lower80, upper80]).all():
            return "no_band"
        if value < lower80:
            return "behind" if self.higher_is_better else "ahead"
        if value > upper80:
            return "ahead" if self.higher_is_better else "behind"
        return "on_track"

    def patients(self, cohort: Any) -> pd.DataFrame:
        """Each patient's latest value against their band.

        Returns
        -------
        DataFrame
            One row per patient of ``cohort.patient_summary``: ``patient_id,
            schedule, baseline, latest, latest_change, band_time`` (week of the
            latest value), ``band50_lower, band50_upper, band80_lower,
            band80_upper, expected`` (``ahead|on_track|behind|no_band``).
            Patients whose latest value is their baseline get ``no_band``.
        """
        s = cohort.patient_summary[["patient_id", "schedule"]].copy() if "schedule" in \
            cohort.patient_summary.columns else cohort.patient_summary[["patient_id"]].assign(schedule="")
        ch = cohort.changes[cohort.changes["outcome"] == self.outcome].drop_duplicates("patient_id")
        ch = ch.set_index("patient_id").reindex(s["patient_id"])
        enrolled = cohort.patients.set_index("patient_id")["enrolled_on"].reindex(s["patient_id"])
        out = pd.DataFrame({"patient_id": s["patient_id"].to_numpy(), "schedule": s["schedule"].astype(str).to_numpy()})
        out["baseline"] = pd.to_numeric(ch["baseline"], errors="coerce").to_numpy(dtype=float)
        out["latest"] = pd.to_numeric(ch["latest"], errors="coerce").to_numpy(dtype=float)
        out["latest_change"] = out["latest"] - out["baseline"]
        t0 = (pd.to_datetime(ch["baseline_date"]) - enrolled).dt.days.to_numpy(dtype=float, na_value=np.nan) / 7
        t1 = (pd.to_datetime(ch["latest_date"]) - enrolled).dt.days.to_numpy(dtype=float, na_value=np.nan) / 7
        out["band_time"] = t1
        ok = np.isfinite(out["baseline"]) & np.isfinite(out["latest"]) & np.isfinite(t0) & np.isfinite(t1) & (t1 > t0)
        b = self.predict(out["schedule"].to_numpy(), out["baseline"].to_numpy(), np.nan_to_num(t1),
                         np.nan_to_num(t0))
        for side, col in (("band50_lower", "lower50"), ("band50_upper", "upper50"), ("band80_lower", "lower80"),
                          ("band80_upper", "upper80")):
            out[side] = np.where(ok, b[col].to_numpy(), np.nan)
        out["expected"] = [self.classify(v, lo, hi) for v, lo, hi in
                           zip(out["latest"], out["band80_lower"], out["band80_upper"])]
        return out


def expected_recovery(cohort: Any, *, outcome: str | None = None, min_patients: int = 30) -> ExpectedRecovery:
    """Fit the cohort's expected-recovery model for ``outcome``.

    Parameters
    ----------
    cohort : Cohort
    outcome : str, optional
        Default leg pain when the cohort has it, else its first summarised outcome.
    min_patients : int, default 30
        Fewer patients with the outcome give no band (``available`` False, ``reason`` says so).

    Returns
    -------
    ExpectedRecovery
    """
    from .trajectory import fit_trajectory

    reg = cohort.outcomes
    summarised = cohort.summarised
    if outcome is None:
        outcome = "leg_pain" if "leg_pain" in summarised else (summarised[0] if summarised else "leg_pain")
    label = reg.label(outcome) if outcome in reg.names else outcome.replace("_", " ")
    hib = bool(reg[outcome].higher_is_better) if outcome in reg.names else False
    lo, hi = -np.inf, np.inf
    if outcome in reg.names:
        spec = reg[outcome]
        lo = -np.inf if spec.low is None else float(spec.low)
        hi = np.inf if spec.high is None else float(spec.high)
    base = dict(outcome=outcome, label=label, higher_is_better=hib, low=lo, high=hi)
    if outcome not in cohort.assessments.columns:
        return ExpectedRecovery(available=False, reason=f"no {label} scores to model.", n_patients=0, **base)
    y = cohort.assessments[["patient_id", outcome]].dropna()
    n = int(y["patient_id"].nunique())
    if n < min_patients:
        return ExpectedRecovery(available=False, n_patients=n, **base,
                                reason=f"only {n} patients have {label} scores; the expected-recovery band "
                                       f"needs at least {min_patients}.")
    try:
        fit = fit_trajectory(cohort, outcome=outcome, adjust_for=())
    except Exception as exc:  # the band is an aid: a failed fit must not stop the reports
        return ExpectedRecovery(available=False, n_patients=n, **base,
                                reason=f"the mixed model for {label} could not be fitted ({exc}).")
    vc = fit.meta.get("variance_components", {})
    i_sd, s_sd = float(vc.get("intercept_sd", 0.0)), float(vc.get("slope_sd", 0.0) or 0.0)
    corr = float(vc.get("intercept_slope_corr", 0.0) or 0.0)
    D = np.array([[i_sd ** 2, corr * i_sd * s_sd], [corr * i_sd * s_sd, s_sd ** 2]])
    beta = dict(zip(fit.table["term"], fit.table["estimate"].astype(float)))
    groups = int(fit.data["patient_id"].nunique()) if fit.data is not None else n
    return ExpectedRecovery(available=True, n_patients=groups, **base,
                            reason=f"band from the mixed model of {groups} patients' {label} scores",
                            beta=beta, cov_fe=np.asarray(fit.meta["cov_fe"], dtype=float), D=D,
                            residual_var=float(vc.get("residual_sd", 0.0)) ** 2,
                            schedules=tuple(str(s) for s in fit.meta.get("schedules", ())))
