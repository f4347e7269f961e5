"""Axes-level plot functions: ``plot_*(…, ax=None) -> Axes``; they never save or show.

Each ``plot_x`` has a ``x_frame`` beside it where the plotted numbers are computed
first. Every public name is importable from here (``from outcomes.plotting import
plot_funnel``); matplotlib is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from .audit import distribution_frame, plot_funnel, plot_outcome_distributions
    from .cohort import (
        flare_rate_frame,
        mean_ci_frame,
        plot_flare_rates,
        plot_spaghetti,
        plot_waterfall,
        waterfall_frame,
    )
    from .models import forest_frame, plot_forest, plot_km, plot_marginal_means
    from .patient import (
        adherence_calendar_frame,
        plot_adherence_calendar,
        plot_level_steps,
        plot_patient_trajectory,
        trajectory_frame,
    )

_EXPORTS = {
    **dict.fromkeys(("distribution_frame", "plot_funnel", "plot_outcome_distributions"), ".audit"),
    **dict.fromkeys(("flare_rate_frame", "mean_ci_frame", "plot_flare_rates", "plot_spaghetti", "plot_waterfall",
                     "waterfall_frame"), ".cohort"),
    **dict.fromkeys(("forest_frame", "plot_forest", "plot_km", "plot_marginal_means"), ".models"),
    **dict.fromkeys(("adherence_calendar_frame", "plot_adherence_calendar", "plot_level_steps",
                     "plot_patient_trajectory", "trajectory_frame"), ".patient"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = attach(__name__, _EXPORTS)
