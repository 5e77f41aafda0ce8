# Quickstart: `make demo` and `make test` on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_PATH ?= .remlite-demo

.PHONY: demo test lint format bench clean venv data-wordnet bench-graph data-pydoc bench-ingest bench-full bench-crud

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "remlite needs Python 3.11+; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(BIN)/.installed

demo: $(BIN)/.installed
	REMLITE_PATH=$(DEMO_PATH) PYTHON="$(CURDIR)/$(BIN)/python" PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks

format: $(BIN)/.installed
	$(BIN)/ruff format src tests benchmarks

# The reference benchmark plan (benchmarks/report.py): every scenario, one report in benchmarks/RESULTS.md
# (between its bench markers), charts in benchmarks/charts/, README's performance table. Quick profile
# < 15 min on 2 cores; bench-full: the plan's sizes (1M entities, 10k RAG chunks, 60 s stress).
bench: $(BIN)/.installed
	$(MAKE) --no-print-directory data-pydoc data-wordnet
	$(BIN)/python benchmarks/report.py --quick

bench-full: $(BIN)/.installed
	$(MAKE) --no-print-directory data-pydoc data-wordnet
	$(BIN)/python benchmarks/report.py --full

bench-crud: $(BIN)/.installed
	$(BIN)/python benchmarks/crud.py

# WordNet 3.0 from Debian's wordnet-base (a real typed graph for benchmarks/graph.py and its test):
# `apt-get download` + `dpkg -x` into the git-ignored .data/, no install, no root needed to extract.
WORDNET_DIR := .data/wordnet
WORDNET_DATA := $(WORDNET_DIR)/usr/share/wordnet/data.noun

data-wordnet: $(WORDNET_DATA)

$(WORDNET_DATA):
	mkdir -p $(WORDNET_DIR)/deb
	cd $(WORDNET_DIR)/deb && { ls wordnet-base_*.deb >/dev/null 2>&1 || apt-get download wordnet-base || \
		{ apt-get update && apt-get download wordnet-base; }; }
	dpkg -x $$(ls $(WORDNET_DIR)/deb/wordnet-base_*.deb | head -n 1) $(WORDNET_DIR)
	@touch $@

bench-graph: $(BIN)/.installed $(WORDNET_DATA)
	$(BIN)/python benchmarks/graph.py

# Python 3.11 documentation from Debian's python3.11-doc (530 HTML pages + their 497 reST sources):
# a real prose corpus for benchmarks/ingest.py, extracted into the git-ignored .data/ (no install).
PYDOC_DIR := .data/pydoc
PYDOC_HTML := $(PYDOC_DIR)/usr/share/doc/python3.11/html/index.html

data-pydoc: $(PYDOC_HTML)

$(PYDOC_HTML):
	mkdir -p $(PYDOC_DIR)/deb
	cd $(PYDOC_DIR)/deb && { ls python3.11-doc_*.deb >/dev/null 2>&1 || apt-get download python3.11-doc || \
		{ apt-get update && apt-get download python3.11-doc; }; }
	dpkg -x $$(ls $(PYDOC_DIR)/deb/python3.11-doc_*.deb | head -n 1) $(PYDOC_DIR)
	@touch $@

bench-ingest: $(BIN)/.installed $(PYDOC_HTML)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) $(DEMO_PATH) .pytest_cache .ruff_cache build *.egg-info src/*.egg-info
