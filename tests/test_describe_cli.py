"""`outcomes describe` in a subprocess: a starter guessed from a bare file passes --check."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from outcomes.cli import main
from outcomes.io.starter import starter_description


def run(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "outcomes", *args], capture_output=True, text=True, env=env,
                          timeout=120)


WIDE = """\
subject,treatment,age,bdi.pre,bdi.2m,bdi.4m,drug
1,TAU,30,29,2,2,No
2,BtheB,40,32,16,24,Yes
3,TAU,50,25,20,,Yes
4,BtheB,35,21,17,16,No
"""

LONG = """\
id,time,group,pain_avg,gender,score
12,1,3,2,1,11
12,2,3,3,1,10
14,1,1,2,2,NaN
14,2,1,<undefined>,2,9
15,1,2,5,2,8
15,2,2,4,2,<undefined>
"""


def test_wide_starter_is_guessed_and_accepted(tmp_path, cli_env):
    (tmp_path / "btheb.csv").write_text(WIDE, encoding="utf-8")
    target = tmp_path / "dataset.toml"
    done = run("describe", str(tmp_path), "--write", str(target), env=cli_env)
    assert done.returncode == 0, done.stderr
    doc = tomllib.loads(target.read_text(encoding="utf-8"))
    assert doc["source"] == {"layout": "wide", "file": "btheb.csv"}
    assert doc["columns"] == {"patient_id": "subject", "schedule": "treatment", "age_years": "age"}
    assert doc["time"]["unit"] == "month"
    assert doc["outcomes"]["bdi"]["columns"] == {"bdi.pre": 0, "bdi.2m": 2, "bdi.4m": 4}
    assert "CHECK" in target.read_text(encoding="utf-8")
    check = run("describe", str(tmp_path), "--check", str(target), env=cli_env)
    assert check.returncode == 0, check.stderr
    assert "describes the data: layout wide, time in months" in check.stdout
    # it refuses to overwrite
    assert main(["describe", str(tmp_path), "--write", str(target)]) == 2


def test_long_starter_is_guessed_and_accepted(tmp_path, capsys):
    data = tmp_path / "trial.csv"
    data.write_text(LONG, encoding="utf-8")
    target = tmp_path / "dataset.toml"
    assert main(["describe", str(data), "--write", str(target)]) == 0
    doc = tomllib.loads(target.read_text(encoding="utf-8"))
    assert doc["source"]["layout"] == "long" and doc["source"]["missing"] == ["<undefined>"]
    assert doc["time"] == {"unit": "visit", "column": "time", "visits": {"1": 0, "2": 1}}
    assert set(doc["outcomes"]) == {"pain_avg", "score"}
    assert doc["outcomes"]["pain_avg"]["higher_is_better"] is False
    assert main(["describe", str(tmp_path), "--check", str(target)]) == 0
    # the description is found in DATA by every command
    capsys.readouterr()
    assert main(["validate", str(tmp_path)]) == 0
    assert "Time is in visits since enrolment" in capsys.readouterr().out


@pytest.mark.parametrize("edit, expected", [
    (lambda t: t.replace("[columns]", "[column]"), 'unknown key "column". Did you mean "columns"?'),
    (lambda t: t.replace('patient_id = "id"', 'patient_id = "ID_"'), 'Did you mean "id"?'),
    (lambda t: t.replace('"2" = 1', ""), 'holds the code "2", not listed in [time.visits]'),
])
def test_bad_description_exits_2_with_one_clear_message(tmp_path, capsys, edit, expected):
    (tmp_path / "trial.csv").write_text(LONG, encoding="utf-8")
    target = tmp_path / "dataset.toml"
    target.write_text(edit(starter_description(tmp_path)), encoding="utf-8")
    for args in (("describe", str(tmp_path), "--check", str(target)), ("validate", str(tmp_path))):
        assert main(list(args)) == 2
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1


def test_dataset_option_takes_a_description_from_elsewhere(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "trial.csv").write_text(LONG, encoding="utf-8")
    desc = tmp_path / "described.toml"
    text = starter_description(data / "trial.csv").replace('file = "trial.csv"', 'file = "data/trial.csv"')
    desc.write_text(text, encoding="utf-8")
    assert main(["validate", str(data), "--dataset", str(desc), "--format", "json"]) == 0
    assert '"filtered": {}' in capsys.readouterr().out


def test_redcap_and_adam_folders_get_their_own_starter_that_check_accepts(tmp_path, capsys):
    from _interop import trial, write_adam, write_redcap

    data = trial(n=12)
    for name, writer, layout in (("redcap", write_redcap, "redcap"), ("adam", write_adam, "adam")):
        folder = writer(tmp_path / name, data)
        (folder / "dataset.toml").unlink()
        target = folder / "dataset.toml"
        assert main(["describe", str(folder), "--write", str(target)]) == 0
        doc = tomllib.loads(target.read_text(encoding="utf-8"))
        assert doc["source"]["layout"] == layout
        if layout == "redcap":
            assert doc["source"]["dictionary"] == "dictionary.csv" and doc["columns"]["schedule"] == "arm"
            assert doc["time"] == {"unit": "week", "visits": {"baseline_arm_1": 0, "week_2_arm_1": 2,
                                                              "week_4_arm_1": 4, "week_6_arm_1": 6}}
            assert set(doc["outcomes"]) == {"leg_pain", "bdi"}  # not the repeating session log's minutes
        else:
            assert doc["source"]["subjects"] == "adsl.csv" and doc["time"]["column"] == "AVISITN"
            assert {o["paramcd"] for o in doc["outcomes"].values()} == {"LEGPAIN", "BDI", "QSALL"}
        capsys.readouterr()
        assert main(["describe", str(folder), "--check", str(target)]) == 0
        assert f"describes the data: layout {layout}" in capsys.readouterr().out
