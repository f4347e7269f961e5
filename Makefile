# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv from pyproject.toml when it is missing or older than pyproject.toml or setup.py.
# `make wheel-demo` checks the package as a clinic installs it: it builds the wheel, installs it
# (with its dependencies) into a fresh virtual environment and runs `outcomes demo` in an
# unrelated folder; `make test` checks the same wheel offline on a small dataset (test_packaging.py).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

WHEEL_DIR := build/wheel-demo

.PHONY: setup demo test wheel-demo benchmark benchmark-scale docs clean

$(STAMP): pyproject.toml setup.py
	@if ! $(BIN)/python -c "import sys" >/dev/null 2>&1; then \
	    rm -rf $(VENV); $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/outcomes demo --out reports/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

wheel-demo: $(STAMP)
	rm -rf build  # setuptools would otherwise package stale files left in build/lib
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir $(WHEEL_DIR)/dist .
	$(PYTHON) -m venv $(WHEEL_DIR)/venv
	$(WHEEL_DIR)/venv/bin/python -m pip install --quiet --disable-pip-version-check $(WHEEL_DIR)/dist/outcomes-*.whl
	cd "$$(mktemp -d)" && $(CURDIR)/$(WHEEL_DIR)/venv/bin/outcomes demo --out demo

benchmark: $(STAMP)
	$(BIN)/python benchmarks/validate.py --repeat 3
	$(BIN)/python benchmarks/validate.py --repeat 3 --format parquet --out-format parquet
	$(BIN)/python benchmarks/cohort.py
	$(BIN)/python benchmarks/models.py
	$(BIN)/python benchmarks/compare.py
	$(BIN)/python benchmarks/reports.py

benchmark-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py --patients 200000 1000000

docs: $(STAMP)
	$(BIN)/python -m outcomes.io.dictionary > docs/data-dictionary.md

clean:
	rm -rf $(VENV) reports/demo .pytest_cache build
