"""dataset.toml: parsing and checking a description (DESIGN.md §2a), without reading data."""

from __future__ import annotations

import pytest

from outcomes.errors import UsageError
from outcomes.io.description import check_columns, load_description, parse_description
from outcomes.measures.instruments import BUILTIN_OUTCOMES


def _write(tmp_path, text: str):
    path = tmp_path / "dataset.toml"
    path.write_text(text, encoding="utf-8")
    return path


FULL = """
[source]
layout = "wide"
file = "BtheB.csv"
missing = ["NaN", "<undefined>"]

[columns]
patient_id = "subject"
schedule = "treatment"
age_years = "age"

[values.schedule]
"1" = "prt"
2 = "placebo"

[[filter]]
column = "is_patient"
keep = [1]

[[filter]]
column = "age"
at_least = 18
at_most = 90

[time]
unit = "month"

[outcomes.bdi]
label = "Beck Depression Inventory"
unit = "points"
min = 0
max = 63
higher_is_better = false
integer = true
mcid = 5
columns = { "bdi.pre" = 0, "bdi.2m" = 2, "bdi.4m" = 4 }

[covariates]
drug = "categorical"
bmi = "numeric"
"""


def test_every_key_of_the_design_is_read(tmp_path):
    d = load_description(_write(tmp_path, FULL))
    assert d.layout == "wide"
    assert d.file == (tmp_path / "BtheB.csv").resolve()
    assert d.missing == ("NaN", "<undefined>")
    assert d.columns == {"patient_id": "subject", "schedule": "treatment", "age_years": "age"}
    assert d.values == {"schedule": {"1": "prt", "2": "placebo"}}
    assert [f.text for f in d.filters] == ["is_patient in [1]", "age ≥ 18 and age ≤ 90"]
    assert d.time.unit == "month" and d.time.days == 30.4375
    bdi = d.outcome("bdi")
    assert (bdi.label, bdi.min, bdi.max, bdi.higher_is_better, bdi.integer, bdi.mcid) == (
        "Beck Depression Inventory", 0, 63, False, True, 5)
    assert bdi.columns == (("bdi.pre", 0.0), ("bdi.2m", 2.0), ("bdi.4m", 4.0))
    assert d.covariates == {"drug": "categorical", "bmi": "numeric"}


def test_a_folder_finds_its_dataset_toml(tmp_path):
    _write(tmp_path, FULL)
    assert load_description(tmp_path).layout == "wide"


def test_unknown_keys_name_the_closest_and_list_the_allowed(tmp_path):
    with pytest.raises(UsageError) as exc:
        load_description(_write(tmp_path, '[sources]\nlayout = "long"\n[time]\nunits = "visit"\n'))
    msg = str(exc.value)
    assert 'unknown key "sources". Did you mean "source"?' in msg
    assert 'unknown key "units". Did you mean "unit"?' in msg
    assert "Allowed keys: unit, column, visits." in msg


def test_a_contract_name_typo_is_named(tmp_path):
    with pytest.raises(UsageError, match='"patientid" is not a contract column. Did you mean "patient_id"'):
        load_description(_write(tmp_path, '[columns]\npatientid = "id"\n'))


