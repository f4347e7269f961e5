"""Reader quirks: encodings, delimiters, decimal commas, blank rows, headers, Excel, Parquet, mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import ASSESSMENTS, PATIENTS, SESSIONS, VALID, write_dataset
from outcomes import load_dataset
from outcomes.io import UsageError, load_schemas, read_export

SCHEMAS = load_schemas()


def _read(path: Path, export: str):
    return read_export(path, SCHEMAS[export])


def test_utf8_with_bom_is_read_and_reported(tmp_path):
    p = tmp_path / "patients.csv"
    p.write_bytes(b"\xef\xbb\xbf" + PATIENTS.encode())
    r = _read(p, "patients")
    assert list(r.frame.columns)[0] == "patient_id"
    assert r.encoding == "UTF-8 with BOM"
    assert "read as UTF-8 with BOM" in r.notes


def test_cp1252_fallback_is_reported_and_text_decoded(tmp_path):
    text = SESSIONS.replace("tight behind knee", "douleur légère")
    d = write_dataset(tmp_path / "d", {"sessions": text.encode("cp1252")})
    ds = load_dataset(d)
    s = ds.exports["sessions"]
    assert s.detected["encoding"] == "Windows-1252"
    assert "douleur légère" in set(ds["sessions"]["note"].dropna())


def test_semicolon_delimiter_with_decimal_commas(tmp_path):
    rows = [line.split(",") for line in PATIENTS.splitlines()]
    text = "\n".join(";".join(r) for r in rows).replace("30.5", "30,5") + "\n"
    d = write_dataset(tmp_path / "d", {"patients": text})
    ds = load_dataset(d)
    r = ds.exports["patients"]
    assert r.detected["delimiter"] == ";" and r.detected["decimal"] == ","
    assert ds["patients"]["symptom_duration_weeks"].tolist() == [12.0, 30.5, 8.0]
    assert r.status == "ok"


def test_blank_and_trailing_rows_are_counted_not_lost(tmp_path):
    text = SESSIONS.replace("\nX3,", "\n\n  \nX3,") + ",,,,,,,,,,,,,\n\n"
    d = write_dataset(tmp_path / "d", {"sessions": text})
    r = load_dataset(d).exports["sessions"]
    assert r.blank_skipped == 4
    assert r.rows_read == 9 and r.accepted == 5
    assert r.rows_read == r.accepted + r.quarantined + r.blank_skipped
    # line numbers survive the skipped rows: X3 is now on physical line 6
    assert 6 in r.data.index and r.data.loc[6, "session_id"] == "X3"


def test_quoted_line_break_keeps_physical_line_numbers(tmp_path):
    text = SESSIONS.replace("tight behind knee", '"tight\nbehind knee"').replace("X4,P002,2026-01-13T09:15",
                                                                              "X4,P002,2026-13-13T09:15")
    d = write_dataset(tmp_path / "d", {"sessions": text})
    r = load_dataset(d).exports["sessions"]
    # X4 starts on line 6 (header 1, X1 2, X2 3-4, X3 5, X4 6)
    assert r.errors["line"].tolist() == [6]
    assert r.data.loc[3, "note"] == "tight\nbehind knee"


def test_duplicate_header_rejects_the_file_with_a_clear_message(tmp_path):
    text = SESSIONS.replace("pain_after,response", "pain_before,response", 1)
    d = write_dataset(tmp_path / "d", {"sessions": text})
    r = load_dataset(d).exports["sessions"]
    assert r.status == "rejected"
    assert "'pain_before' appears twice (columns 10 and 11)" in r.rejection.message
    assert "sessions.csv" in r.rejection.message and "rename" in r.rejection.message


def test_na_spellings_read_as_missing(tmp_path):
    text = ASSESSMENTS.replace("P001,2026-01-19,5,4,2", "P001,2026-01-19,5,NA,n/a").replace(
        "P002,2026-01-12,8,6,4", "P002,2026-01-12,8,NULL,-")
    d = write_dataset(tmp_path / "d", {"assessments": text})
    ds = load_dataset(d)
    assert ds.exports["assessments"].status == "ok"
    a = ds["assessments"].set_index("patient_id")
    assert a["back_pain"].isna().sum() == 2 and a["numbness"].isna().sum() == 2


def test_extra_columns_are_kept_and_reported(tmp_path):
    text = "\n".join(line + (",colour" if i == 0 else ",blue") for i, line in enumerate(PATIENTS.splitlines())) + "\n"
    d = write_dataset(tmp_path / "d", {"patients": text})
    ds = load_dataset(d)
    r = ds.exports["patients"]
    assert r.extra_columns == ["colour"]
    assert ds["patients"]["colour"].tolist() == ["blue"] * 3
    assert any("extra columns kept: colour" in n for n in r.notes)


def test_header_case_and_spaces_are_normalised_and_reported(tmp_path):
    text = PATIENTS.replace("patient_id,", " Patient_ID ,", 1)
    d = write_dataset(tmp_path / "d", {"patients": text})
    r = load_dataset(d).exports["patients"]
    assert r.status == "ok" and r.renamed == {"Patient_ID": "patient_id"}


def test_column_map_renames_source_columns_and_recodes_values(tmp_path):
    text = PATIENTS.replace("patient_id,", "Pt code,", 1).replace(",female,", ",F,").replace(",male,", ",M,")
    d = write_dataset(tmp_path / "d", {"patients": text})
    m = tmp_path / "map.json"
    m.write_text(json.dumps({"patients": {"Pt code": "patient_id"},
                             "values": {"patients": {"sex": {"F": "female", "M": "male"}}}}))
    ds = load_dataset(d, columns=m)
    assert ds.exports["patients"].status == "ok"
    assert ds["patients"]["sex"].tolist() == ["female", "male", "female"]
    assert ds.exports["patients"].renamed == {"Pt code": "patient_id"}


def test_column_map_with_unknown_target_is_a_usage_error(tmp_path):
    m = tmp_path / "map.json"
    m.write_text(json.dumps({"Pain pre": "pain_befor"}))
    with pytest.raises(UsageError, match="Did you mean 'pain_before'"):
        load_dataset(write_dataset(tmp_path / "d"), columns=m)


def test_column_map_not_json_is_a_usage_error(tmp_path):
    m = tmp_path / "map.json"
    m.write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_dataset(write_dataset(tmp_path / "d"), columns=m)


def test_xlsx_with_real_dates_serials_and_blank_rows(tmp_path):
    from datetime import datetime

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "patients"
    rows = [line.split(",") for line in PATIENTS.splitlines()]
    ws.append(rows[0])
    r1 = rows[1][:]
    r1[3] = datetime(2026, 1, 5)  # a real Excel date cell
    r1[4] = 54
    ws.append(r1)
    ws.append([None] * len(rows[0]))  # blank row
    r2 = rows[2][:]
    r2[3] = 46034  # an Excel date serial left as a number (2026-01-12)
    ws.append(r2)
    ws.append(rows[3])
    d = write_dataset(tmp_path / "d", {"patients": None})
    wb.save(d / "patients.xlsx")
    ds = load_dataset(d)
    r = ds.exports["patients"]
    assert r.status == "ok", r.errors
    assert r.blank_skipped == 1 and r.rows_read == 4
    assert ds["patients"]["enrolled_on"].dt.strftime("%Y-%m-%d").tolist() == [
        "2026-01-05", "2026-01-12", "2026-01-19"]
    assert r.detected["excel_serials"] == 1 and r.detected["sheet"] == "patients"
    assert list(ds["patients"].index) == [2, 4, 5]  # sheet row numbers


def test_random_bytes_named_xlsx_is_rejected_clearly(tmp_path):
    d = write_dataset(tmp_path / "d", {"patients": None})
    (d / "patients.xlsx").write_bytes(bytes(range(256)) * 20)
    r = load_dataset(d).exports["patients"]
    assert r.status == "rejected"
    assert "not a readable Excel workbook" in r.rejection.message
    assert "save it again" in r.rejection.message


def test_parquet_is_read_with_native_types(tmp_path):
    d = write_dataset(tmp_path / "d", {"sessions": None})
    frame = pd.read_csv(pd.io.common.StringIO(SESSIONS), parse_dates=["performed_at"])
    frame.to_parquet(d / "sessions.parquet")
    ds = load_dataset(d)
    r = ds.exports["sessions"]
    assert r.status == "ok", r.errors
    assert r.detected["format"] == "parquet"
    assert ds["sessions"]["pain_after"].tolist() == [4, 5, 6, 6, 6]


def test_empty_file_is_rejected(tmp_path):
    d = write_dataset(tmp_path / "d", {"sessions": ""})
    r = load_dataset(d).exports["sessions"]
    assert r.status == "rejected" and "is empty" in r.rejection.message


def test_binary_file_named_csv_is_rejected(tmp_path):
    d = write_dataset(tmp_path / "d", {"sessions": b"\x00\x01\x02PK\x03\x04" * 100})
    r = load_dataset(d).exports["sessions"]
    assert r.status == "rejected" and "not a text file" in r.rejection.message


def test_wrong_extension_is_rejected(tmp_path):
    d = write_dataset(tmp_path / "d", {"sessions": None})
    (d / "sessions.txt").write_text(SESSIONS)
    r = load_dataset(d).exports["sessions"]
    assert r.status == "rejected" and "'.txt', which is not supported" in r.rejection.message


def test_record_with_too_many_fields_is_quarantined_not_shifted(tmp_path):
    text = SESSIONS.replace("tight behind knee", "tight, behind knee")
    d = write_dataset(tmp_path / "d", {"sessions": text})
    r = load_dataset(d).exports["sessions"]
    assert r.errors[["line", "rule"]].values.tolist() == [[3, "field_count"]]
    assert "double quotes" in r.errors["reason"].iloc[0]
    assert r.accepted == 4 and r.reconciles


def test_trailing_delimiters_on_every_row_do_not_shift_columns(tmp_path):
    # pandas alone would move the first column into the index here
    text = "\n".join(line + "," for line in SESSIONS.splitlines()[1:])
    text = SESSIONS.splitlines()[0] + "\n" + text + "\n"
    d = write_dataset(tmp_path / "d", {"sessions": text})
    ds = load_dataset(d)
    assert ds.exports["sessions"].status == "ok"
    assert ds["sessions"]["session_id"].tolist() == ["X1", "X2", "X3", "X4", "X5"]


def test_record_with_far_too_many_fields_rejects_the_file_with_its_line(tmp_path):
    text = SESSIONS.replace("tight behind knee", "tight" + "," * 30)
    d = write_dataset(tmp_path / "d", {"sessions": text})
    r = load_dataset(d).exports["sessions"]
    assert r.status == "rejected"
    assert "sessions.csv line 3:" in r.rejection.message and "double quotes" in r.rejection.message


def test_same_export_in_two_formats_is_a_usage_error(tmp_path):
    d = write_dataset(tmp_path / "d")
    (d / "sessions.parquet").write_bytes(b"x")
    with pytest.raises(UsageError, match="more than once"):
        load_dataset(d)


def test_missing_folder_and_file_instead_of_folder(tmp_path):
    with pytest.raises(UsageError, match="no such folder"):
        load_dataset(tmp_path / "nope")
    f = tmp_path / "f.csv"
    f.write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        load_dataset(f)


def test_missing_required_export_is_reported(tmp_path):
    d = write_dataset(tmp_path / "d", {"patients": None})
    ds = load_dataset(d)
    assert ds.exports["patients"].status == "rejected"
    assert "patients export is missing" in ds.exports["patients"].rejection.message
    assert not ds.ok and any("not checked" in n for n in ds.notes)


def test_optional_exports_may_be_absent(tmp_path):
    d = write_dataset(tmp_path / "d", {"sessions": None, "prescriptions": None})
    ds = load_dataset(d)
    assert ds.ok and ds.exports["sessions"].status == "absent_optional"


def test_reader_never_changes_the_input_files(tmp_path):
    d = write_dataset(tmp_path / "d", {"sessions": SESSIONS.replace(",5,4,better", ",5,14,better")})
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    load_dataset(d)
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


def test_valid_fixture_is_fully_accepted(valid_dir):
    ds = load_dataset(valid_dir)
    assert ds.ok, {k: r.errors for k, r in ds.exports.items()}
    assert {k: r.accepted for k, r in ds.exports.items()} == {
        k: len(v.strip().splitlines()) - 1 for k, v in VALID.items()}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_simulated_dataset_round_trips_clean(tmp_path, fmt):
    from outcomes.simulate import simulate, write_dataset

    sim = simulate(40, seed=3)
    write_dataset(sim, tmp_path, format=fmt)
    ds = load_dataset(tmp_path)
    assert ds.ok, {k: r.errors.head() for k, r in ds.exports.items()}
    for name, frame in sim.frames().items():
        got = ds[name]
        assert len(got) == len(frame)
        assert got.reset_index(drop=True)[frame.columns[0]].tolist() == frame[frame.columns[0]].tolist()
    s = ds["sessions"]
    assert s["performed_at"].tolist() == sim.sessions["performed_at"].tolist()
    assert s["pain_after"].tolist() == sim.sessions["pain_after"].tolist()


def test_xlsx_without_a_required_column_is_refused_before_its_rows_are_read(tmp_path, monkeypatch):
    from openpyxl import Workbook

    import outcomes.io._xlsx as xlsx
    from outcomes.io.errors import FileRejected

    wb = Workbook()
    ws = wb.active
    ws.title = "patients"
    ws.append(["patient_idx", "enrolled_on"])
    for k in range(500):
        ws.append([f"P{k}", "2026-01-05"])
    wb.save(tmp_path / "patients.xlsx")
    cells = []
    real = xlsx._excel_cell_text
    monkeypatch.setattr(xlsx, "_excel_cell_text", lambda v: cells.append(v) or real(v))
    with pytest.raises(FileRejected, match="the required column 'patient_id' is missing") as exc:
        read_export(tmp_path / "patients.xlsx", load_schemas()["patients"])
    assert "patient_idx" in exc.value.hint and len(cells) == 2  # the header's two cells, no row


def test_csv_and_parquet_without_a_required_column_are_refused_before_their_rows_are_read(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    import outcomes.io._csv as csv_reader
    from outcomes.io.errors import FileRejected

    frame = pd.DataFrame({"patient_idx": [f"P{k}" for k in range(50)], "enrolled_on": "2026-01-05"})
    frame.to_csv(tmp_path / "patients.csv", index=False)
    frame.to_parquet(tmp_path / "patients.parquet", index=False)

    def never(*a, **k):
        raise AssertionError("the rows were read before the header was checked")

    monkeypatch.setattr(csv_reader, "_read_csv_fast", never)
    monkeypatch.setattr(pq, "read_table", never)
    for name in ("patients.csv", "patients.parquet"):
        with pytest.raises(FileRejected, match="the required column 'patient_id' is missing") as exc:
            read_export(tmp_path / name, load_schemas()["patients"])
        assert "patient_idx" in exc.value.hint
