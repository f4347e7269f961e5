"""The plan's visits, endpoint and window on a dataset's time axis (weeks and days for the models).

A plan gives its planned visits, endpoint and window in the dataset's time unit (the
``[time] unit`` of its description: weeks and days for dated data). The analyses match
assessments to visits in weeks and days; :func:`plan_timing` converts, fills the window
when the plan leaves it out, and says in words what was used.

The default window never lets one planned visit take another visit's assessment: for a
time unit other than dates it is at most half the smallest gap between planned visits
(time 0, the baseline, included; whole days, at most the dated default of 7 days), and
for ``unit = "visit"`` the exact visit only. (Half the gap, as the dated default of 7 days
around visits 2 weeks apart: an assessment on time at one visit is a whole gap away from
the next, so only one exactly midway could count for both.) A
window given in the plan is kept, with a remark when it is that wide.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import DEFAULT_OPTIONS
from ..errors import UsageError

if TYPE_CHECKING:
    from .spec import AnalysisPlan

__all__ = ["PlanTiming", "plan_timing", "plan_on_axis"]


@dataclass(frozen=True)
class PlanTiming:
    """A plan's timing in the units the analyses use.

    Attributes
    ----------
    unit : str
        The dataset's time unit (``"date"`` for dated data).
    visits : tuple of float
        Planned visits in weeks since enrolment.
    endpoint_week : float
        The endpoint in weeks.
    window_days : int
        The visit window in whole days either side (0: the exact time only).
    visits_in_unit : tuple of float
        The planned visits as the plan gives them (weeks for dated data).
    endpoint_in_unit : float
        The endpoint as the plan gives it (weeks for dated data).
    window_in_unit : float
        The window in the dataset's unit (days for dated data).
    window_given : bool
        Whether the plan gave the window.
    remarks : tuple of str
        What was used, in words, for a time unit other than dates (one sentence; one more
        when a window given in the plan reaches a neighbouring visit, so that a patient missing one
        visit can be given the other's assessment).
    """

    unit: str
    visits: tuple[float, ...]
    endpoint_week: float
    window_days: int
    visits_in_unit: tuple[float, ...]
    endpoint_in_unit: float
    window_in_unit: float
    window_given: bool
    remarks: tuple[str, ...] = ()


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _unit_words(unit: str, value: float) -> str:
    one = {"minute": "minute", "hour": "hour", "day": "day", "week": "week", "month": "month", "visit": "visit"}[unit]
    return f"{value:g} {one}{'' if value == 1 else 's'}"


def plan_timing(plan: AnalysisPlan, time: Any = None) -> PlanTiming:
    """The plan's visits, endpoint and window on the time axis ``time``.

    Parameters
    ----------
    plan : AnalysisPlan
    time : outcomes.io.description.TimeAxis, optional
        The dataset's time axis (``Cohort.time``); None or unit ``"date"``: dated data,
        where ``visits`` and ``endpoint`` are weeks and ``visit_window`` is days.

    Returns
    -------
    PlanTiming

    Raises
    ------
    UsageError
        ``endpoint_week`` is not one of the visits once they are converted to weeks (give
        ``endpoint`` in the dataset's unit instead).
    """
    unit = "date" if time is None or getattr(time, "dated", True) else str(time.unit)
    per_unit = 7.0 if unit == "date" else float(time.days)  # days per unit of the dataset (weeks if dated)
    # days per unit of `plan.visits`: weeks once plan_on_axis has converted them
    days = 7.0 if getattr(plan, "_in_weeks", False) else per_unit
    weeks = tuple(_num(v * days / 7.0) for v in plan.visits)
    if plan.endpoint is not None:
        endpoint_week = plan.endpoint * days / 7.0
    else:
        endpoint_week = float(plan.endpoint_week)
        if not any(math.isclose(endpoint_week, w, abs_tol=1e-9) for w in weeks):
            raise UsageError(f"The plan's endpoint_week = {plan.endpoint_week:g} is not one of its visits "
                             f"({', '.join(f'{w:g}' for w in weeks)} in weeks, for time in {unit}s); give "
                             f"endpoint in {unit}s instead, one of visits = {list(plan.visits)}.")
    endpoint_unit = endpoint_week * 7.0 / per_unit
    times = sorted(set(float(v) for v in plan.visits) | {0.0})
    gaps = [b - a for a, b in zip(times, times[1:])]
    gap_days = min(gaps) * days if gaps else math.inf
    given = plan.visit_window_days is not None or plan.visit_window is not None
    remarks: list[str] = []
    if plan.visit_window_days is not None:
        window_days_f = float(plan.visit_window_days)
    elif plan.visit_window is not None:
        window_days_f = float(plan.visit_window) * (1.0 if unit == "date" else per_unit)
    elif unit == "date":
        window_days_f = float(DEFAULT_OPTIONS.visit_window_days)
    elif unit == "visit" or not math.isfinite(gap_days):
        window_days_f = 0.0
    else:
        # at most half the smallest gap (whole days), and never wider than the dated default: an
        # assessment at one planned visit is then never within the window of another
        window_days_f = float(min(math.floor(gap_days / 2.0 + 1e-9), DEFAULT_OPTIONS.visit_window_days))
    window_days = int(math.floor(window_days_f + 1e-9))
    window_unit = window_days_f if unit == "date" else window_days_f / per_unit

    visit_list = ", ".join(f"{_num(round(w * 7.0 / per_unit, 6)):g}" for w in weeks)
    if unit != "date":
        span = ("only an assessment at that exact visit" if window_days == 0 and unit == "visit" else
                "only an assessment at that exact time" if window_days == 0 else
                f"the nearest assessment within ± {window_days} days "
                f"({_unit_words(unit, round(window_days / per_unit, 3))})")
        why = (" (the plan's visit window)" if given else
               " (the default for visit-coded data)" if unit == "visit" else
               " (the default: at most half the smallest gap between planned visits, so no visit takes "
               "another visit's assessment)")
        where = (f"Planned visits at {unit} {visit_list}, endpoint {unit} {endpoint_unit:g} "
                 f"(time in {unit}s since enrolment); each visit takes {span}{why}.")
        if window_days_f != window_days:
            where += f" The window is applied in whole days ({window_days_f:g} days rounded down)."
        remarks.append(where)
    if given and unit != "date" and math.isfinite(gap_days) and window_days >= gap_days:
        remarks.append(f"The plan's visit window (± {window_days} days) is at least the smallest gap between "
                       f"planned visits ({gap_days:g} days): a patient with no assessment at one visit can be given "
                       f"the assessment of a neighbouring visit (even the baseline). A window under "
                       f"{gap_days / 2:g} days avoids that.")
    return PlanTiming(unit=unit, visits=weeks, endpoint_week=_num(endpoint_week), window_days=window_days,
                      visits_in_unit=tuple(_num(w * 7.0 / per_unit) for w in weeks),
                      endpoint_in_unit=_num(endpoint_unit), window_in_unit=_num(window_unit), window_given=given,
                      remarks=tuple(remarks))


def plan_on_axis(plan: AnalysisPlan, time: Any = None) -> tuple[AnalysisPlan, AnalysisPlan, PlanTiming]:
    """Two copies of ``plan`` for one dataset, and its timing.

    Returns
    -------
    working : AnalysisPlan
        Visits in weeks, ``endpoint_week`` and ``visit_window_days`` set (what the models
        read); converting it again changes nothing.
    as_run : AnalysisPlan
        The plan as the user wrote it with the window and endpoint filled in, in the same
        form (``endpoint``/``visit_window`` in the dataset's unit, or ``endpoint_week``/
        ``visit_window_days``): what is written beside the results and hashed.
    timing : PlanTiming
    """
    timing = plan_timing(plan, time)
    if getattr(plan, "_in_weeks", False):
        if plan.visit_window_days is None:
            plan = dataclasses.replace(plan, visit_window_days=timing.window_days)
            object.__setattr__(plan, "_in_weeks", True)
        return plan, plan, timing
    working = dataclasses.replace(plan, visits=timing.visits, endpoint=None, endpoint_week=timing.endpoint_week,
                                  visit_window=None, visit_window_days=timing.window_days)
    object.__setattr__(working, "_in_weeks", True)
    if plan.visit_window is not None or plan.visit_window_days is not None:
        as_run = plan
    elif timing.unit == "date":
        as_run = dataclasses.replace(plan, visit_window_days=timing.window_days)
    else:
        as_run = dataclasses.replace(plan, visit_window=timing.window_in_unit)
    return working, as_run, timing
