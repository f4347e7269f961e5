"""Property: corrupt random cells of a valid dataset; counts reconcile and nothing untouched is lost.

An untouched row may still be quarantined, but only by a cross-row rule whose cause is a corrupted
row: its patient's row was corrupted (foreign key, enrolment window) or a corrupted key now
collides with it (unique, duplicate row).
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import VALID
from outcomes import load_dataset

TABLES = {name: list(csv.reader(io.StringIO(text))) for name, text in VALID.items()}
NASTY = ["", "zz", "999", "-1", "2026-02-30", "13/02/2026", "02/13/2026", "P001", "P002", "X1", "1.5",
         "true", "NA", "=cmd()", "<b>x</b>", "../x", " ", "2026-01-05", "2027-06-01", "46034", "slider"]
value = st.one_of(st.sampled_from(NASTY),
                  st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=12))


@st.composite
def corruptions(draw):
    n = draw(st.integers(1, 8))
    out = []
    for _ in range(n):
        export = draw(st.sampled_from(sorted(TABLES)))
        rows = TABLES[export]
        r = draw(st.integers(1, len(rows) - 1))
        c = draw(st.integers(0, len(rows[0]) - 1))
        out.append((export, r, c, draw(value)))
    return out


def _write(folder: Path, tables: dict[str, list[list[str]]]) -> None:
    for name, rows in tables.items():
        with open(folder / f"{name}.csv", "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corruptions())
def test_corrupted_cells_reconcile_and_spare_untouched_rows(changes):
    tables = {k: [row[:] for row in v] for k, v in TABLES.items()}
    touched: dict[str, set[int]] = {k: set() for k in tables}
    for export, r, c, v in changes:
        tables[export][r][c] = v
        touched[export].add(r + 1)  # line number: header is line 1
    folder = Path(tempfile.mkdtemp())
    try:
        _write(folder, tables)
        ds = load_dataset(folder)
    finally:
        shutil.rmtree(folder)
    touched_patients = {TABLES["patients"][ln - 1][0] for ln in touched["patients"]}
    touched_patients |= {tables["patients"][ln - 1][0] for ln in touched["patients"]}
    for name, res in ds.exports.items():
        assert res.status != "rejected", res.rejection
        assert res.rows_read == res.accepted + res.quarantined + res.blank_skipped
        assert res.rows_read == len(TABLES[name]) - 1
        if res.errors.empty:
            continue
        header = TABLES[name][0]
        for line, grp in res.errors.groupby("line"):
            if line in touched[name]:
                continue
            row = dict(zip(header, tables[name][line - 1]))
            for rule in grp["rule"]:
                if rule in ("foreign_key", "enrolment_window"):
                    assert row["patient_id"] in touched_patients, (name, line, grp)
                else:
                    assert rule in ("unique", "duplicate_row"), (name, line, grp)
                    assert touched[name], (name, line, grp)
