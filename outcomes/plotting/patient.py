"""One patient's plots: outcome trajectory, adherence calendar, glide level with flares.

Every function draws on the axes it is given (or the current one), returns it,
and never saves or shows. The plotted values are computed as a frame first
(``*_frame`` helpers), so what is drawn can be checked against the data.
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

from ..config import DEFAULT_OPTIONS, Options
from .style import (FLAG_COLOUR, NEUTRAL, PALETTE, _axis_label, _instrument, _require, _styled, get_ax,
                    series_style)

__all__ = [
    "CALENDAR_COLOURS",
    "adherence_calendar_frame",
    "level_steps_frame",
    "mic_band",
    "plot_adherence_calendar",
    "plot_level_steps",
    "plot_patient_trajectory",
    "trajectory_frame",
]

#: Calendar cell colours for 0, 1 and 2+ sessions a day: light to dark, so a grey print keeps the order.
CALENDAR_COLOURS = ("#F0F0F0", "#56B4E9", "#0072B2")
#: Colour of days outside follow-up in the calendar.
_OUTSIDE = "#FFFFFF"
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# ------------------------------------------------------------------ shared helpers (used by the other plot modules)


def _one_patient(data: pd.DataFrame, patient_col: str) -> None:
    if patient_col in data.columns:
        ids = pd.unique(data[patient_col].dropna())
        if len(ids) > 1:
            raise ValueError(f"data holds {len(ids)} patients ({', '.join(map(str, ids[:3]))}, …); "
                             f"pass one patient's rows")


# ------------------------------------------------------------------ trajectory


def trajectory_frame(data: pd.DataFrame, *, outcome: str, time_col: str = "week") -> pd.DataFrame:
    """The observed points of :func:`plot_patient_trajectory`: ``time, value`` sorted by time,
    missing values dropped."""
    _require(data, [time_col, outcome])
    out = pd.DataFrame({"time": pd.to_numeric(data[time_col], errors="coerce").astype("float64"),
                        "value": pd.to_numeric(data[outcome], errors="coerce").astype("float64")})
    return out.dropna().sort_values("time", kind="stable").reset_index(drop=True)


def mic_band(baseline: float | None, mic: float | None, *, higher_is_worse: bool = True,
             low: float | None = None, high: float | None = None) -> tuple[float, float] | None:
    """The "not yet improved by the MIC" band of :func:`plot_patient_trajectory`: (bottom, top).

    Baseline − MIC .. baseline where a higher value is worse (baseline .. baseline + MIC
    otherwise), cut to the scale's finite ends ``low`` and ``high``; None without a baseline or
    a MIC. The patient page draws the same band (``outcomes.reports._patient_plots``).
    """
    if baseline is None or pd.isna(baseline) or not mic:
        return None
    b = float(baseline)
    lo, hi = (b - mic, b) if higher_is_worse else (b, b + mic)
    if low is not None and np.isfinite(low):
        lo = max(lo, float(low))
    if high is not None and np.isfinite(high):
        hi = min(hi, float(high))
    return lo, hi


@_styled
def plot_patient_trajectory(data: pd.DataFrame, *, outcome: str = "leg_pain", time_col: str = "week",
                            baseline: float | None = None, mic: float | None = None,
                            fitted: pd.DataFrame | pd.Series | None = None, patient_col: str = "patient_id",
                            options: Options = DEFAULT_OPTIONS, colour_index: int = 0, legend: bool = True,
                            ylabel: str | None = None, band: pd.DataFrame | None = None,
                            ax: Axes | None = None, **kwargs: Any) -> Axes:
    """One patient's observations of ``outcome`` over time, with baseline and MIC band.

    Parameters
    ----------
    data : DataFrame
        One patient's assessments (e.g. ``cohort.assessments`` for one ``patient_id``) with
        ``time_col`` (weeks since enrolment) and ``outcome``.
    outcome : str
        Column plotted; its label, unit, range and minimal important change come from
        ``options.instruments`` when it is an instrument there.
    baseline : float, optional
        The patient's baseline value (e.g. ``patient_summary[outcome + "_baseline"]``); drawn as a
        horizontal dotted line. Without it no baseline line nor band is drawn.
    mic : float, optional
        Minimal important change in points; default the instrument's responder ``points``.
        The band spans baseline − MIC .. baseline (higher-is-worse outcomes; baseline .. baseline
        + MIC otherwise): observations inside it have not improved by the MIC.
    fitted : DataFrame or Series, optional
        Model-fitted values to overlay as a dashed line: a frame with ``time_col`` and ``fitted``,
        or a Series indexed by time.
    colour_index : int
        Which :func:`~outcomes.plotting.style.series_style` the observations use.
    band : DataFrame, optional
        The expected-recovery band (:meth:`outcomes.models.expected.ExpectedRecovery.band`:
        ``week, lower80, lower50, upper50, upper80``), drawn behind the observations as two
        grey shades (gids ``"band80"`` and ``"band50"``).
    legend : bool
        Draw a legend above the axes, right-aligned.
    ylabel : str, optional
        Default "<label> (<unit>)" of the instrument.
    **kwargs
        Passed to the observation line (``Axes.plot``).

    Returns
    -------
    Axes
        Artists carry gids: the observations ``"observed"`` (label: the instrument's label),
        ``"baseline"``, ``"mic_band"`` and ``"fitted"``. The legend (above the axes) lists the
        band, the baseline and the fitted line; the panel title names the outcome.

    Notes
    -----
    Responder points are those of :mod:`outcomes.config` (NRS 2 points, Farrar et al. 2001;
    ODI 10 points, Ostelo et al. 2008).
    """
    _require(data, [time_col, outcome])
    _one_patient(data, patient_col)
    ax = get_ax(ax)
    frame = trajectory_frame(data, outcome=outcome, time_col=time_col)
    spec = _instrument(outcome, options)
    label = spec.label if spec else outcome.replace("_", " ")
    style = {**series_style(colour_index), "linewidth": 1.6, "markersize": 5, "clip_on": False, **kwargs}
    if mic is None and spec is not None:
        mic = spec.responder.points
    worse_up = spec.higher_is_worse if spec else True

    if band is not None and len(band):
        w = band["week"].to_numpy(dtype=float)
        ax.fill_between(w, band["lower80"].to_numpy(dtype=float), band["upper80"].to_numpy(dtype=float),
                        color="#999999", alpha=0.22, linewidth=0, label="expected range, 80 % of patients like this",
                        gid="band80", zorder=0.5)
        ax.fill_between(w, band["lower50"].to_numpy(dtype=float), band["upper50"].to_numpy(dtype=float),
                        color="#999999", alpha=0.35, linewidth=0, label="expected range, 50 %", gid="band50",
                        zorder=0.6)
    if baseline is not None and not pd.isna(baseline):
        baseline = float(baseline)
        span = mic_band(baseline, mic, higher_is_worse=worse_up, low=spec.low if spec else None,
                        high=spec.high if spec else None)
        if span is not None:
            ax.axhspan(*span, color=PALETTE[1], alpha=0.13, linewidth=0,
                       label=f"not yet improved by the MIC ({mic:g} points)", gid="mic_band")
        ax.axhline(baseline, color=NEUTRAL, linestyle=":", linewidth=1.2,
                   label=f"baseline {baseline:g}", gid="baseline")
    ax.plot(frame["time"].to_numpy(), frame["value"].to_numpy(), label=label, gid="observed", **style)
    if fitted is not None:
        fit = (fitted.rename("fitted").rename_axis(time_col).reset_index()
               if isinstance(fitted, pd.Series) else _require(fitted, [time_col, "fitted"], name="fitted"))
        fit = fit.sort_values(time_col)
        ax.plot(fit[time_col].to_numpy(dtype=float), fit["fitted"].to_numpy(dtype=float), color=style["color"],
                linestyle="--", linewidth=1.0, label="fitted", gid="fitted")
    if spec is not None and np.isfinite(spec.low) and np.isfinite(spec.high):
        pad = (spec.high - spec.low) * 0.04
        ax.set_ylim(spec.low - pad, spec.high + pad)
        if spec.high - spec.low == 10:  # a 0-10 rating: whole even points, not 2.5, 7.5
            ax.yaxis.set_major_locator(mpl.ticker.MultipleLocator(2))
    ax.set_xlabel("Weeks since enrolment")
    ax.set_ylabel(ylabel or _axis_label(outcome, options))
    ax.set_xlim(left=0)
    if legend:
        handles = [h for h in ax.get_legend_handles_labels()[0] if h.get_gid() != "observed"]
        if handles:
            _legend_above(ax, handles)
    return ax


def _legend_above(ax: Axes, handles: list | None = None, ncols: int | None = None) -> None:
    """A compact legend just above the axes, right-aligned (keeps the plot area clear)."""
    if handles is None:
        handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=ncols or len(handles),
              frameon=False, fontsize="small", handlelength=1.6, columnspacing=1.0, borderaxespad=0.2)


# ------------------------------------------------------------------ adherence calendar


def adherence_calendar_frame(data: pd.DataFrame, *, enrolled_on: Any, end: Any = None,
                             date_col: str = "performed_at") -> pd.DataFrame:
    """Sessions per day for the calendar: one row per day of follow-up, in Monday-Sunday weeks.

    Columns ``date``, ``week`` (calendar-week column: 0 is the Monday-Sunday week holding the
    enrolment day), ``day`` (0 = Monday ... 6 = Sunday), ``x`` (that week's Monday in weeks
    since enrolment: 0 or a fraction below it for the first week), ``sessions`` (count that
    day) and ``category`` (0, 1 or 2 for "2 or more"). Days run from ``enrolled_on`` to
    ``end`` (default the last session, at least enrolment).
    """
    _require(data, [date_col])
    start = pd.Timestamp(enrolled_on).normalize()
    days = pd.to_datetime(data[date_col]).dt.normalize()
    last = pd.Timestamp(end).normalize() if end is not None and not pd.isna(end) else (
        max(days.max(), start) if len(days) and not pd.isna(days.max()) else start)
    dates = pd.date_range(start, max(last, start), freq="D")
    counts = days.value_counts().reindex(dates, fill_value=0).to_numpy(dtype="int64")
    monday0 = start - pd.Timedelta(days=start.day_of_week)
    since_monday = (dates - monday0).days.to_numpy()
    week = since_monday // 7
    return pd.DataFrame({"date": dates, "week": week, "day": since_monday % 7,
                         "x": (week * 7 - start.day_of_week) / 7, "sessions": counts,
                         "category": np.minimum(counts, 2)})


@_styled
def plot_adherence_calendar(data: pd.DataFrame, *, enrolled_on: Any = None, end: Any = None,
                            date_col: str = "performed_at", patient_col: str = "patient_id",
                            legend: bool = True, ax: Axes | None = None) -> Axes:
    """A Monday-Sunday × weeks grid of glide sessions done per day (0, 1, 2 or more) for one patient.

    Parameters
    ----------
    data : DataFrame
        One patient's sessions with ``date_col`` (timestamps).
    enrolled_on : date-like, optional
        Enrolment day; default the first session's day.
    end : date-like, optional
        Last day of follow-up (discharge or data cut-off); default the last session's day.
    legend : bool
        Draw a legend (0 / 1 / 2+ sessions) above the axes, right-aligned.

    Returns
    -------
    Axes
        One cell per day: rows Monday (top) to Sunday, columns calendar weeks placed on the
        weeks-since-enrolment axis of the other patient plots (a week's column starts at its
        Monday, so the first may start before 0). The mesh (gid ``"calendar"``) holds the
        categories 0/1/2; days outside follow-up are masked.
    """
    _require(data, [date_col])
    _one_patient(data, patient_col)
    ax = get_ax(ax)
    if enrolled_on is None:
        if not len(data):
            raise ValueError("enrolled_on is needed when there are no sessions")
        enrolled_on = pd.to_datetime(data[date_col]).min()
    frame = adherence_calendar_frame(data, enrolled_on=enrolled_on, end=end, date_col=date_col)
    n_weeks = int(frame["week"].max()) + 1
    grid = np.ma.masked_all((7, n_weeks))
    grid[frame["day"].to_numpy(), frame["week"].to_numpy()] = frame["category"].to_numpy()
    shift = pd.Timestamp(enrolled_on).day_of_week / 7
    cmap = ListedColormap(list(CALENDAR_COLOURS)).with_extremes(bad=_OUTSIDE)
    mesh = ax.pcolormesh(np.arange(n_weeks + 1) - shift, np.arange(8), grid, cmap=cmap,
                         norm=BoundaryNorm([-0.5, 0.5, 1.5, 2.5], 3), edgecolors="white", linewidth=0.6)
    mesh.set_gid("calendar")
    ax.set_yticks(np.arange(7) + 0.5, list(_WEEKDAYS))
    ax.set_ylim(7, 0)  # Monday on top
    ax.set_xlim(-shift, n_weeks - shift)
    ax.grid(False)
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel("Weeks since enrolment")
    if legend:
        handles = [Patch(facecolor=c, edgecolor="#999999", linewidth=0.5, label=t)
                   for c, t in zip(CALENDAR_COLOURS, ("0 sessions", "1 session", "2+ sessions"))]
        _legend_above(ax, handles)
    return ax


# ------------------------------------------------------------------ level steps


def level_steps_frame(data: pd.DataFrame, *, time_col: str = "week", level_col: str = "level",
                      flare_col: str | None = "flare") -> pd.DataFrame:
    """The points of :func:`plot_level_steps`: ``time, level, flare`` sorted by time, rows without a
    time or a level dropped (``flare`` is False where ``flare_col`` is missing or blank)."""
    _require(data, [time_col, level_col])
    frame = pd.DataFrame({"time": pd.to_numeric(data[time_col], errors="coerce").astype("float64"),
                          "level": pd.to_numeric(data[level_col], errors="coerce").astype("float64")})
    frame["flare"] = (data[flare_col].fillna(False).astype(bool).to_numpy()
                      if flare_col and flare_col in data.columns else np.zeros(len(frame), dtype=bool))
    return frame.dropna(subset=["time", "level"]).sort_values("time", kind="stable").reset_index(drop=True)


@_styled
def plot_level_steps(data: pd.DataFrame, *, time_col: str = "week", level_col: str = "level",
                     flare_col: str | None = "flare", patient_col: str = "patient_id",
                     legend: bool = True, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """The glide level over time as steps, with flares marked.

    Parameters
    ----------
    data : DataFrame
        One patient's sessions with ``time_col`` (weeks since enrolment), ``level_col`` and,
        optionally, ``flare_col`` (True where the session flared: pain rose by the flare
        threshold or was rated worse, see :mod:`outcomes.measures.safety`).
    legend : bool
        Draw a legend above the axes, right-aligned.
    **kwargs
        Passed to the step line.

    Returns
    -------
    Axes
        The step line (gid ``"level"``, drawn ``where="post"``: a level holds until the next
        session) and the flare markers (gid ``"flares"``) at the level of the flaring session.
    """
    _require(data, [time_col, level_col])
    _one_patient(data, patient_col)
    ax = get_ax(ax)
    frame = level_steps_frame(data, time_col=time_col, level_col=level_col, flare_col=flare_col)
    style = {"color": PALETTE[0], "linewidth": 1.5, **kwargs}
    ax.step(frame["time"].to_numpy(), frame["level"].to_numpy(), where="post", label="glide level",
            gid="level", **style)
    flares = frame[frame["flare"]]
    ax.plot(flares["time"].to_numpy(), flares["level"].to_numpy(), linestyle="none", marker="v",
            markersize=6, color=FLAG_COLOUR, markeredgecolor="black", markeredgewidth=0.5,
            label=f"flare ({len(flares)})", gid="flares")
    top = int(frame["level"].max()) if len(frame) else 1
    ax.set_ylim(0.5, max(top, 2) + 0.5)
    ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlim(left=0)
    ax.set_xlabel("Weeks since enrolment")
    ax.set_ylabel("Glide level")
    if legend:
        _legend_above(ax)
    return ax
