"""The analysis plan and its responder definitions, each checked field by field on construction."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..config import DEFAULT_INSTRUMENTS, DEFAULT_OPTIONS, Options, ResponderRule
from ..errors import UsageError
from ._fields import (
    _COMBINE,
    _MISSING,
    BASELINE,
    COVARIANCE,
    MULTIPLICITY,
    PRIMARY,
    RANDOM,
    TIME,
    _choice,
    _deltas,
    _imputations,
    _text,
    _covariates,
    _name,
    _no_duplicates,
    _number_or_none,
    _outcome,
    _outcome_list,
    _positive_number,
    _reference,
    _show,
    _visits,
    _whole_or_none,
)
from ._toml import _render

#: Most responder definitions a plan may hold (a protocol pre-specifies a few).
MAX_RESPONDERS = 100

__all__ = ["AnalysisPlan", "Estimand", "MMRMOptions", "MixedModelOptions", "ResponderDefinition", "Sensitivity",
           "default_plan"]


@dataclass(frozen=True)
class ResponderDefinition:
    """Who counts as a responder at the endpoint, for one outcome.

    Parameters
    ----------
    name : str
        The label of the responder table rows (e.g. ``"improved"``).
    outcome : str
        One of :data:`KNOWN_OUTCOMES`.
    change_at_most : float, optional
        Endpoint minus baseline, in the outcome's points, is at most this
        (``-2``: a fall of at least 2 points).
    pct_change_at_most : float, optional
        Change as a percent of baseline is at most this (``-30``: a fall of at least 30 %).
    endpoint_at_most : float, optional
        The endpoint value is at most this (``1``: NRS 0 or 1, pain-free or nearly;
        Ashar et al. 2022).
    combine : {"all", "any"}
        Whether all or any of the rules given must hold.
    missing : {"nonresponder", "exclude"}
        The primary handling of a patient without an endpoint value; both rates
        (every randomised patient, and those assessed) are always reported.
    endpoint_at_least : float, optional
        The endpoint value is at least this (a state, for an outcome where higher is better).
    improved_by_at_least : float, optional
        Points of improvement in the outcome's better direction (a fall when lower is
        better, a rise when higher is better): at least this.
    improved_pct_at_least : float, optional
        Percent improvement (change / baseline × 100, in the better direction): at least this.

    At least one rule must be given. ``change_at_most`` and ``pct_change_at_most`` are
    upper bounds on the raw change (they read the same for every instrument where a fall
    is an improvement); ``improved_by_at_least`` and ``improved_pct_at_least`` follow
    the outcome's direction.
    """

    name: str
    outcome: str
    change_at_most: float | None = None
    pct_change_at_most: float | None = None
    endpoint_at_most: float | None = None
    combine: Literal["all", "any"] = "all"
    missing: Literal["nonresponder", "exclude"] = "nonresponder"
    endpoint_at_least: float | None = None
    improved_by_at_least: float | None = None
    improved_pct_at_least: float | None = None

    def __post_init__(self) -> None:
        _check_responder(self, "ResponderDefinition")

    @property
    def rules(self) -> dict[str, float]:
        """The rules given (field → threshold), in field order."""
        return {k: getattr(self, k) for k in RULE_FIELDS if getattr(self, k) is not None}

    def text(self, label: str | None = None, higher_is_better: bool = False) -> str:
        """The definition in words (see :func:`rules_text`)."""
        return rules_text(self, label or self.outcome, higher_is_better)

    @classmethod
    def from_rule(cls, name: str, outcome: str, rule: ResponderRule, *,
                  missing: Literal["nonresponder", "exclude"] = "nonresponder") -> ResponderDefinition:
        """The definition equivalent to an instrument's :class:`~outcomes.config.ResponderRule`
        (for an instrument where higher is worse; the inverse of :meth:`to_rule`)."""
        return cls(name=name, outcome=outcome,
                   change_at_most=None if rule.points is None else -rule.points,
                   pct_change_at_most=None if rule.percent is None else -rule.percent,
                   endpoint_at_most=rule.endpoint_at_most, combine=rule.combine, missing=missing)

    def to_rule(self, higher_is_worse: bool = True) -> ResponderRule:
        """This definition as a :class:`~outcomes.config.ResponderRule`.

        The mapping is ``points = -change_at_most``, ``percent =
        -pct_change_at_most``, ``endpoint_at_most`` unchanged and ``combine``
        unchanged: a rule measures improvement in the instrument's better
        direction, which for an instrument where higher is worse is a fall.
        ``missing`` has no counterpart in a rule (it is a reporting choice).

        Raises
        ------
        ValueError
            When ``higher_is_worse`` is False and a change rule is given: an
            upper bound on the change of such an instrument (e.g. straight-leg
            raise in degrees) is a bound on worsening, which a rule cannot express.
        """
        if not higher_is_worse and (self.change_at_most is not None or self.pct_change_at_most is not None):
            raise ValueError(f"responder {self.name!r}: change_at_most and pct_change_at_most bound a fall, "
                             f"which is a worsening for {self.outcome} (higher is better); only "
                             f"endpoint_at_most can be expressed as a ResponderRule for it.")
        return ResponderRule(
            points=None if self.change_at_most is None else -self.change_at_most,
            percent=None if self.pct_change_at_most is None else -self.pct_change_at_most,
            combine=self.combine, endpoint_at_most=self.endpoint_at_most)


#: The rule fields of a responder definition, in order.
RULE_FIELDS = ("change_at_most", "pct_change_at_most", "endpoint_at_most", "endpoint_at_least",
               "improved_by_at_least", "improved_pct_at_least")

def rules_text(definition: Any, label: str, higher_is_better: bool = False) -> str:
    """A responder definition's rules in words, e.g. ``Leg pain fell by ≥ 2 points and by ≥ 30 %``.

    ``definition`` is any object with the rule attributes of :class:`ResponderDefinition`
    (missing ones count as not given) and ``combine``.
    """
    better = "rose" if higher_is_better else "fell"
    words = {"change_at_most": lambda v: (f"fell by ≥ {-v:g} points" if v <= 0 else f"rose by ≤ {v:g} points"),
             "pct_change_at_most": lambda v: (f"fell by ≥ {-v:g} %" if v <= 0 else f"rose by ≤ {v:g} %"),
             "endpoint_at_most": lambda v: f"ended at ≤ {v:g}",
             "endpoint_at_least": lambda v: f"ended at ≥ {v:g}",
             "improved_by_at_least": lambda v: f"{better} by ≥ {v:g} points",
             "improved_pct_at_least": lambda v: f"{better} by ≥ {v:g} %"}
    given = [(k, getattr(definition, k, None)) for k in RULE_FIELDS if getattr(definition, k, None) is not None]
    joined = (" and " if getattr(definition, "combine", "all") == "all" else " or ").join(words[k](v) for k, v in given)
    return f"{label} {joined}"


_RESPONDER_CHECKS: dict[str, Callable[[Any, str, str], Any]] = {
    "name": _name,
    "outcome": _outcome,
    "change_at_most": _number_or_none,
    "pct_change_at_most": _number_or_none,
    "endpoint_at_most": _number_or_none,
    "combine": _choice(_COMBINE),
    "missing": _choice(_MISSING),
    "endpoint_at_least": _number_or_none,
    "improved_by_at_least": _number_or_none,
    "improved_pct_at_least": _number_or_none,
}
_RESPONDER_KEYS = tuple(f.name for f in dataclasses.fields(ResponderDefinition))


def _check_responder(rd: ResponderDefinition, where: str) -> None:
    for key, check in _RESPONDER_CHECKS.items():
        check(getattr(rd, key), where, key)
    if all(getattr(rd, k) is None for k in RULE_FIELDS):
        raise UsageError(f"{where}: responder {_show(rd.name)} gives no rule; give at least one of "
                         f"{', '.join(RULE_FIELDS)}.")
    for key in ("improved_by_at_least", "improved_pct_at_least"):
        if getattr(rd, key) is not None and getattr(rd, key) <= 0:
            raise UsageError(f"{where}: {key} = {_show(getattr(rd, key))} must be > 0: it is the size of an "
                             f"improvement in the outcome's better direction, e.g. 2.")
    if rd.pct_change_at_most is not None and rd.pct_change_at_most < -100:
        raise UsageError(f"{where}: pct_change_at_most = {_show(rd.pct_change_at_most)} is below -100 %, "
                         f"which no change can reach; use a value ≥ -100, e.g. -30.")
    spec = DEFAULT_INSTRUMENTS.get(rd.outcome)
    for key in ("endpoint_at_most", "endpoint_at_least"):
        value = getattr(rd, key)
        if spec is not None and value is not None and not spec.low <= value <= spec.high:
            raise UsageError(f"{where}: {key} = {_show(value)} is outside {rd.outcome}'s "
                             f"range {spec.low:g}–{spec.high:g}.")


def _default_responders(outcome: str) -> tuple[ResponderDefinition, ...]:
    """One ``"improved"`` definition from the instrument's published rule (none without an instrument)."""
    spec = DEFAULT_INSTRUMENTS.get(outcome)
    if spec is None or not spec.higher_is_worse:
        return ()
    return (ResponderDefinition.from_rule("improved", outcome, spec.responder),)


