"""Output safety: atomic writes, formula neutralisation, names that stay in the output folder."""

from __future__ import annotations


import pandas as pd
import pytest

from outcomes.io.writers import atomic_write_text, frame_to_csv_text, neutralise_formulas, output_path


def test_neutralise_formulas_but_not_numbers_or_plain_text():
    f = pd.DataFrame({"note": ["=1+1", "+SUM(A1)", "-cmd", "@x", "\tx", "-3", "+4.5", "fine", None],
                      "n": [1, 2, 3, 4, 5, 6, 7, 8, 9]})
    out = neutralise_formulas(f)
    assert out["note"].tolist()[:5] == ["'=1+1", "'+SUM(A1)", "'-cmd", "'@x", "'\tx"]
    assert out["note"].tolist()[5:8] == ["-3", "+4.5", "fine"] and pd.isna(out["note"].iloc[8])
    assert f["note"].iloc[0] == "=1+1"  # input frame untouched


def test_csv_text_iso_dates_and_booleans():
    f = pd.DataFrame({"d": pd.to_datetime(["2026-01-05", None]), "t": pd.to_datetime(["2026-01-05 08:30", None]),
                      "b": pd.array([True, None], dtype="boolean"), "x": [1.0, 2.5]})
    text = frame_to_csv_text(f, date_columns=("d",), datetime_columns=("t",))
    assert text.splitlines() == ["d,t,b,x", "2026-01-05,2026-01-05T08:30:00,true,1", ",,,2.5"]


@pytest.mark.parametrize("name", ["../x.pdf", "a/b.pdf", "..", ".", "", "x" * 200, "ok\n.pdf"])
def test_output_path_refuses_names_that_escape(tmp_path, name):
    with pytest.raises(ValueError):
        output_path(tmp_path, name)


def test_output_path_accepts_codes(tmp_path):
    assert output_path(tmp_path, "P-001_a.pdf") == (tmp_path / "P-001_a.pdf").resolve()


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("old")
    atomic_write_text(p, "new")
    assert p.read_text() == "new" and [f.name for f in tmp_path.iterdir()] == ["x.txt"]


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / "x.txt"
    p.write_text("old")
    import os

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(p, "new")
    assert p.read_text() == "old" and [f.name for f in tmp_path.iterdir()] == ["x.txt"]


def test_headers_and_categorical_codes_are_neutralised():
    from outcomes.files import frame_to_csv_text

    frame = pd.DataFrame({"=2+5+cmd|' /C calc'!A0": ["a"], "patient_id": pd.Categorical(["-rf"]),
                          "x": [-3], "ok": ["@home"]})
    text = frame_to_csv_text(frame)
    assert text.splitlines() == ["'=2+5+cmd|' /C calc'!A0,patient_id,x,ok", "a,'-rf,-3,'@home"]
