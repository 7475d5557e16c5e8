# Every target bootstraps .venv from scratch when it is missing or pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXPERIMENT ?= experiments/seed-story.yaml

.PHONY: demo test lint bench bench-all clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/deploysim run $(EXPERIMENT)
	@echo "Open the report: runs/$$(basename $(EXPERIMENT) .yaml)/report.html"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -n 2

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_mmc.py --requests 1000000 --repeat 3 --memory

# The README's performance numbers: M/M/c, big-day, scaling curves, fluid year, sweeps, report pages (about 20 min).
bench-all: bench
	$(BIN)/python benchmarks/bench_bigday.py --horizons 30m,2h
	$(BIN)/python benchmarks/bench_scale.py --fleet-requests 300000 --figure
	$(BIN)/python benchmarks/bench_fluid.py --workers 2
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_report.py

clean:
	rm -rf $(VENV) runs .mypy_cache .ruff_cache
