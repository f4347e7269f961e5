"""Tests of outcomes.models.multiplicity against R's p.adjust."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from outcomes.errors import UsageError
from outcomes.models.multiplicity import METHODS, adjust_frame, adjust_p

REF = json.loads((Path(__file__).parent / "reference" / "multiplicity_values.json").read_text())
CASES = [k for k in REF if k != "versions"]


def _floats(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES)
def test_equals_r_p_adjust(case: str, method: str) -> None:
    got = adjust_p(_floats(REF[case]["p"]), method)
    want = _floats(REF[case][method])
    assert got.shape == want.shape
    assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True)


def test_holm_is_between_raw_and_bonferroni_and_keeps_ties_equal() -> None:
    p = _floats(REF["random"]["p"])
    holm, bonf = adjust_p(p, "holm"), adjust_p(p, "bonferroni")
    assert (holm >= p).all() and (holm <= bonf).all() and (holm < bonf).any()
    tied = adjust_p([0.02, 0.01, 0.02], "holm")
    assert tied[0] == tied[2] == pytest.approx(0.04)


def test_series_and_lists_and_input_untouched() -> None:
    s = pd.Series([0.01, None, 0.04], index=["a", "b", "c"], name="p_value")
    before = s.copy()
    out = adjust_p(s)
    pd.testing.assert_series_equal(s, before)
    assert list(out.index) == ["a", "b", "c"] and out.name == "p_value"
    assert_allclose(out.to_numpy(), [0.02, np.nan, 0.04], equal_nan=True)
    assert_allclose(adjust_p([0.01, 0.04], "bonferroni"), [0.02, 0.08])


def test_adjust_frame_adjusts_each_family() -> None:
    frame = pd.DataFrame({"table": "pairwise", "outcome": ["pain", "pain", "odi", "odi", "odi"],
                          "term": ["b vs a", "c vs a", "b vs a", "c vs a", "c vs b"],
                          "p_value": [0.01, 0.04, 0.01, 0.02, 0.03]})
    before = frame.copy()
    out = adjust_frame(frame, method="holm", by="outcome")
    pd.testing.assert_frame_equal(frame, before)
    assert list(out.columns) == [*frame.columns, "p_adjusted", "method"]
    assert_allclose(out["p_adjusted"], [0.02, 0.04, 0.03, 0.04, 0.04])
    assert set(out["method"]) == {"holm"}
    assert_allclose(adjust_frame(frame, method="bonferroni")["p_adjusted"], [0.05, 0.2, 0.05, 0.1, 0.15])


def test_bad_requests_are_clear() -> None:
    with pytest.raises(UsageError, match=r"must be one of 'holm', 'bonferroni', 'none'; got 'hochberg'"):
        adjust_p([0.1], "hochberg")
    with pytest.raises(UsageError, match=r"between 0 and 1; got 1.5 \(position 1\)"):
        adjust_p([0.1, 1.5])
    with pytest.raises(UsageError, match=r"numbers between 0 and 1"):
        adjust_p(["a"])
    with pytest.raises(UsageError, match=r"no column 'p'"):
        adjust_frame(pd.DataFrame({"p_value": [0.1]}), p_column="p")
