"""Scoring the outcome instruments: ODI, RMDQ, PGIC and the scored assessment frame.

Every function is vectorised, returns new objects and never changes its input.
Row-wise functions (`odi_score`, `rmdq_score`, `pgic_responder`) return a
Series on the caller's index, so the result can be put beside the input;
`score_assessments` returns a new frame with a fresh ``RangeIndex``.
Scales and rules come from ``DOMAIN.md`` and `outcomes.config`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd

from ..config import DEFAULT_OPTIONS, Options
from ._checks import _check_dates, _check_frame, _check_options

__all__ = [
    "ODI_ITEMS",
    "PGIC_LABELS",
    "odi_score",
    "pgic_category",
    "pgic_responder",
    "rmdq_score",
    "score_assessments",
]

#: The ten ODI 2.1 section columns, each scored 0-5 (Fairbank & Pynsent 2000).
ODI_ITEMS: tuple[str, ...] = tuple(f"odi_{i}" for i in range(1, 11))
#: PGIC answers 1-7 (Hurst & Bolton 2004), in scale order.
PGIC_LABELS: tuple[str, ...] = (
    "very much improved", "much improved", "minimally improved", "no change",
    "minimally worse", "much worse", "very much worse",
)
_ODI_SECTION_MAX = 5  # each ODI 2.1 section scores 0-5 (Fairbank & Pynsent 2000)
_RMDQ_MAX = 24  # 24 yes/no statements (Roland & Fairbank 2000)
_PGIC_RESPONDER_AT_MOST = 2  # "much" or "very much improved" (Hurst & Bolton 2004)
#: Measures carried through `score_assessments` unscored (validated on load).
_PASSTHROUGH = ("numbness", "slr_deg")


# ------------------------------------------------------------------ checks


def _row_label(index: pd.Index, position: int) -> str:
    name = index.name if isinstance(index.name, str) else "row"
    return f"{name} {index[position]}"


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _to_float(values: pd.Series, column: str) -> np.ndarray:
    """Numeric values as float64 with NaN for missing; TypeError/ValueError naming ``column``."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise TypeError(f"{column} must be numeric, got boolean values")
    if pd.api.types.is_numeric_dtype(dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    coerced = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero(values.notna().to_numpy() & coerced.isna().to_numpy())
    if bad.size:
        raise ValueError(f"{column} = {values.iloc[bad[0]]!r} at {_row_label(values.index, bad[0])} "
                         f"is not a number ({bad.size} such value{'s' if bad.size > 1 else ''})")
    return coerced.to_numpy(dtype="float64", na_value=np.nan)


def _check_scale(x: np.ndarray, index: pd.Index, column: str, low: float, high: float,
                 *, whole: bool) -> None:
    """ValueError naming ``column``, the first bad value and its row, when ``x`` is off the scale."""
    with np.errstate(invalid="ignore"):
        outside = (x < low) | (x > high)
        fractional = (x != np.round(x)) & ~np.isnan(x) if whole else np.zeros(x.shape, bool)
    for bad, reason in ((outside, f"outside {_fmt(low)}-{_fmt(high)}"),
                        (fractional, "not a whole number")):
        where = np.flatnonzero(bad)
        if where.size:
            more = f" ({where.size} values)" if where.size > 1 else ""
            raise ValueError(f"{column} = {_fmt(x[where[0]])} at {_row_label(index, where[0])} "
                             f"is {reason}{more}")


def _series(values: Any, parameter: str) -> pd.Series:
    if isinstance(values, pd.DataFrame):
        raise TypeError(f"{parameter} must be one column (a Series or array), got a DataFrame")
    return values if isinstance(values, pd.Series) else pd.Series(values)


def _checked_int(value: Any, parameter: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{parameter} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{parameter} must be between {low} and {high}, got {value}")
    return int(value)


# ------------------------------------------------------------- instruments


def odi_score(items: pd.DataFrame, *, max_missing: int = 1) -> pd.Series:
    """Oswestry Disability Index 2.1 (0-100 %) from its ten section scores.

    Parameters
    ----------
    items : DataFrame
        Columns ``odi_1`` ... ``odi_10`` (see `ODI_ITEMS`), each 0-5 or
        missing; other columns are ignored. An absent section column counts
        as a missing section on every row.
    max_missing : int, default 1
        Most sections that may be missing; with more the row has no score.

    Returns
    -------
    Series
        float64 named ``odi``, on ``items.index``: sum ÷ (5 × sections
        answered) × 100, NaN where more than ``max_missing`` sections are
        missing.

    Raises
    ------
    TypeError
        ``items`` is not a DataFrame, a section is not numeric, or
        ``max_missing`` is not an integer.
    ValueError
        A section score is outside 0-5 or not whole (the message names the
        column, value and row), or ``max_missing`` is outside 0-9.

    Notes
    -----
    Scoring and the one-missing-section rule are ODI 2.1 (Fairbank &
    Pynsent 2000, Spine 25:2940). Worked examples (tested): 16 points over
    10 sections → 16/50 = 32 %; 16 points with one section missing →
    16/45 = 35.6 %.
    """
    _check_frame(items, "items")
    max_missing = _checked_int(max_missing, "max_missing", 0, len(ODI_ITEMS) - 1)
    total = np.zeros(len(items))
    answered = np.zeros(len(items))
    for column in ODI_ITEMS:
        if column not in items.columns:
            continue
        x = _to_float(items[column], column)
        _check_scale(x, items.index, column, 0, _ODI_SECTION_MAX, whole=True)
        known = ~np.isnan(x)
        total += np.where(known, x, 0.0)
        answered += known
    enough = answered >= len(ODI_ITEMS) - max_missing
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(enough, 100.0 * total / (_ODI_SECTION_MAX * answered), np.nan)
    return pd.Series(score, index=items.index, name="odi", dtype="float64")


def rmdq_score(frame: pd.DataFrame | pd.Series) -> pd.Series:
    """Roland-Morris Disability Questionnaire total (0-24), checked.

    Parameters
    ----------
    frame : DataFrame or Series
        A frame with an ``rmdq`` column (the recorded count of "yes"
        answers), or that column itself.

    Returns
    -------
    Series
        float64 named ``rmdq`` on the input's index; NaN where missing.

    Raises
    ------
    TypeError
        Not a DataFrame or Series, or the values are not numeric.
    ValueError
        The frame has no ``rmdq`` column, or a value is outside 0-24 or not
        whole (the message names the value and row).

    Notes
    -----
    The score is the number of the 24 statements answered yes (Roland &
    Fairbank 2000, Spine 25:3115).
    """
    if isinstance(frame, pd.DataFrame):
        _check_frame(frame, "frame", ["rmdq"])
        values = frame["rmdq"]
    elif isinstance(frame, pd.Series):
        values = frame
    else:
        raise TypeError(f"frame must be a DataFrame with an 'rmdq' column or a Series, "
                        f"got {type(frame).__name__}")
    x = _to_float(values, "rmdq")
    _check_scale(x, values.index, "rmdq", 0, _RMDQ_MAX, whole=True)
    return pd.Series(x, index=values.index, name="rmdq", dtype="float64")


def _pgic_codes(values: Any) -> tuple[np.ndarray, pd.Series]:
    s = _series(values, "values")
    x = _to_float(s, "pgic")
    _check_scale(x, s.index, "pgic", 1, len(PGIC_LABELS), whole=True)
    return x, s


def pgic_category(values: pd.Series | Sequence[float] | np.ndarray) -> pd.Categorical:
    """Patient Global Impression of Change answers (1-7) as labelled categories.

    Parameters
    ----------
    values : Series or array-like
        PGIC answers 1-7; missing stays missing.

    Returns
    -------
    Categorical
        Ordered in scale order: ``PGIC_LABELS`` = 'very much improved' (1),
        'much improved', 'minimally improved', 'no change' (4), 'minimally
        worse', 'much worse', 'very much worse' (7).

    Raises
    ------
    ValueError
        An answer outside 1-7 or not whole (the message names the value).

    Notes
    -----
    The seven-point scale and its labels: Hurst & Bolton 2004, J Manipulative
    Physiol Ther 27:26.
    """
    x, _ = _pgic_codes(values)
    codes = np.where(np.isnan(x), -1, np.nan_to_num(x) - 1).astype(np.int8)
    return pd.Categorical.from_codes(codes, categories=list(PGIC_LABELS), ordered=True)


def pgic_responder(values: pd.Series | Sequence[float] | np.ndarray, *,
                   at_most: int = _PGIC_RESPONDER_AT_MOST) -> pd.Series:
    """Whether each PGIC answer is a response: "much" or "very much improved".

    Parameters
    ----------
    values : Series or array-like
        PGIC answers 1-7.
    at_most : int, default 2
        Answers 1..``at_most`` count as a response.

    Returns
    -------
    Series
        Nullable boolean named ``pgic_responder`` (on the input's index when
        ``values`` is a Series): True for 1-2, False for 3-7, NA where the
        answer is missing.

    Raises
    ------
    TypeError, ValueError
        ``at_most`` is not an integer 1-7, or an answer is outside 1-7 or not
        whole.

    Notes
    -----
    A PGIC of "much improved" or "very much improved" is the usual responder
    definition (Hurst & Bolton 2004; DOMAIN.md "Outcome measures").
    """
    at_most = _checked_int(at_most, "at_most", 1, len(PGIC_LABELS))
    x, s = _pgic_codes(values)
    missing = np.isnan(x)
    flag = pd.arrays.BooleanArray(np.nan_to_num(x, nan=np.inf) <= at_most, missing)
    return pd.Series(flag, index=s.index, name="pgic_responder")


# ---------------------------------------------------------- scored frame


def _red_flag(assessments: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Kleene OR of the rf_* columns: True if any is true, NA if none is and one is unknown."""
    flags = []
    for column in columns:
        try:
            flags.append(assessments[column].astype("boolean").array)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{column} must be boolean (true/false), got dtype "
                            f"{assessments[column].dtype}") from exc
    return pd.Series(reduce(lambda a, b: a | b, flags), name="red_flag")


def _odi_column(assessments: pd.DataFrame, low: float, high: float) -> tuple[np.ndarray, pd.Series]:
    n = len(assessments)
    from_items = np.full(n, np.nan)
    if any(c in assessments.columns for c in ODI_ITEMS):
        from_items = odi_score(assessments).to_numpy()
    total = np.full(n, np.nan)
    if "odi" in assessments.columns:
        total = _to_float(assessments["odi"], "odi")
        _check_scale(total, assessments.index, "odi", low, high, whole=False)
    has_items = ~np.isnan(from_items)
    value = np.where(has_items, from_items, total)
    source = np.where(has_items, "items", np.where(np.isnan(total), None, "total"))
    return value, pd.Series(source, dtype="str", name="odi_source")


def score_assessments(assessments: pd.DataFrame, *, options: Options = DEFAULT_OPTIONS) -> pd.DataFrame:
    """One scored row per assessment: every instrument on its own scale.

    Parameters
    ----------
    assessments : DataFrame
        The ``assessments`` frame of `outcomes.load_dataset` (``patient_id``,
        ``assessed_on`` and any outcome columns of the data dictionary).
    options : Options, default DEFAULT_OPTIONS
        ``options.instruments`` names the scored instruments and their ranges.

    Returns
    -------
    DataFrame
        A new frame, same rows in the same order, fresh ``RangeIndex``:

        - ``patient_id``, ``assessed_on``: copied.
        - one float64 column per instrument of ``options.instruments``
          (defaults ``leg_pain``, ``back_pain``, ``odi``, ``rmdq``), named by
          the instrument, NaN where missing;
        - ``odi_source``: 'items' when ``odi`` was computed from the
          sections, 'total' when it is the recorded total, missing when
          there is neither;
        - ``numbness``, ``slr_deg`` (float64), ``pgic`` (Int64 1-7),
          ``pgic_responder`` (nullable boolean, see `pgic_responder`);
        - ``red_flag``: nullable boolean, True when any ``rf_*`` column is
          true, False when all are false, NA when none is true and one is
          missing.

        A column appears only when its source is in ``assessments``: no
        ``rmdq`` column, no ``rmdq`` score; ``odi`` needs a section column
        or the total; ``red_flag`` needs an ``rf_*`` column.

    Raises
    ------
    TypeError
        ``assessments`` is not a DataFrame, ``assessed_on`` is not datetime,
        ``options`` is not an `Options`, or a column has the wrong type.
    ValueError
        ``patient_id`` or ``assessed_on`` is absent, or a value is off its
        instrument's scale (the message names the column, value and row).

    Notes
    -----
    ``odi`` is ODI 2.1 from the sections when at least nine are answered
    (`odi_score`; Fairbank & Pynsent 2000), otherwise the recorded total.
    RMDQ: Roland & Fairbank 2000; PGIC: Hurst & Bolton 2004; NRS range
    and direction: Farrar et al. 2001. Instrument ranges come from
    ``options.instruments`` (`outcomes.config`). ``numbness`` and
    ``slr_deg`` are passed through: their ranges are checked by the loader.
    """
    _check_frame(assessments, "assessments", ["patient_id", "assessed_on"])
    _check_dates(assessments, "assessed_on", "assessments")
    _check_options(options)
    out: dict[str, Any] = {c: assessments[c].reset_index(drop=True) for c in ("patient_id", "assessed_on")}
    for name, spec in options.instruments.items():
        if name == "odi":
            if "odi" in assessments.columns or any(c in assessments.columns for c in ODI_ITEMS):
                out["odi"], out["odi_source"] = _odi_column(assessments, spec.low, spec.high)
            continue
        if spec.column not in assessments.columns:
            continue
        if name == "rmdq":
            out[name] = rmdq_score(assessments[spec.column]).to_numpy()
            continue
        x = _to_float(assessments[spec.column], spec.column)
        _check_scale(x, assessments.index, spec.column, spec.low, spec.high, whole=False)
        out[name] = x
    for column in _PASSTHROUGH:
        if column in assessments.columns and column not in out:
            out[column] = _to_float(assessments[column], column)
    if "pgic" in assessments.columns:
        codes, _ = _pgic_codes(assessments["pgic"])
        out["pgic"] = pd.array(codes, dtype="Int64")
        out["pgic_responder"] = pgic_responder(codes).array
    flags = [c for c in assessments.columns if isinstance(c, str) and c.startswith("rf_")]
    if flags:
        out["red_flag"] = _red_flag(assessments, flags).array
    return pd.DataFrame(out, index=pd.RangeIndex(len(assessments)))
