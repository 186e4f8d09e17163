# Every target installs what it needs into .venv itself, so a fresh clone needs only
# python3 (3.11+) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test unit hooks lint fmt typecheck pytest demo bench clean soak

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: lint typecheck pytest

# The fast unit tests alone (pure core, fakes in memory): seconds, for the edit loop.
unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The same checks on every commit (.pre-commit-config.yaml); pre-commit is not a
# dependency of the bot or its tests, so it is installed only here.
hooks: $(STAMP)
	$(BIN)/python -m pip install --quiet pre-commit
	$(BIN)/pre-commit install

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Mend what ruff can mend by itself: import order, formatting, simple lint fixes.
fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

# The main job offline: the console plays Slack against the bundled ECS simulator.
demo: $(STAMP)
	$(BIN)/ecs-reboot-bot console --demo

# Benchmarks: each script prints its figures; this writes bench/RESULTS.md (~2 min).
bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# The soak: 200 reboots through faults, 429s and SIGKILLed restarts (~4 min real time, 8 at most).
# It prints its figures (-rP), not the fakes' stderr, full of resets from the killed process.
soak: $(STAMP)
	$(BIN)/pytest -q -rP --show-capture=stdout -m soak tests/soak
