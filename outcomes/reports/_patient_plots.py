"""The patient page's plot panels drawn on a :class:`~outcomes.reports._patient_canvas.Canvas`.

Axes with ticks, grid and labels; the outcome trajectory with baseline, MIC band and expected
range; the Monday-Sunday adherence calendar; the glide level with flares. They look like the
matplotlib plots of :mod:`outcomes.plotting.patient` (same style: Okabe-Ito colours, grey grid,
left and bottom spines, matplotlib's tick choice) and use its data frames
(:func:`~outcomes.plotting.patient.adherence_calendar_frame`), so the page shows the same
numbers as the public plots; they are written as a few dozen primitives instead of matplotlib
artists (see :mod:`outcomes.reports._patient_canvas` for why).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..plotting.patient import (CALENDAR_COLOURS, _WEEKDAYS, adherence_calendar_frame, level_steps_frame, mic_band,
                                trajectory_frame)
from ..plotting.style import FLAG_COLOUR, NEUTRAL, PALETTE, series_style
from ._patient_canvas import Canvas, text_width

_PT = 72.0
_TICK, _PAD = 3.5, 3.5             # tick length and label pad (points), matplotlib's defaults
_TICK_SIZE, _LABEL_SIZE = 10.0, 10.0  # tick and axis label font sizes, as the matplotlib page drew them
_LABEL_PAD = 4.0
_GRID, _GRID_WIDTH = "#DDDDDD", 0.6
_SPINE = 0.8
X_LABEL = "Weeks since enrolment"
# matplotlib's dash patterns (scaled by the line width): ":" and "--"
_DOTTED, _DASHED = (1.0, 1.65), (3.7, 1.6)


class Axes:
    """A plot rectangle on the canvas mapping data to page inches (no artists, no layout engine)."""

    def __init__(self, canvas: Canvas, group: str, rect: tuple[float, float, float, float]) -> None:
        self.c, self.g = canvas, group
        self.left, self.top, self.width, self.height = rect
        self.xlim = (0.0, 1.0)
        self.ylim = (0.0, 1.0)  # (bottom, top) values, as matplotlib: (7, 0) puts 0 on top

    @property
    def clip(self) -> tuple[float, float, float, float]:
        return (self.left, self.top, self.left + self.width, self.top + self.height)

    def px(self, x: Any) -> Any:
        x0, x1 = self.xlim
        return self.left + (np.asarray(x, dtype=float) - x0) * (self.width / (x1 - x0))

    def py(self, y: Any) -> Any:
        y0, y1 = self.ylim
        return self.top + (y1 - np.asarray(y, dtype=float)) * (self.height / (y1 - y0))

    def points(self, xs: Any, ys: Any) -> list[tuple[float, float]]:
        return list(zip(self.px(xs).tolist(), self.py(ys).tolist()))

    def grid(self, xticks: Sequence[float], yticks: Sequence[float]) -> None:
        """Grey grid lines at the ticks, under everything drawn after."""
        b, r = self.top + self.height, self.left + self.width
        segs = [(x, self.top, x, b) for x in self.px(xticks).tolist()]
        segs += [(self.left, y, r, y) for y in self.py(yticks).tolist()]
        self.c.segments(segs, group=self.g, stroke=_GRID, width=_GRID_WIDTH, cap="projecting")

    def frame(self, xticks: Sequence[float], yticks: Sequence[float], *, ylabels: Sequence[str] | None = None,
              xlabel: str = X_LABEL, ylabel: str = "", ytick_length: float = _TICK) -> None:
        """Left and bottom spines, outward ticks, tick labels and axis labels."""
        c, g = self.c, self.g
        left, top, b = self.left, self.top, self.top + self.height
        c.path([(left, top), (left, b), (left + self.width, b)], group=g, width=_SPINE, cap="projecting")
        xs = self.px(xticks).tolist()
        ys = self.py(yticks).tolist()
        t, ty = _TICK / _PT, ytick_length / _PT
        c.segments([(x, b, x, b + t) for x in xs] + ([(left - ty, y, left, y) for y in ys] if ty else []),
                   group=g, width=_SPINE)
        base = b + (_TICK + _PAD + 0.71 * _TICK_SIZE) / _PT
        for x, s in zip(xs, tick_labels(xticks)):
            c.text(x, base, s, group=g, size=_TICK_SIZE, ha="center")
        ylabels = list(ylabels) if ylabels is not None else tick_labels(yticks)
        right = left - (ytick_length + _PAD) / _PT
        for y, s in zip(ys, ylabels):
            c.text(right, y + 0.36 * _TICK_SIZE / _PT, s, group=g, size=_TICK_SIZE, ha="right")
        if xlabel:
            c.text(left + self.width / 2, base + (0.2 * _TICK_SIZE + _LABEL_PAD + 0.72 * _LABEL_SIZE) / _PT, xlabel,
                   group=g, size=_LABEL_SIZE, ha="center")
        if ylabel:
            widest = max((text_width(s, _TICK_SIZE) for s in ylabels), default=0.0)
            x = left - (ytick_length + _PAD + widest + _LABEL_PAD + 0.21 * _LABEL_SIZE) / _PT
            c.text(x, top + self.height / 2, ylabel, group=g, size=_LABEL_SIZE, ha="center", rotation=90)

    def message(self, lines: Sequence[str], *, boxed: bool = False) -> None:
        """A panel without data: its sentence in the middle (optionally in a rounded grey box), no axes."""
        size, step = 8.5, 8.5 * 1.5 * 0.97 / _PT
        cx, cy = self.left + self.width / 2, self.top + self.height / 2
        block = (len(lines) - 1) * step + 0.93 * size / _PT
        first = cy - block / 2 + 0.72 * size / _PT
        if boxed:
            pad = 0.8 * size / _PT
            w = max(text_width(s, size) for s in lines) / _PT
            self.c.rect(cx - w / 2 - pad, cy - block / 2 - pad, w + 2 * pad, block + 2 * pad, group=self.g,
                        fill="#F2F2F2", stroke="#999999", width=1.0, radius=pad)
        for i, s in enumerate(lines):
            self.c.text(cx, first + i * step, s, group=self.g, size=size, colour="#222222", ha="center")


# ====================================================================== ticks


def week_ticks(x_max: float) -> list[float]:
    """Ticks of a 0..x_max weeks axis: every 1, 2, 4 or 8 weeks (at most about 8 ticks)."""
    step = 1 if x_max <= 8 else 2 if x_max <= 16 else 4 if x_max <= 32 else 8
    return [float(v) for v in np.arange(0, x_max + 1e-9, step)]


@functools.lru_cache(maxsize=64)
def _locator(nbins: int, integer: bool, min_n: int) -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10], integer=integer, min_n_ticks=min_n)


def auto_ticks(lo: float, hi: float, length: float, *, integer: bool = False, nbins: int | None = None,
               min_n: int = 2) -> list[float]:
    """matplotlib's AutoLocator ticks for a ``length``-inch vertical axis from ``lo`` to ``hi``."""
    if nbins is None:  # as matplotlib's 'auto': the axis length over twice the tick label size, 1..9
        nbins = int(np.clip(math.floor(length * _PT / (_TICK_SIZE * 2)), max(1, min_n - 1), 9))
    ticks = _locator(nbins, integer, min_n).tick_values(lo, hi)
    eps = 1e-9 * max(abs(hi - lo), 1e-12)
    return [float(t) for t in ticks if lo - eps <= t <= hi + eps]


