"""Model plots: marginal means over time, forest plots, Kaplan–Meier curves.

They take the tidy frames the models produce (``estimate, ci_lower, ci_upper``),
draw on the axes given (or the current one), return it, and never save or show.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib import ticker as mticker
from matplotlib.axes import Axes

from ..config import DEFAULT_OPTIONS, Options
from .style import _axis_label, _require, _styled
from .style import NEUTRAL, get_ax, series_style

__all__ = ["forest_frame", "plot_forest", "plot_km", "plot_marginal_means"]


def _groups(frame: pd.DataFrame, group: str | None):
    if group is None or group not in frame.columns:
        return [(None, frame)]
    return list(frame.groupby(group, sort=True, observed=True))


@_styled
def plot_marginal_means(data: pd.DataFrame, *, group: str | None = "schedule", time_col: str = "week",
                        outcome: str | None = None, ylabel: str | None = None, options: Options = DEFAULT_OPTIONS,
                        ax: Axes | None = None) -> Axes:
    """Model-estimated means over time per group, with confidence bands.

    Parameters
    ----------
    data : DataFrame
        ``group`` (optional), ``time_col``, ``estimate``, ``ci_lower``, ``ci_upper``.
    outcome : str, optional
        Instrument name, for the y label with its unit (e.g. ``"leg_pain"``); or give ``ylabel``.

    Returns
    -------
    Axes
        Per group a line (label = group, gid ``"estimate"``) and a band (gid ``"ci"``).
    """
    _require(data, [time_col, "estimate", "ci_lower", "ci_upper"] + ([group] if group else []))
    ax = get_ax(ax)
    frame = data.sort_values(([group] if group else []) + [time_col], kind="stable")
    for i, (name, g) in enumerate(_groups(frame, group)):
        style = series_style(i)
        t = g[time_col].to_numpy(dtype=float)
        ax.fill_between(t, g["ci_lower"].to_numpy(dtype=float), g["ci_upper"].to_numpy(dtype=float),
                        color=style["color"], alpha=0.18, linewidth=0, gid="ci")
        ax.plot(t, g["estimate"].to_numpy(dtype=float), label="estimate" if name is None else str(name),
                gid="estimate", linewidth=1.8, markersize=4, **style)
    ax.set_xlabel("Weeks since enrolment")
    ax.set_ylabel(ylabel or (f"Estimated mean {_axis_label(outcome, options)}" if outcome
                             else "Estimated mean (outcome units)"))
    if group:
        ax.legend(title=f"{group.replace('_', ' ').capitalize()} (95 % CI band)")
    return ax


def forest_frame(data: Any, *, label_col: str | None = None) -> pd.DataFrame:
    """``label, estimate, ci_lower, ci_upper, y`` in display order (first row on top, y = 0 at
    the bottom). ``data`` is a frame with ``label`` or ``term``, or a result with ``.table``."""
    table = getattr(data, "table", data)
    col = label_col or ("label" if "label" in table.columns else "term")
    _require(table, [col, "estimate", "ci_lower", "ci_upper"])
    out = pd.DataFrame({"label": table[col].astype(str).to_numpy(),
                        **{c: pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=float)
                           for c in ("estimate", "ci_lower", "ci_upper")}})
    out["y"] = np.arange(len(out))[::-1]
    return out


@_styled
def plot_forest(data: Any, *, label_col: str | None = None, ratio: bool | None = None,
                xlabel: str | None = None, annotate: bool = True, ax: Axes | None = None) -> Axes:
    """Estimates with confidence intervals, one row each, with the no-effect line.

    Parameters
    ----------
    data : DataFrame or result
        ``term`` or ``label`` (or ``label_col``), ``estimate``, ``ci_lower``, ``ci_upper``; or an
        :class:`outcomes.models.results.ModelResult` (its ``table``; ``ratio`` then follows its
        ``scale``, e.g. "odds ratio").
    ratio : bool, optional
        Ratios (odds, hazard, rate) get a log x axis and the reference line at 1; differences
        the line at 0. Default: from the result's scale, else False.
    annotate : bool
        Print "estimate (lower to upper)" right of the axes.

    Returns
    -------
    Axes
        Error bars (gid ``"estimates"``; x data = estimates, y = row positions) and the reference
        line (gid ``"reference"``).
    """
    if ratio is None:
        ratio = "ratio" in str(getattr(data, "scale", ""))
    frame = forest_frame(data, label_col=label_col)
    if ratio and (frame[["estimate", "ci_lower", "ci_upper"]] <= 0).any().any():
        raise ValueError("ratio=True needs positive estimates and limits (log scale); got a value ≤ 0")
    ax = get_ax(ax)
    est, y = frame["estimate"].to_numpy(), frame["y"].to_numpy(dtype=float)
    err = np.vstack([est - frame["ci_lower"].to_numpy(), frame["ci_upper"].to_numpy() - est])
    cont = ax.errorbar(est, y, xerr=err, linestyle="none", marker="s", markersize=5,
                       color="black", capsize=3, linewidth=1.2)
    cont.lines[0].set_gid("estimates")
    ax.axvline(1.0 if ratio else 0.0, color=NEUTRAL, linestyle="--", linewidth=1, gid="reference")
    if ratio:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(mticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set_yticks(frame["y"], frame["label"])
    ax.set_ylim(-0.7, len(frame) - 0.3)
    ax.grid(False, axis="y")
    ax.tick_params(axis="y", length=0)
    if annotate:
        for _, r in frame.iterrows():
            ax.annotate(f"{r['estimate']:.2f} ({r['ci_lower']:.2f} to {r['ci_upper']:.2f})".replace("-", "−"),
                        (1.02, r["y"]), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    ax.set_xlabel(xlabel or ("Ratio (95 % CI, log scale)" if ratio else "Difference (95 % CI)"))
    return ax


@_styled
def plot_km(data: pd.DataFrame, *, group: str | None = "schedule", time_col: str = "time",
            xlabel: str = "Weeks since enrolment", ylabel: str = "Probability without the event",
            ax: Axes | None = None) -> Axes:
    """Kaplan–Meier curves as steps with confidence bands.

    Parameters
    ----------
    data : DataFrame
        ``group`` (optional), ``time_col``, ``survival``, ``ci_lower``, ``ci_upper``; one row per
        event time. A row at time 0 with survival 1 is added per group when missing.
    ylabel : str
        Name the event, e.g. "Proportion not yet responded".

    Returns
    -------
    Axes
        Per group a step line (``drawstyle="steps-post"``, label = group, gid ``"survival"``) and
        a band (gid ``"ci"``).
    """
    _require(data, [time_col, "survival", "ci_lower", "ci_upper"] + ([group] if group else []))
    ax = get_ax(ax)
    frame = data.sort_values(([group] if group else []) + [time_col], kind="stable")
    for i, (name, g) in enumerate(_groups(frame, group)):
        t = g[time_col].to_numpy(dtype=float)
        s, lo, hi = (g[c].to_numpy(dtype=float) for c in ("survival", "ci_lower", "ci_upper"))
        if not len(t) or t[0] > 0:
            t, s, lo, hi = (np.r_[a, b] for a, b in ((0.0, t), (1.0, s), (1.0, lo), (1.0, hi)))
        style = series_style(i)
        ax.fill_between(t, lo, hi, step="post", color=style["color"], alpha=0.18, linewidth=0, gid="ci")
        ax.plot(t, s, drawstyle="steps-post", color=style["color"], linestyle=style["linestyle"],
                linewidth=1.8, label="all" if name is None else str(name), gid="survival")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if group:
        ax.legend(title=f"{group.replace('_', ' ').capitalize()} (95 % CI band)")
    return ax
