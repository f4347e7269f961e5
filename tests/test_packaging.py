"""The package as a user installs it: a wheel built from the checkout, installed outside it, run elsewhere.

One wheel is built for the module (offline: ``pip wheel --no-build-isolation``
with the test environment's setuptools) from a copy of the files a clean clone
has, and installed with ``pip install --target`` into a temporary folder that is
put first on ``PYTHONPATH``. Every command runs from another temporary folder,
and the test checks that the schemas, schedules, templates and example data in
use are the installed copies, not the checkout's ``data/`` folder. The public
imports of the README are checked here too.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pip(*args: str, cwd: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args, "--no-deps", "--no-index", "--quiet"],
                          cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build the wheel from a copy of the checkout and install it into a folder of its own."""
    pytest.importorskip("setuptools", minversion="70.1", reason="building the wheel needs setuptools >= 70.1 "
                                                                "(the [test] extra installs it)")
    base = tmp_path_factory.mktemp("packaging")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("outcomes", "data"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    _pip("wheel", "--no-build-isolation", "--wheel-dir", str(base / "dist"), "./src", cwd=base)
    (wheel,) = (base / "dist").glob("outcomes-*.whl")
    site = base / "site"
    _pip("install", "--no-compile", "--target", str(site), str(wheel), cwd=base)
    work = base / "elsewhere"
    work.mkdir()
    return {"wheel": wheel, "site": site, "work": work}


def _env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTCOMES_")}
    env.update(PYTHONPATH=str(site), PYTHONWARNINGS="ignore", MPLBACKEND="Agg")
    return env


def _run(installed: dict[str, Path], *args: str, script: bool = False) -> subprocess.CompletedProcess:
    """``outcomes ARGS`` with the installed package, from the unrelated folder."""
    cmd = [str(installed["site"] / "bin" / "outcomes")] if script else [sys.executable, "-m", "outcomes"]
    proc = subprocess.run([*cmd, *args], cwd=installed["work"], env=_env(installed["site"]),
                          capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _files(folder: Path, pattern: str) -> list[str]:
    return sorted(p.name for p in folder.glob(pattern))


def test_wheel_carries_the_package_data(installed):
    with zipfile.ZipFile(installed["wheel"]) as zf:
        names = set(zf.namelist())
    expected = {
        "outcomes/_data/schemas": _files(ROOT / "data" / "schemas", "*.schema.json"),
        "outcomes/_data/schedules": _files(ROOT / "data" / "schedules", "*.json"),
        "outcomes/_data/example": _files(ROOT / "data" / "example", "*.*"),
        "outcomes/reports/templates": _files(ROOT / "outcomes" / "reports" / "templates", "*.j2"),
    }
    for folder, files in expected.items():
        assert files, folder
        missing = [f for f in files if f"{folder}/{f}" not in names]
        assert not missing, f"{folder} lacks {missing}"
    assert "outcomes/py.typed" in names
    # data/ is installed inside the package, never as a top-level 'data' package of site-packages
    version = installed["wheel"].name.split("-")[1]
    assert {n.split("/")[0] for n in names} == {"outcomes", f"outcomes-{version}.dist-info"}


def test_installed_package_uses_its_own_files(installed):
    code = ("import json, outcomes, outcomes.io, outcomes._resources as r;"
            "from outcomes.measures import SCHEDULE_DIR;"
            "from outcomes.reports._html import TEMPLATES;"
            "print(json.dumps({'package': outcomes.__file__, 'schemas': str(outcomes.io.SCHEMA_DIR),"
            "'schedules': str(SCHEDULE_DIR), 'example': str(r.example_dir()), 'templates': str(TEMPLATES)}))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=installed["work"], env=_env(installed["site"]),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    where = {k: Path(v) for k, v in json.loads(proc.stdout).items()}
    site = installed["site"].resolve()
    for name, path in where.items():
        assert path.resolve().is_relative_to(site), f"{name} comes from {path}, not the installed wheel"
        assert not path.resolve().is_relative_to(ROOT), name
    assert _files(where["schemas"], "*.schema.json") == _files(ROOT / "data" / "schemas", "*.schema.json")


def test_commands_run_from_an_unrelated_folder(installed):
    work = installed["work"]
    p = _run(installed, "simulate", "--patients", "20", "--seed", "5", "--out", "sim", script=True)
    assert p.returncode == 0, p.stderr
    assert (work / "sim" / "sessions.csv").is_file()

    p = _run(installed, "validate", "sim")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "All rows accepted." in p.stdout

    p = _run(installed, "plan", "--write", "plan.toml")
    assert p.returncode == 0, p.stderr
    assert (work / "plan.toml").read_text().startswith("# Analysis plan")

    # the bundled example dataset, found inside the installed package
    p = _run(installed, "validate", str(installed["site"] / "outcomes" / "_data" / "example"))
    assert p.returncode == 0, p.stdout + p.stderr

    # the whole demo pipeline (validation, audit, comparison, patient reports: every template,
    # schema and schedule) on the small simulated dataset; `make wheel-demo` runs it on the example
    p = _run(installed, "demo", "--data", "sim", "--out", "demo")
    assert p.returncode == 0, p.stdout + p.stderr
    for report in ("validation/validation.html", "audit/audit.html", "compare/compare.html",
                   "patients/index.html"):
        assert (work / "demo" / report).is_file(), report
    # checked here, on the demo just written, so that no test depends on another having run
    # (under pytest-xdist the two could land in different worker processes)
    _assert_cites_published_sources_only(work / "demo")


def _assert_cites_published_sources_only(demo: Path) -> None:
    cited = sorted({str(p.relative_to(demo)) for p in demo.rglob("*") if p.is_file()
                    and p.suffix in (".html", ".json", ".csv", ".toml", ".txt")
                    and any(word in p.read_text(encoding="utf-8", errors="replace")
                            for word in ("DESIGN.md", "DOMAIN.md", "STACK.md", "DESIGN §"))})
    assert not cited, f"outputs citing files a user does not have: {cited[:5]}"


PUBLIC = {
    "outcomes": ["Cohort", "Dataset", "load_dataset", "Options", "AnalysisPlan", "load_plan", "__version__"],
    "outcomes.io": ["load_dataset", "Dataset", "UsageError"],
    "outcomes.measures": ["odi_score", "rmdq_score", "reliable_change", "is_responder", "weekly_adherence",
                          "stop_and_consult_flags", "progression_fidelity", "load_schedules"],
    "outcomes.models": ["compare_schedules", "fit_trajectory", "ancova", "audit_kpis", "ModelResult"],
    "outcomes.plotting": ["plot_funnel", "plot_spaghetti", "plot_forest"],
    "outcomes.reports": ["write_audit_report", "write_compare_report", "write_patient_reports"],
    "outcomes.simulate": ["simulate", "write_dataset", "SimulationTruth"],
    "outcomes.plan": ["AnalysisPlan", "default_plan", "check_plan_against"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_import_from_the_subpackage(module):
    mod = importlib.import_module(module)
    assert set(PUBLIC[module]) <= set(mod.__all__), set(PUBLIC[module]) - set(mod.__all__)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{module}.{name}"
    assert set(mod.__all__) <= set(dir(mod))


def test_import_outcomes_loads_neither_pandas_nor_the_models():
    code = ("import sys, outcomes, outcomes.models, outcomes.plotting, outcomes.reports;"
            "print(sorted(m for m in ('pandas', 'statsmodels', 'matplotlib', 'jinja2') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    proc = subprocess.run([sys.executable, "-c", "from outcomes import Cohort; import sys;"
                           "print('statsmodels' in sys.modules, 'matplotlib' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["False", "False"], proc.stderr


def test_unknown_public_name_is_an_attribute_error():
    import outcomes.models

    with pytest.raises(AttributeError, match="no attribute 'fit_everything'"):
        outcomes.models.fit_everything  # noqa: B018
