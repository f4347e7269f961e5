"""Package layout that pyproject.toml cannot express: ship ``data/`` as ``outcomes/_data``.

The repository keeps its schemas, progression schedules and example dataset in the
top-level ``data/`` folder (the single source of truth). Mapping that folder to the
package ``outcomes._data`` puts it inside the wheel, and an editable install
(``pip install -e .``) maps the same name to the checkout's ``data/``, so
``importlib.resources.files("outcomes._data")`` finds the files either way
(`outcomes._resources`). Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["outcomes", "outcomes.*"]), "outcomes._data"],
    package_dir={"outcomes._data": "data"},
)
