"""Argument checks shared by the measures: each error names the parameter and what is wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..config import Options


def _check_frame(frame: Any, parameter: str, required: Sequence[str] = ()) -> None:
    """TypeError unless ``frame`` is a DataFrame; ValueError naming absent ``required`` columns."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{parameter} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{parameter} has no column {', '.join(map(repr, missing))}; "
                         f"it has {', '.join(map(str, frame.columns)) or 'no columns'}")


def _check_dates(frame: pd.DataFrame, column: str, parameter: str) -> None:
    if not pd.api.types.is_datetime64_dtype(frame[column].dtype):
        raise TypeError(f"{parameter}[{column!r}] must hold dates (datetime64), got dtype "
                        f"{frame[column].dtype}; convert it with pd.to_datetime or load the data "
                        "with outcomes.load_dataset")


def _check_options(options: Any) -> None:
    if not isinstance(options, Options):
        raise TypeError(f"options must be an outcomes.config.Options, got {type(options).__name__}")
