"""KPIs over time: statistical process control charts by month or quarter of enrolment.

A governance meeting needs to see whether things change, not one snapshot. Each KPI is
plotted per enrolment period with its centre line and 3-sigma control limits:

* proportions (responders, endpoint completion, STOP AND CONSULT, dropout, fidelity):
  a **p-chart**, centre p̄ = Σ events ÷ Σ patients, limits p̄ ± 3 √(p̄ (1 − p̄) / nᵢ)
  (Montgomery, Introduction to Statistical Quality Control, ch. 7);
* means (adherence): an **XmR chart** of the period means, centre x̄, limits x̄ ± 2.66 × the
  mean moving range (Wheeler & Chambers 1992).

Signals: a point outside the limits, and Anhøj's run rules for non-random variation
(Anhøj & Olesen 2014, PLoS One 9:e113825): a run of points on one side of the centre
longer than round(log2(n) + 3) ("shift"), or fewer crossings of the centre than the 5th
percentile of Binomial(n − 1, 0.5) ("too few crossings"), n being the points not on the
centre line. Periods with too few patients to show (small-cell rule) are suppressed:
their value and limits are missing, and they do not count for the run rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ...cohort import Cohort
from ._common import _check_cohort, _check_k
from .kpis import _labels, default_outcome, patient_indicators
from .suppression import suppress_counts

__all__ = ["SPC_COLUMNS", "SPC_KPIS", "spc_data"]

#: KPIs charted over time: (kpi, indicator column, chart).
SPC_KPIS: tuple[tuple[str, str, str], ...] = (
    ("responder", "responder", "p"),
    ("prom_completion", "prom_completed", "p"),
    ("active_flag", "active_flag", "p"),
    ("adherence", "adherence", "xmr"),
    ("dropout", "dropout", "p"),
    ("fidelity", "fidelity", "p"),
)
SPC_COLUMNS = ["table", "kpi", "label", "chart", "period", "n", "value", "center", "lower", "upper", "signal",
               "suppressed"]


def _periods(enrolled: pd.Series, period: str) -> pd.Series:
    if period == "month":
        return enrolled.dt.strftime("%Y-%m")
    return enrolled.dt.year.astype(str) + "-Q" + enrolled.dt.quarter.astype(str)


def _choose_period(enrolled: pd.Series, period: str, k: int) -> str:
    if period in ("month", "quarter"):
        return period
    months = enrolled.dt.to_period("M").value_counts()
    # months when a typical month can be shown (twice the small-cell threshold), else quarters
    return "month" if len(months) >= 8 and months.median() >= 2 * k else "quarter"


def anhoej_signals(values: Sequence[float], center: float) -> tuple[bool, bool, int, int]:
    """Anhøj run rules: (shift, too_few_crossings, longest_run, crossings) for a series.

    Points on the centre line and missing points are skipped (Anhøj & Olesen 2014).
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    side = np.sign(x - center)
    side = side[side != 0]
    n = len(side)
    if n < 2:
        return False, False, n, 0
    change = side[1:] != side[:-1]
    crossings = int(change.sum())
    bounds = np.flatnonzero(np.r_[True, change, True])
    longest = int(np.diff(bounds).max())
    shift = longest > round(np.log2(n) + 3)
    few = crossings < stats.binom.ppf(0.05, n - 1, 0.5)
    return bool(shift), bool(few), longest, crossings


