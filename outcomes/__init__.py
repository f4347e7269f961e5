"""outcomes: trustworthy numbers and figures from nerve glide home-exercise program exports.

The names most users need, importable from here::

    from outcomes import Cohort, load_dataset

Each subpackage re-exports its own public names (`outcomes.io`, `outcomes.measures`,
`outcomes.models`, `outcomes.plotting`, `outcomes.reports`). Names are loaded on
first use, so ``import outcomes`` is quick and loads neither pandas nor matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import attach
from ._version import __version__

if TYPE_CHECKING:
    from .cohort import Cohort
    from .config import DEFAULT_OPTIONS, Options
    from .io import Dataset, load_dataset
    from .plan import AnalysisPlan, load_plan

_EXPORTS = {
    "AnalysisPlan": ".plan",
    "Cohort": ".cohort",
    "DEFAULT_OPTIONS": ".config",
    "Dataset": ".io",
    "Options": ".config",
    "load_dataset": ".io",
    "load_plan": ".plan",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

__getattr__, __dir__ = attach(__name__, _EXPORTS)
