"""Outcome trajectories over the program and the comparison of progression schedules.

:func:`trajectory_data` builds the long analysis frame (one row per assessment)
from a :class:`~outcomes.cohort.Cohort`; :func:`fit_trajectory` fits the
trajectory model to it, a linear mixed model by default (REML,
the project's engine :func:`outcomes.models._reml.fit_lmm`)::

    y ~ week * schedule + adherence_between + adherence_within + level [+ covariates]
    random intercept and week slope per patient (re_formula "~week")

or a population-averaged GEE (statsmodels); :func:`marginal_means` and
:func:`schedule_contrast` turn a fit into estimated means by schedule and week,
and schedule differences with confidence intervals.

The mixed model is checked against R ``lme4::lmer`` (fixed effects, standard
errors, variance components and REML log-likelihood within 1e-6, relative:
``tests/reference/trajectory.R``, ``tests/reference/reml.R``) and recovers the
simulated schedule and adherence effects (``tests/test_trajectory.py``).

Modules: ``_data`` (the analysis frame), ``_fit`` (:func:`fit_trajectory`),
``_lmm`` (the mixed model), ``_gee`` (GEE), ``_means`` (marginal means and
contrasts), ``_common`` (names and checks shared by them).
"""

from __future__ import annotations

from ._common import ADJUSTMENT_TERMS
from ._data import trajectory_data
from ._fit import fit_trajectory
from ._lmm import OPTIMIZERS
from ._means import marginal_means, schedule_contrast

__all__ = ["ADJUSTMENT_TERMS", "OPTIMIZERS", "fit_trajectory", "marginal_means", "schedule_contrast",
           "trajectory_data"]
