"""Funnel plots: each unit's rate against its caseload with exact binomial limits (Spiegelhalter 2005)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ...cohort import Cohort
from ._common import _check_by, _check_cohort, _check_k, _check_level
from .kpis import _FUNNEL_COLUMN, FUNNEL_KPIS, _labels, default_outcome, patient_indicators
from .suppression import suppress_counts

# ------------------------------------------------------------------ funnel plots


def _level_name(level: float) -> str:
    return f"{level * 100:g}".replace(".", "_")


def funnel_limits(p: float, n: Any, levels: Sequence[float] = (0.95, 0.998)) -> pd.DataFrame:
    """Exact binomial control limits for a proportion ``p`` at caseloads ``n``.

    Parameters
    ----------
    p : float
        The target (usually the overall) proportion, 0 ≤ p ≤ 1.
    n : int or array-like of int
        Denominators (≥ 1).
    levels : sequence of float, default (0.95, 0.998)
        Two-sided coverage of each pair of limits.

    Returns
    -------
    DataFrame
        ``n`` and, per level (named without the point, ``95``, ``99_8``), ``lower_95,
        upper_95, lower_99_8, upper_99_8``: proportions, clipped to [0, 1].

    Notes
    -----
    Spiegelhalter 2005, Stat Med 24:1185, appendix A.1.1: for the probability ``q``
    (``(1 − level) / 2`` for the lower limit, ``(1 + level) / 2`` for the upper),
    ``r = binom.ppf(q, n, p)`` is the smallest count with P(R ≤ r) ≥ q; the limit is
    interpolated between ``r − 1`` and ``r`` so the curve is smooth in ``n``:
    ``α = (P(R ≤ r) − q) / (P(R ≤ r) − P(R ≤ r − 1))``, limit = ``(r − α) / n``.
    Checked against the same formula in R (``qbinom``/``pbinom``,
    ``tests/reference/audit_funnel.R``).
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1:
        raise ValueError(f"p must be a proportion between 0 and 1, got {p!r}")
    n_arr = np.atleast_1d(np.asarray(n))
    if not len(n_arr) or not np.issubdtype(n_arr.dtype, np.number) or np.any(np.isnan(n_arr.astype(float))) \
            or np.any(n_arr < 1) or np.any(n_arr != np.round(n_arr)):
        raise ValueError(f"n must be whole numbers ≥ 1, got {n!r}")
    if isinstance(levels, (int, float)) or not len(levels):
        raise ValueError(f"levels must be a sequence of probabilities such as (0.95, 0.998), got {levels!r}")
    n_arr = n_arr.astype(float)
    out = {"n": n_arr.astype("int64")}
    for level in levels:
        level = _check_level(level, "levels")
        name = _level_name(level)
        for side, q in (("lower", (1 - level) / 2), ("upper", (1 + level) / 2)):
            r = stats.binom.ppf(q, n_arr, p)
            f_r = stats.binom.cdf(r, n_arr, p)
            f_below = stats.binom.cdf(r - 1, n_arr, p)
            step = f_r - f_below
            alpha = np.divide(f_r - q, step, out=np.zeros_like(step), where=step > 0)
            out[f"{side}_{name}"] = np.clip((r - alpha) / n_arr, 0.0, 1.0)
    return pd.DataFrame(out)