@pytest.mark.parametrize("text, expected", [
    ('[source]\nlayout = "tall"\n', 'layout = "tall" is not a layout'),
    ('[source]\nlayout = "long"\n', "needs file ="),
    ('[source]\nlayout = "long"\nfile = "x.csv"\n[time]\nunit = "fortnight"\n', 'unit = "fortnight" is not a unit'),
    ('[source]\nlayout = "long"\nfile = "x.csv"\n[time]\nunit = "hour"\n', "needs column ="),
    ('[source]\nlayout = "wide"\nfile = "x.csv"\n[time]\nunit = "week"\n[outcomes.bdi]\nhigher_is_better = false\n',
     "a wide file needs columns"),
    ('[source]\nlayout = "wide"\nfile = "x.csv"\n[outcomes.bdi]\nhigher_is_better = false\ncolumns = {a = 0, b = 1}\n',
     "needs [time] unit"),
    ('[outcomes.bdi]\nmin = 0\nmax = 63\n', "say which way is better"),
    ('[outcomes.leg_pain]\nmax = 100\n', "leg_pain is built in (0–10, lower is better), so max cannot be changed"),
    ('[outcomes.bdi]\nhigher_is_better = false\nmin = 5\nmax = 1\n', "must be below max"),
    ('[outcomes.bdi]\nhigher_is_better = false\nmcid = -2\n', "mcid is a size of improvement"),
    ('[outcomes."Bad Name"]\nhigher_is_better = false\n', "lower-case letters"),
    ('[covariates]\ndrug = "factor"\n', 'drug = "factor" is not allowed'),
    ('[covariates]\nschedule = "categorical"\n', "cannot be a covariate"),
    ('[[filter]]\ncolumn = "x"\n', "give a condition"),
    ('[source]\nlayout = "long"\nfile = "x.csv"\n[[filter]]\ncolumn = "x"\nkeep = []\n', "non-empty list"),
    ('[source]\nlayout = "long"\nfile = "x.csv"\n[time]\nunit = "visit"\ncolumn = "t"\n[time.visits]\n"1" = 0\n"2" = 0\n',
     "the same time"),
    ('[time]\nunit = "week"\n', 'needs a single-file layout'),
    ("[source\n", "is not valid TOML"),
])
def test_bad_descriptions_are_usage_errors_with_a_reason(tmp_path, text, expected):
    with pytest.raises(UsageError) as exc:
        load_description(_write(tmp_path, text))
    assert expected in str(exc.value)
    assert str(tmp_path / "dataset.toml") in str(exc.value)


def test_every_problem_is_reported_together(tmp_path):
    with pytest.raises(UsageError) as exc:
        load_description(_write(tmp_path, '[columns]\npatientid = "id"\n[covariates]\nx = "factor"\n'))
    assert len(str(exc.value).splitlines()) == 2


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(UsageError, match="outcomes describe DATA --write"):
        load_description(tmp_path / "nope.toml")


def test_absent_columns_name_the_closest_and_list_what_exists():
    d = parse_description({"source": {"layout": "long", "file": "x.csv"}, "columns": {"patient_id": "subjct"},
                           "time": {"unit": "visit", "column": "visit"},
                           "outcomes": {"bdi": {"higher_is_better": False}}})
    with pytest.raises(UsageError) as exc:
        check_columns(d, ["subject", "visit", "BDI", "arm"])
    msg = str(exc.value)
    assert '"subjct", which x.csv does not have. Did you mean "subject"?' in msg
    assert "Its columns: subject, visit, BDI, arm." in msg
    assert "[outcomes.bdi]" in msg and 'Did you mean "BDI"?' in msg


def test_wide_map_missing_columns_is_a_usage_error():
    d = parse_description({"source": {"layout": "wide", "file": "w.csv"}, "time": {"unit": "month"},
                           "outcomes": {"bdi": {"higher_is_better": False,
                                                "columns": {"bdi.pre": 0, "bdi.2m": 2, "bdi.8m": 8}}}})
    with pytest.raises(UsageError, match='"bdi.8m", which w.csv does not have. Did you mean "bdi.6m"'):
        check_columns(d, ["id", "bdi.pre", "bdi.2m", "bdi.6m"])


def test_registry_declares_outcomes_and_keeps_builtins():
    d = parse_description({"outcomes": {"tol": {"label": "Tolerance level", "min": 0, "max": 12,
                                                "higher_is_better": True, "mcid": 1},
                                        "leg_pain": {"label": "Throat pain"}}})
    reg = BUILTIN_OUTCOMES.declare(d.outcomes)
    assert reg.names[-1] == "tol" and reg.declared == ("tol",)
    assert reg.label("tol") == "Tolerance level" and reg.higher_is_better("tol")
    assert reg.label("leg_pain") == "Throat pain" and not reg.higher_is_better("leg_pain")
    assert reg["leg_pain"].range_text == "0–10"
    inst = reg.instruments()
    assert inst["tol"].higher_is_worse is False and inst["tol"].responder.points == 1
    assert inst["leg_pain"].label == "Throat pain" and inst["leg_pain"].responder.percent == 30
    with pytest.raises(KeyError):
        reg.higher_is_better("nope")


def test_a_builtin_outcome_mapped_in_columns_needs_no_column_of_its_name():
    d = parse_description({"source": {"layout": "long", "file": "x.csv"}, "columns": {"leg_pain": "Pain NRS"},
                           "outcomes": {"leg_pain": {"label": "Sciatica pain"}}})
    check_columns(d, ["id", "Pain NRS"])
    with pytest.raises(UsageError, match='"Pain NRS", which x.csv does not have'):
        check_columns(d, ["id", "pain"])
