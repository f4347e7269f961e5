"""Names, checks and Wald inference shared by the trajectory modules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..results import coefficient_table

#: The adherence and level terms of the adjusted model (``fit_trajectory(adjust_for=...)``).
ADJUSTMENT_TERMS: tuple[str, ...] = ("adherence_between", "adherence_within", "level")
_BASE_COLUMNS = ("patient_id", "schedule", "week", "y")
_RESERVED = frozenset(_BASE_COLUMNS + ADJUSTMENT_TERMS + ("log_week", "visit"))


def _check_covariates(covariates: Any, available: Any, where: str) -> tuple[str, ...]:
    if isinstance(covariates, str):  # a value error: a name where a sequence of names belongs
        raise ValueError(  # noqa: TRY004
            f"covariates must be a sequence of column names, got the string {covariates!r}; write ({covariates!r},)")
    if not isinstance(covariates, Sequence):
        raise TypeError(f"covariates must be a sequence of column names, got {type(covariates).__name__}")
    covariates = tuple(covariates)
    bad = [c for c in covariates if not isinstance(c, str) or c not in available]
    if bad:
        raise ValueError(f"covariates={list(covariates)!r}: {', '.join(map(repr, bad))} not a column of {where}")
    clash = [c for c in covariates if c in _RESERVED or c == "patient_id"]
    if clash:
        raise ValueError(f"covariates={list(covariates)!r}: {', '.join(map(repr, clash))} is a model column, "
                         f"not a baseline covariate")
    if len(set(covariates)) != len(covariates):
        raise ValueError(f"covariates={list(covariates)!r} names a column twice")
    return covariates


def _check_choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; use one of {', '.join(map(repr, allowed))}")




def _wald_table(params: pd.Series, cov: np.ndarray) -> pd.DataFrame:
    """Coefficient table with normal-theory (Wald z) intervals and p-values from ``cov``."""
    se = pd.Series(np.sqrt(np.diag(cov)), index=params.index)
    q = stats.norm.ppf(0.975)
    ci = np.column_stack([params - q * se, params + q * se])
    return coefficient_table(params, se, ci, pd.Series(2 * stats.norm.sf(np.abs(params / se)), index=params.index))
