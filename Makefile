# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv from pyproject.toml when it is missing or older than pyproject.toml.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test benchmark docs clean

$(STAMP): pyproject.toml
	@if ! $(BIN)/python -c "import sys" >/dev/null 2>&1; then \
	    rm -rf $(VENV); $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/outcomes demo --out reports/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

benchmark: $(STAMP)
	$(BIN)/python benchmarks/validate.py
	$(BIN)/python benchmarks/cohort.py
	$(BIN)/python benchmarks/models.py
	$(BIN)/python benchmarks/reports.py

docs: $(STAMP)
	$(BIN)/python -m outcomes.io.dictionary > docs/data-dictionary.md

clean:
	rm -rf $(VENV) reports/demo .pytest_cache
