"""One consistent, colour-blind-safe style that also reads in grey.

Colours are the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design");
every series also differs by marker and line style so a grey print stays readable.
"""

from __future__ import annotations


from typing import Any

import matplotlib as mpl
from matplotlib.axes import Axes

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


