"""Audit plots: funnel plot of unit rates, outcome distributions, KPIs over time (SPC charts).

Each function draws on the axes it is given (or the current one), returns it and
never saves or shows. The funnel plot draws the frame of
:func:`outcomes.models.audit.funnel_data`, so what is plotted can be checked there.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter

from ..config import DEFAULT_OPTIONS, Options
from ..models.audit import funnel_limits
from .style import _require, _styled
from .style import BAD, FLAG_COLOUR, NEUTRAL, PALETTE, get_ax

__all__ = ["distribution_frame", "plot_funnel", "plot_outcome_distributions", "plot_spc"]

_INNER_COLOUR, _OUTER_COLOUR = "#E69F00", BAD


def _limit_names(frame: pd.DataFrame) -> tuple[str, str, str, str]:
    """Names of the limit levels in ``frame`` (inner first), e.g. ``("95", "99_8", "95 %", "99.8 %")``."""
    levels = sorted({c.split("_", 1)[1] for c in frame.columns if c.startswith("lower_")},
                    key=lambda s: float(s.replace("_", ".")))
    if len(levels) != 2:
        raise ValueError(f"funnel_frame must hold two levels of limits (lower_95, lower_99_8, ...), "
                         f"got {', '.join(levels) or 'none'}")
    inner, outer = levels
    return inner, outer, inner.replace("_", ".") + " %", outer.replace("_", ".") + " %"


@_styled
def plot_funnel(funnel_frame: pd.DataFrame, *, ax: Axes | None = None, label_outside: bool = True,
                ylabel: str | None = None, xlabel: str | None = None) -> Axes:
    """Funnel plot: each unit's rate against its caseload, with exact binomial limits.

    Parameters
    ----------
    funnel_frame : DataFrame
        From :func:`outcomes.models.audit.funnel_data`: ``unit, n, rate,
        overall_rate, position, position_inner, suppressed`` and the limit columns.
    ax : Axes, optional
    label_outside : bool, default True
        Write the code of each unit outside the inner (95 %) limits beside it.
    ylabel, xlabel : str, optional
        Axis labels; by default the frame's ``short_label`` and ``denominator_label``.

    Returns
    -------
    Axes
        Points (gid ``"unit"``, one per unit shown), the overall rate (gid
        ``"overall"``) and the limit curves (gids ``"limit_inner"``,
        ``"limit_outer"``, two lines each); the legend sits below the axes.
        Suppressed units are not drawn (their rate would reveal a small count); the
        legend says how many. The y axis is 0-100 %, or at large caseloads the range
        of the rates and of the outer limits at half the smallest caseload.

    Notes
    -----
    Limits are recomputed on a fine grid of ``n`` with
    :func:`outcomes.models.audit.funnel_limits` (Spiegelhalter 2005, Stat Med
    24:1185), around ``overall_rate``.
    """
    frame = _require(funnel_frame, ["unit", "n", "rate", "overall_rate", "position", "position_inner",
                                    "suppressed"], name="funnel_frame")
    inner, outer, inner_txt, outer_txt = _limit_names(frame)
    ax = get_ax(ax)
    shown = frame[~frame["suppressed"].astype(bool) & frame["rate"].notna()]
    hidden = len(frame) - len(shown)
    overall = float(frame["overall_rate"].iloc[0]) if len(frame) else np.nan
    n_shown = shown["n"].to_numpy(dtype=float)
    top = max(float(np.nanmax(n_shown)) if len(n_shown) else 0.0, 20.0) * 1.08
    if not np.isnan(overall):
        grid = np.unique(np.round(np.geomspace(1, top, 300)).astype(int))
        lv = (float(inner.replace("_", ".")) / 100, float(outer.replace("_", ".")) / 100)
        lim = funnel_limits(overall, grid, levels=lv)
        tau2 = float(frame["tau2"].iloc[0]) if "tau2" in frame.columns and len(frame) else np.nan
        if tau2 > 0:  # limits widened for overdispersion (Spiegelhalter 2005): normal, additive tau^2
            from scipy import stats

            s2 = overall * (1 - overall) / grid
            for name, level in ((inner, lv[0]), (outer, lv[1])):
                half = stats.norm.ppf((1 + level) / 2) * np.sqrt(s2 + tau2)
                lim[f"lower_{name}"], lim[f"upper_{name}"] = np.clip(overall - half, 0, 1), np.clip(overall + half, 0, 1)
        for name, style, gid in ((inner, {"color": NEUTRAL, "linestyle": "--", "linewidth": 1.0}, "limit_inner"),
                                 (outer, {"color": "#333333", "linestyle": "-", "linewidth": 0.9}, "limit_outer")):
            for side in ("lower", "upper"):
                ax.plot(grid, lim[f"{side}_{name}"], gid=gid, **style)
        ax.axhline(overall, color=PALETTE[1], linewidth=1.2, gid="overall")
    colours = np.where(shown["position"].ne("within"), _OUTER_COLOUR,
                       np.where(shown["position_inner"].ne("within"), _INNER_COLOUR, "black"))
    markers = np.where(shown["position"].ne("within"), "D",
                       np.where(shown["position_inner"].ne("within"), "s", "o"))
    for x, y, c, m in zip(n_shown, shown["rate"].to_numpy(dtype=float), colours, markers):
        ax.plot([x], [y], linestyle="none", marker=m, markersize=6, color=c, markeredgecolor="white",
                markeredgewidth=0.6, gid="unit", zorder=3)
    if label_outside:
        for _, row in shown[shown["position_inner"].ne("within")].iterrows():
            ax.annotate(str(row["unit"]), (float(row["n"]), float(row["rate"])), xytext=(5, 4),
                        textcoords="offset points", fontsize=8, gid="unit_label")
    ax.set_xlim(0, top)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # caseloads are whole patients
    low, high = _rate_range(shown, overall, frame, outer)
    ax.set_ylim(low, high)
    span = high - low
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0 if span > 0.1 else 1 if span > 0.01 else 2))
    label = ylabel or (str(frame["short_label"].iloc[0]) if "short_label" in frame.columns and len(frame)
                       else "Rate")
    ax.set_ylabel("\n".join(textwrap.wrap(f"{label} (%)", 42)))
    den = xlabel or (str(frame["denominator_label"].iloc[0]) if "denominator_label" in frame.columns
                     and len(frame) else "patients")
    ax.set_xlabel("\n".join(textwrap.wrap(f"Caseload: {den} (n)", 60)))
    handles = [
        Line2D([], [], color=PALETTE[1], linewidth=1.2, label=f"overall rate ({overall:.0%})"
               if not np.isnan(overall) else "overall rate"),
        Line2D([], [], color=NEUTRAL, linestyle="--", label=f"{inner_txt} limits"
               + (" (widened for overdispersion)" if "tau2" in frame.columns and len(frame)
                  and float(frame["tau2"].iloc[0]) > 0 else "")),
        Line2D([], [], color="#333333", linestyle="-", linewidth=0.9, label=f"{outer_txt} limits"),
        Line2D([], [], color="black", marker="o", linestyle="none", label="unit within limits"),
        Line2D([], [], color=_INNER_COLOUR, marker="s", linestyle="none", label=f"outside {inner_txt}"),
        Line2D([], [], color=_OUTER_COLOUR, marker="D", linestyle="none", label=f"outside {outer_txt}"),
    ]
    if hidden:
        handles.append(Line2D([], [], linestyle="none", label=f"{hidden} of {len(frame)} units not plotted "
                              "(a count would be too small to show)"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3, fontsize=7,
              frameon=False)
    if not len(shown):
        ax.text(0.5, 0.75, "No unit can be plotted\nwithout showing a small count", transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color="#444444",
                bbox={"facecolor": "white", "edgecolor": "#BBBBBB", "boxstyle": "round,pad=0.4"})
    return ax


def _rate_range(shown: pd.DataFrame, overall: float, frame: pd.DataFrame, outer: str) -> tuple[float, float]:
    """The funnel's y range: every unit's rate and the outer limits at half the smallest caseload shown,
    with a margin, within 0-100 %. At large caseloads the limits are a point or two apart; on a 0-100 %
    axis the units outside them would sit on the line (200,000 patients: limits 45-46 %)."""
    full = (-0.02, 1.02)
    rates = shown["rate"].to_numpy(dtype=float)
    tau2 = float(frame["tau2"].iloc[0]) if "tau2" in frame.columns and len(frame) else np.nan
    if not len(rates) or np.isnan(overall) or tau2 > 0:  # widened limits: the whole range, as before
        return full
    n0 = max(1, int(np.nanmin(shown["n"].to_numpy(dtype=float)) // 2))
    lim = funnel_limits(overall, np.array([n0]), levels=(float(outer.replace("_", ".")) / 100,))
    lo = float(np.nanmin([*rates, overall, lim[f"lower_{outer}"].iloc[0]]))
    hi = float(np.nanmax([*rates, overall, lim[f"upper_{outer}"].iloc[0]]))
    pad = max((hi - lo) * 0.12, 0.005)
    lo, hi = max(lo - pad, full[0]), min(hi + pad, full[1])
    return (full if hi - lo > 0.75 else (lo, hi))


def distribution_frame(summary: pd.DataFrame, *, outcome: str = "leg_pain", group: str = "schedule",
                       min_n: int = 11) -> pd.DataFrame:
    """Baseline and endpoint values of ``outcome`` per group, long, for box plots.

    Returns ``group, time`` ("baseline" / "endpoint"), ``value``; a group-time with
    fewer than ``min_n`` values is left out (small numbers).
    """
    _require(summary, [group, f"{outcome}_baseline", f"{outcome}_endpoint"], name="summary")
    parts = []
    for time in ("baseline", "endpoint"):
        v = pd.to_numeric(summary[f"{outcome}_{time}"], errors="coerce").astype("float64")
        parts.append(pd.DataFrame({"group": summary[group].astype(str).to_numpy(), "time": time,
                                   "value": v.to_numpy()}))
    out = pd.concat(parts, ignore_index=True).dropna(subset=["value"])
    size = out.groupby(["group", "time"])["value"].transform("size")
    return out[size >= min_n].reset_index(drop=True)


@_styled
def plot_outcome_distributions(summary: pd.DataFrame, *, outcome: str = "leg_pain", group: str = "schedule",
                               min_n: int = 11, options: Options = DEFAULT_OPTIONS,
                               ax: Axes | None = None) -> Axes:
    """Box plots of ``outcome`` at baseline and at the endpoint, side by side per group.

    Parameters
    ----------
    summary : DataFrame
        ``cohort.patient_summary`` (``{outcome}_baseline``, ``{outcome}_endpoint``).
    outcome : str, default "leg_pain"
    group : str, default "schedule"
    min_n : int, default 11
        Boxes of fewer patients are not drawn (small numbers).
    options : Options
        For the instrument's label, range and the endpoint week.

    Returns
    -------
    Axes
        Boxes (median, quartiles, whiskers at 1.5 IQR), baseline light, endpoint dark;
        each box topped by its number of patients (text gid ``"box_n"``).
    """
    frame = distribution_frame(summary, outcome=outcome, group=group, min_n=min_n)
    ax = get_ax(ax)
    spec = options.instruments.get(outcome)
    groups = sorted(frame["group"].unique()) if len(frame) else []
    pos, data, colours, counts = [], [], [], []
    for i, g in enumerate(groups):
        for j, (time, colour) in enumerate((("baseline", "#CCE3F2"), ("endpoint", PALETTE[1]))):
            v = frame.loc[(frame["group"] == g) & (frame["time"] == time), "value"].to_numpy()
            if len(v):
                pos.append(i * 3 + j)
                data.append(v)
                colours.append(colour)
                counts.append(len(v))
    if data:
        boxes = ax.boxplot(data, positions=pos, widths=0.8, patch_artist=True, showfliers=True,
                           medianprops={"color": "black", "linewidth": 1.5},
                           flierprops={"marker": ".", "markersize": 3, "markerfacecolor": NEUTRAL,
                                       "markeredgecolor": NEUTRAL})
        for patch, colour in zip(boxes["boxes"], colours):
            patch.set_facecolor(colour)
            patch.set_gid("box")
        for x, n in zip(pos, counts):
            ax.text(x, 1.0, f"{n:,}", transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                    fontsize=6.5, gid="box_n")
    ax.set_xticks([i * 3 + 0.5 for i in range(len(groups))], [str(g) for g in groups])
    ax.set_xlim(-1, max(len(groups) * 3 + 0.6, 2))
    ax.grid(False, axis="x")
    week = options.endpoint_week
    ax.legend(handles=[Line2D([], [], color="#CCE3F2", linewidth=8, label="baseline"),
                       Line2D([], [], color=PALETTE[1], linewidth=8, label=f"week {week}")],
              loc="center right", fontsize=7, framealpha=0.9)
    what = spec.label if spec else outcome.replace("_", " ")
    unit = spec.unit if spec else ""
    ax.set_ylabel(f"{what}, {unit}" if unit else what)
    ax.set_xlabel(group.replace("_id", "").replace("_", " ").capitalize())
    if spec is not None:
        pad = (spec.high - spec.low) * 0.04
        ax.set_ylim(spec.low - pad, spec.high + pad)
    if not data:
        ax.text(0.5, 0.5, f"Too few patients with {what.lower()} scores to show", transform=ax.transAxes,
                ha="center", va="center", fontsize=9)
    return ax


def plot_spc(spc_frame: pd.DataFrame, *, ax: Axes | None = None, title: bool = True) -> Axes:
    """One KPI's statistical process control chart by enrolment period.

    Parameters
    ----------
    spc_frame : DataFrame
        The rows of one KPI from :func:`outcomes.models.audit.spc_data`
        (``period, value, center, lower, upper, signal, chart, label``).
    ax : Axes, optional
    title : bool, default True
        Put the KPI's label and chart type above the axes.

    Returns
    -------
    Axes
        The values (gid ``"value"``), signals in the flag colour (gid ``"signal"``),
        the centre line (gid ``"center"``) and the limits as steps (gid ``"limit"``).
        Suppressed periods are gaps.
    """
    frame = _require(spc_frame, ["period", "value", "center", "lower", "upper", "signal", "chart", "label"],
                     name="spc_frame")
    ax = get_ax(ax)
    x = np.arange(len(frame))
    v = frame["value"].to_numpy(dtype=float)
    pct = frame["chart"].iloc[0] == "p" if len(frame) else True
    ax.plot(x, v, color="black", marker="o", markersize=3.5, linewidth=1.0, gid="value")
    sig = frame["signal"].fillna("").ne("").to_numpy() & ~np.isnan(v)
    ax.plot(x[sig], v[sig], linestyle="none", marker="o", markersize=5.5, color=FLAG_COLOUR, gid="signal")
    if len(frame):
        ax.axhline(float(frame["center"].iloc[0]), color=PALETTE[1], linewidth=1.0, gid="center")
    for col in ("lower", "upper"):
        ax.step(x, frame[col].to_numpy(dtype=float), where="mid", color=NEUTRAL, linestyle="--", linewidth=0.9,
                gid="limit")
    ax.set_xticks(x, list(frame["period"]), rotation=45 if len(frame) > 3 else 0, ha="right" if len(frame) > 3
                  else "center", fontsize=7)
    if pct:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    if title and len(frame):
        kind = "p-chart" if pct else "XmR chart"
        ax.set_title(f"{frame['label'].iloc[0]} ({kind})", fontsize=8.5, loc="left")
    ax.set_xlim(-0.5, max(len(frame) - 0.5, 0.5))
    return ax
