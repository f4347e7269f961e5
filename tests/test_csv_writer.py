"""The Arrow CSV writer (files.write_frame_csv) writes exactly the text of pandas' to_csv path.

``_frame_to_csv_text_pandas`` is the reference (pandas ``to_csv`` with minimal quoting, formulas
neutralised, ISO dates, ``true``/``false``); the fast writer must give the same text for every
frame, including the awkward cells: quotes, delimiters, line breaks, CR, formula starts, plain
negative numbers, Unicode digits, -0.0, 1e16, missing values, one-column frames and slices.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from outcomes.files import _fast_csv_ok, _frame_to_csv_text_pandas, frame_to_csv_text, write_frame_csv

ATOMS = ["", "a", "x,y", 'q"uote', "line\nbreak", "cr\rhere", "=1+1", "+1", "-3", "-3.5e4", "-\u0663", "-3\n",
         "@SUM", "\tx", "\r=1", " sp ", "é", "日本", "-", "+", "=", ",", '"', "1e5", ".5", "-.5", "-3,5",
         "\u22122", "'=x", None]
FLOATS = [np.nan, -0.0, 0.0, 1 / 3, 1e-5, 2.5, 1e15, 1e16, 123456789012345.6, np.inf, -np.inf, 0.1 + 0.2,
          1e-300, 7.0, -12.25]
NAMES = ["c", "=c", "c,x", "-c", '"c', "c\nx", "3", ""]


def _random_frame(rng: random.Random) -> tuple[pd.DataFrame, tuple[str, ...], tuple[str, ...]]:
    n = rng.choice([0, 1, 2, 5, 30])
    cols: dict[str, pd.Series] = {}
    dates: list[str] = []
    stamps: list[str] = []
    for j in range(rng.choice([1, 1, 2, 3, 6])):
        kind = rng.choice(["str", "obj", "cat", "int", "Int64", "float", "bool", "boolean", "date", "dt", "mixed"])
        name = f"{rng.choice(NAMES)}{j}"
        if kind == "str":
            v = pd.Series([rng.choice(ATOMS) for _ in range(n)], dtype="str")
        elif kind == "obj":
            v = pd.Series([rng.choice(ATOMS) or rng.choice([None, np.nan, ""]) for _ in range(n)], dtype=object)
        elif kind == "cat":
            v = pd.Series([rng.choice(ATOMS) for _ in range(n)], dtype="category")
        elif kind == "int":
            v = pd.Series([rng.randint(-10**12, 10**12) for _ in range(n)], dtype="int64")
        elif kind == "Int64":
            v = pd.Series([rng.choice([None, rng.randint(-100, 100)]) for _ in range(n)], dtype="Int64")
        elif kind == "float":
            v = pd.Series([rng.choice(FLOATS + [rng.uniform(-1e6, 1e6)]) for _ in range(n)], dtype="float64")
        elif kind == "bool":
            v = pd.Series([rng.random() < 0.5 for _ in range(n)], dtype=bool)
        elif kind == "boolean":
            v = pd.Series([rng.choice([True, False, None]) for _ in range(n)], dtype="boolean")
        elif kind in ("date", "dt"):
            pool = [None, "2026-03-04T08:30:15.7", "1900-01-01", "1969-12-31T23:59:59.5", "0001-01-01", "9999-12-31"]
            v = pd.Series(pd.to_datetime([rng.choice(pool) for _ in range(n)], format="ISO8601")).astype(
                "datetime64[us]")
            (dates if kind == "date" else stamps).append(name)
            if rng.random() < 0.2:
                (stamps if kind == "date" else dates).append("=" + name)  # as a formula-like name
        else:
            v = pd.Series([rng.choice(["a", 1, 2.5, None, True]) for _ in range(n)], dtype=object)
        cols[name] = v.reset_index(drop=True)
    frame = pd.DataFrame(cols)
    if rng.random() < 0.3:
        frame.index = frame.index + 2
    return frame, tuple(dates), tuple(stamps)


@pytest.mark.parametrize("seed", range(2))
def test_fast_writer_gives_pandas_text(seed):
    rng = random.Random(seed)
    fast = 0
    for _ in range(120):
        frame, dates, stamps = _random_frame(rng)
        want = _frame_to_csv_text_pandas(frame, date_columns=dates, datetime_columns=stamps)
        assert frame_to_csv_text(frame, date_columns=dates, datetime_columns=stamps) == want, frame.dtypes
        buf = io.BytesIO()
        write_frame_csv(buf, frame, date_columns=dates, datetime_columns=stamps, chunk_rows=rng.choice([1, 2, 7]))
        assert buf.getvalue().decode("utf-8") == want
        fast += _fast_csv_ok(frame, dates, stamps)
    assert fast > 40  # the fast path was the one tested


def test_fast_writer_on_the_example_outputs():
    from outcomes.io import load_dataset
    from outcomes.io.schema import load_schemas

    ds = load_dataset(Path(__file__).resolve().parents[1] / "data" / "example")
    schemas = load_schemas()
    for name, r in ds.exports.items():
        if r.data is None:
            continue
        dates = tuple(f.name for f in schemas[name].fields if f.type == "date")
        stamps = tuple(f.name for f in schemas[name].fields if f.type == "datetime")
        assert _fast_csv_ok(r.data, dates, stamps)
        want = _frame_to_csv_text_pandas(r.data, date_columns=dates, datetime_columns=stamps)
        assert frame_to_csv_text(r.data, date_columns=dates, datetime_columns=stamps) == want


def test_neutralised_and_quoted_cells():
    frame = pd.DataFrame({"=h": ["=1+1", "-3", "-3 kg", 'a"b', "x,y", "-\u0663", None],
                          "n": [1.5, -0.0, 1e16, np.nan, 0.1 + 0.2, 2.0, 3.0]})
    text = frame_to_csv_text(frame)
    assert text.splitlines()[:4] == ["'=h,n", "'=1+1,1.5", "-3,-0", "'-3 kg,1e+16"]
    assert '"a""b",' in text and '"x,y",0.3' in text and "-\u0663,2" in text


def test_labels_that_are_not_text_are_written_as_pandas_does():
    for frame in (pd.DataFrame({None: ["a"], 1: ["b"]}), pd.DataFrame([[1.5, "x"]]),
                  pd.DataFrame({"a": pd.to_timedelta([1], unit="D")})):
        assert frame_to_csv_text(frame) == _frame_to_csv_text_pandas(frame)


@pytest.mark.parametrize("seed", range(2, 4))
def test_runs_of_few_valued_columns_give_pandas_text(seed, monkeypatch):
    # every slice writes adjacent categories, booleans and small integers once per combination
    import outcomes.files as files

    monkeypatch.setattr(files, "_RUN_MIN_ROWS", 0)
    rng = random.Random(seed)
    for _ in range(120):
        frame, dates, stamps = _random_frame(rng)
        want = _frame_to_csv_text_pandas(frame, date_columns=dates, datetime_columns=stamps)
        assert frame_to_csv_text(frame, date_columns=dates, datetime_columns=stamps) == want, frame.dtypes


def test_many_few_valued_columns_are_renumbered_before_their_codes_overflow(monkeypatch):
    import outcomes.files as files

    monkeypatch.setattr(files, "_RUN_MIN_ROWS", 0)
    gen = np.random.default_rng(3)
    frame = pd.DataFrame({f"c{j}": pd.array(gen.integers(-2000, 2000, 500), dtype="Int64") for j in range(8)})
    frame.iloc[::7, 3] = pd.NA
    frame["flag"] = pd.array(gen.random(500) < 0.5, dtype="boolean")
    frame["kind"] = pd.Categorical(gen.choice(["a", "=b", "c,d"], 500))
    runs = files._runs(frame, few := {})
    assert runs == [list(frame.columns)] and np.prod([float(k) for _, k in few.values()]) > 2.0 ** 62
    assert frame_to_csv_text(frame) == _frame_to_csv_text_pandas(frame)