# ---------------------------------------------------------------------------
# the plan's option tables
# ---------------------------------------------------------------------------

def _checked_table(obj: Any, checks: dict[str, Callable[[Any, str, str], Any]], where: str) -> None:
    for key, check in checks.items():
        object.__setattr__(obj, key, check(getattr(obj, key), where, key))


@dataclass(frozen=True)
class MixedModelOptions:
    """``[mixed_model]``: the linear mixed model of time × arm.

    Parameters
    ----------
    random : {"intercept_slope", "intercept"}
        A random intercept and time slope per patient, or a random intercept only.
    baseline : {"response", "covariate"}
        ``response``: the baseline visit is one of the responses; ``covariate``: the
        post-baseline visits are the response and the baseline value adjusts (the
        classic textbook model).
    time : {"linear", "visit"}
        Time as a straight line in weeks, or each planned visit as a category.
    """

    random: Literal["intercept_slope", "intercept"] = "intercept_slope"
    baseline: Literal["response", "covariate"] = "response"
    time: Literal["linear", "visit"] = "linear"

    def __post_init__(self) -> None:
        _checked_table(self, _MIXED_CHECKS, "[mixed_model]")


@dataclass(frozen=True)
class MMRMOptions:
    """``[mmrm]``: the mixed model for repeated measures (visit as a factor, REML).

    Parameters
    ----------
    covariance : {"unstructured", "compound_symmetry", "ar1"}
        The residual covariance within patient.
    """

    covariance: Literal["unstructured", "compound_symmetry", "ar1"] = "unstructured"

    def __post_init__(self) -> None:
        _checked_table(self, _MMRM_CHECKS, "[mmrm]")