def _signals(values: np.ndarray, center: float, lower: np.ndarray, upper: np.ndarray) -> list[str]:
    out = [[] for _ in values]
    for i, (v, lo, hi) in enumerate(zip(values, lower, upper)):
        if np.isnan(v):
            continue
        if not np.isnan(hi) and v > hi:
            out[i].append("above the upper limit")
        elif not np.isnan(lo) and v < lo:
            out[i].append("below the lower limit")
    shift, few, longest, _ = anhoej_signals(values, center)
    if shift:  # mark the points of the longest run
        shown = np.flatnonzero(~np.isnan(values) & (values != center))
        side = np.sign(values[shown] - center)
        bounds = np.flatnonzero(np.r_[True, side[1:] != side[:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:]):
            if b - a == longest:
                for j in shown[a:b]:
                    out[j].append(f"shift: {longest} points in a row on one side of the centre")
                break
    if few:
        for j in np.flatnonzero(~np.isnan(values)):
            out[j].append("too few crossings of the centre line")
    return ["; ".join(s) for s in out]


def spc_data(cohort: Cohort, *, period: str = "auto", k: int = 11, outcome: str | None = None,
             kpis: Sequence[str] | None = None) -> pd.DataFrame:
    """Each KPI by enrolment period with control limits and signals.

    Parameters
    ----------
    cohort : Cohort
    period : {"auto", "month", "quarter"}
        Enrolment period; "auto" takes months when there are at least 8 and a typical
        month has 2 × ``k`` patients, else quarters.
    k : int, default 11
        Small-cell threshold: a period whose patients, events or non-events are 1 to
        ``k − 1`` is suppressed (value and limits missing).
    outcome : str, optional
        The instrument of the responder and completion KPIs (default: leg pain, else the
        dataset's first outcome).
    kpis : sequence of str, optional
        Which of :data:`SPC_KPIS` (default all that the data allow).

    Returns
    -------
    DataFrame
        :data:`SPC_COLUMNS`: ``table`` ("spc"), ``kpi, label, chart`` ("p" or "xmr"),
        ``period`` ("2025-03" or "2025-Q1"), ``n`` (patients in the denominator),
        ``value`` (proportion or mean), ``center``, ``lower``, ``upper`` (control
        limits), ``signal`` (words, empty when none) and ``suppressed``. A KPI the data
        cannot give (no sessions, no discharge data) has no rows.
    """
    _check_cohort(cohort)
    k = _check_k(k)
    if period not in ("auto", "month", "quarter"):
        raise ValueError(f"period must be 'auto', 'month' or 'quarter', got {period!r}")
    outcome = default_outcome(cohort) if outcome is None else outcome
    wanted = [x for x in SPC_KPIS if kpis is None or x[0] in kpis]
    if kpis is not None:
        unknown = sorted(set(kpis) - {x[0] for x in SPC_KPIS})
        if unknown:
            raise ValueError(f"unknown SPC KPI(s) {unknown}; choose from {[x[0] for x in SPC_KPIS]}")
    ind = patient_indicators(cohort, outcome=outcome)
    enrolled = cohort.patient_summary["enrolled_on"]
    chosen = _choose_period(enrolled, period, k)
    ind["period"] = _periods(enrolled, chosen).to_numpy()
    labels = _labels(cohort, outcome)
    rows: list[dict[str, Any]] = []
    all_periods = sorted(ind["period"].dropna().unique())
    for kpi, col, chart in wanted:
        x = ind[col]
        if x.isna().all():
            continue
        g = pd.DataFrame({"period": ind["period"], "x": pd.to_numeric(x.astype("Float64"), errors="coerce")})
        g = g.dropna(subset=["x"]).groupby("period")["x"]
        n = g.count().reindex(all_periods, fill_value=0).to_numpy(dtype=float)
        if chart == "p":
            events = g.sum().reindex(all_periods, fill_value=0).to_numpy(dtype=float)
            value = np.where(n > 0, events / np.where(n > 0, n, 1), np.nan)
            center = events.sum() / n.sum() if n.sum() else np.nan
            sd = np.sqrt(center * (1 - center) / np.where(n > 0, n, np.nan))
            lower, upper = np.clip(center - 3 * sd, 0, 1), np.clip(center + 3 * sd, 0, 1)
            hide_n, hide_d = suppress_counts(events, n, k=k, proportion=True, lines=False)
            hidden = hide_n | hide_d
        else:
            value = g.mean().reindex(all_periods).to_numpy(dtype=float)
            hidden = (n >= 1) & (n < k)
            shown = np.where(hidden, np.nan, value)
            center = float(np.nanmean(shown)) if np.isfinite(shown).any() else np.nan
            mr = np.abs(np.diff(shown[~np.isnan(shown)]))
            mr_bar = float(mr.mean()) if len(mr) else np.nan
            lower = np.full(len(n), center - 2.66 * mr_bar)
            upper = np.full(len(n), center + 2.66 * mr_bar)
        value = np.where(hidden, np.nan, value)
        lower = np.where(hidden | (n == 0), np.nan, lower)
        upper = np.where(hidden | (n == 0), np.nan, upper)
        signal = _signals(value, center, lower, upper)
        for i, p in enumerate(all_periods):
            rows.append({"table": "spc", "kpi": kpi, "label": labels[kpi][1], "chart": chart, "period": p,
                         "n": pd.NA if hidden[i] else int(n[i]), "value": value[i], "center": center,
                         "lower": lower[i], "upper": upper[i], "signal": signal[i], "suppressed": bool(hidden[i])})
    out = pd.DataFrame(rows, columns=SPC_COLUMNS)
    out["n"] = out["n"].astype("Int64")
    out.attrs["period"] = chosen
    return out
