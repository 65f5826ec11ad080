# Two commands do all the set-up on a fresh machine (Python 3.10+, no GPU, no Hub):
#   make run    install into .venv, then run the whole workflow on the embedded default config
#   make test   install into .venv, then lint (snakemake --lint, snakefmt, ruff) and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: run test lint format docs dry-run report audit install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build; letting pip pick torch freely pulls GBs of CUDA packages.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

run: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) $(ARGS)

# Style and workflow checks first (seconds), then the test suite: a lint or formatting regression fails CI.
test: lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q $(ARGS)

# snakemake --lint on the embedded default, the smoke and the paper config; snakefmt and ruff on the code.
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile rules/
	for cf in config/config.yaml config/smoke.yaml config/paper.yaml; do \
	  PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint --configfile $$cf || exit 1; done

# Rewrite what `make lint` checks the format of.
format: $(BIN)/.installed
	$(BIN)/snakefmt Snakefile rules/
	$(BIN)/ruff check --fix .

# docs/config.md is generated from config/schema.yaml (tests/test_config_schema.py fails when it is out of date).
docs: $(BIN)/.installed
	$(BIN)/python scripts/config_docs.py > docs/config.md

dry-run: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -n $(ARGS)

report: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --report results/report/report.html $(ARGS)

# Rebuild the whole DAG from scratch in a temporary folder and compare with results/manifest.json (scripts/audit.py;
# ARGS e.g. "--workdir /tmp/rebuild --cores 2", or "--configfile config/x.yaml" to see what a change touches).
audit: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/audit.py $(ARGS)

clean:
	rm -rf results resources .snakemake
