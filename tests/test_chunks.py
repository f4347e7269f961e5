"""Large exports validated in slices (outcomes.io._chunks) give exactly the whole-file result.

The size thresholds are lowered so the bundled example's sessions (20,000 rows) is read in
many slices; every check is made against the whole-file path on the same files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from outcomes._resources import example_dir
from outcomes.io import _chunks, load_dataset


def _damage(folder: Path) -> None:
    """Rows that break per-row, per-file and cross-file rules, spread over the file."""
    path = folder / "sessions.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    n = len(lines)
    lines[5] = lines[5].replace(",false,", ",perhaps,", 1)  # not a boolean
    fields = lines[900].split(",")
    fields[9] = "14"  # pain_before out of range
    lines[900] = ",".join(fields)
    fields = lines[3000].split(",")
    fields[1] = "P999"  # unknown patient (cross-file rule: its text is read back from the file)
    lines[3000] = ",".join(fields)
    fields = lines[7000].split(",")
    fields[2] = "1850-01-01T10:00"  # implausible date
    lines[7000] = ",".join(fields)
    fields = lines[9000].split(",")
    fields[2] = "2025-02"  # partial date
    lines[9000] = ",".join(fields)
    for i in (11000, 17000):  # before the patient enrolled (cross-file rule, checked in blocks of rows)
        fields = lines[i].split(",")
        fields[2] = "2000-01-03T10:00"
        lines[i] = ",".join(fields)
    lines.append(lines[12000])  # an exact copy far from its original (per-file rule across slices)
    other = lines[15000].split(",")
    other[7] = "9" if other[7] != "9" else "8"  # same session_id, different values: a conflict
    lines.append(",".join(other))
    lines.insert(n // 2, "")  # a blank line
    lines.insert(3, "")  # and one in the first slice
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(example_dir(), folder)
    _damage(folder)
    return folder


def _both(folder: Path, monkeypatch, **kw):
    whole = load_dataset(folder, **kw)
    monkeypatch.setattr(_chunks, "CSV_CHUNK_BYTES", 0)
    monkeypatch.setattr(_chunks, "CSV_BLOCK_BYTES", 1 << 16)  # ~600 rows a slice: 30+ slices
    monkeypatch.setattr(_chunks, "PARQUET_CHUNK_ROWS", 0)
    monkeypatch.setattr(_chunks, "PARQUET_BATCH_ROWS", 700)
    monkeypatch.setattr("outcomes.io.validate._LINK_BLOCK", 1000)
    calls = []
    real = _chunks.validate_in_slices

    def spy(*a, **k):
        out = real(*a, **k)
        calls.append(out is not None)
        return out

    monkeypatch.setattr("outcomes.io.dataset.validate_in_slices", spy)
    sliced = load_dataset(folder, **kw)
    return whole, sliced, calls


def _same(whole, sliced) -> None:
    for name, w in whole.exports.items():
        s = sliced.exports[name]
        assert (s.status, s.rows_read, s.blank_skipped, s.accepted, s.quarantined) == \
               (w.status, w.rows_read, w.blank_skipped, w.accepted, w.quarantined), name
        pd.testing.assert_frame_equal(s.errors.reset_index(drop=True), w.errors.reset_index(drop=True),
                                      check_dtype=False)
        if w.data is not None:
            pd.testing.assert_frame_equal(s.data, w.data)
        pd.testing.assert_frame_equal(s.quarantine(), w.quarantine())
        assert s.notes == w.notes and s.detected == w.detected


def test_damaged_csv_in_slices_matches_the_whole_file(damaged, monkeypatch):
    whole, sliced, calls = _both(damaged, monkeypatch)
    assert calls and all(calls)  # every export went through the slices
    s = whole.exports["sessions"]
    rules = set(s.errors["rule"])
    assert {"type:boolean", "minimum/maximum", "foreign_key", "plausible_date", "partial_date",
            "duplicate_row", "unique", "enrolment_window"} <= rules  # the damage is seen
    assert (s.errors["rule"] == "enrolment_window").sum() == 2
    assert s.blank_skipped == 2 and s.rows_read == s.accepted + s.quarantined + s.blank_skipped
    _same(whole, sliced)
    # the unknown patient's row is shown as written, read back from the file after the link rules
    q = sliced.exports["sessions"].quarantine()
    assert "P999" in set(q["patient_id"])


def test_parquet_in_slices_matches_the_whole_file(damaged, monkeypatch, tmp_path):
    pq_dir = tmp_path / "pq"
    pq_dir.mkdir()
    for path in damaged.glob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
        frame.to_parquet(pq_dir / f"{path.stem}.parquet", index=False)
    whole, sliced, calls = _both(pq_dir, monkeypatch)
    assert calls and all(calls)
    assert whole.exports["sessions"].quarantined >= 7
    _same(whole, sliced)


def test_files_that_need_the_whole_file_are_not_sliced(damaged, monkeypatch):
    # a line break inside a quoted value: the record spans two lines, which only the whole-file reader numbers
    path = damaged / "sessions.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[4000] = lines[4000].rsplit(",", 1)[0] + ',"two\nlines"'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    whole, sliced, calls = _both(damaged, monkeypatch)
    assert calls[2] is False  # sessions fell back
    _same(whole, sliced)
    # a forced date order is applied to the whole file at once
    whole, sliced, calls = _both(damaged, monkeypatch, date_order="dayfirst")
    assert not any(calls)
    _same(whole, sliced)


def test_key_hashes_prove_distinct_keys_only():
    from outcomes.io._chunks import _rows_sharing_a_hash, _text_hash

    a = pd.Series([f"X{i}" for i in range(5000)] + [None, ""], dtype="str")
    b = pd.Series(["Y1", "X4999", "long-" * 12], dtype="str")
    ha, hb = _text_hash(a), _text_hash(b)
    assert len(ha) == 5001 and ha.dtype.name == "uint64"  # the missing value is left out
    assert len(_rows_sharing_a_hash(a, [ha])) == 0  # proven distinct
    both = pd.concat([a, b], ignore_index=True)
    assert _rows_sharing_a_hash(both, [ha, hb]).tolist() == [4999, 5003]  # X4999 in both slices, by position
    assert _rows_sharing_a_hash(both, [ha]) is None  # hashes that do not line up: no verdict
    assert _text_hash(pd.Series(["ab"], dtype="str"))[0] != _text_hash(pd.Series(["ba"], dtype="str"))[0]
    assert _text_hash(pd.Series([1, 2])) is None  # not Arrow text: no verdict, the exact rules run


def _hostile_validate_cases():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from hostile.cases import CASES, V, VO

    return [c for c in CASES if c.argv in (V, VO) and "xlsx" not in c.name and not c.slow]


@pytest.mark.parametrize("case", _hostile_validate_cases(), ids=lambda c: c.name)
def test_hostile_datasets_in_slices_match_the_whole_file(case, tmp_path, monkeypatch):
    # every broken dataset of the hostile matrix, read whole and in slices of a few rows
    if case.skip is not None and case.skip():
        pytest.skip("case not possible here")
    env = case.build(tmp_path)

    def load():
        try:
            return load_dataset(env.data), None
        except Exception as exc:  # the same refusal either way
            return None, (type(exc).__name__, str(exc))

    whole, err_whole = load()
    monkeypatch.setattr(_chunks, "CSV_CHUNK_BYTES", 0)
    monkeypatch.setattr(_chunks, "CSV_BLOCK_BYTES", 1 << 16)  # the example's sessions: ~35 slices
    monkeypatch.setattr(_chunks, "PARQUET_CHUNK_ROWS", 0)
    monkeypatch.setattr(_chunks, "PARQUET_BATCH_ROWS", 700)
    monkeypatch.setattr("outcomes.io.validate._LINK_BLOCK", 1000)
    # and every column converted one distinct value at a time (the whole-file run: only 5,000+ rows)
    monkeypatch.setattr("outcomes.io._convert._DISTINCT_MIN_ROWS", 0)
    sliced, err_sliced = load()
    assert err_sliced == err_whole
    if whole is not None:
        _same(whole, sliced)


def test_window_reasons_without_the_text_quote_the_value_as_read(damaged):
    # a row the window rule quarantines whose text is not at hand (and cannot be read back) is still
    # reported, quoting the value as read, instead of failing with a KeyError
    from outcomes.io.validate import _as_written

    ds = load_dataset(damaged)
    s = ds.exports["sessions"]
    data = s.data
    flagged = np.zeros(len(data), dtype=bool)
    flagged[:2] = True
    s.original, s.recover = s.original.iloc[:0], None
    text = _as_written(s, data, "performed_at", flagged)
    assert list(text.index) == list(data.index[:2])
    assert text.iloc[0] == data["performed_at"].iloc[0].isoformat()


def test_tidy_categories_keeps_the_used_categories_sorted():
    from outcomes.io._convert import tidy_categories

    frame = pd.DataFrame({
        "messy": pd.Categorical(["b", "a", None, "b"], categories=["z", "b", "a"]),  # "z" unused, unsorted
        "tidy": pd.Categorical(["a", "b", "a", None], categories=["a", "b"]),
    })
    tidy = frame["tidy"].copy()
    tidy_categories(frame)
    assert list(frame["messy"].cat.categories) == ["a", "b"]
    assert frame["messy"].tolist()[:2] == ["b", "a"] and pd.isna(frame["messy"].iat[2])
    pd.testing.assert_series_equal(frame["tidy"], tidy)


def test_key_hash_is_the_same_by_byte_position_and_by_byte(monkeypatch):
    rng = np.random.default_rng(7)
    values = ["".join(rng.choice(list("abXZ09_-é"), size=rng.integers(0, 30))) for _ in range(3000)]
    s = pd.Series([*values, None, ""], dtype="str")
    monkeypatch.setattr(_chunks, "_GATHER_BYTES", 100)
    by_position = _chunks._text_hash(s)
    monkeypatch.setattr(_chunks, "_GATHER_BYTES", 0)
    by_byte = _chunks._text_hash(s)
    assert len(by_position) == 3001 and (by_position == by_byte).all()


@pytest.mark.parametrize("out_format", ["csv", "parquet"])
def test_accepted_files_read_back_as_the_accepted_rows(damaged, tmp_path, out_format):
    # validate -> accepted files -> validate them again: every row accepted, the same values and types
    from outcomes.io import write_validation

    path = damaged / "sessions.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    fields = lines[40].split(",")
    fields[11] = ""  # a blank response (optional) in an accepted row: a missing category
    lines[40] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    first = load_dataset(damaged)
    assert first.exports["sessions"].quarantined > 0
    out = tmp_path / "out"
    written = write_validation(first, out, out_format=out_format)
    assert written["sessions"].endswith(f"sessions.{out_format}")
    assert sorted(p.name for p in out.glob(f"*.{out_format}") if "quarantine" not in p.name) == [
        f"{n}.{out_format}" for n in ("assessments", "patients", "prescriptions", "sessions")]
    assert (out / "sessions.quarantine.csv").is_file()  # quarantined rows stay CSV in either format
    again = load_dataset(out)
    for name, r in first.exports.items():
        b = again.exports[name]
        assert (b.rows_read, b.accepted, b.quarantined) == (r.accepted, r.accepted, 0), name
        pd.testing.assert_frame_equal(b.data.reset_index(drop=True), r.data.reset_index(drop=True))
    assert again.exports["sessions"].data["response"].isna().sum() == 1


@pytest.mark.parametrize("values, expected", [
    (["a b", "c d", "", "e"], False),  # spaces inside only
    (["ab", " c", "d"], True), (["ab", "c\u00a0"], True), (["ab", "c\t"], True),
    (["P001", "P002", ""], False), (["", ""], False), (["x", "é"], True),
])
def test_strip_is_needed_only_for_white_space_at_an_edge(values, expected):
    import pyarrow as pa

    from outcomes.io._frames import _blank_text, _may_need_strip

    s = pd.Series(pd.array(pa.chunked_array([pa.array(values, pa.large_string())]), dtype="str"))
    assert _may_need_strip(s) is expected
    assert _blank_text(s).tolist() == [v == "" for v in values]


def test_quarantined_text_is_read_back_in_one_pass(damaged, monkeypatch):
    # duplicate keys (per file), unknown patients and enrolment windows (cross file): one read-back of the file
    calls = []
    real = _chunks._slices

    def counting(path, export):
        out = real(path, export)
        if out is not None:  # a pass over the file (None: too small, read whole)
            calls.append(export)
        return out

    real_lines = _chunks._csv_lines

    def counting_lines(path, export, want):
        calls.append(export)
        return real_lines(path, export, want)

    monkeypatch.setattr(_chunks, "_slices", counting)
    monkeypatch.setattr(_chunks, "_csv_lines", counting_lines)
    whole, sliced, _ = _both(damaged, monkeypatch)
    _same(whole, sliced)
    assert calls.count("sessions") == 2  # the validation's own pass, and one pass for every quarantined row
    assert {"unique", "duplicate_row", "foreign_key", "enrolment_window"} <= set(
        sliced.exports["sessions"].errors["rule"])


@pytest.mark.parametrize("end, last_feed", [("\n", True), ("\r\n", True), ("\n", False), ("\r\n", False)])
def test_lines_are_read_back_by_their_line_feeds(tmp_path, monkeypatch, end, last_feed):
    rows = ["session_id,patient_id,note"] + [f'X{i},P{i % 7},"n, {i}"' if i % 5 == 0 else f"X{i},P{i % 7},"
                                            for i in range(1, 3000)]
    text = end.join(rows) + (end if last_feed else "")
    path = tmp_path / "sessions.csv"
    path.write_bytes(text.encode())
    monkeypatch.setattr(_chunks, "CSV_BLOCK_BYTES", 1 << 12)  # line feeds found across many blocks
    want = np.array([2, 3, 7, 1001, 2998, 3000, 3005])  # 3005 is past the end of the file
    read = _chunks._csv_lines(path, "sessions", want)
    assert read.frame.index.tolist() == [2, 3, 7, 1001, 2998, 3000]
    assert read.frame.loc[1001].tolist() == ["X1000", "P6", "n, 1000"] and read.frame.loc[3000, "session_id"] == "X2999"
    path.write_bytes(text.replace(end, "\r").encode())  # old Mac line ends: parsed instead
    assert _chunks._csv_lines(path, "sessions", want) is None