def funnel_data(cohort: Cohort, *, by: str = "site_id", kpi: str = "responder", k: int = 11,
                levels: Sequence[float] = (0.95, 0.998), target: float | None = None,
                outcome: str | None = None, overdispersion: bool = False) -> pd.DataFrame:
    """Each unit's rate against its caseload, with exact binomial control limits.

    Parameters
    ----------
    cohort : Cohort
    by : {"site_id", "clinician_id", "schedule"}, default "site_id"
    kpi : {"responder", "responder_itt", "prom_completion", "dropout", "fidelity"}
        A per-patient yes/no indicator of :func:`patient_indicators`.
    k : int, default 11
        Small-cell threshold; a unit whose count, complement or caseload is 1 to
        ``k − 1`` is suppressed (its numbers are missing and it is not plotted).
    levels : sequence of float, default (0.95, 0.998)
        The two pairs of limits: inner (alert) and outer (alarm).
    target : float, optional
        The proportion the limits are centred on; by default the overall rate of
        all units pooled.
    outcome : str, optional
        Default leg pain, else the dataset's first outcome.
    overdispersion : bool, default False
        Widen the limits for overdispersion between units (Spiegelhalter 2005,
        Stat Med 24:1185, §3.4): z-scores winsorised at 10 %, φ = their mean
        square; when I·φ > I − 1 an additive random-effects variance
        τ² = (I·φ − (I − 1)) / (Σwᵢ − Σwᵢ² / Σwᵢ), wᵢ = 1/sᵢ², and limits
        p ± z √(sᵢ² + τ²) (normal). ``phi`` and ``tau2`` say what was found.

    Returns
    -------
    DataFrame
        One row per unit, sorted by code: ``by, unit, n, events, rate,
        overall_rate``, the limits of :func:`funnel_limits` at ``n``,
        ``position`` (against the outer limits: "within", "above", "below"),
        ``position_inner`` (against the inner limits), ``suppressed``, ``kpi``,
        ``label``, ``short_label`` (for an axis), ``denominator_label``, and
        ``phi``, ``tau2`` (overdispersion; NaN when not asked for). Positions are kept for suppressed units
        (they are what the audit is for) but no count or rate is. Units with no
        patient in the denominator have position "no data".

    Notes
    -----
    Spiegelhalter 2005, Stat Med 24:1185: a unit outside the 99.8 % limits is
    unlikely to differ by chance alone (about 1 in 500 would); between the 95 % and
    99.8 % limits about 1 in 20 units fall by chance. Rates are not adjusted for case
    mix here: see :func:`casemix_oe`.
    """
    _check_cohort(cohort)
    _check_by(by, allow_none=False)
    if kpi not in FUNNEL_KPIS:
        raise ValueError(f"kpi must be one of {', '.join(map(repr, FUNNEL_KPIS))}, got {kpi!r}")
    k = _check_k(k)
    if len(levels) != 2:
        raise ValueError(f"levels must be two probabilities (inner, outer), got {levels!r}")
    inner, outer = sorted(_check_level(x, "levels") for x in levels)
    ind = patient_indicators(cohort, outcome=outcome)
    outcome = default_outcome(cohort) if outcome is None else outcome
    if by not in ind.columns:
        raise ValueError(f"by={by!r}: the patients export has no {by} column")
    col = ind[_FUNNEL_COLUMN[kpi]]
    g = pd.DataFrame({"unit": ind[by].astype(str), "x": col}).groupby("unit", sort=True)["x"]
    table = pd.DataFrame({"n": g.count().astype("int64"),
                          "events": g.sum(min_count=0).astype("int64")}).reset_index()
    total_n, total_e = int(table["n"].sum()), int(table["events"].sum())
    if target is None:
        overall = total_e / total_n if total_n else np.nan
    else:
        if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 <= target <= 1:
            raise ValueError(f"target must be a proportion between 0 and 1, got {target!r}")
        overall = float(target)
    table.insert(0, "by", by)
    table["rate"] = np.where(table["n"] > 0, table["events"] / table["n"].where(table["n"] > 0, 1), np.nan)
    table["overall_rate"] = overall
    names = [f"{side}_{_level_name(lv)}" for lv in (inner, outer) for side in ("lower", "upper")]
    has = table["n"] > 0
    for name in names:
        table[name] = np.nan
    if has.any() and not np.isnan(overall):
        lim = funnel_limits(overall, table.loc[has, "n"].to_numpy(), levels=(inner, outer))
        table.loc[has, names] = lim[names].to_numpy()
    table["phi"], table["tau2"] = np.nan, np.nan
    if overdispersion and has.sum() >= 3 and 0 < overall < 1:
        nn = table.loc[has, "n"].to_numpy(dtype=float)
        s2 = overall * (1 - overall) / nn
        z = (table.loc[has, "rate"].to_numpy(dtype=float) - overall) / np.sqrt(s2)
        lo_q, hi_q = np.quantile(z, [0.1, 0.9])
        phi = float(np.mean(np.clip(z, lo_q, hi_q) ** 2))
        i = len(z)
        w = 1 / s2
        tau2 = max((i * phi - (i - 1)) / (w.sum() - (w ** 2).sum() / w.sum()), 0.0) if i * phi > i - 1 else 0.0
        table["phi"], table["tau2"] = phi, tau2
        if tau2 > 0:
            for lv in (inner, outer):
                zq = stats.norm.ppf((1 + lv) / 2)
                half = zq * np.sqrt(s2 + tau2)
                table.loc[has, f"lower_{_level_name(lv)}"] = np.clip(overall - half, 0, 1)
                table.loc[has, f"upper_{_level_name(lv)}"] = np.clip(overall + half, 0, 1)
    table["position"] = _position(table, outer)
    table["position_inner"] = _position(table, inner)
    hide_n, hide_d = suppress_counts(table["events"], table["n"], k=k, proportion=True, lines=True)
    hidden = hide_n | hide_d
    table["suppressed"] = hidden
    table["n"] = table["n"].astype("Int64")
    table["events"] = table["events"].astype("Int64")
    table.loc[hide_d, "n"] = pd.NA
    table.loc[hidden, "events"] = pd.NA
    table.loc[hidden, ["rate"]] = np.nan
    # limits at a hidden n would reveal it
    table.loc[hide_d, names] = np.nan
    labels = _labels(cohort, outcome)[kpi]
    table["kpi"], table["label"], table["short_label"], table["denominator_label"] = kpi, *labels
    return table.reset_index(drop=True)


def _position(table: pd.DataFrame, level: float) -> list[str]:
    name = _level_name(level)
    lo, hi, rate = (table[f"lower_{name}"].to_numpy(dtype=float), table[f"upper_{name}"].to_numpy(dtype=float),
                    table["rate"].to_numpy(dtype=float))
    return ["no data" if np.isnan(r) or np.isnan(a) else "below" if r < a else "above" if r > b else "within"
            for r, a, b in zip(rate, lo, hi)]
