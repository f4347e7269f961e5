"""Shared pieces of the schedule comparison: argument checks, arms, outcome frames, ratio tables."""

from __future__ import annotations

import contextlib
import contextvars
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    HessianInversionWarning,
    IterationLimitWarning,
    PerfectSeparationWarning,
)

from ...cohort import Cohort
from ...measures.change import select_baseline, value_at_week
from ..results import coefficient_table
from .arms import Reference, definition_text, reference_remark, resolve_reference, responder_status

#: Fewest patients an arm needs in the fitted data to be compared (one patient cannot
#: separate an arm effect from that patient's own deviation).
MIN_PER_ARM = 2


# ------------------------------------------------------------------ checks


def in_sentence(label: str) -> str:
    """An outcome label inside a sentence: it keeps its case, except that a label in plain words (no
    capital after the first letter) starts in lower case.

    ``Leg pain`` → ``leg pain``; ``Average back pain (BPI)``, ``Oswestry Disability Index`` and
    ``BDI`` are kept as they are (an acronym or a name is never lowered).
    """
    text = str(label)
    if len(text) > 1 and text[:1].isupper() and not any(c.isupper() for c in text[1:]):
        return text[:1].lower() + text[1:]
    return text


def _week_label(week: float) -> int | float:
    return int(week) if float(week).is_integer() else float(week)


def _remarked(frame: pd.DataFrame, remarks: list[str]) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    frame.attrs["remarks"] = list(dict.fromkeys(remarks))
    return frame


def _check_cohort(cohort: Any) -> Cohort:
    if not isinstance(cohort, Cohort):
        raise TypeError(f"cohort must be an outcomes.Cohort, got {type(cohort).__name__}")
    return cohort


def _check_outcome(cohort: Cohort, outcome: Any, *, needs_rule: bool) -> str:
    """A numeric assessment column (and, with ``needs_rule``, an instrument with a responder rule)."""
    a = cohort.assessments
    numeric = [c for c in a.columns if c not in ("day", "week", "week_index")
               and pd.api.types.is_numeric_dtype(a[c].dtype) and not pd.api.types.is_bool_dtype(a[c].dtype)]
    if needs_rule:
        allowed = [o for o in cohort.options.instruments if o in a.columns]
        if outcome not in allowed:
            raise ValueError(f"outcome must be an instrument with a responder rule in cohort.options.instruments "
                             f"and the assessments ({', '.join(allowed) or 'none'}), got {outcome!r}")
    elif not isinstance(outcome, str) or outcome not in numeric:
        raise ValueError(f"outcome must be a numeric assessment column ({', '.join(numeric)}), got {outcome!r}")
    if not a[outcome].notna().any():
        raise ValueError(f"outcome {outcome!r} has no recorded value in the assessments")
    return outcome


def _check_number(value: Any, parameter: str, *, low: float, high: float = math.inf,
                  integer: bool = False, allow_inf: bool = False) -> float:
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
          and (math.isfinite(value) or (allow_inf and value == math.inf)) and low <= value <= high
          and (not integer or float(value).is_integer()))
    if not ok:
        kind = "an integer" if integer else "a number"
        span = f"at least {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise ValueError(f"{parameter} must be {kind} {span}, got {value!r}")
    return float(value)


def _check_endpoint_week(endpoint_week: Any) -> float:
    week = _check_number(endpoint_week, "endpoint_week", low=0)
    if week <= 0:
        raise ValueError(f"endpoint_week must be after baseline (a positive number of weeks), got {endpoint_week!r}")
    return week


def _check_covariates(cohort: Cohort, covariates: Any) -> tuple[str, ...]:
    s = cohort.patient_summary
    reserved = {"patient_id", "schedule", "baseline", "endpoint"}
    if isinstance(covariates, str) or not isinstance(covariates, Sequence):
        # a ValueError like every other bad option, so that `compare` can report a bad analysis plan
        raise ValueError(  # noqa: TRY004
            f"covariates must be a sequence of patient_summary columns, e.g. ('age_years',), got {covariates!r}")
    bad = [c for c in covariates if not isinstance(c, str) or c not in s.columns or c in reserved
           or not c.isidentifier()]
    if bad:
        raise ValueError(f"covariates must be columns of cohort.patient_summary other than patient_id, schedule, "
                         f"baseline and endpoint; {', '.join(map(repr, bad))} in covariates={covariates!r} is not")
    if len(set(covariates)) < len(covariates):
        raise ValueError(f"covariates lists a column more than once: {list(covariates)!r}")
    return tuple(covariates)


def _schedules(cohort: Cohort) -> list[str]:
    """The cohort's schedules, sorted."""
    return sorted(str(s) for s in cohort.patients["schedule"].dropna().unique())


