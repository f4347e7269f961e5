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
    "visits": "planned visit weeks (whole weeks since enrolment)",
    "visit_window_days": "an assessment goes to the nearest visit within this many days",
    "endpoint_week": "endpoint for the ANCOVA and responders; one of the visits",
    "reference": "reference arm for contrasts (a schedule value)",
    "covariates": "baseline covariates (patients columns), in every model",
}

_RESPONDER_COMMENTS = {
    "name": "label of this definition in the responder table",
    "outcome": "the outcome it applies to",
    "change_at_most": "points: endpoint minus baseline at most this",
    "pct_change_at_most": "percent: change / baseline x 100 at most this",
    "endpoint_at_most": "a state at the endpoint (e.g. pain-free or nearly)",
    "combine": '"all" or "any" of the rules given',
    "missing": '"nonresponder" or "exclude"; both rates are always reported',
}

#: Shown (commented out) for a rule a definition does not use.
_RULE_EXAMPLES = {"change_at_most": -2, "pct_change_at_most": -30, "endpoint_at_most": 1}

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


def _render(plan: AnalysisPlan, *, example: bool) -> str:
    lines = [_HEADER]
    for key, comment in _PLAN_COMMENTS.items():
        value = getattr(plan, key)
        if key == "reference" and value is None:
            lines.append(_line(key, "name", "not set: the first arm in sorted order is the reference",
                               commented=True))
        else:
            lines.append(_line(key, value, comment))
    if not plan.responders:
        lines.append(_line("responders", [], "no responder definitions"))
    for rd in plan.responders or ():
        lines += ["", "[[responders]]"]
        for key, comment in _RESPONDER_COMMENTS.items():
            value = getattr(rd, key)
            if value is None:
                lines.append(_line(key, _RULE_EXAMPLES[key], f"not used; {comment}", commented=True))
            else:
                lines.append(_line(key, value, comment))
    if example:
        lines.append(_EXAMPLE_HEADER.rstrip("\n"))
        lines += [_line(k, v, _RESPONDER_COMMENTS[k], commented=True) for k, v in _EXAMPLE.items()]
    return "\n".join(lines) + "\n"