def multiple_ticks(lo: float, hi: float, base: float) -> list[float]:
    first = math.ceil(lo / base - 1e-9)
    return [k * base for k in range(first, math.floor(hi / base + 1e-9) + 1)]


def tick_labels(values: Sequence[float]) -> list[str]:
    """Tick labels with the fewest decimals that show every tick exactly (as ScalarFormatter)."""
    vals = [float(v) for v in values]
    for digits in range(6):
        if all(abs(round(v, digits) - v) < 1e-9 * max(1.0, abs(v)) for v in vals):
            break
    return [(f"{v:.{digits}f}" if abs(v) >= 0.5 * 10 ** -digits else f"{0:.{digits}f}") for v in vals]


# ====================================================================== panels


def trajectory(ax: Axes, assessments: pd.DataFrame, outcome: str, info: dict[str, Any], *, x_max: float,
               colour_index: int, ylabel: str, band: pd.DataFrame | None = None) -> dict[str, Any]:
    """One outcome over weeks since enrolment: expected band, MIC band, baseline, observations.

    Returns what was drawn: ``points`` (time, value) and ``ylim`` (for tests and the HTML alt text).
    """
    points = trajectory_frame(assessments, outcome=outcome, time_col="week")  # as the public plot
    t, v = points["time"].to_numpy(), points["value"].to_numpy()
    low, high, baseline = info["low"], info["high"], info["baseline"]
    fixed = low is not None and high is not None and np.isfinite(low) and np.isfinite(high)
    span = mic_band(baseline, info["mic"], higher_is_worse=not info["higher_is_better"], low=low, high=high)
    has_band = band is not None and len(band)
    if fixed:
        pad = (high - low) * 0.04
        ax.ylim = (low - pad, high + pad)
    else:  # open scale: the data with 15 % room (matplotlib's margins)
        ys = list(v) + ([baseline] if baseline is not None else []) + (list(span) if span else [])
        if has_band:
            ys += [float(np.nanmin(band["lower80"])), float(np.nanmax(band["upper80"]))]
        lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
        if hi - lo < 1e-12:
            lo, hi = lo - max(abs(lo) * 0.05, 0.5), hi + max(abs(hi) * 0.05, 0.5)
        m = (hi - lo) * 0.15
        ax.ylim = (lo - m, hi + m)
    ax.xlim = (0.0, float(x_max))
    xt = week_ticks(x_max)
    if fixed and high - low == 10:  # a 0-10 rating: whole even points, not 2.5, 7.5
        yt = multiple_ticks(*ax.ylim, 2)
    else:
        yt = auto_ticks(*ax.ylim, ax.height)
    ax.grid(xt, yt)
    c, g, clip = ax.c, ax.g, ax.clip
    if has_band:
        w = band["week"].to_numpy(dtype=float)
        for lower, upper, alpha in (("lower80", "upper80", 0.22), ("lower50", "upper50", 0.35)):
            pts = ax.points(w, band[lower].to_numpy(dtype=float)) + ax.points(w[::-1],
                                                                              band[upper].to_numpy(dtype=float)[::-1])
            c.path(pts, group=g, closed=True, fill="#999999", stroke=None, alpha=alpha, clip=clip)
    if span:
        y0, y1 = float(ax.py(span[1])), float(ax.py(span[0]))
        c.rect(ax.left, y0, ax.width, y1 - y0, group=g, fill=PALETTE[1], alpha=0.13, clip=clip)
    if baseline is not None:
        y = float(ax.py(baseline))
        c.line(ax.left, y, ax.left + ax.width, y, group=g, stroke=NEUTRAL, width=1.2,
               dash=[d * 1.2 for d in _DOTTED], clip=clip)
    style = series_style(colour_index)
    colour = style["color"]
    pts = ax.points(t, v)
    if len(pts) > 1:
        dash = None if style["linestyle"] == "-" else [d * 1.6 for d in _DASHED]
        c.path(pts, group=g, stroke=colour, width=1.6, dash=dash, cap="projecting" if dash is None else "butt")
    c.marks(pts, group=g, shape=style["marker"], size=5, fill=colour)
    ax.frame(xt, yt, ylabel=ylabel)
    return {"points": list(zip(t.tolist(), v.tolist())), "mic_band": span, "ylim": ax.ylim, "yticks": yt,
            "xticks": xt}


