"""The audit's figures (funnels, SPC charts, outcome distributions, waterfall) as data URIs for the HTML."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..models.audit import AuditResult
from ._html import figure_data_uri

#: Most bars drawn in the waterfall (matplotlib draws one patch per bar: 15,000 take ~15 s).
_WATERFALL_BARS = 2000


def _figures(a: AuditResult) -> dict[str, str | None]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from ..plotting.audit import plot_funnel, plot_outcome_distributions, plot_spc
    from ..plotting.cohort import plot_waterfall

    c = a.cohort
    figs: dict[str, str | None] = {}
    for by, frame in a.funnels.items():
        if frame["suppressed"].all():
            figs[f"funnel_{by}"] = None  # nothing can be plotted: one sentence says so
            continue
        fig = Figure(figsize=(7.0, 4.6), layout="constrained")
        plot_funnel(frame, ax=fig.add_subplot())
        figs[f"funnel_{by}"] = figure_data_uri(fig, fmt="svg")
    charts = [g for _, g in a.spc.groupby("kpi", sort=False) if g["value"].notna().sum() >= 2] if len(a.spc) else []
    if charts:
        rows = math.ceil(len(charts) / 2)
        fig = Figure(figsize=(7.0, 2.1 * rows), layout="constrained")
        for i, g in enumerate(charts):
            plot_spc(g, ax=fig.add_subplot(rows, 2, i + 1))
        figs["spc"] = figure_data_uri(fig, fmt="svg")
    else:
        figs["spc"] = None
    s = c.patient_summary
    outcomes = [o for o in dict.fromkeys((a.outcome, "odi")) if f"{o}_baseline" in s.columns]
    if outcomes:
        fig = Figure(figsize=(7.0, 3.2), layout="constrained")
        for i, o in enumerate(outcomes):
            plot_outcome_distributions(s, outcome=o, min_n=a.k, options=c.options,
                                       ax=fig.add_subplot(1, len(outcomes), i + 1))
        figs["distributions"] = figure_data_uri(fig, fmt="png", dpi=130)
    else:
        figs["distributions"] = None
    o = a.outcome
    change = pd.to_numeric(s[f"{o}_change"], errors="coerce") if f"{o}_change" in s.columns else None
    if change is not None and change.notna().sum() >= a.k:
        fig = Figure(figsize=(7.0, 3.2), layout="constrained")
        ax = fig.add_subplot()
        shown = s.loc[change.notna().to_numpy()]
        if len(shown) > _WATERFALL_BARS:  # evenly spaced ranks keep the shape; one bar per patient is slow
            order = np.argsort(change[change.notna()].to_numpy(), kind="stable")
            pick = order[np.unique(np.linspace(0, len(order) - 1, _WATERFALL_BARS).round().astype(int))]
            plot_waterfall(shown.iloc[pick], outcome=o, options=c.options, ax=ax)
            ax.set_xlabel(f"Patients, sorted by change (n = {len(shown):,}; {len(pick):,} evenly spaced "
                          "ranks drawn)")
        else:
            plot_waterfall(shown, outcome=o, options=c.options, ax=ax)
        figs["waterfall"] = figure_data_uri(fig, fmt="png", dpi=130)
    else:
        figs["waterfall"] = None
    return figs
