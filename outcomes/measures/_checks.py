"""Argument checks shared by the measures: each error names the parameter and what is wrong."""

from __future__ import annotations

import math

from collections.abc import Sequence
from typing import Any

import numpy as np
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


def _number(value: Any, parameter: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{parameter} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{parameter} must be finite, got {value!r}")
    return float(value)


def _values(x: Any, parameter: str) -> tuple[np.ndarray, pd.Index | None]:
    """``x`` as a float64 array (NaN for missing) and its index when it is a Series."""
    if isinstance(x, pd.DataFrame):
        raise TypeError(f"{parameter} must be one column (a Series or array), got a DataFrame")
    index = x.index if isinstance(x, pd.Series) else None
    try:
        arr = (x.to_numpy(dtype="float64", na_value=np.nan) if isinstance(x, pd.Series)
               else np.asarray(pd.array(np.atleast_1d(x)).to_numpy(dtype="float64", na_value=np.nan)))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{parameter} must be numeric") from exc
    return arr.astype("float64", copy=False), index


def _same_length(parameters: dict[str, np.ndarray]) -> None:
    lengths = {name: len(a) for name, a in parameters.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError("inputs must have the same length, got "
                         + ", ".join(f"{k} {v}" for k, v in lengths.items()))


def _wrap(values: np.ndarray | pd.api.extensions.ExtensionArray, index: pd.Index | None,
          name: str) -> pd.Series | np.ndarray:
    return values if index is None else pd.Series(values, index=index, name=name)
