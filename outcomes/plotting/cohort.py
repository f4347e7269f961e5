"""Cohort plots: spaghetti with group means, waterfall of change, flare rates by schedule.

Every function draws on the axes it is given (or the current one), returns it,
and never saves or shows. The plotted summaries come from public ``*_frame``
helpers so tests and reports can check what was drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from scipy import stats

from ..config import DEFAULT_OPTIONS, Options
from .style import _axis_label, _instrument, _require, _styled
from .style import NEUTRAL, get_ax, series_style

__all__ = [
    "flare_rate_frame",
    "mean_ci_frame",
    "plot_flare_rates",
    "plot_spaghetti",
    "plot_waterfall",
    "waterfall_frame",
]

_RESPONDER, _NON_RESPONDER, _UNKNOWN = "#0072B2", "#BBBBBB", "#FFFFFF"


# ------------------------------------------------------------------ spaghetti


def mean_ci_frame(data: pd.DataFrame, *, outcome: str, time_col: str = "week", group: str | None = "schedule",
                  level: float = 0.95) -> pd.DataFrame:
    """Mean and t-based confidence interval of ``outcome`` per time (and group).

    Returns ``group`` (when given), ``time, n, mean, sd, ci_lower, ci_upper``; the interval is
    mean ± t(n − 1) × sd / √n, missing (NaN) where n < 2.
    """
    keys = ([group] if group else []) + [time_col]
    _require(data, keys + [outcome])
    values = pd.to_numeric(data[outcome], errors="coerce").astype("float64")
    g = values.groupby([data[k] for k in keys], observed=True, sort=True)
    out = g.agg(["count", "mean", "std"]).reset_index()
    out.columns = keys + ["n", "mean", "sd"]
    out = out[out["n"] > 0].rename(columns={time_col: "time"}).reset_index(drop=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = stats.t.ppf(0.5 + level / 2, out["n"] - 1)
        half = t * out["sd"] / np.sqrt(out["n"])
    out["ci_lower"] = out["mean"] - half
    out["ci_upper"] = out["mean"] + half
    return out


@_styled
def plot_spaghetti(data: pd.DataFrame, *, outcome: str = "leg_pain", time_col: str = "week",
                   patient_col: str = "patient_id", group: str | None = "schedule", level: float = 0.95,
                   options: Options = DEFAULT_OPTIONS, ax: Axes | None = None) -> Axes:
    """Every patient's trajectory as a thin grey line, with the mean and its CI per time and group.

    Parameters
    ----------
    data : DataFrame
        Long frame, one row per patient and time: ``patient_col``, ``time_col``, ``outcome`` and
        ``group`` (e.g. ``cohort.patient_week`` merged with the schedule). Means are taken per
        distinct value of ``time_col``, so pass whole weeks (``patient_week.week``).
    group : str or None
        Column splitting the means (one line and band per group); None for one overall mean.

    Returns
    -------
    Axes
        A LineCollection of patient lines (gid ``"patients"``), then per group a mean line
        (label = group value, gid ``"mean"``) and a CI band (gid ``"ci"``).
    """
    cols = [patient_col, time_col, outcome] + ([group] if group else [])
    _require(data, cols)
    ax = get_ax(ax)
    obs = data[cols].copy()
    obs[outcome] = pd.to_numeric(obs[outcome], errors="coerce")
    obs = obs.dropna(subset=[time_col, outcome]).sort_values([patient_col, time_col], kind="stable")
    segments = [np.column_stack([g[time_col].to_numpy(dtype=float), g[outcome].to_numpy(dtype=float)])
                for _, g in obs.groupby(patient_col, sort=False) if len(g) > 1]
    lines = LineCollection(segments, colors="#B0B0B0", linewidths=0.5, alpha=0.5, zorder=1,
                           label=f"patients (n = {obs[patient_col].nunique()})")
    lines.set_gid("patients")
    ax.add_collection(lines)
    means = mean_ci_frame(obs, outcome=outcome, time_col=time_col, group=group, level=level)
    parts = means.groupby(group, sort=True) if group else [("mean", means)]
    for i, (name, m) in enumerate(parts):
        style = series_style(i)
        ax.fill_between(m["time"], m["ci_lower"], m["ci_upper"], color=style["color"], alpha=0.18,
                        linewidth=0, zorder=2, gid="ci")
        ax.plot(m["time"], m["mean"], label=str(name), gid="mean", zorder=3, linewidth=2, markersize=4, **style)
    ax.autoscale_view()
    spec = _instrument(outcome, options)
    if spec is not None:
        pad = (spec.high - spec.low) * 0.04
        ax.set_ylim(spec.low - pad, spec.high + pad)
    ax.set_xlabel("Weeks since enrolment")
    ax.set_ylabel(_axis_label(outcome, options))
    ax.legend(title=f"Mean, {level:.0%} CI" + (f" by {group}" if group else ""), loc="best")
    return ax


# ------------------------------------------------------------------ waterfall


def waterfall_frame(data: pd.DataFrame, *, outcome: str = "leg_pain", value: str = "change",
                    patient_col: str = "patient_id") -> pd.DataFrame:
    """One bar per patient: ``patient_id, value, responder, rank``, sorted from the largest
    rise to the largest fall; patients without a value are left out.

    ``data`` is either tidy (``cohort.changes``: ``outcome``, ``value``, ``responder``) or wide
    (``cohort.patient_summary``: ``{outcome}_{value}``, ``{outcome}_responder``).
    """
    if "outcome" in data.columns and value in data.columns:
        rows = data[data["outcome"] == outcome]
        vals, resp = rows[value], rows["responder"] if "responder" in rows.columns else None
    else:
        _require(data, [patient_col, f"{outcome}_{value}"])
        rows = data
        vals = rows[f"{outcome}_{value}"]
        resp = rows[f"{outcome}_responder"] if f"{outcome}_responder" in rows.columns else None
    _require(rows, [patient_col])
    out = pd.DataFrame({"patient_id": rows[patient_col].to_numpy(),
                        "value": pd.to_numeric(vals, errors="coerce").to_numpy(dtype="float64", na_value=np.nan),
                        "responder": (pd.array(resp, dtype="boolean") if resp is not None
                                      else pd.array([pd.NA] * len(rows), dtype="boolean"))})
    out = out.dropna(subset=["value"]).sort_values("value", ascending=False, kind="stable")
    out["rank"] = np.arange(len(out))
    return out.reset_index(drop=True)


@_styled
def plot_waterfall(data: pd.DataFrame, *, outcome: str = "leg_pain", value: str = "change",
                   patient_col: str = "patient_id", options: Options = DEFAULT_OPTIONS,
                   ax: Axes | None = None) -> Axes:
    """Change from baseline per patient as sorted bars, with the responder threshold lines.

    Parameters
    ----------
    data : DataFrame
        ``cohort.changes`` or ``cohort.patient_summary`` (see :func:`waterfall_frame`).
    value : {"change", "pct_change"}
        Points or percent change (endpoint − baseline).

    Returns
    -------
    Axes
        Bars (one per patient, gid ``"bar"``; dark = responder, light grey = not, white with an
        outline = status unknown), a line at 0 and, from the instrument's responder rule, lines at
        the improvement threshold (gid ``"threshold"``) and the same distance in the worse
        direction (gid ``"threshold_worse"``).

    Notes
    -----
    Rules from :mod:`outcomes.config` (NRS 2 points and 30 %, Farrar et al. 2001; ODI 10 points
    or 30 %, Ostelo et al. 2008). A bar past the line is not necessarily a responder when the
    rule needs both points and percent: the colour says who is.
    """
    if value not in ("change", "pct_change"):
        raise ValueError(f"value must be 'change' or 'pct_change', got {value!r}")
    ax = get_ax(ax)
    frame = waterfall_frame(data, outcome=outcome, value=value, patient_col=patient_col)
    resp = frame["responder"]
    colours = np.where(resp.isna(), _UNKNOWN, np.where(resp.fillna(False), _RESPONDER, _NON_RESPONDER))
    bars = ax.bar(frame["rank"].to_numpy(), frame["value"].to_numpy(), width=1.0, color=colours,
                  edgecolor="#555555", linewidth=0.2 if len(frame) > 60 else 0.5, gid="bar")
    for b in bars:
        b.set_gid("bar")
    ax.axhline(0, color="black", linewidth=0.8)
    spec = _instrument(outcome, options)
    if spec is not None:
        step = spec.responder.points if value == "change" else spec.responder.percent
        if step:
            sign = -1 if spec.higher_is_worse else 1
            unit = "points" if value == "change" else "%"
            ax.axhline(sign * step, color="black", linestyle="--", linewidth=1,
                       label=f"responder threshold ({sign * step:+g} {unit})", gid="threshold")
            ax.axhline(-sign * step, color=NEUTRAL, linestyle=":", linewidth=1,
                       label=f"as large a worsening ({-sign * step:+g} {unit})", gid="threshold_worse")
    from matplotlib.patches import Patch

    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(facecolor=_RESPONDER, label="responder"), Patch(facecolor=_NON_RESPONDER, label="non-responder")]
    if resp.isna().any():
        handles.append(Patch(facecolor=_UNKNOWN, edgecolor="#555555", label="responder status unknown"))
    ax.legend(handles=handles, loc="upper right")
    ax.set_xlim(-0.5, max(len(frame), 1) - 0.5)
    ax.set_xticks([])
    ax.grid(False, axis="x")
    ax.set_xlabel(f"Patients, sorted by change (n = {len(frame)})")
    what = spec.label if spec else outcome.replace("_", " ")
    unit = (f"points, {spec.unit}" if spec else "points") if value == "change" else "% of baseline"
    ax.set_ylabel(f"Change in {what} ({unit})")
    return ax


# ------------------------------------------------------------------ flare rates


def flare_rate_frame(data: pd.DataFrame, *, group: str = "schedule", flares_col: str = "flares",
                     sessions_col: str = "sessions_done", patient_col: str = "patient_id",
                     method: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Flares per 100 sessions per group with a confidence interval.

    Returns ``group, flares, sessions, patients, rate, ci_lower, ci_upper, method`` (rates per 100
    sessions).

    ``method="cluster"`` (default when ``patient_col`` is present): ratio estimator with a
    patient-clustered (sandwich) standard error, var = n/(n − 1) Σ (f_i − r s_i)² / (Σ s)², which
    allows for flares clustering within patients; a normal interval truncated at 0.
    ``method="poisson"``: exact (Garwood) Poisson interval for the count over the sessions,
    which assumes independent sessions and is too narrow when flares cluster.
    """
    _require(data, [group, flares_col, sessions_col])
    if method is None:
        method = "cluster" if patient_col in data.columns else "poisson"
    if method not in ("cluster", "poisson"):
        raise ValueError(f"method must be 'cluster' or 'poisson', got {method!r}")
    if method == "cluster":
        _require(data, [patient_col])
    z = stats.norm.ppf(0.5 + level / 2)
    alpha = 1 - level
    rows = []
    for name, g in data.groupby(group, sort=True, observed=True):
        if method == "cluster":
            per = g.groupby(patient_col, observed=True)[[flares_col, sessions_col]].sum()
            f, s = per[flares_col].to_numpy(float), per[sessions_col].to_numpy(float)
        else:
            f, s = g[flares_col].to_numpy(float), g[sessions_col].to_numpy(float)
        k, n = float(np.nansum(f)), float(np.nansum(s))
        rate = k / n if n > 0 else np.nan
        if n <= 0:
            lo = hi = np.nan
        elif method == "poisson":
            lo = stats.chi2.ppf(alpha / 2, 2 * k) / 2 / n if k > 0 else 0.0
            hi = stats.chi2.ppf(1 - alpha / 2, 2 * (k + 1)) / 2 / n
        else:
            m = len(f)
            se = np.sqrt(m / (m - 1) * np.nansum((f - rate * s) ** 2)) / n if m > 1 else np.nan
            lo, hi = max(rate - z * se, 0.0), rate + z * se
        rows.append({"group": name, "flares": k, "sessions": n,
                     "patients": int(g[patient_col].nunique()) if patient_col in g.columns else np.nan,
                     "rate": 100 * rate, "ci_lower": 100 * lo, "ci_upper": 100 * hi, "method": method})
    return pd.DataFrame(rows, columns=["group", "flares", "sessions", "patients", "rate", "ci_lower",
                                       "ci_upper", "method"])


