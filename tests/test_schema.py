"""The schema files: well-formed Table Schema, and the generated data dictionary is current."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT
from outcomes.io import EXPORTS, load_schemas
from outcomes.io.dictionary import render_dictionary

SCHEMAS = load_schemas()


@pytest.mark.parametrize("name", EXPORTS)
def test_schema_is_complete(name):
    raw = json.loads((ROOT / "data" / "schemas" / f"{name}.schema.json").read_text())
    assert raw["name"] == name and raw["primaryKey"] and "missingValues" in raw
    for f in raw["fields"]:
        assert f["type"] in {"string", "integer", "number", "boolean", "date", "datetime"}
        assert f.get("description"), f"{name}.{f['name']} has no description"
    names = [f["name"] for f in raw["fields"]]
    assert len(names) == len(set(names))
    assert set(raw["primaryKey"]) <= set(names)
    for fk in raw.get("foreignKeys", []):
        assert fk["reference"]["resource"] in EXPORTS


def test_required_columns_match_the_design():
    assert SCHEMAS["patients"].required_columns == ("patient_id", "enrolled_on", "schedule")
    assert SCHEMAS["sessions"].required_columns == ("session_id", "patient_id", "performed_at", "level")
    assert SCHEMAS["prescriptions"].required_columns == ("patient_id", "valid_from", "level", "sessions_per_week")
    assert SCHEMAS["assessments"].required_columns == ("patient_id", "assessed_on")


def test_data_dictionary_is_current():
    committed = (ROOT / "docs" / "data-dictionary.md").read_text()
    assert committed == render_dictionary(), "docs/data-dictionary.md is stale: run `make docs`"
