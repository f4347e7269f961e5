"""Configuration in one place: clinical defaults, each with its source.

Every threshold the measures, cohort, models and reports use lives here as a
frozen dataclass field, so an analysis can be re-run with other values
(``dataclasses.replace``) and its outputs can record exactly what was used.
Each default names its published source beside it; the visit schedule, the
windows and the program's dose are the program's own conventions, documented
here as such. Downstream code takes these values from here (or from the
`Options` it was given) and never repeats them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "InstrumentSpec",
    "Options",
    "ResponderRule",
    "SafetyThresholds",
    "DEFAULT_INSTRUMENTS",
    "DEFAULT_OPTIONS",
    "DEFAULT_VISIT_WEEKS",
    "EARLIEST_DATE",
    "PROGRAM_WEEKS",
    "SIMULATION_FIGURES",
    "SimulationFigure",
]

#: Planned assessment weeks since enrolment: baseline, every two weeks to the endpoint
#: (week 6, `Options.endpoint_week`), then follow-up at weeks 8 and 12. An endpoint at
#: program end (week 4-6) is usual in trials of these outcomes; the ICHOM low back pain
#: set adds 3, 6 and 12 months for longer follow-up.
DEFAULT_VISIT_WEEKS: tuple[int, ...] = (0, 2, 4, 6, 8, 12)

#: Length of the glide program in weeks (sessions from day 0 to day 7 x 12 - 1; the last
#: planned visit is at program end). Patient pages draw every time axis from 0 to this.
PROGRAM_WEEKS: int = 12

#: Dates before this are not plausible for a clinical record (typos such as 0001-01-01);
#: ``--earliest-date`` changes it.
EARLIEST_DATE: str = "1900-01-01"


@dataclass(frozen=True)
class SimulationFigure:
    """One figure the simulator is calibrated to: the value used, what it means, and where it comes from."""

    value: float
    meaning: str
    source: str


#: The published figures (or, where none exists, the stated assumptions) behind the simulator's
#: defaults (`outcomes.simulate.SimulationTruth`). A figure marked "assumption" has no published
#: per-session estimate; it is set so that the rule it drives behaves as reported in practice.
SIMULATION_FIGURES: dict[str, SimulationFigure] = {
    "baseline_leg_pain": SimulationFigure(
        6.5, "mean leg pain (NRS 0-10) at enrolment in sciatica",
        "baseline leg pain about 6/10 in primary-care sciatica (Mathieson et al. 2017, N Engl J Med 376:1111)"),
    "leg_pain_change_8_weeks": SimulationFigure(
        -2.5, "mean change in leg pain by week 8 (points), schedule and adherence effects included",
        "about 3 points of improvement by week 8 with usual care (Mathieson et al. 2017, N Engl J Med 376:1111)"),
    "adherence_mean": SimulationFigure(
        0.7, "mean share of prescribed home sessions done",
        "non-adherence to home exercise is common, up to 50-70 % of patients (Jack et al. 2010, "
        "Man Ther 15:220)"),
    "session_pain_sd": SimulationFigure(
        0.7, "day-to-day SD of pain before a session around the patient's current level (points)",
        "assumption: within-person day-to-day NRS variation below 1 point, smaller than the 2-point minimal "
        "important change (Farrar et al. 2001, Pain 94:149)"),
    "flare_prob": SimulationFigure(
        0.002, "chance a session raises pain by 2 or more points",
        "assumption: no published per-session rate; gentle glides are meant not to provoke pain, so flares "
        "are uncommon (a few per patient-year of twice-daily sessions)"),
    "flare_prob_after_level_change": SimulationFigure(
        0.015, "chance in the first 3 sessions after a level change",
        "assumption: progression is when symptoms are most often provoked"),
    "red_flag_prob": SimulationFigure(
        0.001, "chance each red-flag item is recorded at an assessment (about 1.5 % of patients over 6 visits)",
        "red-flag features are common but serious pathology rare: about 1 % of primary-care low back pain "
        "(Henschke et al. 2009, Arthritis Rheum 60:3072), cauda equina about 0.04 % (Deyo et al. 1992, "
        "JAMA 268:760); sciatica clinics see more"),
    "red_flag_referral_prob": SimulationFigure(
        0.8, "chance a patient with a red flag is referred and stops the program that day",
        "assumption: urgent referral is the guideline response to red flags; the rest keep logging sessions, "
        "which the audit should catch"),
    "dropout_12_weeks": SimulationFigure(
        0.2, "share of patients who drop out by week 12 (logistic in current leg pain, alpha -4.2, beta 0.25)",
        "assumption: about one in five lost by 12 weeks, the usual order in trials of exercise for back pain"),
}


@dataclass(frozen=True)
class ResponderRule:
    """When a change counts as a clinically important improvement.

    Improvement is measured in the instrument's "better" direction (a fall for
    pain and disability). ``points`` is the minimal important change in the
    instrument's units, ``percent`` the minimal relative change; ``combine``
    says whether both (``"all"``) or either (``"any"``) must hold.
    ``endpoint_at_most`` optionally adds a state rule: the endpoint value is
    at most this (e.g. NRS 0 or 1, "pain-free or nearly"; Ashar et al. 2022).
    """

    points: float | None = None
    percent: float | None = None
    combine: Literal["all", "any"] = "all"
    endpoint_at_most: float | None = None


@dataclass(frozen=True)
class InstrumentSpec:
    """A scored outcome: its column, range, direction, responder rule and reliability."""

    name: str
    column: str
    label: str
    unit: str
    low: float
    high: float
    higher_is_worse: bool
    responder: ResponderRule
    reliability: float
    reliability_source: str
    responder_source: str


def _nrs(name: str, label: str) -> InstrumentSpec:
    """A 0-10 pain numeric rating scale with the NRS responder rule and reliability."""
    return InstrumentSpec(
        name=name, column=name, label=label, unit="NRS 0-10", low=0, high=10,
        higher_is_worse=True, responder=ResponderRule(points=2, percent=30, combine="all"),
        reliability=0.95,
        reliability_source="NRS test-retest reliability r = 0.95-0.96 (Ferraz et al. 1990, J Rheumatol 17:1022)",
        responder_source="Farrar et al. 2001, Pain 94:149; Ostelo et al. 2008, Spine 33:90",
    )


#: Leg and back pain NRS: 2 points and 30 % (both), Farrar et al. 2001, Pain 94:149;
#: Ostelo et al. 2008, Spine 33:90. ODI: 10 points or 30 %; RMDQ: 5 points or 30 %
#: (either), Ostelo et al. 2008. Reliabilities are test-retest coefficients used by the
#: Jacobson-Truax reliable change index; they are defaults to be replaced by a local
#: or better-matched published estimate.
DEFAULT_INSTRUMENTS: dict[str, InstrumentSpec] = {
    "leg_pain": _nrs("leg_pain", "Leg pain"),
    "back_pain": _nrs("back_pain", "Back pain"),
    "odi": InstrumentSpec(
        name="odi", column="odi", label="Oswestry Disability Index", unit="% (0-100)", low=0, high=100,
        higher_is_worse=True, responder=ResponderRule(points=10, percent=30, combine="any"),
        reliability=0.83,
        reliability_source="ODI test-retest reliability, lowest value reviewed (0.83) in Fairbank & Pynsent 2000, "
                           "Spine 25:2940",
        responder_source="Ostelo et al. 2008, Spine 33:90",
    ),
    "rmdq": InstrumentSpec(
        name="rmdq", column="rmdq", label="Roland-Morris Disability Questionnaire", unit="0-24", low=0, high=24,
        higher_is_worse=True, responder=ResponderRule(points=5, percent=30, combine="any"),
        reliability=0.83,
        reliability_source="RMDQ test-retest reliability, lower end (0.83) of values reviewed in Roland & Fairbank "
                           "2000, Spine 25:3115",
        responder_source="Ostelo et al. 2008, Spine 33:90",
    ),
}


@dataclass(frozen=True)
class SafetyThresholds:
    """Stop-and-consult rules.

    They turn the program's advice (stop and consult if pain becomes severe or
    symptoms worsen) into thresholds: 8/10 or more is severe pain, and a rise of
    2 points is the NRS minimal important change (Farrar et al. 2001, Pain
    94:149) applied to worsening. Red flags (cauda equina signs, progressive
    motor weakness) always need urgent referral, whatever the thresholds.
    """

    #: In-session pain (before or after) at or above this is severe (≥ 8/10).
    severe_pain: int = 8
    #: pain_after − pain_before at or above this is a session flare (≥ 2 points).
    flare_rise: int = 2
    #: Leg pain this many points above baseline ...
    worsening_points: int = 2
    #: ... at this many consecutive assessments is sustained worsening.
    worsening_consecutive: int = 2
    #: No session logged for this many days while enrolled is disengagement.
    disengagement_days: int = 7
    #: An episode ending within this many days of the patient's latest data is active.
    active_days: int = 14
    #: An older episode is resolved once followed by this many sessions without the flag
    #: (assessment rules: one later assessment without it).
    resolved_after_sessions: int = 3


@dataclass(frozen=True)
class Options:
    """Every default of the measures and the cohort, in one place.

    The analysis plan (`outcomes.plan.AnalysisPlan`) takes its visit, window and
    endpoint defaults from here, and so does the simulator's visit schedule.
    """

    #: Baseline = the last assessment on or before enrolment + this many days.
    baseline_window_days: int = 7
    #: Planned visit weeks; each takes the nearest assessment within ``visit_window_days``.
    visits: tuple[int, ...] = DEFAULT_VISIT_WEEKS
    visit_window_days: int = 7
    #: The endpoint (program end) week for change and responder status.
    endpoint_week: int = 6
    #: Length of the program in weeks (time axes of patient pages run from 0 to this).
    program_weeks: int = PROGRAM_WEEKS
    #: Sessions per week, sets and reps assumed when there is no prescription.
    default_sessions_per_week: int = 14
    default_sets: int = 2
    default_reps: int = 10
    instruments: dict[str, InstrumentSpec] = field(default_factory=lambda: dict(DEFAULT_INSTRUMENTS))
    safety: SafetyThresholds = field(default_factory=SafetyThresholds)
    #: Days after discharge still accepted for sessions and assessments (validation).
    grace_days: int = 14


DEFAULT_OPTIONS = Options()
