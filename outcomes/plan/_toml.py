"""A plan as a TOML document with a comment on every field (what ``plan.toml`` holds)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ._fields import KNOWN_OUTCOMES

if TYPE_CHECKING:
    from .spec import AnalysisPlan

__all__: list[str] = []


_HEADER = """\
# Analysis plan for `outcomes compare DATA --plan FILE`.
# Lines starting with # are comments. A key left out takes its default; the
# plan actually used, defaults filled in, is written beside the results.
"""

_PLAN_COMMENTS = {
    "outcome": "primary outcome: " + ", ".join(KNOWN_OUTCOMES),
    "outcomes": "secondary outcomes; each gets the same tables",
    "visits": "planned visits: weeks (dated data) or the data's time unit",
    "visit_window_days": "dated data: nearest assessment within this many days",
    "endpoint_week": "endpoint week for the ANCOVA and responders; a visit",
    "endpoint": "or: the endpoint in the data's time unit; a visit",
    "visit_window": "or: the window in the data's time unit",
    "reference": "reference arm for contrasts (a schedule value)",
    "covariates": "baseline covariates (patients columns), in every model",
    "primary": '"ancova", "mmrm", "lmm" or "regression": what the brief leads with',
    "multiplicity": '"holm", "bonferroni" or "none" when >1 comparison is reported',
}

_TABLE_COMMENTS = {
    "mixed_model": {
        "random": '"intercept_slope" or "intercept" (random effects per patient)',
        "baseline": '"response" or "covariate" (post-baseline visits as response)',
        "time": '"linear" (weeks) or "visit" (each visit a category)',
    },
    "mmrm": {"covariance": '"unstructured", "compound_symmetry" or "ar1"'},
    "sensitivity": {
        "imputations": "multiple imputation under MAR (0 = off); Rubin's rules",
        "tipping_point": "shifts added to imputed values in non-reference arms",
    },
    "estimand": {
        "population": "who the question is about (ICH E9(R1))",
        "variable": "the endpoint measured",
        "intercurrent_events": "e.g. stopping the exercises, and how handled",
        "summary": "the population-level summary, e.g. difference in means",
    },
}
_TABLE_HEADERS = {
    "mixed_model": "the linear mixed model of time x arm (a supportive analysis unless primary)",
    "mmrm": "the mixed model for repeated measures: visit as a factor, REML",
    "sensitivity": "missing data: how far from missing-at-random the result holds",
    "estimand": "what is estimated, in words; printed in the report (leave empty to omit)",
}
_ESTIMAND_EXAMPLE = {
    "population": "adults with sciatica randomised to a schedule",
    "variable": "leg pain NRS at week 6",
    "intercurrent_events": "stopping the exercises: treatment policy (data used as observed)",
    "summary": "difference in adjusted means between arms",
}

_RESPONDER_COMMENTS = {
    "name": "label of this definition in the responder table",
    "outcome": "the outcome it applies to",
    "change_at_most": "points: endpoint minus baseline at most this",
    "pct_change_at_most": "percent: change / baseline x 100 at most this",
    "endpoint_at_most": "a state at the endpoint (e.g. pain-free or nearly)",
    "combine": '"all" or "any" of the rules given',
    "missing": '"nonresponder" or "exclude"; both rates are always reported',
    "endpoint_at_least": "a state at the endpoint, for higher-is-better outcomes",
    "improved_by_at_least": "points of improvement in the better direction",
    "improved_pct_at_least": "percent improvement in the better direction",
}

#: Shown (commented out) for a rule a definition does not use.
_RULE_EXAMPLES = {"change_at_most": -2, "pct_change_at_most": -30, "endpoint_at_most": 1, "endpoint_at_least": 9,
                  "improved_by_at_least": 2, "improved_pct_at_least": 30}

_EXAMPLE_HEADER = """\

# A second definition, e.g. pain-free or nearly at the endpoint (Ashar et al.
# 2022). Remove the leading "# " from the five lines below to use it.
# [[responders]]
"""
_EXAMPLE = {"name": "pain_free", "outcome": "leg_pain", "endpoint_at_most": 1, "missing": "nonresponder"}


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def _line(key: str, value: Any, comment: str, *, commented: bool = False) -> str:
    text = f"{'# ' if commented else ''}{key} = {_toml_value(value)}"
    return f"{text:<33} # {comment}"


def _render(plan: AnalysisPlan, *, example: bool, reference: str | None = None, notes: list[str] | None = None,
            unit: str | None = None, check_reference: bool = False) -> str:
    """The plan as commented TOML. ``notes``: header comment lines (a starter's guesses); ``unit``: the
    dataset's time unit when it is not dates (the comments then speak of it); ``check_reference``: the
    reference is a guess to check."""
    lines = [_HEADER.rstrip("\n")] + [f"# {n}" for n in notes or ()] + [""]
    for key, comment in _PLAN_COMMENTS.items():
        value = getattr(plan, key)
        if notes and key == "outcome":
            comment = "primary outcome (CHECK: see the notes above)"
        elif unit is not None and key == "visits":
            comment = f"planned visits in {unit}s since enrolment (CHECK)"
        elif unit is not None and key == "endpoint":
            comment = f"the endpoint in {unit}s; one of the visits (CHECK)"
        if key in ("endpoint", "visit_window", "endpoint_week") and value is None:
            continue  # the other form is given
        if key == "visit_window_days" and value is None and plan.visit_window is None and unit is not None:
            default = ("the exact visit only" if unit == "visit" else
                       "half the smallest gap between visits, at most 7 days")
            lines.append(_line("visit_window", 0, f"in {unit}s; default: {default}", commented=True))
        elif key == "visit_window_days" and value is None and plan.visit_window is None:
            lines.append(_line(key, 7, "default 7 (dated); other units: ≤ half a visit gap", commented=True))
        elif key == "visit_window_days" and value is None:
            continue
        elif key == "reference" and check_reference:
            lines.append(_line(key, value, "CHECK: the control arm (a schedule value in the data)"))
        elif key == "reference" and value is None and reference is not None:
            lines.append(_line(key, reference, "the control arm (a schedule value): change it to yours"))
        elif key == "reference" and value is None:
            lines.append(_line(key, "name", "not set: the first arm in sorted order is the reference",
                               commented=True))
        else:
            lines.append(_line(key, value, comment))
    if not plan.responders:
        lines.append(_line("responders", [], "no responder definitions"))
    for table, comments in _TABLE_COMMENTS.items():
        lines += ["", f"# {_TABLE_HEADERS[table]}", f"[{table}]"]
        options = getattr(plan, table)
        for key, comment in comments.items():
            value = getattr(options, key)
            if table == "estimand" and not value:
                lines.append(_line(key, _ESTIMAND_EXAMPLE[key], f"example; {comment}", commented=True))
            else:
                lines.append(_line(key, value, comment))
    for rd in plan.responders or ():
        lines += ["", "[[responders]]"]
        for key, comment in _RESPONDER_COMMENTS.items():
            value = getattr(rd, key)
            if value is None:
                if key in ("endpoint_at_least", "improved_by_at_least", "improved_pct_at_least"):
                    continue  # shown in the example below; alternatives for the other direction
                lines.append(_line(key, _RULE_EXAMPLES[key], f"not used; {comment}", commented=True))
            else:
                lines.append(_line(key, value, comment))
    if example:
        lines.append(_EXAMPLE_HEADER.rstrip("\n"))
        lines += [_line(k, plan.outcome if k == "outcome" else v, _RESPONDER_COMMENTS[k], commented=True)
                  for k, v in _EXAMPLE.items()]
    return "\n".join(lines) + "\n"