def calendar(ax: Axes, sessions: pd.DataFrame, *, enrolled_on: Any, end: Any, x_max: float) -> dict[str, Any]:
    """Sessions per day: one cell per day, rows Monday (top) to Sunday, columns calendar weeks placed
    on the weeks-since-enrolment axis (a week's column starts at its Monday)."""
    frame = adherence_calendar_frame(sessions, enrolled_on=enrolled_on, end=end, date_col="performed_at")
    shift = pd.Timestamp(enrolled_on).day_of_week / 7
    ax.xlim = (0.0, float(x_max))
    ax.ylim = (7.0, 0.0)
    col_w = ax.width / x_max
    row_h = ax.height / 7
    x0 = ax.px(frame["week"].to_numpy(dtype=float) - shift).tolist()
    y0 = ax.py(frame["day"].to_numpy(dtype=float)).tolist()
    cat = frame["category"].to_numpy()
    for k, colour in enumerate(CALENDAR_COLOURS):
        cells = [(x, y, col_w, row_h) for x, y, kk in zip(x0, y0, cat.tolist()) if kk == k]
        ax.c.rects(cells, group=ax.g, fill=colour, stroke="#FFFFFF", width=0.6, clip=ax.clip)
    xt = week_ticks(x_max)
    ax.frame(xt, [d + 0.5 for d in range(7)], ylabels=_WEEKDAYS, ytick_length=0.0)
    return {"days": len(frame), "sessions": int(frame["sessions"].sum()), "xticks": xt}


def levels(ax: Axes, sessions: pd.DataFrame, *, x_max: float) -> dict[str, Any]:
    """The glide level as steps (a level holds until the next session) with flares marked."""
    frame = level_steps_frame(sessions)  # as the public plot
    t, lv, fl = frame["time"].to_numpy(), frame["level"].to_numpy(), frame["flare"].to_numpy()
    top = int(lv.max()) if len(lv) else 1
    ax.xlim = (0.0, float(x_max))
    ax.ylim = (0.5, max(top, 2) + 0.5)
    xt = week_ticks(x_max)
    yt = auto_ticks(*ax.ylim, ax.height, integer=True, nbins=10, min_n=1)
    ax.grid(xt, yt)
    if len(t):
        xs = np.repeat(t, 2)[1:]
        ys = np.repeat(lv, 2)[:-1]
        ax.c.path(ax.points(xs, ys), group=ax.g, stroke=PALETTE[0], width=1.5, clip=ax.clip, cap="projecting")
    ax.c.marks(ax.points(t[fl], lv[fl]), group=ax.g, shape="v", size=6, fill=FLAG_COLOUR, edge="#000000",
               edge_width=0.5, clip=ax.clip)
    ax.frame(xt, yt, ylabel="Glide level")
    return {"steps": len(t), "flares": int(fl.sum()), "flare_points": list(zip(t[fl].tolist(), lv[fl].tolist())),
            "yticks": yt, "xticks": xt}
