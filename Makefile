# Quick start: `make demo` runs the main job on local defaults; `make test` runs the test suite.
PY ?= python3
export PYTHON := $(PY)

.PHONY: setup demo walkthrough test lint bench

setup:
	bash scripts/setup.sh

demo:
	TOOLFOUNDRY_SETUP_BROWSER=0 TOOLFOUNDRY_SETUP_POSTGRES=0 bash scripts/setup.sh
	$(PY) -m toolfoundry demo

walkthrough:
	TOOLFOUNDRY_SETUP_BROWSER=0 TOOLFOUNDRY_SETUP_POSTGRES=0 bash scripts/setup.sh
	bash scripts/walkthrough.sh

lint: setup
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy

# Tests run in JOBS processes (pytest-xdist), then the `serial` ones (CPU against wall-clock limits) alone.
JOBS ?= 2
test: lint
	$(PY) -m pytest -q -n $(JOBS) -m "not serial"
	$(PY) -m pytest -q -m serial

bench: setup
	$(PY) bench/run.py
	$(PY) bench/search.py
	$(PY) bench/mcp_calls.py
