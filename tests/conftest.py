"""Shared fixtures: a small valid dataset written as text, so each test can corrupt one thing."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]

PATIENTS = """\
patient_id,site_id,clinician_id,enrolled_on,age_years,sex,affected_side,symptom_duration_weeks,diagnosis,schedule,discharged_on,discharge_reason
P001,S01,C01,2026-01-05,54,female,left,12,lumbar radiculopathy,weekly,2026-03-30,completed
P002,S01,C02,2026-01-12,61,male,right,30.5,sciatica,guided,,
P003,S02,C03,2026-01-19,47,female,bilateral,8,sciatica,guided,2026-02-16,dropped_out
"""

PRESCRIPTIONS = """\
patient_id,valid_from,level,exercise,sessions_per_week,sets,reps
P001,2026-01-05,1,seated slider,14,2,10
P001,2026-01-12,2,supine slider,14,2,12
P002,2026-01-12,1,seated slider,14,2,10
P003,2026-01-19,1,seated slider,14,2,10
"""

SESSIONS = """\
session_id,patient_id,performed_at,exercise,glide_type,position,level,sets_done,reps_done,pain_before,pain_after,response,stopped_early,note
X1,P001,2026-01-05T08:30,seated slider,slider,seated,1,2,20,5,4,better,false,
X2,P001,2026-01-05T19:00,seated slider,slider,seated,1,2,20,5,5,same,false,tight behind knee
X3,P001,2026-01-12T08:00,supine slider,slider,supine,2,2,24,4,6,worse,true,
X4,P002,2026-01-13T09:15,seated slider,slider,seated,1,2,20,7,6,better,false,
X5,P003,2026-01-20T10:00,seated slider,slider,seated,1,2,20,6,6,same,false,
"""

ASSESSMENTS = """\
patient_id,assessed_on,leg_pain,back_pain,numbness,odi_1,odi_2,odi_3,odi_4,odi_5,odi_6,odi_7,odi_8,odi_9,odi_10,rmdq,slr_deg,pgic,rf_saddle_anaesthesia,rf_bladder_bowel,rf_progressive_weakness
P001,2026-01-05,7,5,3,3,2,2,3,1,2,1,0,2,1,12,45,,false,false,false
P001,2026-01-19,5,4,2,2,2,1,2,1,1,1,0,1,1,8,55,3,false,false,false
P002,2026-01-12,8,6,4,3,3,3,3,2,2,2,1,2,2,15,40,,false,false,false
P003,2026-01-19,6,3,1,2,2,2,2,1,1,1,0,1,1,10,50,,false,false,false
"""

VALID = {"patients": PATIENTS, "prescriptions": PRESCRIPTIONS, "sessions": SESSIONS,
         "assessments": ASSESSMENTS}


def write_dataset(folder: Path, overrides: dict[str, str | bytes | None] | None = None,
                  *, suffix: str = ".csv") -> Path:
    """Write the valid dataset to ``folder``; ``overrides`` replace (or, with None, drop) exports."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {**VALID, **(overrides or {})}
    for name, content in files.items():
        if content is None:
            continue
        path = folder / f"{name}{suffix}"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
    return folder


def replace_line(text: str, line: int, new: str) -> str:
    """Replace 1-based ``line`` of CSV ``text``."""
    rows = text.splitlines()
    rows[line - 1] = new
    return "\n".join(rows) + "\n"


@pytest.fixture
def valid_dir(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONWARNINGS"] = "ignore"
    return env
