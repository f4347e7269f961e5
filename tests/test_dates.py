"""Dates: ISO, day-first and month-first inferred per file, ambiguous values never guessed."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import ASSESSMENTS, PATIENTS, SESSIONS, write_dataset
from outcomes import load_dataset
from outcomes.io.dates import PROBLEMS, DateColumn, infer_date_order

CODE = {v: k for k, v in PROBLEMS.items()} | {0: ""}


def _problems(c: DateColumn) -> list[str]:
    return [CODE[int(v)] for v in c.problem]

NA = ("", "NA")


def _col(values):
    return DateColumn.parse(pd.Series(values, dtype="str"), NA)


def _iso(s: pd.Series) -> list[str]:
    return [("" if pd.isna(v) else v.strftime("%Y-%m-%d")) for v in s]


def test_iso_dates_and_datetimes_with_or_without_time():
    c = _col(["2026-03-04", "2026-03-04T08:30", "2026-03-04 08:30:15", "", "NA"])
    c.resolve(None)
    assert c.values.iloc[1] == pd.Timestamp("2026-03-04 08:30")
    assert c.values.iloc[2] == pd.Timestamp("2026-03-04 08:30:15")
    assert c.missing.tolist() == [False, False, False, True, True]
    assert (c.problem == 0).all()


def test_impossible_calendar_dates_are_problems():
    c = _col(["2026-02-30", "2025-02-29", "2024-02-29", "31/04/2026"])
    c.resolve("dayfirst")
    assert _problems(c) == ["impossible", "impossible", "", "impossible"]


def test_day_first_is_inferred_from_a_day_above_12():
    a, b = _col(["13/02/2026", "03/04/2026"]), _col(["01/02/2026"])
    order, note = infer_date_order([a, b])
    assert order == "dayfirst" and "inferred from 1" in note
    a.resolve(order)
    assert _iso(a.values) == ["2026-02-13", "2026-04-03"]


def test_month_first_is_inferred_from_a_second_part_above_12():
    a = _col(["02/13/2026", "03/04/2026"])
    order, _ = infer_date_order([a])
    a.resolve(order)
    assert order == "monthfirst" and _iso(a.values) == ["2026-02-13", "2026-03-04"]


@pytest.mark.parametrize("values", [["03/04/2026", "05/06/2026"], ["13/02/2026", "02/13/2026", "03/04/2026"]])
def test_unsettled_order_quarantines_ambiguous_values_only(values):
    c = _col(values + ["07/07/2026"])
    order, note = infer_date_order([c])
    assert order is None and "--dayfirst" in note
    c.resolve(order)
    assert _problems(c)[-1] == "" and _iso(c.values)[-1] == "2026-07-07"
    assert set(_problems(c)[:-1]) == {"ambiguous"}


def test_forced_order_wins_and_contradictions_become_impossible():
    c = _col(["03/04/2026", "02/13/2026"])
    order, note = infer_date_order([c], "dayfirst")
    c.resolve(order)
    assert _iso(c.values)[0] == "2026-04-03"
    assert _problems(c) == ["", "impossible"] and "contradict" in note


def test_excel_serials_and_other_text():
    c = _col(["46034", "46034.5", "12", "next tuesday", "3/4/26"])
    c.resolve(None)
    assert c.values.iloc[0] == pd.Timestamp("2026-01-12")
    assert c.values.iloc[1] == pd.Timestamp("2026-01-12 12:00")
    assert _problems(c) == ["", "", "not_a_date", "not_a_date", "not_a_date"]
    assert c.serials == 2


def test_one_order_for_all_date_columns_of_a_file(tmp_path):
    # enrolled_on alone is ambiguous; discharged_on settles day-first for the whole file
    text = (PATIENTS.replace("2026-01-05", "05/01/2026").replace("2026-03-30", "30/03/2026")
            .replace("2026-01-12", "12/01/2026").replace("2026-01-19", "19/01/2026")
            .replace("2026-02-16", "16/02/2026"))
    d = write_dataset(tmp_path / "d", {"patients": text})
    ds = load_dataset(d)
    r = ds.exports["patients"]
    assert r.status == "ok" and r.detected["date_order"] == "dayfirst"
    assert _iso(ds["patients"]["enrolled_on"]) == ["2026-01-05", "2026-01-12", "2026-01-19"]


def test_ambiguous_file_quarantines_and_asks_for_a_flag_then_the_flag_fixes_it(tmp_path):
    text = ASSESSMENTS.replace("2026-01-05", "05/01/2026").replace("2026-01-19", "19/01/2026")
    text = text.replace("P002,2026-01-12", "P002,12/01/2026")  # day 12 -> ambiguous with 01
    sess = SESSIONS.replace("2026-01-05T08:30", "05/01/2026 08:30")
    d = write_dataset(tmp_path / "d", {"assessments": text.replace("19/01/2026", "2026-01-19"), "sessions": sess})
    ds = load_dataset(d)
    a = ds.exports["assessments"]
    assert a.detected["date_order"] is None
    bad = a.errors[a.errors.rule == "date_order"]
    assert bad["line"].tolist() == [2, 4]
    assert "--dayfirst or --monthfirst" in bad["reason"].iloc[0]
    fixed = load_dataset(d, date_order="dayfirst")
    assert fixed.exports["assessments"].status == "ok"
    assert fixed["sessions"]["performed_at"].iloc[0] == pd.Timestamp("2026-01-05 08:30")
    assert ds.exports["sessions"].errors["rule"].tolist() == ["date_order"]


@pytest.mark.parametrize("odd", ["2026-01-05T10:00+01", "2026-01-05 10:00 UTC", "2026-01-05T10:00+01:00[Europe/Paris]"])
def test_an_oddly_written_offset_spoils_only_its_own_row(odd):
    # one offset spelled in a way pandas' ISO reader refuses beside a standard one used to leave every
    # timestamp of the column unparsed ("not a real calendar date" on all 1,967 sessions of a file)
    values = ["2026-01-05T08:30", "2026-01-05T09:00+02:00", odd, "2026-01-06T19:00", ""]
    col = DateColumn.parse(pd.Series(values, dtype="str"), ("",), timezone="UTC")
    col.resolve(None)
    problem = col.problem.to_numpy()
    assert (problem[[0, 1, 3, 4]] == 0).all() and problem[2] != 0
    assert col.values.iloc[0] == pd.Timestamp("2026-01-05 08:30")
    assert col.values.iloc[1] == pd.Timestamp("2026-01-05 07:00")  # +02:00 converted to the clinic's UTC
