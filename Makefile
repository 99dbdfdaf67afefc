# Adaptive Delivery — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SERVING_VENV := .venv-serving
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Install torch from the CPU wheel before anything that depends on it (a bare `torch` pulls CUDA).
TORCH := torch==2.13.0
export OMP_NUM_THREADS ?= 2
export PYTHONHASHSEED := 0

.DEFAULT_GOAL := help
.PHONY: help run test test-fast bench docs docs-serve airflow-ui lint lock serving-env clean distclean

help: ## Show the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: requirements/platform.lock pyproject.toml
	@echo "building the platform environment in $(VENV) (once, a few minutes; log: build/platform-env.log)"
	@mkdir -p build && ( set -e; \
	  $(PYTHON) -m venv $(VENV); \
	  $(PIP) install -q --upgrade pip wheel setuptools; \
	  $(PIP) install -q $(TORCH); \
	  $(PIP) install -q -r requirements/platform.lock; \
	  $(PIP) install -q --no-deps -e . ) > build/platform-env.log 2>&1 \
	  || { tail -40 build/platform-env.log; echo "building $(VENV) failed: build/platform-env.log"; exit 1; }
	@touch $@

$(SERVING_VENV)/.installed: requirements/serving.lock pyproject.toml
	@echo "building the serving environment in $(SERVING_VENV) (once, a few minutes; log: build/serving-env.log)"
	@mkdir -p build && ( set -e; \
	  $(PYTHON) -m venv $(SERVING_VENV); \
	  $(SERVING_VENV)/bin/pip install -q --upgrade pip wheel setuptools; \
	  $(SERVING_VENV)/bin/pip install -q $(TORCH); \
	  $(SERVING_VENV)/bin/pip install -q -r requirements/serving.lock; \
	  $(SERVING_VENV)/bin/pip install -q --no-deps -e . ) > build/serving-env.log 2>&1 \
	  || { tail -40 build/serving-env.log; echo "building $(SERVING_VENV) failed: build/serving-env.log"; exit 1; }
	@touch $@

serving-env: $(SERVING_VENV)/.installed ## Build the serving environment (MLServer runtimes)

run: $(VENV)/.installed ## Run the main job end to end on the embedded defaults (-v: ARGS=-v)
	@$(VENV)/bin/adaptive-delivery run --out runs/latest $(ARGS)

# Two workers on two cores, each library pool one thread wide: two OpenMP/BLAS pools that each take
# both cores spin against each other (the suite took a third more CPU and wall time that way).
test: $(VENV)/.installed $(SERVING_VENV)/.installed lint docs ## Lint, build the docs, then every test (unit, integration, notebooks, end to end)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q --durations=40 -n 2

test-fast: $(VENV)/.installed ## Unit tests only
	$(PY) -m pytest -q tests/unit

bench: $(VENV)/.installed ## Reproducible speed measurements (writes benchmarks/results/)
	$(PY) benchmarks/simulator_throughput.py
	$(PY) benchmarks/bounce_parser.py

docs: $(VENV)/.installed ## Build the documentation site strictly (a broken link fails) into build/site
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

airflow-ui: $(VENV)/.installed ## Airflow's UI on http://127.0.0.1:8080 over runs/airflow, nothing beyond loopback (ARGS=--port N)
	$(PY) tools/airflow_ui.py --home runs/airflow $(ARGS)

docs-serve: $(VENV)/.installed ## Serve the documentation site on http://127.0.0.1:8000
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve -a 127.0.0.1:8000

lint: $(VENV)/.installed ## Static checks: ruff, the import contracts (pyproject.toml), no import cycles
	$(VENV)/bin/ruff check src tests benchmarks components pipelines serving dags tools k8s docs/hooks notebooks
	$(VENV)/bin/lint-imports --no-cache
	$(PY) tools/import_cycles.py adaptive_delivery

LOCK_DIR := build/lock
lock: ## Re-resolve both environments from pyproject.toml and rewrite the lock files
	rm -rf $(LOCK_DIR)
	$(PYTHON) -m venv $(LOCK_DIR)/platform && $(LOCK_DIR)/platform/bin/pip install -q $(TORCH) && $(LOCK_DIR)/platform/bin/pip install -q -e '.[platform,dev,docs]'
	$(LOCK_DIR)/platform/bin/pip freeze --exclude-editable | grep -v '^adaptive-delivery' > requirements/platform.lock
	$(PYTHON) -m venv $(LOCK_DIR)/serving && $(LOCK_DIR)/serving/bin/pip install -q $(TORCH) && $(LOCK_DIR)/serving/bin/pip install -q -e '.[serving,dev]'
	$(LOCK_DIR)/serving/bin/pip freeze --exclude-editable | grep -v '^adaptive-delivery' > requirements/serving.lock
	rm -rf $(LOCK_DIR)

clean: ## Remove run outputs and caches
	rm -rf runs .pytest_cache .hypothesis .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +

distclean: clean ## Also remove both virtual environments
	rm -rf $(VENV) $(SERVING_VENV)
