"""Model plots: marginal means over time, forest plots, Kaplan–Meier curves, participant flow.

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

__all__ = ["at_risk_table", "forest_frame", "plot_flow", "plot_forest", "plot_km", "plot_marginal_means"]

_MINUS = "\u2212"


def _minus(text: str) -> str:
    """Hyphen-minus as the typographic minus sign (U+2212), for numbers."""
    return text.replace("-", _MINUS)


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
            ax.annotate(_minus(f"{r['estimate']:.2f} ({r['ci_lower']:.2f} to {r['ci_upper']:.2f})"),
                        (1.02, r["y"]), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    ax.set_xlabel(xlabel or ("Ratio (95 % CI, log scale)" if ratio else "Difference (95 % CI)"))
    return ax


def at_risk_table(data: pd.DataFrame, times: Any, *, group: str = "schedule", time_col: str = "time") -> pd.DataFrame:
    """Numbers at risk: per group and time t, the patients whose follow-up time is ≥ t.

    ``data`` has one row per patient (``group``, ``time_col``); returns ``group, time, n``.
    """
    rows = []
    for name, g in data.groupby(group, sort=True, observed=True):
        t = g[time_col].to_numpy(dtype=float)
        rows += [{group: str(name), "time": float(x), "n": int((t >= x - 1e-9).sum())} for x in times]
    return pd.DataFrame(rows, columns=[group, "time", "n"])


@_styled
def plot_km(data: pd.DataFrame, *, group: str | None = "schedule", time_col: str = "time",
            xlabel: str = "Weeks since enrolment", ylabel: str = "Probability without the event",
            at_risk: pd.DataFrame | None = None, ax: Axes | None = None) -> Axes:
    """Kaplan–Meier curves as steps with confidence bands.

    Parameters
    ----------
    data : DataFrame
        ``group`` (optional), ``time_col``, ``survival``, ``ci_lower``, ``ci_upper``; one row per
        event time. A row at time 0 with survival 1 is added per group when missing.
    ylabel : str
        Name the event, e.g. "Proportion not yet responded".
    at_risk : DataFrame, optional
        ``group, time, n`` (:func:`at_risk_table`): printed under the x axis, one line per group,
        as "Number at risk" (texts with gid ``"at_risk"``). The x ticks are set to its times.

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
    if at_risk is not None and not at_risk.empty:
        from matplotlib.transforms import blended_transform_factory

        times = sorted(at_risk["time"].unique())
        ax.set_xticks(times)
        right = max(max(times), float(np.nanmax(frame[time_col].to_numpy(dtype=float))))
        ax.set_xlim(min(times) - 0.3, right + 0.3)
        trans = blended_transform_factory(ax.transData, ax.transAxes)
        first = at_risk.columns[0]
        names = list(dict.fromkeys(at_risk[first].astype(str)))
        ax.text(0.0, -0.30, "Number at risk", transform=ax.transAxes, fontsize=8, fontweight="bold",
                ha="left", va="top", gid="at_risk")
        for i, name in enumerate(names):
            y = -0.30 - 0.085 * (i + 1)
            ax.text(-0.01, y, name, transform=ax.transAxes, ha="right", va="top", fontsize=8,
                    color=series_style(i)["color"], gid="at_risk")
            for r in at_risk[at_risk[first].astype(str) == name].itertuples(index=False):
                ax.text(r.time, y, f"{int(r.n)}", transform=trans, ha="center", va="top", fontsize=8,
                        gid="at_risk", clip_on=False)
    return ax


@_styled
def plot_flow(flow: pd.DataFrame, *, arms: list[str] | None = None, stages: dict[str, str] | None = None,
              ax: Axes | None = None) -> Axes:
    """A CONSORT-style participant flow diagram drawn from a flow table.

    Parameters
    ----------
    flow : DataFrame
        ``schedule, stage, n`` (`outcomes.models.trial.flow`): stages ``randomised``,
        ``assessed_week_<w>`` and ``analysed``.
    arms : list of str, optional
        Column order (default sorted).
    stages : dict, optional
        Stage → box text (``{n}`` is replaced by the count); default plain words.

    Returns
    -------
    Axes
        One box per arm and stage (texts with gid ``"flow_box"``), the total randomised on top,
        arrows between boxes; the axes are hidden.
    """
    _require(flow, ["schedule", "stage", "n"])
    ax = get_ax(ax)
    arms = arms or sorted(flow["schedule"].astype(str).unique())
    order = list(dict.fromkeys(flow["stage"]))
    counts = {(str(r.schedule), r.stage): int(r.n) for r in flow.itertuples(index=False)}
    total = sum(counts.get((a, "randomised"), 0) for a in arms)

    arm_name = ""

    def words(stage: str, n: int, base: int) -> str:
        if stages and stage in stages:
            return stages[stage].format(n=n)
        if stage == "randomised":
            return f"{arm_name}\nallocated, n = {n}"
        if stage == "analysed":
            return (f"Analysed at the endpoint\nn = {n} ({100 * n / base:.0f} %); not analysed {base - n}" if base
                    else f"Analysed\nn = {n}")
        week = stage.removeprefix("assessed_week_")
        return f"Assessed at week {week}\nn = {n} ({100 * n / base:.0f} %)" if base else f"Week {week}: n = {n}"

    rows = len(order) + 1
    ax.set_xlim(0, len(arms))
    ax.set_ylim(-0.5, rows - 0.5)
    ax.axis("off")
    box = {"boxstyle": "round,pad=0.35", "facecolor": "white", "edgecolor": "#444444", "linewidth": 0.9}
    ax.text(len(arms) / 2, rows - 1, f"Randomised\nn = {total}", ha="center", va="center", fontsize=8.5,
            bbox={**box, "facecolor": "#EEF4FA"}, gid="flow_box")
    for i, arm in enumerate(arms):
        x = i + 0.5
        arm_name = arm
        base = counts.get((arm, "randomised"), 0)
        ax.annotate("", xy=(x, rows - 1.68), xytext=(len(arms) / 2, rows - 1.32),
                    arrowprops={"arrowstyle": "->", "color": "#444444", "lw": 0.8})
        for j, stage in enumerate(order):
            y = rows - 2 - j
            ax.text(x, y, words(stage, counts.get((arm, stage), 0), base), ha="center", va="center",
                    fontsize=8, bbox=box, gid="flow_box")
            if j:
                ax.annotate("", xy=(x, y + 0.3), xytext=(x, y + 0.7),
                            arrowprops={"arrowstyle": "->", "color": "#444444", "lw": 0.8})
    return ax
