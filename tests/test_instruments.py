"""Tests for outcomes.measures.instruments: ODI, RMDQ, PGIC and the scored frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from outcomes import load_dataset
from outcomes.measures.instruments import (
    ODI_ITEMS,
    PGIC_LABELS,
    odi_score,
    pgic_category,
    pgic_responder,
    rmdq_score,
    score_assessments,
)

# 16 points over ten sections (the worked example of Fairbank & Pynsent 2000).
SIXTEEN = [2, 2, 2, 2, 2, 2, 1, 1, 1, 1]


def _items(rows: list[list[float | None]], index: list[int] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(ODI_ITEMS), index=index).astype("Int64")
    return frame


# -------------------------------------------------------------------- ODI


def test_odi_worked_examples() -> None:
    one_missing = [None, *SIXTEEN[:6], 2, 1, 1]  # nine sections answered, still 16 points
    assert sum(v for v in one_missing if v is not None) == 16
    scores = odi_score(_items([SIXTEEN, one_missing]))
    assert_allclose(scores, [16 / 50 * 100, 16 / 45 * 100])
    assert_allclose(scores.round(2), [32.0, 35.56])
    assert scores.name == "odi" and scores.dtype == "float64"


def test_odi_more_than_max_missing_sections_is_missing() -> None:
    two_missing = [None, None, *SIXTEEN[2:]]  # 12 points over 8 sections
    assert np.isnan(odi_score(_items([two_missing])).iloc[0])
    assert_allclose(odi_score(_items([two_missing]), max_missing=2), [12 / 40 * 100])
    all_missing = [[None] * 10]
    assert np.isnan(odi_score(_items(all_missing), max_missing=9).iloc[0])


def test_odi_absent_columns_count_as_missing_sections() -> None:
    items = _items([SIXTEEN])
    assert_allclose(odi_score(items.drop(columns="odi_10")), [15 / 45 * 100])
    assert np.isnan(odi_score(items.drop(columns=["odi_9", "odi_10"])).iloc[0])
    assert np.isnan(odi_score(pd.DataFrame({"other": [1]})).iloc[0])


def test_odi_keeps_the_callers_index_and_leaves_input_alone() -> None:
    items = _items([SIXTEEN, [0] * 10], index=[7, 3])
    before = items.copy()
    scores = odi_score(items)
    assert list(scores.index) == [7, 3]
    assert_allclose(scores, [32.0, 0.0])
    pd.testing.assert_frame_equal(items, before)


@pytest.mark.parametrize(("value", "reason"), [(7, "odi_3 = 7 at line 12 is outside 0-5"),
                                               (-1, "odi_3 = -1 at line 12 is outside 0-5"),
                                               (2.5, "odi_3 = 2.5 at line 12 is not a whole number")])
def test_odi_rejects_items_off_the_scale(value: float, reason: str) -> None:
    items = _items([SIXTEEN, SIXTEEN], index=[11, 12]).astype("float64")
    items.index.name = "line"
    items.loc[12, "odi_3"] = value
    with pytest.raises(ValueError, match=reason):
        odi_score(items)


def test_odi_rejects_text_and_bad_max_missing() -> None:
    items = _items([SIXTEEN]).astype(object)
    items.loc[0, "odi_2"] = "two"
    with pytest.raises(ValueError, match="odi_2 = 'two' at row 0 is not a number"):
        odi_score(items)
    with pytest.raises(TypeError, match="max_missing must be an integer, got 1.5"):
        odi_score(_items([SIXTEEN]), max_missing=1.5)
    with pytest.raises(ValueError, match="max_missing must be between 0 and 9, got 10"):
        odi_score(_items([SIXTEEN]), max_missing=10)
    with pytest.raises(TypeError, match="items must be a pandas DataFrame, got list"):
        odi_score([SIXTEEN])


# -------------------------------------------------------------------- RMDQ


def test_rmdq_score_checks_and_keeps_missing() -> None:
    frame = pd.DataFrame({"rmdq": pd.array([0, 24, None, 11], dtype="Int64")})
    scores = rmdq_score(frame)
    assert_allclose(scores, [0, 24, np.nan, 11])
    assert scores.name == "rmdq"
    assert_allclose(rmdq_score(frame["rmdq"]), scores)
    with pytest.raises(ValueError, match="rmdq = 25 at row 1 is outside 0-24"):
        rmdq_score(pd.DataFrame({"rmdq": [3, 25]}))
    with pytest.raises(ValueError, match="rmdq = 3.5 at row 0 is not a whole number"):
        rmdq_score(pd.Series([3.5]))
    with pytest.raises(ValueError, match="frame has no column 'rmdq'"):
        rmdq_score(pd.DataFrame({"odi": [3]}))


# -------------------------------------------------------------------- PGIC


def test_pgic_category_labels() -> None:
    cats = pgic_category(pd.Series([1, 4, None, 7], dtype="Int64"))
    assert list(cats.categories) == list(PGIC_LABELS)
    assert len(PGIC_LABELS) == 7
    assert cats[0] == "very much improved" and cats[1] == "no change" and cats[3] == "very much worse"
    assert pd.isna(cats[2])
    assert cats.ordered and cats[0] < cats[3]
    assert list(pgic_category([2, 3, 5, 6])) == ["much improved", "minimally improved",
                                                 "minimally worse", "much worse"]
    with pytest.raises(ValueError, match="pgic = 8 at row 1 is outside 1-7"):
        pgic_category([1, 8])


def test_pgic_responder_is_much_or_very_much_improved() -> None:
    values = pd.Series([1, 2, 3, 4, 7, None], dtype="Int64", index=list("abcdef"))
    flags = pgic_responder(values)
    assert flags.dtype == "boolean"
    assert list(flags.index) == list("abcdef")
    assert flags.tolist() == [True, True, False, False, False, pd.NA]
    assert pgic_responder(values, at_most=1).tolist() == [True, False, False, False, False, pd.NA]
    with pytest.raises(ValueError, match="pgic = 0 at row 0 is outside 1-7"):
        pgic_responder([0])


# ------------------------------------------------------------ scored frame


def _assessments() -> pd.DataFrame:
    """Four assessments on line-number index: items, too few items + total, neither, items + total."""
    items = _items([SIXTEEN, [None, None, *SIXTEEN[2:]], [None] * 10, [0] * 10], index=[2, 3, 4, 5])
    frame = pd.DataFrame({
        "patient_id": ["A", "A", "B", "C"],
        "assessed_on": pd.to_datetime(["2026-01-05", "2026-01-19", "2026-01-06", "2026-01-07"]),
        "leg_pain": pd.array([7, 5, None, 0], dtype="Int64"),
        "back_pain": pd.array([3, 3, 2, 1], dtype="Int64"),
        "odi": [50.0, 44.0, np.nan, 12.0],
        "pgic": pd.array([None, 2, 5, 1], dtype="Int64"),
        "rf_saddle_anaesthesia": pd.array([False, True, False, None], dtype="boolean"),
        "rf_bladder_bowel": pd.array([False, None, None, None], dtype="boolean"),
    }, index=[2, 3, 4, 5])
    return pd.concat([frame, items], axis=1).rename_axis("line")


def test_score_assessments_hand_checked() -> None:
    data = _assessments()
    before = data.copy()
    scored = score_assessments(data)
    pd.testing.assert_frame_equal(data, before)  # input untouched
    assert isinstance(scored.index, pd.RangeIndex) and list(scored.index) == [0, 1, 2, 3]
    assert scored["patient_id"].tolist() == ["A", "A", "B", "C"]
    assert (scored["assessed_on"].to_numpy() == data["assessed_on"].to_numpy()).all()
    # items when they score, else the recorded total, else missing
    assert_allclose(scored["odi"], [32.0, 44.0, np.nan, 0.0])
    assert scored["odi_source"].tolist()[:2] == ["items", "total"]
    assert pd.isna(scored["odi_source"].iloc[2]) and scored["odi_source"].iloc[3] == "items"
    assert_allclose(scored["leg_pain"], [7, 5, np.nan, 0])
    assert scored["leg_pain"].dtype == "float64"
    assert scored["pgic"].tolist() == [pd.NA, 2, 5, 1]
    assert scored["pgic_responder"].tolist() == [pd.NA, True, False, True]
    # any rf_* true -> True; all false -> False; none true but one unknown -> NA
    assert scored["red_flag"].tolist() == [False, True, pd.NA, pd.NA]
    # sources absent from the export give no column
    for absent in ("rmdq", "numbness", "slr_deg"):
        assert absent not in scored.columns


def test_score_assessments_is_row_wise_so_order_does_not_matter() -> None:
    data = _assessments()
    order = [3, 1, 0, 2]
    shuffled = score_assessments(data.iloc[order])
    expected = score_assessments(data).iloc[order].reset_index(drop=True)
    pd.testing.assert_frame_equal(shuffled, expected)


def test_score_assessments_total_only_and_items_only() -> None:
    data = _assessments()
    totals = score_assessments(data.drop(columns=list(ODI_ITEMS)))
    assert_allclose(totals["odi"], [50.0, 44.0, np.nan, 12.0])
    items = score_assessments(data.drop(columns="odi"))
    assert_allclose(items["odi"], [32.0, np.nan, np.nan, 0.0])
    neither = score_assessments(data.drop(columns=["odi", *ODI_ITEMS]))
    assert "odi" not in neither.columns and "odi_source" not in neither.columns


@pytest.mark.parametrize(("column", "value", "message"), [
    ("leg_pain", 11, "leg_pain = 11 at line 4 is outside 0-10"),
    ("odi", 120.0, "odi = 120 at line 4 is outside 0-100"),
    ("odi_7", 6, "odi_7 = 6 at line 4 is outside 0-5"),
    ("pgic", 9, "pgic = 9 at line 4 is outside 1-7"),
])
def test_score_assessments_names_column_value_and_line(column: str, value: float, message: str) -> None:
    data = _assessments()
    data[column] = data[column].astype("float64")
    data.loc[4, column] = value
    with pytest.raises(ValueError, match=message):
        score_assessments(data)


def test_score_assessments_argument_errors() -> None:
    data = _assessments()
    with pytest.raises(ValueError, match="assessments has no column 'assessed_on'"):
        score_assessments(data.drop(columns="assessed_on"))
    with pytest.raises(TypeError, match=r"assessments\['assessed_on'\] must hold dates"):
        score_assessments(data.assign(assessed_on=data["assessed_on"].dt.strftime("%Y-%m-%d")))
    with pytest.raises(TypeError, match="options must be an outcomes.config.Options, got dict"):
        score_assessments(data, options={})
    with pytest.raises(TypeError, match="rf_bladder_bowel must be boolean"):
        score_assessments(data.assign(rf_bladder_bowel=["x", "y", "z", "w"]))


def test_score_assessments_on_a_loaded_dataset(valid_dir: Path) -> None:
    assessments = load_dataset(valid_dir).frames()["assessments"]
    scored = score_assessments(assessments)
    assert isinstance(scored.index, pd.RangeIndex)
    # P001 on 2026-01-05: sections 3,2,2,3,1,2,1,0,2,1 = 17 of 50 (conftest.ASSESSMENTS)
    assert scored["odi"].iloc[0] == pytest.approx(34.0)
    assert scored["odi_source"].iloc[0] == "items"
    assert scored["rmdq"].tolist() == [12, 8, 15, 10]
    assert scored["red_flag"].tolist() == [False] * 4
