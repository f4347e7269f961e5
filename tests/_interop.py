"""One small synthetic trial written as the four exports, as a REDCap project and as ADaM (tests only).

The same patients, arms, covariates and outcome values in each layout, so each must give the same
analysis. Files are modelled on REDCap's and ADaM's formats; every value is made up here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ARMS = {"1": "TAU", "2": "BtheB"}
WEEKS = (0, 2, 4, 6)
EVENTS = {0: "baseline_arm_1", 2: "week_2_arm_1", 4: "week_4_arm_1", 6: "week_6_arm_1"}

DICTIONARY_HEADER = ('"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
                     '"Choices, Calculations, OR Slider Labels","Field Note",'
                     '"Text Validation Type OR Show Slider Number","Text Validation Min","Text Validation Max",'
                     'Identifier?,"Branching Logic (Show field only if...)","Required Field?","Custom Alignment",'
                     '"Question Number (surveys only)","Matrix Group Name","Matrix Ranking?","Field Annotation"')
DICTIONARY_ROWS = [
    'record_id,enrolment,,text,"Record ID",,,,,,,,,,,,,',
    'arm,enrolment,,radio,"Randomised arm","1, TAU | 2, BtheB",,,,,,,y,,,,,',
    'age,enrolment,,text,"Age (years)",,,integer,18,90,,,,,,,,',
    'sex,enrolment,,radio,Sex,"0, Female | 1, Male",,,,,,,,,,,,',
    'bmi,enrolment,,calc,BMI,"round([weight]/([height]*[height]),1)",,,,,,,,,,,,',
    'comorbid,enrolment,,checkbox,"Other conditions","1, Diabetes | 2, Asthma | 3, None of these",,,,,,,,,,,,',
    'leg_pain,outcomes,,text,"Leg pain (NRS)",,0-10,integer,0,10,,,,,,,,',
    'bdi,outcomes,,text,"Beck Depression Inventory",,,integer,0,63,,,,,,,,',
    'improved,outcomes,,yesno,"Feels improved?",,,,,,,,,,,,,',
    'log_date,session_log,,text,"Session date",,,date_ymd,,,,,,,,,,',
    'log_minutes,session_log,,text,"Minutes",,,integer,0,240,,,,,,,,',
]

REDCAP_TOML = """\
[source]
layout = "redcap"
file = "records.csv"
dictionary = "dictionary.csv"
missing = ["UNK", "-999"]

[columns]
schedule = "arm"
age_years = "age"
sex = "sex"

[time]
unit = "week"
[time.visits]
"baseline_arm_1" = 0
"week_2_arm_1" = 2
"week_4_arm_1" = 4
"week_6_arm_1" = 6

[outcomes.bdi]
higher_is_better = false
"""

ADAM_TOML = """\
[source]
layout = "adam"
file = "adqs.csv"
subjects = "adsl.csv"

[time]
unit = "week"

[outcomes.leg_pain]
paramcd = "LEGPAIN"