def _check_reference(cohort: Cohort, reference: Any) -> str:
    """The reference arm's name (:func:`.arms.resolve_reference`)."""
    return resolve_reference(cohort, reference).name


def _reference_remark(reference: str, given: bool) -> str:
    """:func:`.arms.reference_remark` for a name and whether it was given."""
    return reference_remark(Reference(reference, given))


# -------------------------------------------------------------------- arms


def _arms(data: pd.DataFrame, reference: str, *, what: str) -> tuple[pd.DataFrame, list[str]]:
    """``data`` with ``schedule`` as a categorical (reference first) and arms too small left out.

    An arm with fewer than :data:`MIN_PER_ARM` patients in ``data`` is dropped with a remark;
    a ValueError (a message ``compare`` can show as a remark) when the reference arm is too
    small or fewer than two arms remain. ``what`` names the patients counted, e.g.
    "patients with a baseline and a week-6 leg_pain".
    """
    data = data[data["schedule"].notna()]
    schedule = data["schedule"]
    # a categorical (from the cohort) also counts the arms left with no patient
    counts = (schedule.value_counts() if isinstance(schedule.dtype, pd.CategoricalDtype)
              else schedule.astype(str).value_counts())
    counts.index = counts.index.astype(str)
    if counts.get(reference, 0) < MIN_PER_ARM:
        raise ValueError(f"the reference schedule {reference!r} has {counts.get(reference, 0)} {what} "
                         f"(at least {MIN_PER_ARM} are needed): nothing to compare against")
    small = sorted(s for s, n in counts.items() if n < MIN_PER_ARM)
    keep = [reference] + sorted(s for s in counts.index if s != reference and s not in small)
    if len(keep) < 2:
        raise ValueError(f"only the reference schedule {reference!r} has at least {MIN_PER_ARM} {what}; "
                         "no schedule to compare with it")
    remarks = [f"Schedule {s!r} has {counts[s]} {what}: too few to estimate its effect, so it is left out."
               for s in small]
    out = data[data["schedule"].astype(str).isin(keep)].copy()
    out["schedule"] = pd.Categorical(out["schedule"].astype(str), categories=keep)
    # Text covariates (sex, site) as categoricals of the levels present, sorted: the design patsy builds
    # is the same as from text (it sorts the values it sees), but it reads a categorical's codes instead
    # of testing every value for missingness in Python (~145,000 calls per comparison at 20,000 patients).
    for col in out.columns:
        if col not in ("patient_id", "schedule") and (pd.api.types.is_string_dtype(out[col])
                                                       and not isinstance(out[col].dtype, pd.CategoricalDtype)):
            levels = sorted(out[col].dropna().unique())
            out[col] = pd.Categorical(out[col], categories=levels)
    return out.reset_index(drop=True), remarks


def _check_events(data: pd.DataFrame, column: str, *, what: str, advice: str, both_ends: bool) -> None:
    """ValueError when an arm has no event in ``column`` (or, with ``both_ends``, only events):
    its ratio to the reference would be 0 or infinite."""
    g = data.groupby("schedule", observed=True)[column].agg(["sum", "size"])
    for arm, row in g.iterrows():
        none, every = row["sum"] == 0, both_ends and row["sum"] == row["size"]
        if none or every:
            raise ValueError(f"{'none' if none else 'all'} of the {int(row['size'])} patients on schedule {arm!r} "
                             f"had {what}: the ratio to the reference is not estimable (0 or infinite); {advice}")


def _per_arm(data: pd.DataFrame, column: str | None = None) -> str:
    """'guided 12, weekly 9' from a frame with ``schedule`` (rows where ``column`` is true, else all)."""
    sel = data if column is None else data[data[column].astype(bool)]
    counts = sel["schedule"].astype(str).value_counts()
    return ", ".join(f"{s} {counts.get(s, 0)}" for s in sorted(data["schedule"].dropna().astype(str).unique()))


# ------------------------------------------------------------ outcome data


def _patients(cohort: Cohort) -> pd.DataFrame:
    """patient_id and schedule (categorical over every schedule of the cohort, sorted)."""
    out = cohort.patients[["patient_id", "schedule"]].copy()
    out["schedule"] = pd.Categorical(out["schedule"].map(str, na_action="ignore"), categories=_schedules(cohort))
    return out


#: Frames already computed while :func:`reuse_outcome_frames` is active (None: no reuse).
_FRAMES: contextvars.ContextVar[dict[tuple, tuple[Cohort, pd.DataFrame]] | None] = contextvars.ContextVar(
    "outcomes_comparison_frames", default=None)


