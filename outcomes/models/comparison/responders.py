"""Responder rates per arm with both denominators, and RD and OR against the reference arm.

The one responder table of ``outcomes compare`` (the plan's definitions); who is a responder
comes from :func:`outcomes.models.comparison.arms.responder_status`, as in the responder odds
ratio and the time to first response.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from statsmodels.stats.proportion import confint_proportions_2indep

from ...cohort import Cohort
from ...plan.spec import RULE_FIELDS
from .._intervals import wilson as _wilson
from ._common import (
    _remarked,
    _week_label,
    _check_cohort,
    _check_endpoint_week,
    _check_number,
    _check_outcome,
    _check_reference,
    _reference_remark,
    _responders,
    _schedules,
)
from .arms import definition_text

__all__ = ["RESPONDER_COLUMNS", "responder_table"]

RESPONDER_COLUMNS = [
    "table", "responder", "outcome", "schedule", "reference", "missing", "primary_denominator",
    "n_randomised", "n_assessed", "n_responders", "rate_itt", "rate_complete",
    "ci_lower", "ci_upper", "itt_ci_lower", "itt_ci_upper",
    "rd_itt", "rd_itt_ci_lower", "rd_itt_ci_upper", "or_itt", "or_itt_ci_lower", "or_itt_ci_upper",
    "rd_complete", "rd_complete_ci_lower", "rd_complete_ci_upper",
    "or_complete", "or_complete_ci_lower", "or_complete_ci_upper",
]
_MISSING = ("nonresponder", "exclude")


def _definition(d: Any, cohort: Cohort) -> Any:
    """``d`` checked: a name, an outcome of the assessments, at least one numeric rule, combine and missing."""
    absent = [f for f in ("name", "outcome", "combine", "missing") if not hasattr(d, f)]
    if absent:
        raise ValueError(f"responder definition {d!r} lacks {', '.join(absent)}")
    name = d.name
    if not isinstance(name, str) or not name:
        raise ValueError(f"a responder definition needs a name, got {name!r}")
    _check_outcome(cohort, d.outcome, needs_rule=False)
    given = {f: getattr(d, f, None) for f in RULE_FIELDS if getattr(d, f, None) is not None}
    for f, v in given.items():
        _check_number(v, f"responder {name!r}: {f}", low=-math.inf)
    if not given:
        raise ValueError(f"responder {name!r} sets none of {', '.join(RULE_FIELDS)}")
    if d.combine not in ("all", "any"):
        raise ValueError(f"responder {name!r}: combine must be 'all' or 'any', got {d.combine!r}")
    if d.missing not in _MISSING:
        raise ValueError(f"responder {name!r}: missing must be 'nonresponder' or 'exclude', got {d.missing!r}")
    return d


def _odds_ratio(k1: int, n1: int, k0: int, n0: int) -> tuple[float, float, float, bool]:
    """Odds ratio (arm vs reference) with a Woolf (logit) 95 % CI; with an empty cell, 0.5 is
    added to every cell (Haldane-Anscombe, statsmodels "logit-adjusted"). Last: adjusted?"""
    if min(n1, n0) == 0 or (k1 + k0 == 0) or (k1 + k0 == n1 + n0):
        return math.nan, math.nan, math.nan, False
    cells = (k1, n1 - k1, k0, n0 - k0)
    adjusted = min(cells) == 0
    a, b, c, d = (x + 0.5 for x in cells) if adjusted else cells
    lo, hi = confint_proportions_2indep(k1, n1, k0, n0, compare="odds-ratio",
                                        method="logit-adjusted" if adjusted else "logit")
    return float(a * d / (b * c)), float(lo), float(hi), adjusted


def _risk_difference(k1: int, n1: int, k0: int, n0: int) -> tuple[float, float, float]:
    if min(n1, n0) == 0:
        return math.nan, math.nan, math.nan
    lo, hi = confint_proportions_2indep(k1, n1, k0, n0, compare="diff", method="newcomb")
    return k1 / n1 - k0 / n0, float(lo), float(hi)


def responder_table(cohort: Cohort, *, definitions: Sequence[Any], endpoint_week: float | None = None,
                    window_days: int | None = None, reference: str | None = None) -> pd.DataFrame:
    """Responder rates per arm with both denominators, and RD and OR against the reference arm.

    Parameters
    ----------
    cohort : Cohort
        The linked cohort (two or more arms).
    definitions : sequence
        Responder definitions: any objects with attributes ``name``, ``outcome``,
        ``change_at_most`` (points, signed: -2 = a fall of at least 2),
        ``pct_change_at_most`` (percent, signed), ``endpoint_at_most`` (a state at the
        endpoint), ``combine`` ("all" or "any" of the rules given; None = rule not used)
        and ``missing`` ("nonresponder" or "exclude": which rate is primary).
    endpoint_week : float, optional
        Default ``cohort.options.endpoint_week``.
    window_days : int, optional
        Endpoint window (± days); default ``cohort.options.visit_window_days``.
    reference : str, optional
        Reference arm; default the first in sorted order.

    Returns
    -------
    DataFrame
        :data:`RESPONDER_COLUMNS`, one row per definition × arm (reference first):

        - ``table`` "responders"; ``responder`` (definition name), ``outcome``,
          ``schedule``, ``reference``, ``missing`` (as defined) and
          ``primary_denominator`` ("itt" for missing = nonresponder, "complete" for
          exclude). Both rates are always reported.
        - ``n_randomised`` (patients on the arm), ``n_assessed`` (patients whose status
          is known: the endpoint value, and the baseline when a change rule needs it),
          ``n_responders``.
        - ``rate_itt`` = n_responders / n_randomised (missing = non-responder);
          ``rate_complete`` = n_responders / n_assessed; ``ci_lower, ci_upper``: Wilson
          95 % of ``rate_complete``; ``itt_ci_lower, itt_ci_upper``: Wilson 95 % of
          ``rate_itt``.
        - Against the reference (NaN on the reference's rows): on the ITT denominators
          (k / n_randomised) ``rd_itt`` (risk difference, arm − reference) with a Newcomb
          95 % CI ``rd_itt_ci_lower, rd_itt_ci_upper`` and ``or_itt`` (odds ratio, arm vs
          reference) with ``or_itt_ci_lower, or_itt_ci_upper``; the same on the
          complete-case denominators (k / n_assessed): ``rd_complete*``, ``or_complete*``.

        ``attrs["remarks"]``: the reference, the rules, arms with no one assessed and
        continuity corrections.

    Raises
    ------
    ValueError
        Fewer than two arms, an unknown reference, a malformed definition (the message
        names it and the field).

    Notes
    -----
    Baseline and endpoint as in `trial_ancova` (select_baseline / value_at_week). Rules
    are ``change ≤ change_at_most``, ``pct_change ≤ pct_change_at_most``, ``endpoint ≤
    endpoint_at_most`` (within 1e-9, so a computed -30 % counts), combined by
    ``combine`` with three-valued logic (a failed known rule decides "all" even when
    another is unknown). Wilson interval (33/50 → 0.5215–0.7756), Newcomb hybrid score
    interval for the difference (33/50 vs 5/50 → 0.381–0.689), both from statsmodels.
    Odds ratio: Woolf logit interval; with a zero cell, 0.5 is added to every cell
    (Haldane–Anscombe) for the estimate and interval, and a remark says so; NaN when
    nobody or everybody in both arms responded. An arm with no one assessed gets NaN
    rates (its ITT rate, 0 by arithmetic, says nothing) and NaN contrasts, with a
    remark; the other arms are still computed.
    """
    _check_cohort(cohort)
    ref = _check_reference(cohort, reference)
    week = _check_endpoint_week(cohort.options.endpoint_week if endpoint_week is None else endpoint_week)
    window = cohort.options.visit_window_days if window_days is None else int(
        _check_number(window_days, "window_days", low=0, high=366, integer=True))
    if isinstance(definitions, (str, bytes)) or not isinstance(definitions, Sequence) or not len(definitions):
        raise ValueError(f"definitions must be a non-empty sequence of responder definitions, got {definitions!r}")
    specs = [_definition(d, cohort) for d in definitions]
    names = [s.name for s in specs]
    if len(set(names)) < len(names):
        raise ValueError(f"responder definitions must have distinct names, got {names!r}")
    order = [ref, *[s for s in _schedules(cohort) if s != ref]]
    w = _week_label(week)
    remarks = [_reference_remark(ref, reference is not None)]
    rows = []
    for spec in specs:
        frame = _responders(cohort, spec, week, window)
        frame = frame[frame["schedule"].notna()].assign(schedule=lambda f: f["schedule"].astype(str))
        primary = ("every randomised patient, missing = non-responder" if spec.missing == "nonresponder"
                   else "assessed patients only")
        remarks.append(f"Responder {spec.name!r}: {definition_text(cohort, spec)} by week {w} (endpoint: the "
                       f"nearest assessment within ±{window} days); primary rate: {primary}.")
        counts = {arm: (int((frame["schedule"] == arm).sum()),
                        int(frame.loc[frame["schedule"] == arm, "responder"].notna().sum()),
                        int(frame.loc[frame["schedule"] == arm, "responder"].fillna(False).astype(bool).sum()))
                  for arm in order}
        n0, m0, k0 = counts[ref]
        for arm in order:
            n, m, k = counts[arm]
            row: dict[str, Any] = {"responder": spec.name, "outcome": spec.outcome, "schedule": arm,
                                   "reference": ref, "missing": spec.missing,
                                   "primary_denominator": "itt" if spec.missing == "nonresponder" else "complete",
                                   "n_randomised": n, "n_assessed": m, "n_responders": k}
            if m == 0:
                remarks.append(f"Responder {spec.name!r}: no patient on arm {arm!r} was assessed at week {w} "
                               f"(of {n} randomised): its rates and contrasts are not estimable (NaN).")
            row["rate_itt"] = k / n if m and n else math.nan
            row["rate_complete"] = k / m if m else math.nan
            row["ci_lower"], row["ci_upper"] = (float(x[0]) for x in _wilson([k], [m]))
            if m and n:
                row["itt_ci_lower"], row["itt_ci_upper"] = (float(x[0]) for x in _wilson([k], [n]))
            else:
                row["itt_ci_lower"] = row["itt_ci_upper"] = math.nan
            for label, (nn, nn0) in (("itt", (n, n0)), ("complete", (m, m0))):
                keys = [f"rd_{label}", f"rd_{label}_ci_lower", f"rd_{label}_ci_upper",
                        f"or_{label}", f"or_{label}_ci_lower", f"or_{label}_ci_upper"]
                if arm == ref or m == 0 or m0 == 0:
                    row.update(dict.fromkeys(keys, math.nan))
                    continue
                rd = _risk_difference(k, nn, k0, nn0)
                *oratio, adjusted = _odds_ratio(k, nn, k0, nn0)
                row.update(dict(zip(keys, (*rd, *oratio))))
                if adjusted:
                    remarks.append(f"Responder {spec.name!r}, {arm!r} vs {ref!r} ({label}): a cell is zero, so "
                                   f"0.5 was added to every cell for the odds ratio and its interval "
                                   f"(Haldane-Anscombe).")
            rows.append(row)
    out = pd.DataFrame(rows)
    out.insert(0, "table", "responders")
    return _remarked(out[RESPONDER_COLUMNS], remarks)
