# Two commands: `make demo` (the main job end to end) and `make test` (the whole suite).
# Both create the virtual environment from the lock file when it is missing or stale.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
TOOLS  := .cache/tools
UV     := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9

export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Installed packages get their bytecode at install time: where PYTHONDONTWRITEBYTECODE is set,
# every process (each test server, each CLI run) would otherwise compile its imports again
# (importing the stack: 24 s from source, 10 s from bytecode).
export UV_COMPILE_BYTECODE := 1
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export BENTOML_DO_NOT_TRACK := true

.PHONY: demo test install lint mlflow-ui bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/nba-mlops demo

PACKAGES := core ingest features evaluation training registry serving monitoring flows
# pytest-xdist processes: one more than the machine's cores (at most 8), since the tests spend
# part of their time waiting on servers and subprocesses (2 cores: 581 s of pytest on 3
# processes, about 700 s on 2). A module runs on one of them with its module fixtures built once.
CORES := $(shell getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
TEST_WORKERS ?= $(shell echo $$(( $(CORES) < 8 ? $(CORES) + 1 : 8 )))

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/bandit --quiet --recursive --severity-level medium $(PACKAGES)
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=20 --cov --cov-report=term:skip-covered --cov-report=xml:.cache/coverage.xml

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

mlflow-ui: $(VENV)/.installed
	$(VENV)/bin/nba-mlops mlflow-ui

bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/ingest_benchmark.py

clean:
	rm -rf .nba-mlops .pytest_cache