@_styled
def plot_flare_rates(data: pd.DataFrame, *, group: str = "schedule", flares_col: str = "flares",
                     sessions_col: str = "sessions_done", patient_col: str = "patient_id",
                     method: str | None = None, level: float = 0.95, ax: Axes | None = None) -> Axes:
    """Flares per 100 sessions by group (schedule) with confidence intervals.

    Parameters
    ----------
    data : DataFrame
        Rows with ``group``, ``flares_col`` and ``sessions_col`` (e.g. ``cohort.patient_week``
        merged with the schedule); summed per group. See :func:`flare_rate_frame` for ``method``.

    Returns
    -------
    Axes
        One point with error bars per group (x = group position, gid ``"rate"``), each annotated
        with flares / sessions.

    Notes
    -----
    A session flare is pain after − before ≥ 2 points or a session rated worse (`outcomes.measures.safety`).
    """
    ax = get_ax(ax)
    frame = flare_rate_frame(data, group=group, flares_col=flares_col, sessions_col=sessions_col,
                             patient_col=patient_col, method=method, level=level)
    x = np.arange(len(frame))
    for i, row in frame.iterrows():
        style = series_style(int(i))
        err = np.array([[row["rate"] - row["ci_lower"]], [row["ci_upper"] - row["rate"]]])
        cont = ax.errorbar([x[i]], [row["rate"]], yerr=err, color=style["color"], marker=style["marker"],
                           markersize=7, capsize=5, linewidth=1.5, linestyle="none", label=str(row["group"]))
        cont.lines[0].set_gid("rate")
        ax.annotate(f"{row['flares']:,.0f} / {row['sessions']:,.0f}", (x[i], row["ci_upper"]),
                    textcoords="offset points", xytext=(0, 5), ha="center", fontsize=8)
    ax.set_xticks(x, [str(g) for g in frame["group"]])
    ax.set_xlim(-0.6, len(frame) - 0.4)
    top = np.nanmax(frame[["rate", "ci_upper"]].to_numpy(dtype=float)) if len(frame) else np.nan
    ax.set_ylim(bottom=0, top=top * 1.2 if np.isfinite(top) and top > 0 else 1)
    ax.grid(False, axis="x")
    ax.set_xlabel(group.replace("_", " ").capitalize())
    ax.set_ylabel(f"Flares per 100 sessions ({level:.0%} CI)")
    return ax
