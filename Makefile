# Every target installs what it needs into .venv itself, so a fresh clone needs only
# python3 (3.11+) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck pytest demo bench clean soak

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

# The main job offline: the console plays Slack against the bundled ECS simulator.
demo: $(STAMP)
	$(BIN)/ecs-reboot-bot console --demo

# Benchmarks: each script prints its figures; this writes bench/RESULTS.md (~4 min).
bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# The soak: 200 reboots through faults, 429s and SIGKILLed restarts (~5 min, real time).
soak: $(STAMP)
	$(BIN)/pytest -q -m soak tests/soak