@contextlib.contextmanager
def reuse_outcome_frames() -> Iterator[None]:
    """Inside the block, each patient's baseline and value at a week (and each assessment's planned
    visit, :func:`outcomes.models.trial.assign_visits`) are computed once per cohort, outcome, week and
    window, and reused (copies) by every analysis that asks again.

    ``compare_schedules`` runs a dozen analyses on one cohort that each selected the same baseline
    and endpoint again (8 selections, 1.5 s at 20,000 patients). Outside the block nothing is kept,
    so a cohort changed between two calls is never answered from an old selection.
    """
    token = _FRAMES.set({})
    try:
        yield
    finally:
        _FRAMES.reset(token)


def _reused(cohort: Cohort, key: tuple, make: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    frames = _FRAMES.get()
    if frames is None:
        return make()
    key = (id(cohort), *key)
    hit = frames.get(key)
    if hit is None or hit[0] is not cohort:
        hit = frames[key] = (cohort, make())
    return hit[1].copy()


def _baseline_of(cohort: Cohort, outcome: str) -> pd.DataFrame:
    """:func:`~outcomes.measures.change.select_baseline` of ``outcome`` for every patient of ``cohort``."""
    window = cohort.options.baseline_window_days
    return _reused(cohort, ("baseline", outcome, window), lambda: select_baseline(
        cohort.assessments, cohort.patients, outcome=outcome, window_days=window))


def _baseline_endpoint(cohort: Cohort, outcome: str, week: float, window_days: int) -> pd.DataFrame:
    """patient_id, schedule, baseline, endpoint: every patient (NaN where missing)."""
    def make() -> pd.DataFrame:
        base = _baseline_of(cohort, outcome)
        end = value_at_week(cohort.assessments, cohort.patients, outcome=outcome, week=week,
                            window_days=window_days)
        frame = _patients(cohort).merge(base[["patient_id", "baseline"]], on="patient_id")
        return frame.merge(end[["patient_id", "value"]].rename(columns={"value": "endpoint"}), on="patient_id")

    return _reused(cohort, ("endpoint", outcome, float(week), window_days), make)


def _responders(cohort: Cohort, definition: Any, week: float, window_days: int | None = None) -> pd.DataFrame:
    """patient_id, schedule, baseline, endpoint, responder (nullable) at ``week`` for every patient,
    by ``definition`` (:func:`.arms.responder_status`)."""
    window = cohort.options.visit_window_days if window_days is None else window_days
    frame = _baseline_endpoint(cohort, definition.outcome, week, window)
    frame["responder"] = responder_status(cohort, definition, frame["baseline"], frame["endpoint"]).to_numpy()
    return frame


def _rule_text(cohort: Cohort, definition: Any) -> str:
    """The definition in words (:func:`.arms.definition_text`)."""
    return definition_text(cohort, definition)


def _with_covariates(cohort: Cohort, frame: pd.DataFrame, covariates: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """``frame`` with the covariates of ``cohort.patient_summary`` merged in, rows missing one dropped:
    (frame, number dropped)."""
    if not covariates:
        return frame, 0
    out = frame.merge(cohort.patient_summary[["patient_id", *covariates]], on="patient_id", how="left")
    missing = out[list(covariates)].isna().any(axis=1)
    return out[~missing].reset_index(drop=True), int(missing.sum())


def _terms(formula_start: str, covariates: Sequence[str]) -> str:
    return formula_start + "".join(f" + {c}" for c in covariates)


# ---------------------------------------------------------------- fitting

#: Warnings that mean the estimates cannot be trusted as they stand.
_TROUBLE = (ConvergenceWarning, HessianInversionWarning, IterationLimitWarning, PerfectSeparationWarning)


def _fit_noting(fit: Callable[[], Any]) -> tuple[Any, list[str], bool]:
    """Run ``fit()``, turning its warnings into remarks: (result, remarks, trouble).

    ``trouble`` is True when a convergence, separation or Hessian warning was raised; the
    caller reports ``converged=False``. Warnings are not re-emitted: the remarks carry them.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(all="ignore"):
            result = fit()
    seen = dict.fromkeys(f"{w.category.__name__}: {str(w.message).strip()}" for w in caught)
    trouble = any(issubclass(w.category, _TROUBLE) for w in caught)
    remarks = [f"The fit warned ({m}); the estimates may be unreliable." for m in seen]
    return result, remarks, trouble


# ---------------------------------------------------------------- tables


def _ratio_table(params: pd.Series, bse: pd.Series, conf_int: Any, pvalues: pd.Series) -> pd.DataFrame:
    """A coefficient table on the ratio scale: exp of estimates and CI bounds; std_error and
    p_value stay those of the log ratio (the scale the Wald test and interval are built on)."""
    table = coefficient_table(params, bse, conf_int, pvalues)
    with np.errstate(over="ignore"):  # a diverged fit gives inf, said in its remarks
        for col in ("estimate", "ci_lower", "ci_upper"):
            table[col] = np.exp(table[col])
    return table
