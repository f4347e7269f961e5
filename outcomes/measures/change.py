"""Change from baseline: baseline and endpoint selection and responders.

Reliable change (Jacobson & Truax 1991) lives in :mod:`outcomes.measures.reliable_change`
and is re-exported here.

The inputs are the scored assessments (`outcomes.measures.instruments.score_assessments`)
and the ``patients`` frame of `outcomes.load_dataset`. Time is measured from
enrolment: week = (date − enrolled_on) in days / 7. Every function is
vectorised, never changes its inputs, and returns frames with a fresh
``RangeIndex``, one row per patient sorted by ``patient_id`` (every patient in
``patients``, with or without data). Assessments of patients absent from
``patients`` are ignored: they cannot be placed in time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..config import DEFAULT_OPTIONS, Options, ResponderRule

from ._checks import _check_dates, _check_frame, _check_options, _number, _same_length, _values, _wrap
from .instruments import _checked_int
from .reliable_change import RC_CATEGORIES, classify_reliable_change, reliable_change, reliable_change_errors

__all__ = [
    "RC_CATEGORIES",
    "classify_reliable_change",
    "improvement",
    "is_responder",
    "responder_status",
    "outcome_changes",
    "percent_change",
    "reliable_change",
    "reliable_change_errors",
    "select_baseline",
    "value_at_week",
]

#: Slack for threshold comparisons, so that 30 % computed in floating point is 30 %.
_EPS = 1e-9
_DAY = pd.Timedelta(days=1)
_MAX_WINDOW_DAYS = 3660


# ------------------------------------------------------------------ checks


def _enrolment(patients: pd.DataFrame) -> pd.DataFrame:
    """patient_id and enrolled_on, one row per patient sorted by patient_id."""
    _check_frame(patients, "patients", ["patient_id", "enrolled_on"])
    _check_dates(patients, "enrolled_on", "patients")
    dup = patients["patient_id"].duplicated()
    if dup.any():
        raise ValueError(f"patients has patient_id {patients['patient_id'][dup].iloc[0]!r} more "
                         "than once; patient_id is the key of patients")
    return (patients[["patient_id", "enrolled_on"]].sort_values("patient_id", kind="stable")
            .reset_index(drop=True))


def _observations(scored: pd.DataFrame, enrolled: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Non-missing values of ``outcome`` of enrolled patients: ``_key`` (the patient's row in ``enrolled``),
    date, value, day (since enrolment)."""
    if not isinstance(outcome, str):
        raise TypeError(f"outcome must be a column name (str), got {outcome!r}")
    _check_frame(scored, "scored", ["patient_id", "assessed_on", outcome])
    _check_dates(scored, "assessed_on", "scored")
    value = scored[outcome]
    if pd.api.types.is_bool_dtype(value.dtype) or not pd.api.types.is_numeric_dtype(value.dtype):
        raise TypeError(f"scored[{outcome!r}] must be numeric, got dtype {value.dtype}")
    ids = scored["patient_id"]
    codes, uniques = (ids.cat.codes.to_numpy(), ids.cat.categories) if isinstance(ids.dtype, pd.CategoricalDtype) \
        else pd.factorize(ids)
    # integer keys: the patient's position in ``enrolled`` (sorted by patient_id, so ordering by key is
    # ordering by patient_id); rows of patients not enrolled are dropped after the duplicate check
    where = np.r_[pd.Index(enrolled["patient_id"]).get_indexer(uniques), -1]
    obs = pd.DataFrame({"_code": codes,
                        "date": scored["assessed_on"].to_numpy(),
                        "value": value.to_numpy(dtype="float64", na_value=np.nan)})
    obs = obs[obs["value"].notna().to_numpy() & obs["date"].notna().to_numpy()]
    dup = obs.duplicated(["_code", "date"])
    if dup.any():
        first = obs[dup].iloc[0]
        pid = uniques[first["_code"]] if first["_code"] >= 0 else None
        raise ValueError(f"scored has more than one {outcome} for patient {pid!r} on "
                         f"{first['date']:%Y-%m-%d}; the data contract allows one assessment per "
                         "patient and date")
    code = obs["_code"].to_numpy()
    key = where[np.where(code >= 0, code, len(where) - 1)]
    known = key >= 0
    obs = pd.DataFrame({"_key": key[known], "date": obs["date"].to_numpy()[known],
                        "value": obs["value"].to_numpy()[known]})
    obs["day"] = (obs["date"] - enrolled["enrolled_on"].to_numpy()[obs["_key"].to_numpy()]) / _DAY
    return obs


