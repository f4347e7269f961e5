"""Issue 10, item 7: one trial written as the four exports, as one long file and as one wide file
(each with its dataset.toml) gives the same `compare` JSON. Data is written by the test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _interop import ARMS, BDI_TOML, WEEKS, compare_document, same_analysis, trial, write_exports

SEX = {"0": "female", "1": "male"}

COMMON = """\
[columns]
patient_id = "subject"
schedule = "arm"
age_years = "age"

[values.schedule]
"1" = "TAU"
"2" = "BtheB"

[values.sex]
"0" = "female"
"1" = "male"
"""


@pytest.fixture(scope="module")
def data() -> dict[str, pd.DataFrame]:
    return trial()


def _patients(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    p = data["patients"]
    return pd.DataFrame({"subject": p["pid"], "arm": p["arm"], "age": p["age"], "sex": p["sex"]})


def _cell(v: float) -> str:
    return "" if pd.isna(v) else str(int(v))


def write_long(folder: Path, data: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir(parents=True)
    a = data["assessments"]
    rows = a.merge(_patients(data), left_on="pid", right_on="subject").sort_values(["subject", "week"])
    pd.DataFrame({"subject": rows["subject"], "arm": rows["arm"], "age": rows["age"], "sex": rows["sex"],
                  "week": rows["week"], "leg_pain": rows["leg_pain"].map(_cell),
                  "bdi": rows["bdi"].map(_cell)}).to_csv(folder / "trial.csv", index=False)
    (folder / "dataset.toml").write_text(
        '[source]\nlayout = "long"\nfile = "trial.csv"\n\n' + COMMON
        + '\n[time]\nunit = "week"\ncolumn = "week"\n\n' + BDI_TOML, encoding="utf-8")
    return folder


def write_wide(folder: Path, data: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir(parents=True)
    wide = _patients(data).set_index("subject")
    a = data["assessments"].set_index(["pid", "week"])
    for outcome in ("leg_pain", "bdi"):
        for w in WEEKS:
            wide[f"{outcome}.w{w}"] = [_cell(a.loc[(pid, w), outcome]) for pid in wide.index]
    wide.reset_index().to_csv(folder / "trial.csv", index=False)
    columns = {o: ", ".join(f'"{o}.w{w}" = {w}' for w in WEEKS) for o in ("leg_pain", "bdi")}
    (folder / "dataset.toml").write_text(
        '[source]\nlayout = "wide"\nfile = "trial.csv"\n\n' + COMMON + '\n[time]\nunit = "week"\n\n'
        + f'[outcomes.leg_pain]\ncolumns = {{ {columns["leg_pain"]} }}\n\n'
        + BDI_TOML + f'columns = {{ {columns["bdi"]} }}\n', encoding="utf-8")
    return folder


@pytest.mark.parametrize("layout", ["long", "wide"])
def test_long_and_wide_give_the_same_compare_json_as_the_exports(tmp_path, data, layout):
    assert set(ARMS.values()) == {"TAU", "BtheB"} and set(SEX) == set(data["patients"]["sex"])
    exports = compare_document(write_exports(tmp_path / "exports", data), tmp_path / "out1")
    writer = write_long if layout == "long" else write_wide
    other = compare_document(writer(tmp_path / layout, data), tmp_path / "out2")
    assert exports["models"] and same_analysis(exports, other) == []


def test_descriptives_carry_time_in_the_dataset_unit(tmp_path, data):
    from outcomes import Cohort
    from outcomes.models.trial import descriptives

    folder = write_long(tmp_path / "days", data)
    text = (folder / "trial.csv").read_text().splitlines()
    rows = [line.split(",") for line in text]
    week_col = rows[0].index("week")
    for r in rows[1:]:
        r[week_col] = str(int(r[week_col]) * 7)  # the same visits, written in days
    (folder / "trial.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    toml = (folder / "dataset.toml").read_text().replace('unit = "week"', 'unit = "day"')
    (folder / "dataset.toml").write_text(toml)
    out = descriptives(Cohort.from_folder(folder), outcomes=["leg_pain"], visits=list(WEEKS))
    assert sorted(set(out["week"])) == [0, 2, 4, 6]
    assert sorted(set(out["time"])) == [0, 14, 28, 42]
