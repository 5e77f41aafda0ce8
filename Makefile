# Quickstart: `make demo` and `make test` on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_PATH ?= .remdb-demo

.PHONY: demo test lint format bench clean venv

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "remdb needs Python 3.11+; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(BIN)/.installed

demo: $(BIN)/.installed
	REMDB_PATH=$(DEMO_PATH) PYTHON="$(CURDIR)/$(BIN)/python" PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks

format: $(BIN)/.installed
	$(BIN)/ruff format src tests benchmarks

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/crud.py

clean:
	rm -rf $(VENV) $(DEMO_PATH) .pytest_cache .ruff_cache build *.egg-info src/*.egg-info