def _one_per_patient(enrolled: pd.DataFrame, picked: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Every patient (sorted by id) with the picked row's columns renamed by ``names``; NaN when none."""
    at = picked["_key"].to_numpy()
    out = {"patient_id": enrolled["patient_id"]}
    for col, name in names.items():
        out[name] = pd.Series(picked[col].to_numpy(), index=at).reindex(np.arange(len(enrolled))).to_numpy()
    return pd.DataFrame(out)


def _last(obs: pd.DataFrame) -> pd.DataFrame:
    return obs.sort_values(["_key", "date"]).drop_duplicates("_key", keep="last")


# --------------------------------------------------------------- selection


def select_baseline(scored: pd.DataFrame, patients: pd.DataFrame, *, outcome: str,
                    window_days: int = DEFAULT_OPTIONS.baseline_window_days) -> pd.DataFrame:
    """Each patient's baseline value of one outcome.

    Parameters
    ----------
    scored : DataFrame
        Scored assessments: ``patient_id``, ``assessed_on`` and ``outcome``.
    patients : DataFrame
        ``patient_id`` (unique) and ``enrolled_on``.
    outcome : str
        The column of ``scored`` to take the baseline of.
    window_days : int, default 7
        Latest accepted day after enrolment.

    Returns
    -------
    DataFrame
        ``patient_id``, ``baseline_date``, ``baseline`` (float64): one row
        per patient of ``patients``, sorted by ``patient_id``; NaT/NaN for a
        patient with no value of ``outcome`` on or before enrolment +
        ``window_days``.

    Raises
    ------
    TypeError, ValueError
        A frame lacks a needed column or has the wrong type, ``window_days``
        is not a non-negative integer, a patient appears twice in
        ``patients``, or twice on one date in ``scored``.

    Notes
    -----
    Baseline = the last non-missing assessment on or before enrolled_on +
    ``window_days``. There is no lower limit: an assessment
    before enrolment (e.g. at referral) is a baseline when nothing later
    falls in the window.
    """
    window_days = _checked_int(window_days, "window_days", 0, _MAX_WINDOW_DAYS)
    enrolled = _enrolment(patients)
    return _baseline(_observations(scored, enrolled, outcome), enrolled, window_days)


def _baseline(obs: pd.DataFrame, enrolled: pd.DataFrame, window_days: int) -> pd.DataFrame:
    picked = _last(obs[obs["day"] <= window_days])
    return _one_per_patient(enrolled, picked, {"date": "baseline_date", "value": "baseline"})


def value_at_week(scored: pd.DataFrame, patients: pd.DataFrame, *, outcome: str, week: float,
                  window_days: int = DEFAULT_OPTIONS.visit_window_days) -> pd.DataFrame:
    """Each patient's value of one outcome at a planned week.

    Parameters
    ----------
    scored, patients : DataFrame
        As in `select_baseline`.
    outcome : str
        The column of ``scored``.
    week : float
        Target week since enrolment (target day = enrolled_on + 7 × week).
    window_days : int, default 7
        Accepted distance from the target day, either side (inclusive).

    Returns
    -------
    DataFrame
        ``patient_id``, ``date``, ``week`` (the exact week of the chosen
        assessment, days since enrolment / 7) and ``value`` (float64): one
        row per patient, sorted by ``patient_id``; NaT/NaN when no
        non-missing value falls in the window.

    Raises
    ------
    TypeError, ValueError
        As in `select_baseline`, or ``week`` is not a finite number.

    Notes
    -----
    Planned visits take the nearest assessment within a window; of two equally
    near, the earlier is taken.
    """
    week = _number(week, "week")
    window_days = _checked_int(window_days, "window_days", 0, _MAX_WINDOW_DAYS)
    enrolled = _enrolment(patients)
    return _at_week(_observations(scored, enrolled, outcome), enrolled, week, window_days)


def _at_week(obs: pd.DataFrame, enrolled: pd.DataFrame, week: float, window_days: int) -> pd.DataFrame:
    distance = (obs["day"] - 7.0 * week).abs()
    near = obs[distance <= window_days].assign(distance=distance, week=obs["day"] / 7.0)
    picked = near.sort_values(["_key", "distance", "day"]).drop_duplicates("_key")
    return _one_per_patient(enrolled, picked, {"date": "date", "week": "week", "value": "value"})


# ------------------------------------------------------------------ change


def percent_change(baseline: Any, value: Any) -> pd.Series | np.ndarray:
    """Change as a percentage of baseline: 100 × (value − baseline) / baseline.

    Parameters
    ----------
    baseline, value : Series, array-like or number
        Of equal length.

    Returns
    -------
    Series or ndarray
        float64; NaN where either is missing or the baseline is 0 (no
        relative change from zero). A Series, on the first Series input's
        index, when either input is a Series.

    Notes
    -----
    Relative change underlies the 30 % minimal important change (Ostelo et
    al. 2008, Spine 33:90).
    """
    b, b_index = _values(baseline, "baseline")
    v, v_index = _values(value, "value")
    _same_length({"baseline": b, "value": v})
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(b == 0, np.nan, 100.0 * (v - b) / b)
    return _wrap(pct, b_index if b_index is not None else v_index, "pct_change")


def _kleene(condition: np.ndarray, missing: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(condition & ~missing, missing.copy())


def _check_rule(rule: Any) -> None:
    if not isinstance(rule, ResponderRule):
        raise TypeError(f"rule must be an outcomes.config.ResponderRule, got {type(rule).__name__}")
    for field in ("points", "percent"):
        threshold = getattr(rule, field)
        if threshold is not None and not _number(threshold, f"rule.{field}") > 0:
            raise ValueError(f"rule.{field} must be a positive amount of improvement (the direction "
                             f"comes from higher_is_worse), got {threshold!r}")
    if rule.endpoint_at_most is not None:
        _number(rule.endpoint_at_most, "rule.endpoint_at_most")
    if rule.combine not in ("all", "any"):
        raise ValueError(f"rule.combine must be 'all' or 'any', got {rule.combine!r}")
    if rule.points is None and rule.percent is None and rule.endpoint_at_most is None:
        raise ValueError("rule has neither points, percent nor endpoint_at_most: nothing to test")


def is_responder(change: Any, pct_change: Any, *, rule: ResponderRule, higher_is_worse: bool = True,
                 endpoint: Any = None) -> pd.Series:
    """Whether each change is a clinically important improvement.

    Parameters
    ----------
    change : Series or array-like
        Endpoint − baseline, in the instrument's units (may be None when the
        rule has no ``points``).
    pct_change : Series or array-like
        `percent_change` (may be None when the rule has no ``percent``).
    rule : ResponderRule
        ``points`` and ``percent`` are magnitudes of improvement; ``combine``
        'all' needs every given criterion, 'any' one of them;
        ``endpoint_at_most`` adds a state criterion.
    higher_is_worse : bool, default True
        Direction of the instrument: improvement is a fall when True.
    endpoint : Series or array-like, optional
        Endpoint values; required when ``rule.endpoint_at_most`` is set.

    Returns
    -------
    Series
        Nullable boolean named ``responder``, on the first Series input's
        index (else a RangeIndex). NA only when the missing inputs leave the
        answer open.

    Raises
    ------
    TypeError
        ``rule`` is not a ResponderRule, ``higher_is_worse`` not a bool, or
        an input not numeric.
    ValueError
        The rule tests nothing, a threshold is not positive, ``combine`` is
        unknown, a needed input is None, or inputs differ in length.

    Notes
    -----
    With higher_is_worse, the criteria are change ≤ −points and pct_change
    ≤ −percent (≥ +points, ≥ +percent otherwise), within 1e-9 so that a
    computed 30 % counts. They are combined by ``rule.combine``. The state
    criterion endpoint ≤ ``endpoint_at_most`` (in either direction of the
    scale) must *also* hold (AND) when change criteria are given, and is the
    whole rule when they are not (e.g. pain 0 or 1: pain-free or nearly,
    Ashar et al. 2022, JAMA Psychiatry 79:13). Missing values follow
    three-valued (Kleene) logic: with 'all', a failed known criterion gives
    False even if another is missing. Defaults per instrument (Farrar 2001; Ostelo 2008):
    NRS 2 points and 30 % (Farrar et al. 2001, Pain 94:149); ODI 10 points
    or 30 %, RMDQ 5 points or 30 % (Ostelo et al. 2008, Spine 33:90). So
    10 → 8 and 1 → 0 are not NRS responses; 7 → 4 is.
    """
    _check_rule(rule)
    if not isinstance(higher_is_worse, (bool, np.bool_)):
        raise TypeError(f"higher_is_worse must be True or False, got {higher_is_worse!r}")
    sign = -1.0 if higher_is_worse else 1.0
    inputs = (("change", change, "points"), ("pct_change", pct_change, "percent"),
              ("endpoint", endpoint, "endpoint_at_most"))
    arrays: dict[str, np.ndarray] = {}
    index = None
    for name, data, field in inputs:
        threshold = getattr(rule, field)
        if threshold is None:
            continue
        if data is None:
            raise ValueError(f"{name} is None but rule.{field} = {threshold!r} needs it")
        arrays[name], idx = _values(data, name)
        index = idx if index is None else index
    _same_length(arrays)
    with np.errstate(invalid="ignore"):
        criteria = [_kleene(sign * arrays[name] >= getattr(rule, field) - _EPS, np.isnan(arrays[name]))
                    for name, _, field in inputs[:2] if name in arrays]
        state = (_kleene(arrays["endpoint"] <= rule.endpoint_at_most + _EPS, np.isnan(arrays["endpoint"]))
                 if "endpoint" in arrays else None)
    result = state
    if criteria:
        result = criteria[0]
        for c in criteria[1:]:
            result = (result & c) if rule.combine == "all" else (result | c)
        if state is not None:
            result = result & state
    if index is None:
        index = pd.RangeIndex(len(result))
    return pd.Series(result, index=index, name="responder")


def improvement(change: Any, *, higher_is_better: bool) -> pd.Series | np.ndarray:
    """Change in the outcome's better direction: ``change`` when higher is better, ``-change`` otherwise.

    Works for points and for percent changes alike (a fall of 30 % is an improvement of 30 %
    on a scale where lower is better).
    """
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise TypeError(f"higher_is_better must be True or False, got {higher_is_better!r}")
    x, index = _values(change, "change")
    return _wrap(x if higher_is_better else -x, index, "improvement")


def responder_status(baseline: Any, endpoint: Any, *, higher_is_better: bool,
                     improved_by_at_least: float | None = None, improved_pct_at_least: float | None = None,
                     change_at_most: float | None = None, pct_change_at_most: float | None = None,
                     endpoint_at_most: float | None = None, endpoint_at_least: float | None = None,
                     combine: str = "all") -> pd.Series:
    """Responder status from a plan's rules, following the outcome's direction.

    Parameters
    ----------
    baseline, endpoint : Series or array-like
        Of equal length; missing is NaN.
    higher_is_better : bool
        The outcome's direction (:class:`~outcomes.measures.instruments.OutcomeSpec`).
    improved_by_at_least : float, optional
        Improvement (in the better direction) of at least this many points.
    improved_pct_at_least : float, optional
        Improvement of at least this percent of baseline (NaN when baseline is 0).
    change_at_most, pct_change_at_most : float, optional
        Raw upper bounds on endpoint − baseline and on the percent change (direction-free).
    endpoint_at_most, endpoint_at_least : float, optional
        State rules at the endpoint (e.g. pain ≤ 1: pain-free or nearly; Ashar et al. 2022).
    combine : {"all", "any"}
        How the change rules combine; state rules must always hold as well.

    Returns
    -------
    Series
        Nullable boolean named ``responder``: NA only when missing values leave it open
        (three-valued logic, as `is_responder`).

    Raises
    ------
    ValueError
        No rule given, ``combine`` unknown, or inputs of different length.
    """
    if combine not in ("all", "any"):
        raise ValueError(f"combine must be 'all' or 'any', got {combine!r}")
    b, b_index = _values(baseline, "baseline")
    e, _ = _values(endpoint, "endpoint")
    _same_length({"baseline": b, "endpoint": e})
    change = e - b
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(b == 0, np.nan, 100.0 * change / b)
    sign = 1.0 if higher_is_better else -1.0
    change_rules = []
    state_rules = []
    with np.errstate(invalid="ignore"):
        for threshold, x, test in ((improved_by_at_least, sign * change, "ge"), (improved_pct_at_least, sign * pct, "ge"),
                                   (change_at_most, change, "le"), (pct_change_at_most, pct, "le")):
            if threshold is not None:
                hit = x >= threshold - _EPS if test == "ge" else x <= threshold + _EPS
                change_rules.append(_kleene(hit, np.isnan(x)))
        if endpoint_at_most is not None:
            state_rules.append(_kleene(e <= endpoint_at_most + _EPS, np.isnan(e)))
        if endpoint_at_least is not None:
            state_rules.append(_kleene(e >= endpoint_at_least - _EPS, np.isnan(e)))
    if not change_rules and not state_rules:
        raise ValueError("responder_status needs at least one rule")
    result = None
    for c in change_rules:
        result = c if result is None else ((result & c) if combine == "all" else (result | c))
    for st in state_rules:
        result = st if result is None else result & st
    return pd.Series(result, index=b_index if b_index is not None else pd.RangeIndex(len(b)), name="responder")


# ------------------------------------------------------------------- tidy


_COLUMNS = ("patient_id", "outcome", "baseline_date", "baseline", "endpoint_date", "endpoint_week",
            "endpoint", "change", "pct_change", "responder", "rc", "rc_class", "latest_date", "latest")


def _check_outcomes(outcomes: Any, options: Options) -> list[str]:
    if isinstance(outcomes, str) or not isinstance(outcomes, Sequence):
        raise TypeError(f"outcomes must be a sequence of outcome names, e.g. ('leg_pain',), got {outcomes!r}")
    unknown = [o for o in outcomes if o not in options.instruments]
    if unknown:
        raise ValueError(f"outcomes {unknown!r} are not instruments of options.instruments "
                         f"({', '.join(options.instruments)}); a responder rule and reliability are needed")
    if len(set(outcomes)) < len(outcomes):
        raise ValueError(f"outcomes lists an outcome more than once: {list(outcomes)!r}")
    return list(outcomes)


def _one_outcome(scored: pd.DataFrame, enrolled: pd.DataFrame, outcome: str, week: float,
                 options: Options, sd: float | None) -> pd.DataFrame:
    spec = options.instruments[outcome]
    obs = _observations(scored, enrolled, outcome)
    frame = _baseline(obs, enrolled, options.baseline_window_days)
    end = _at_week(obs, enrolled, week, options.visit_window_days)
    latest = _one_per_patient(enrolled, _last(obs), {"date": "latest_date", "value": "latest"})
    frame = frame.assign(outcome=outcome, endpoint_date=end["date"], endpoint_week=end["week"],
                         endpoint=end["value"], latest_date=latest["latest_date"], latest=latest["latest"])
    frame["change"] = frame["endpoint"] - frame["baseline"]
    frame["pct_change"] = percent_change(frame["baseline"], frame["endpoint"])
    rule = spec.responder
    if rule.points is None and rule.percent is None and rule.endpoint_at_most is None:
        # a declared outcome without an mcid has no responder rule: status unknown, never guessed
        frame["responder"] = pd.array([pd.NA] * len(frame), dtype="boolean")
    else:
        frame["responder"] = is_responder(frame["change"], frame["pct_change"], rule=rule,
                                          higher_is_worse=spec.higher_is_worse, endpoint=frame["endpoint"])
    if sd is None:
        sd = float(frame["baseline"].std(ddof=1))
    usable = math.isfinite(sd) and sd > 0 and math.isfinite(spec.reliability)
    frame["rc"] = (reliable_change(frame["baseline"], frame["endpoint"], sd=sd, reliability=spec.reliability)
                   if usable else np.nan)
    frame["rc_class"] = classify_reliable_change(frame["rc"], higher_is_worse=spec.higher_is_worse)
    return frame[list(_COLUMNS)]


def outcome_changes(scored: pd.DataFrame, patients: pd.DataFrame, *,
                    outcomes: Sequence[str] = tuple(DEFAULT_OPTIONS.instruments),
                    week: float | None = None, options: Options = DEFAULT_OPTIONS,
                    sd: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Baseline, endpoint, change, responder status and reliable change, tidy.

    Parameters
    ----------
    scored : DataFrame
        `score_assessments` output (``patient_id``, ``assessed_on`` and the
        outcome columns).
    patients : DataFrame
        ``patient_id`` (unique) and ``enrolled_on``.
    outcomes : sequence of str, default ('leg_pain', 'back_pain', 'odi', 'rmdq')
        Instruments of ``options.instruments``. An outcome whose column is
        absent from ``scored`` is skipped (not an error): an export without
        RMDQ gives no RMDQ rows.
    week : float, optional
        Endpoint week; default ``options.endpoint_week``.
    options : Options, default DEFAULT_OPTIONS
        Windows (``baseline_window_days``, ``visit_window_days``) and, per
        instrument, direction, responder rule and reliability.
    sd : mapping of str to float, optional
        Baseline SD per outcome for the reliable change index. Default: the
        sample SD (ddof 1) of the baselines in these data for that outcome
        (all patients pooled); where it cannot be estimated (fewer than two
        baselines, or all equal) ``rc`` is NaN.

    Returns
    -------
    DataFrame
        One row per patient × outcome (every patient, with or without data),
        by outcome in the order given, then by ``patient_id``; fresh
        ``RangeIndex``. Columns: ``patient_id``, ``outcome``,
        ``baseline_date``, ``baseline`` (`select_baseline`),
        ``endpoint_date``, ``endpoint_week``, ``endpoint`` (`value_at_week`),
        ``change`` (endpoint − baseline), ``pct_change`` (`percent_change`),
        ``responder`` (nullable boolean, `is_responder`; NA when baseline or
        endpoint is missing), ``rc`` (`reliable_change`), ``rc_class``
        (`classify_reliable_change`), ``latest_date``, ``latest`` (the
        patient's last non-missing value, at any date).

    Raises
    ------
    TypeError, ValueError
        Bad frames (see `select_baseline`), an outcome not in
        ``options.instruments``, listed twice, an ``sd`` key not among
        ``outcomes`` or a non-positive ``sd`` value.

    Notes
    -----
    Baseline and visit windows: :class:`outcomes.config.Options`. Responder rules: Farrar et
    al. 2001 (NRS), Ostelo et al. 2008 (ODI, RMDQ), from
    ``options.instruments``. Reliable change: Jacobson & Truax 1991 with the
    instrument's ``reliability`` (its source is ``reliability_source``).
    Responder status is per assessed patient here; rates with both
    denominators (all patients, missing = non-responder; and complete
    cases) are computed from this table by the caller. When the baseline
    and endpoint windows overlap (an early ``week``) one assessment can be
    both, giving change 0.
    """
    _check_options(options)
    names = _check_outcomes(outcomes, options)
    week = float(options.endpoint_week) if week is None else _number(week, "week")
    sd = {} if sd is None else sd
    if not isinstance(sd, Mapping):
        raise TypeError(f"sd must be a mapping of outcome to SD, e.g. {{'leg_pain': 2.0}}, got {sd!r}")
    stray = [k for k in sd if k not in names]
    if stray:
        raise ValueError(f"sd has outcomes {stray!r} that are not among outcomes {names!r}")
    _check_frame(scored, "scored", ["patient_id", "assessed_on"])
    enrolled = _enrolment(patients)
    parts = []
    for name in names:
        if name not in scored.columns:
            continue
        given = sd.get(name)
        if given is not None and math.isfinite(options.instruments[name].reliability):
            reliable_change_errors(sd=given, reliability=options.instruments[name].reliability)
        parts.append(_one_outcome(scored, enrolled, name, week, options, given))
    if not parts:
        return _empty_changes(enrolled)
    return pd.concat(parts, ignore_index=True)


def _empty_changes(enrolled: pd.DataFrame) -> pd.DataFrame:
    """The `outcome_changes` table with no rows, with its dtypes."""
    dtypes = {"patient_id": enrolled["patient_id"].dtype, "outcome": "str",
              "baseline_date": "datetime64[us]", "endpoint_date": "datetime64[us]",
              "latest_date": "datetime64[us]", "responder": "boolean",
              "rc_class": pd.CategoricalDtype(list(RC_CATEGORIES))}
    return pd.DataFrame({c: pd.Series([], dtype=dtypes.get(c, "float64")) for c in _COLUMNS})
