"""One consistent, colour-blind-safe style that also reads in grey.

Colours are the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design");
every series also differs by marker and line style so a grey print stays readable.
"""

from __future__ import annotations


import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

import matplotlib as mpl
import pandas as pd
from matplotlib.axes import Axes

from ..config import InstrumentSpec, Options

__all__ = ["PALETTE", "MARKERS", "LINESTYLES", "series_style", "rc_params", "get_ax", "FLAG_COLOUR",
           "GOOD", "BAD", "NEUTRAL"]

#: Okabe-Ito colours (black first for the main series).
PALETTE = ["#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 1)), (0, (5, 5))]
GOOD, BAD, NEUTRAL = "#009E73", "#D55E00", "#7F7F7F"
FLAG_COLOUR = "#D55E00"


def series_style(i: int) -> dict[str, Any]:
    """Colour, marker and line style of the i-th series (distinct in colour and in grey)."""
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)]}


def rc_params() -> dict[str, Any]:
    """Matplotlib settings for every figure (use with ``mpl.rc_context(rc_params())``)."""
    return {
        "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
        "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False,
        "axes.grid": True, "grid.color": "#DDDDDD", "grid.linewidth": 0.6, "axes.axisbelow": True,
        "axes.prop_cycle": mpl.cycler(color=PALETTE), "figure.dpi": 100, "savefig.dpi": 150,
        "pdf.fonttype": 42, "svg.fonttype": "none",
    }


def get_ax(ax: Axes | None) -> Axes:
    """The given axes, or the current one (so ``plot_*(..., ax=None)`` works in notebooks)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.gca()




# ------------------------------------------------------------------ helpers shared by the plot modules

F = TypeVar("F", bound=Callable[..., Axes])

_STYLE_ACTIVE: ContextVar[bool] = ContextVar("outcomes_plot_style_active", default=False)


@contextlib.contextmanager
def _style_context() -> Iterator[None]:
    """The shared style (:func:`outcomes.plotting.style.rc_params`), entered once for many plots.

    Entering ``rc_context`` copies and validates every rcParam (about 1 ms); a page drawing five
    plots enters it once here and the plot functions see it is active.
    """
    if _STYLE_ACTIVE.get():
        yield
        return
    token = _STYLE_ACTIVE.set(True)
    try:
        with mpl.rc_context(rc_params()):
            yield
    finally:
        _STYLE_ACTIVE.reset(token)


def _styled(func: F) -> F:
    """Run a plot function inside the shared style (:func:`_style_context`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Axes:
        with _style_context():
            ax = func(*args, **kwargs)
            _tidy(ax)
            return ax

    return wrapper  # type: ignore[return-value]


def _tidy(ax: Axes) -> None:
    """The parts of the style that live on the axes (for axes made before the style applied)."""
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.set_axisbelow(True)


def _require(data: Any, columns: Sequence[str], *, name: str = "data") -> pd.DataFrame:
    """``data`` as a DataFrame having ``columns``, or a TypeError/ValueError naming what is missing."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {list(data.columns)}")
    return data


def _instrument(outcome: str, options: Options) -> InstrumentSpec | None:
    return options.instruments.get(outcome)


def _axis_label(outcome: str, options: Options) -> str:
    spec = _instrument(outcome, options)
    return f"{spec.label} ({spec.unit})" if spec else outcome.replace("_", " ")