@dataclass(frozen=True)
class Sensitivity:
    """``[sensitivity]``: missing-data sensitivity of the endpoint ANCOVA.

    Parameters
    ----------
    imputations : int
        Multiple imputation under missing at random with this many datasets (Rubin's
        rules, seeded); 0 turns it off.
    tipping_point : sequence of float
        Shifts δ added to the imputed values of each non-reference arm in the
        unfavourable direction; ``[]`` for none.
    """

    imputations: int = 50
    tipping_point: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)

    def __post_init__(self) -> None:
        _checked_table(self, _SENSITIVITY_CHECKS, "[sensitivity]")


@dataclass(frozen=True)
class Estimand:
    """``[estimand]`` (ICH E9(R1)): free text printed in the report; empty = not stated."""

    population: str = ""
    variable: str = ""
    intercurrent_events: str = ""
    summary: str = ""

    def __post_init__(self) -> None:
        _checked_table(self, _ESTIMAND_CHECKS, "[estimand]")

    @property
    def stated(self) -> bool:
        return any(getattr(self, f.name) for f in dataclasses.fields(self))


_MIXED_CHECKS: dict[str, Callable[[Any, str, str], Any]] = {
    "random": _choice(RANDOM), "baseline": _choice(BASELINE), "time": _choice(TIME)}
_MMRM_CHECKS: dict[str, Callable[[Any, str, str], Any]] = {"covariance": _choice(COVARIANCE)}
_SENSITIVITY_CHECKS: dict[str, Callable[[Any, str, str], Any]] = {
    "imputations": _imputations, "tipping_point": _deltas}
_ESTIMAND_CHECKS: dict[str, Callable[[Any, str, str], Any]] = {
    k: _text for k in ("population", "variable", "intercurrent_events", "summary")}
#: Plan tables (``[name]``) → (class, field checks).
TABLES: dict[str, tuple[type, dict[str, Callable[[Any, str, str], Any]]]] = {
    "mixed_model": (MixedModelOptions, _MIXED_CHECKS), "mmrm": (MMRMOptions, _MMRM_CHECKS),
    "sensitivity": (Sensitivity, _SENSITIVITY_CHECKS), "estimand": (Estimand, _ESTIMAND_CHECKS)}


