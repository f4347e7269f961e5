"""Where the package's own files are: schemas, schedules, the example dataset, report templates.

Every path the package reads from itself is resolved here, with
:mod:`importlib.resources`, so an installed wheel uses its own copies wherever it
is installed and whatever the working folder is:

==================  ==============================  ===============================
function            in a wheel                      in a checkout (editable install)
==================  ==============================  ===============================
`schema_dir`        ``outcomes/_data/schemas``      ``data/schemas``
`schedule_dir`      ``outcomes/_data/schedules``    ``data/schedules``
`example_dir`       ``outcomes/_data/example``      ``data/example``
`template_dir`      ``outcomes/reports/templates``  ``outcomes/reports/templates``
==================  ==============================  ===============================

The repository's top-level ``data/`` folder is the single source of truth:
``setup.py`` maps it to the package ``outcomes._data``, which the wheel carries and
an editable install points at the checkout's folder. ``$OUTCOMES_SCHEMA_DIR`` and
``$OUTCOMES_SCHEDULE_DIR`` override the schema and schedule folders.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

__all__ = ["example_dir", "schedule_dir", "schema_dir", "template_dir"]


def _folder(package: str, name: str) -> Path:
    """The folder ``name`` of ``package`` as a real path (the package must be installed unzipped)."""
    try:
        where = files(package) / name
    except ModuleNotFoundError:  # a source folder put on sys.path by hand, never installed
        raise RuntimeError(f"outcomes cannot find its package data ({package}); install it with "
                           f"`pip install outcomes-*.whl`, or `pip install -e .` in a checkout.") from None
    if not isinstance(where, Path):  # pragma: no cover - a zipped install (zipapp, zipimport)
        raise RuntimeError(f"outcomes must be installed as files, not run from a zip archive "
                           f"({where}); reinstall it with pip.")
    return where


def schema_dir() -> Path:
    """The Table Schema files of the four exports (``$OUTCOMES_SCHEMA_DIR`` if set)."""
    return Path(os.environ.get("OUTCOMES_SCHEMA_DIR") or _folder("outcomes._data", "schemas"))


def schedule_dir() -> Path:
    """The progression schedule files (``$OUTCOMES_SCHEDULE_DIR`` if set)."""
    return Path(os.environ.get("OUTCOMES_SCHEDULE_DIR") or _folder("outcomes._data", "schedules"))


def example_dir() -> Path:
    """The synthetic example dataset ``outcomes demo`` runs on (200 patients, seed 2026)."""
    return _folder("outcomes._data", "example")


def template_dir() -> Path:
    """The Jinja2 templates of the HTML and PDF reports."""
    return _folder("outcomes.reports", "templates")
