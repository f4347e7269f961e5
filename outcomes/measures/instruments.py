"""Scoring the outcome instruments: ODI, RMDQ, PGIC and the scored assessment frame.

Every function is vectorised, returns new objects and never changes its input.
Row-wise functions (`odi_score`, `rmdq_score`, `pgic_responder`) return a
Series on the caller's index, so the result can be put beside the input;
`score_assessments` returns a new frame with a fresh ``RangeIndex``.
Scales and rules come from the published sources cited below and `outcomes.config`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd

from ..config import DEFAULT_INSTRUMENTS, DEFAULT_OPTIONS, InstrumentSpec, Options, ResponderRule
from ._checks import _check_dates, _check_frame, _check_options

__all__ = [
    "BUILTIN_OUTCOMES",
    "ODI_ITEMS",
    "OutcomeRegistry",
    "OutcomeSpec",
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
    definition (Hurst & Bolton 2004).
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


# ---------------------------------------------------------- outcome registry


@dataclass(frozen=True)
class OutcomeSpec:
    """One outcome's vocabulary: what it is called, its scale and which way is better.

    Parameters
    ----------
    name : str
        The column in the assessments (a model term).
    label : str
        What reports call it (titles, tables), never the code.
    unit : str
        The unit shown beside values.
    low, high : float or None
        The scale's range (values outside are quarantined on load); None = open.
    higher_is_better : bool
        Direction: responders, worsening flags and "better"/"worse" follow it.
    integer : bool
        Whole numbers only.
    mcid : float or None
        Minimal important change in the outcome's units (default responder rule and
        report bands); None when unknown.
    builtin : bool
        One of the outcomes of the data contract (``data/schemas``).
    """

    name: str
    label: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    higher_is_better: bool = False
    integer: bool = False
    mcid: float | None = None
    builtin: bool = False

    @property
    def range_text(self) -> str:
        """``0–10``, ``at least 0`` or ``any value``."""
        if self.low is not None and self.high is not None:
            return f"{_fmt(self.low)}–{_fmt(self.high)}"
        if self.low is not None:
            return f"at least {_fmt(self.low)}"
        if self.high is not None:
            return f"at most {_fmt(self.high)}"
        return "any value"

    @property
    def direction_text(self) -> str:
        """``higher is better`` or ``lower is better``."""
        return "higher is better" if self.higher_is_better else "lower is better"

    def instrument(self, base: InstrumentSpec | None = None) -> InstrumentSpec:
        """The :class:`~outcomes.config.InstrumentSpec` the measures use for this outcome.

        A built-in instrument (``base``) keeps its responder rule and reliability, with
        ``mcid`` (when it differs) as the rule's points; a declared outcome gets the rule
        "improved by at least ``mcid``" (no rule without an mcid: responders are then not
        classified) and no reliability (NaN: no reliable change index).
        """
        if base is not None:
            rule = base.responder
            if self.mcid is not None and self.mcid != rule.points:
                rule = replace(rule, points=self.mcid)
            return replace(base, label=self.label, unit=self.unit or base.unit, responder=rule)
        return InstrumentSpec(
            name=self.name, column=self.name, label=self.label, unit=self.unit,
            low=-math.inf if self.low is None else self.low, high=math.inf if self.high is None else self.high,
            higher_is_worse=not self.higher_is_better,
            responder=ResponderRule(points=self.mcid) if self.mcid is not None else ResponderRule(),
            reliability=math.nan, reliability_source="not known for a declared outcome",
            responder_source=("improved by at least the declared mcid" if self.mcid is not None
                              else "no responder rule: the outcome declares no mcid"))


def _builtin_specs() -> tuple[OutcomeSpec, ...]:
    def from_instrument(name: str) -> OutcomeSpec:
        spec = DEFAULT_INSTRUMENTS[name]
        return OutcomeSpec(name=name, label=spec.label, unit=spec.unit, low=spec.low, high=spec.high,
                           higher_is_better=not spec.higher_is_worse, integer=name != "odi",
                           mcid=spec.responder.points, builtin=True)

    return (
        from_instrument("leg_pain"),
        from_instrument("back_pain"),
        OutcomeSpec("numbness", "Numbness", "NRS 0-10", 0, 10, False, True, None, True),
        from_instrument("odi"),
        from_instrument("rmdq"),
        OutcomeSpec("pgic", "Patient Global Impression of Change", "1-7 (1 = very much improved)", 1, 7,
                    False, True, None, True),
        OutcomeSpec("slr_deg", "Straight-leg raise", "degrees", 0, 120, True, False, None, True),
    )


@dataclass(frozen=True)
class OutcomeRegistry:
    """The outcomes a dataset can hold, in order: the one vocabulary of outcome names.

    Built-in outcomes come first (:data:`BUILTIN_OUTCOMES`), then those a dataset
    description declares (``[outcomes.NAME]`` in ``dataset.toml``). Downstream code
    reads an outcome's label and direction here, never from a list of its own.

    Examples
    --------
    >>> reg = BUILTIN_OUTCOMES
    >>> reg.label("odi"), reg.higher_is_better("slr_deg")
    ('Oswestry Disability Index', True)
    """

    specs: tuple[OutcomeSpec, ...] = ()

    def __contains__(self, name: object) -> bool:
        return any(s.name == name for s in self.specs)

    def __getitem__(self, name: str) -> OutcomeSpec:
        for s in self.specs:
            if s.name == name:
                return s
        raise KeyError(f"{name!r} is not an outcome; known outcomes: {', '.join(self.names)}")

    def __iter__(self) -> Iterator[OutcomeSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    @property
    def declared(self) -> tuple[str, ...]:
        """Names of the outcomes that are not built in."""
        return tuple(s.name for s in self.specs if not s.builtin)

    def get(self, name: str) -> OutcomeSpec | None:
        return next((s for s in self.specs if s.name == name), None)

    def label(self, name: str) -> str:
        """The outcome's label (the name itself for a column that is not a known outcome)."""
        spec = self.get(name)
        return spec.label if spec is not None else name

    def higher_is_better(self, name: str) -> bool:
        """The outcome's direction; KeyError for an unknown outcome (never a guess)."""
        return self[name].higher_is_better

    def present(self, columns: Iterable[str]) -> tuple[str, ...]:
        """Names of the outcomes among ``columns``, in registry order."""
        have = set(columns)
        return tuple(n for n in self.names if n in have)

    def declare(self, declared: Iterable[Any]) -> "OutcomeRegistry":
        """A registry with ``declared`` (``DeclaredOutcome`` of a description) added or, for a
        built-in, its label, unit and mcid updated."""
        specs = {s.name: s for s in self.specs}
        for d in declared:
            old = specs.get(d.name)
            if old is not None and old.builtin:
                specs[d.name] = replace(old, label=d.label or old.label, unit=d.unit or old.unit,
                                        mcid=old.mcid if d.mcid is None else float(d.mcid))
                continue
            specs[d.name] = OutcomeSpec(
                name=d.name, label=d.label or d.name, unit=d.unit or "",
                low=None if d.min is None else float(d.min), high=None if d.max is None else float(d.max),
                higher_is_better=bool(d.higher_is_better), integer=bool(d.integer),
                mcid=None if d.mcid is None else float(d.mcid), builtin=False)
        return OutcomeRegistry(tuple(specs.values()))

    def instruments(self, base: dict[str, InstrumentSpec] | None = None) -> dict[str, InstrumentSpec]:
        """``base`` (default the configured instruments) with every declared outcome added and every
        built-in's label, unit and mcid from this registry."""
        base = dict(DEFAULT_INSTRUMENTS if base is None else base)
        out = {}
        for name, inst in base.items():
            spec = self.get(name)
            out[name] = inst if spec is None else spec.instrument(inst)
        for spec in self.specs:
            if not spec.builtin and spec.name not in out:
                out[spec.name] = spec.instrument()
        return out


#: The outcomes of the data contract (``data/schemas``) with their scales and directions:
#: NRS 0-10 (Farrar et al. 2001), ODI 0-100 (Fairbank & Pynsent 2000), RMDQ 0-24
#: (Roland & Fairbank 2000), PGIC 1-7 (Hurst & Bolton 2004), straight-leg raise in degrees.
BUILTIN_OUTCOMES = OutcomeRegistry(_builtin_specs())
