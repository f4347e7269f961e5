"""The plan against the data: can this cohort be analysed as the plan says?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError
from ._fields import _show, _suggest
from .spec import AnalysisPlan
from .timing import plan_on_axis

if TYPE_CHECKING:
    from ..cohort import Cohort

__all__ = ["check_plan_against"]


def check_plan_against(plan: AnalysisPlan, cohort: Cohort) -> list[str]:
    """Check that ``cohort`` can be analysed as ``plan`` says.

    Raises
    ------
    UsageError
        (every problem together) when an outcome the plan names has no value
        in the assessments, the reference arm is not in the data (the arms are
        listed), a covariate is not a patients column or has a single value, or
        there is only one arm.

    Returns
    -------
    list of str
        Remarks on softer issues: patients without an arm or with a missing
        covariate, arms with no one assessed at the endpoint. (The reference
        taken by default is said once by the comparison itself.)
    """
    patients, assessments = cohort.patients, cohort.assessments
    problems: list[str] = []
    remarks: list[str] = []

    arm_of = patients["schedule"] if "schedule" in patients.columns else None
    arms = sorted(arm_of.dropna().astype(str).unique()) if arm_of is not None else []
    if len(arms) < 2:
        problems.append(f"The data hold {'only one arm (' + arms[0] + ')' if arms else 'no arm (schedule)'}; "
                        f"a comparison needs at least two.")
    if arm_of is not None and arm_of.isna().any():
        remarks.append(f"{int(arm_of.isna().sum())} patients have no arm (schedule) and are left out of contrasts.")
    if plan.reference is not None and plan.reference not in arms:
        problems.append(f"The plan's reference arm {_show(plan.reference)} is not in the data"
                        f"{_suggest(plan.reference, arms)} Arms in the data: {', '.join(arms) or 'none'}.")

    known = list(getattr(cohort, "outcomes", None).names) if getattr(cohort, "outcomes", None) is not None else []
    for name in plan.all_outcomes:
        if name not in assessments.columns or not assessments[name].notna().any():
            hint = _suggest(name, [o for o in known if o in assessments.columns]) if name not in known else "."
            problems.append(f"The plan names the outcome {name}, but the assessments hold no {name} value{hint}")

    for name in plan.covariates:
        if name not in patients.columns:
            problems.append(f"The plan's covariate {_show(name)} is not a patients column"
                            f"{_suggest(name, list(patients.columns))} Columns: {', '.join(patients.columns)}.")
            continue
        values = patients[name]
        if values.nunique(dropna=True) < 2:
            problems.append(f"The plan's covariate {_show(name)} has a single value in the data "
                            f"({_show(str(values.dropna().iloc[0])) if values.notna().any() else 'all missing'}); "
                            f"it cannot adjust anything, so leave it out.")
        elif values.isna().any():
            remarks.append(f"Covariate {name} is missing for {int(values.isna().sum())} patients; "
                           f"they are left out of the adjusted models.")
    if problems:
        raise UsageError("\n".join(problems))

    if "week" in assessments.columns and plan.outcome in assessments.columns:
        given = plan
        plan, _, timing = plan_on_axis(plan, getattr(cohort, "time", None))
        near = assessments.loc[((assessments["week"] - plan.endpoint_week).abs() * 7 <= plan.visit_window_days)
                               & assessments[plan.outcome].notna(), "patient_id"]
        assessed = set(patients.loc[patients["patient_id"].isin(near), "schedule"].dropna().astype(str))
        for arm in arms:
            if arm not in assessed:
                at = (f"week {plan.endpoint_week:g} ± {plan.visit_window_days} days" if timing.unit == "date" else
                      f"{timing.unit} {timing.endpoint_in_unit:g} ± {plan.visit_window_days} days")
                remarks.append(f"No one in arm {arm} has {given.outcome} assessed at the endpoint ({at}).")
    return remarks