# ---------------------------------------------------------------------------
# the plan
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class AnalysisPlan:
    """What ``outcomes compare`` executes (the field names are a stable contract other tools read).

    Parameters
    ----------
    outcome : str
        The primary outcome, one of :data:`KNOWN_OUTCOMES`.
    outcomes : sequence of str
        Secondary outcomes; each gets the same tables.
    visits : sequence of float
        Planned visits (stored sorted): weeks since enrolment for dated data, otherwise
        times in the dataset's time unit (``[time] unit`` of its description).
    visit_window_days : int, optional
        An assessment goes to the nearest planned visit within this many days. Not given
        (None): 7 days for dated data; for another time unit, at most half the smallest
        gap between planned visits (the exact visit for ``unit = "visit"``), so no planned
        visit can take another visit's assessment (see :func:`outcomes.plan.plan_timing`).
    endpoint_week : float, optional
        The endpoint for the ANCOVA and the responder definitions, in weeks; one of
        ``visits``. Default 6 unless ``endpoint`` is given (then None).
    reference : str or None
        The reference arm for contrasts; None means the first arm in sorted order.
    covariates : sequence of str
        Baseline covariates (patients columns) in every model.
    responders : sequence of ResponderDefinition, optional
        Responder definitions; by default one ``"improved"`` definition for the
        primary outcome from its instrument's published rule
        (:data:`outcomes.config.DEFAULT_INSTRUMENTS`; none for an outcome without one).
        The first definition of the primary outcome is the one the responder odds
        ratio, the time to first response and the brief use.
    primary : {"ancova", "mmrm", "lmm", "regression"}
        The analysis the brief leads with: ANCOVA at the endpoint adjusted for
        baseline; the MMRM difference at the endpoint; the linear mixed model's
        difference at the endpoint; the endpoint regressed on arm and covariates
        (no baseline). If it cannot be run, ``compare`` exits 1 naming it.
    multiplicity : {"holm", "bonferroni", "none"}
        Adjustment of p-values whenever more than one comparison is reported
        (several arms against the reference, or every pair).
    mixed_model : MixedModelOptions
    mmrm : MMRMOptions
    sensitivity : Sensitivity
    estimand : Estimand
    endpoint : float, optional
        The endpoint in the dataset's time unit (weeks for dated data); one of ``visits``.
        Give this or ``endpoint_week``, not both.
    visit_window : float, optional
        The visit window in the dataset's time unit (days for dated data). Give this or
        ``visit_window_days``, not both.

    Sequences are stored as tuples, so a plan is immutable and hashable;
    :meth:`to_dict` gives lists.
    """

    outcome: str = "leg_pain"
    outcomes: tuple[str, ...] = ()
    visits: tuple[int, ...] = DEFAULT_OPTIONS.visits
    visit_window_days: int | None = None
    endpoint_week: float | None = None
    reference: str | None = None
    covariates: tuple[str, ...] = ()
    responders: tuple[ResponderDefinition, ...] | None = None
    primary: Literal["ancova", "mmrm", "lmm", "regression"] = "ancova"
    multiplicity: Literal["holm", "bonferroni", "none"] = "holm"
    mixed_model: MixedModelOptions = dataclasses.field(default_factory=MixedModelOptions)
    mmrm: MMRMOptions = dataclasses.field(default_factory=MMRMOptions)
    sensitivity: Sensitivity = dataclasses.field(default_factory=Sensitivity)
    estimand: Estimand = dataclasses.field(default_factory=Estimand)
    endpoint: float | None = None
    visit_window: float | None = None

    def __post_init__(self) -> None:
        where = "AnalysisPlan"
        for key, check in _PLAN_CHECKS.items():
            object.__setattr__(self, key, check(getattr(self, key), where, key))
        for unit_key, week_key in (("endpoint", "endpoint_week"), ("visit_window", "visit_window_days")):
            if getattr(self, unit_key) is not None and getattr(self, week_key) is not None:
                raise UsageError(f"{where}: both {week_key} and {unit_key} are given; give one: {unit_key} in the "
                                 f"dataset's time unit, or {week_key} for dated data.")
        if self.endpoint is None and self.endpoint_week is None:
            object.__setattr__(self, "endpoint_week", DEFAULT_OPTIONS.endpoint_week)
        if self.responders is None:
            object.__setattr__(self, "responders", _default_responders(self.outcome))
        _check_plan(self, where)

    def to_toml(self) -> str:
        """The plan as a TOML document with a comment on every field (what ``DIR/plan.toml`` holds)."""
        return _render(self, example=False)

    def sha256(self) -> str:
        """Hex SHA-256 of :meth:`to_toml`, for the provenance."""
        return hashlib.sha256(self.to_toml().encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the plan's fields, sequences as lists, responders as dicts."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key in ("outcomes", "visits", "covariates"):
            out[key] = list(out[key])
        out["responders"] = [dataclasses.asdict(r) for r in self.responders or ()]
        for key in TABLES:
            out[key] = dataclasses.asdict(getattr(self, key))
        out["sensitivity"]["tipping_point"] = list(self.sensitivity.tipping_point)
        return out

    @property
    def primary_responder(self) -> ResponderDefinition | None:
        """The first responder definition of the primary outcome (None when there is none)."""
        return next((r for r in self.responders or () if r.outcome == self.outcome), None)

    def options(self, base: Options | None = None, time: Any = None) -> Options:
        """``base`` (default :class:`~outcomes.config.Options`) with the plan's visits (in weeks),
        window (in days) and endpoint (in weeks) on the time axis ``time`` (an
        :class:`outcomes.io.description.TimeAxis`; default dated); everything else unchanged."""
        from .timing import plan_timing

        timing = plan_timing(self, time)
        return dataclasses.replace(base if base is not None else Options(), visits=timing.visits,
                                   visit_window_days=timing.window_days, endpoint_week=timing.endpoint_week)

    @property
    def all_outcomes(self) -> tuple[str, ...]:
        """The primary outcome, the secondary ones, then any other outcome a responder definition names."""
        names = [self.outcome, *self.outcomes, *(r.outcome for r in self.responders or ())]
        return tuple(dict.fromkeys(names))


def _responder_list(value: Any, where: str, key: str) -> tuple[ResponderDefinition, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(r, ResponderDefinition) for r in value):
        raise UsageError(f"{where}: {key} must be a list of ResponderDefinition, got {_show(value)}.")
    if len(value) > MAX_RESPONDERS:
        raise UsageError(f"{where}: {key} has {len(value):,} definitions; a plan may have at most {MAX_RESPONDERS}.")
    return tuple(value)


def _instance(cls: type) -> Callable[[Any, str, str], Any]:
    def check(value: Any, where: str, key: str) -> Any:
        if not isinstance(value, cls):
            raise UsageError(f"{where}: {key} must be a [{key}] table ({cls.__name__}), got {_show(value)}.")
        return value
    return check


_PLAN_CHECKS: dict[str, Callable[[Any, str, str], Any]] = {
    "outcome": _outcome,
    "outcomes": _outcome_list,
    "visits": _visits,
    "visit_window_days": _whole_or_none("days"),
    "endpoint_week": _positive_number("weeks"),
    "reference": _reference,
    "covariates": _covariates,
    "responders": _responder_list,
    "primary": _choice(PRIMARY),
    "multiplicity": _choice(MULTIPLICITY),
    "mixed_model": _instance(MixedModelOptions),
    "mmrm": _instance(MMRMOptions),
    "sensitivity": _instance(Sensitivity),
    "estimand": _instance(Estimand),
    "endpoint": _positive_number("(in the dataset's time unit; weeks for dated data)"),
    "visit_window": _positive_number("(in the dataset's time unit; days for dated data)", zero=True),
}
_PLAN_KEYS = tuple(f.name for f in dataclasses.fields(AnalysisPlan))


def _check_plan(plan: AnalysisPlan, where: str) -> None:
    """Checks across fields (each field is already valid on its own)."""
    if plan.outcome in plan.outcomes:
        raise UsageError(f"{where}: outcomes lists the primary outcome {_show(plan.outcome)}; "
                         f"list only secondary outcomes there.")
    if plan.endpoint is not None and plan.endpoint not in plan.visits:
        raise UsageError(f"{where}: endpoint = {_show(plan.endpoint)} is not one of the visits "
                         f"{list(plan.visits)}; add it to visits or choose one of them.")
    if plan.endpoint_week is not None and plan.endpoint_week not in plan.visits:
        raise UsageError(f"{where}: endpoint_week = {plan.endpoint_week} is not one of the visits "
                         f"{list(plan.visits)}; add it to visits or choose one of them (with a time unit other "
                         f"than weeks, give endpoint in that unit instead).")
    _no_duplicates(tuple(r.name for r in plan.responders or ()), where, "[[responders]] name")
    if plan.sensitivity.tipping_point and not plan.sensitivity.imputations:
        raise UsageError(f"{where}: [sensitivity] tipping_point needs imputations > 0 (it shifts imputed values); "
                         f"set imputations = 50 or tipping_point = [].")


def default_plan() -> AnalysisPlan:
    """The plan ``outcomes compare`` uses when none is given (the defaults of `outcomes.config.Options`)."""
    return AnalysisPlan()
