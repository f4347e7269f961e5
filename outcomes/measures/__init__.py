"""Clinical measures: pure functions on data frames (instruments, change, adherence, progression, safety).

Every public name is importable from here, e.g.
``from outcomes.measures import odi_score, reliable_change, is_responder``.
"""

from __future__ import annotations

from .adherence import overall_adherence, weekly_adherence
from .change import (
    RC_CATEGORIES,
    classify_reliable_change,
    is_responder,
    outcome_changes,
    percent_change,
    reliable_change,
    reliable_change_errors,
    select_baseline,
    value_at_week,
)
from .instruments import ODI_ITEMS, PGIC_LABELS, odi_score, pgic_category, pgic_responder, rmdq_score, score_assessments
from .progression import days_at_level, highest_level, level_by_day, level_changes, progression_fidelity
from .safety import FLAG_COLUMNS, RULES, stop_and_consult_flags
from .schedules import SCHEDULE_DIR, Schedule, load_schedule, load_schedules

__all__ = [
    "FLAG_COLUMNS",
    "ODI_ITEMS",
    "PGIC_LABELS",
    "RC_CATEGORIES",
    "RULES",
    "SCHEDULE_DIR",
    "Schedule",
    "classify_reliable_change",
    "days_at_level",
    "highest_level",
    "is_responder",
    "level_by_day",
    "level_changes",
    "load_schedule",
    "load_schedules",
    "odi_score",
    "outcome_changes",
    "overall_adherence",
    "percent_change",
    "pgic_category",
    "pgic_responder",
    "progression_fidelity",
    "reliable_change",
    "reliable_change_errors",
    "rmdq_score",
    "score_assessments",
    "select_baseline",
    "stop_and_consult_flags",
    "value_at_week",
    "weekly_adherence",
]