[outcomes.bdi]
label = "Beck Depression Inventory"
min = 0
max = 63
integer = true
higher_is_better = false
"""

BDI_TOML = """\
[outcomes.bdi]
label = "Beck Depression Inventory"
min = 0
max = 63
integer = true
higher_is_better = false
"""


def trial(n: int = 36, seed: int = 3) -> dict[str, pd.DataFrame]:
    """Patients and assessments (one row per patient and week; NaN where not assessed)."""
    rng = np.random.default_rng(seed)
    ids = [f"{100 + i}" for i in range(n)]
    arm = np.where(np.arange(n) % 2 == 0, "1", "2")
    age = rng.integers(20, 80, n)
    sex = rng.choice(["0", "1"], n)
    enrolled = pd.Timestamp("2025-02-03") + pd.to_timedelta(rng.integers(0, 90, n), unit="D")
    effect = np.where(arm == "2", 1.5, 0.0)
    rows = []
    for i in range(n):
        for j, w in enumerate(WEEKS):
            pain = np.clip(round(rng.normal(7 - 0.4 * w - effect[i] * w / 6, 1.5)), 0, 10)
            bdi = np.clip(round(rng.normal(25 - w - 2 * effect[i] * w / 6, 5)), 0, 63)
            if (i % 7 == 3 and w == 6) or (i % 11 == 5 and w == 4):
                pain = bdi = np.nan  # missed visits
            rows.append({"pid": ids[i], "week": w, "leg_pain": pain, "bdi": bdi})
    patients = pd.DataFrame({"pid": ids, "arm": arm, "age": age, "sex": sex, "enrolled": enrolled})
    return {"patients": patients, "assessments": pd.DataFrame(rows)}


def _num(v: float) -> str:
    return "" if pd.isna(v) else str(int(v))


def write_exports(folder: Path, data: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = data["patients"]
    pd.DataFrame({"patient_id": p["pid"], "enrolled_on": p["enrolled"].dt.strftime("%Y-%m-%d"),
                  "schedule": p["arm"].map(ARMS), "age_years": p["age"],
                  "sex": p["sex"].map({"0": "female", "1": "male"})}).to_csv(folder / "patients.csv", index=False)
    a = data["assessments"].dropna(subset=["leg_pain", "bdi"], how="all")
    on = a["pid"].map(p.set_index("pid")["enrolled"]) + pd.to_timedelta(a["week"] * 7, unit="D")
    pd.DataFrame({"patient_id": a["pid"], "assessed_on": on.dt.strftime("%Y-%m-%d"),
                  "leg_pain": a["leg_pain"].map(_num), "bdi": a["bdi"].map(_num)}).to_csv(
        folder / "assessments.csv", index=False)
    (folder / "dataset.toml").write_text(BDI_TOML, encoding="utf-8")
    return folder


def redcap_records(data: dict[str, pd.DataFrame]) -> str:
    """A longitudinal records export (raw codes): demographics on the baseline event only, a repeating
    session-log instrument, a checkbox field and a calculated field, as REDCap writes them."""
    p = data["patients"].set_index("pid")
    header = ["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance", "arm", "age",
              "sex", "bmi", "comorbid___1", "comorbid___2", "comorbid___3", "enrolment_complete", "leg_pain", "bdi",
              "improved", "outcomes_complete", "log_date", "log_minutes", "session_log_complete"]
    lines = [",".join(header)]
    for pid, rows in data["assessments"].groupby("pid", sort=False):
        info = p.loc[pid]
        for r in rows.itertuples(index=False):
            event = EVENTS[r.week]
            demo = ["", "", "", "", "", "", "", ""]
            if r.week == 0:
                demo = [info["arm"], str(info["age"]), info["sex"], f"{20 + int(pid) % 9}.5",
                        "1" if int(pid) % 3 == 0 else "0", "0", "1" if int(pid) % 3 else "0", "2"]
            improved = "" if pd.isna(r.leg_pain) else ("1" if r.leg_pain < 5 else "0")
            status = "" if pd.isna(r.leg_pain) and pd.isna(r.bdi) else "2"
            lines.append(",".join([pid, event, "", "", *demo, _num(r.leg_pain), _num(r.bdi), improved, status,
                                   "", "", ""]))
            if r.week == 2:  # two logged sessions in the week-2 event (a repeating instrument)
                for k in (1, 2):
                    lines.append(",".join([pid, event, "session_log", str(k), *[""] * 8, "", "", "", "",
                                           "2025-03-0" + str(k), str(20 + k), "2"]))
    return "\n".join(lines) + "\n"


def write_redcap(folder: Path, data: dict[str, pd.DataFrame], *, toml: str = REDCAP_TOML,
                 records: str | None = None, dictionary: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "records.csv").write_text(records if records is not None else redcap_records(data), encoding="utf-8")
    (folder / "dictionary.csv").write_text("\n".join([DICTIONARY_HEADER, *(dictionary or DICTIONARY_ROWS)]) + "\n",
                                           encoding="utf-8")
    (folder / "dataset.toml").write_text(toml, encoding="utf-8")
    return folder


def write_adam(folder: Path, data: dict[str, pd.DataFrame], *, extra_subjects: int = 0) -> Path:
    """ADSL (with ``extra_subjects`` screened but not randomised, ITTFL = "N") and a BDS ADQS with a
    parameter the description does not read (QSALL)."""
    folder.mkdir(parents=True, exist_ok=True)
    p = data["patients"]
    adsl = pd.DataFrame({"STUDYID": "TRIAL1", "USUBJID": p["pid"], "TRT01P": p["arm"].map(ARMS), "ITTFL": "Y",
                         "AGE": p["age"], "AGEU": "YEARS", "SEX": p["sex"].map({"0": "F", "1": "M"})})
    if extra_subjects:
        adsl = pd.concat([adsl, pd.DataFrame({"STUDYID": "TRIAL1", "USUBJID": [f"9{i:02d}" for i in range(extra_subjects)],
                                              "TRT01P": "", "ITTFL": "N", "AGE": 40, "AGEU": "YEARS", "SEX": "F"})])
    adsl.to_csv(folder / "adsl.csv", index=False)
    rows = []
    for r in data["assessments"].itertuples(index=False):
        for code, name in (("LEGPAIN", "leg_pain"), ("BDI", "bdi"), ("QSALL", "bdi")):
            value = getattr(r, name)
            if pd.isna(value):
                continue
            rows.append({"STUDYID": "TRIAL1", "USUBJID": r.pid, "PARAMCD": code, "PARAM": code.title(),
                         "AVISIT": "Baseline" if r.week == 0 else f"Week {r.week}", "AVISITN": r.week,
                         "AVAL": value + (100 if code == "QSALL" else 0), "ABLFL": "Y" if r.week == 0 else ""})
    pd.DataFrame(rows).to_csv(folder / "adqs.csv", index=False)
    (folder / "dataset.toml").write_text(ADAM_TOML, encoding="utf-8")
    return folder


def compare_document(folder: Path, out: Path, *extra: str) -> dict:
    """``outcomes compare FOLDER --format json`` as a dict (run in-process)."""
    import contextlib
    import io
    import json

    from outcomes.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(["compare", str(folder), "--out", str(out), "--format", "json", *extra])
    assert status == 0, status
    return json.loads(buf.getvalue())


def same_analysis(left: dict, right: dict) -> list[str]:
    """Keys of two compare documents that differ, ignoring provenance (paths, hashes, times), the fit
    times of the models and remarks that only describe the time axis (dates vs a time unit)."""
    def models(doc: dict) -> list[dict]:
        return [{k: v for k, v in m.items() if k not in ("fit_seconds", "remarks")} for m in doc["models"]]

    def about_time(a: list[str], b: list[str]) -> bool:
        return all("enrolment" in r for r in set(a) ^ set(b))

    differ = [k for k in left if k not in ("provenance", "models", "remarks") and left[k] != right[k]]
    if models(left) != models(right) or not all(about_time(m.get("remarks", []), n.get("remarks", []))
                                                for m, n in zip(left["models"], right["models"])):
        differ.append("models")
    if not about_time(left["remarks"], right["remarks"]):
        differ.append("remarks")
    return differ
