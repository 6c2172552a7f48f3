# The two set-up commands of the README, and a few more for development.
# Each target creates .venv and installs what it needs on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test bench lint proto clean

demo: $(INSTALLED)  ## run a real study on SQLite with 4 worker processes
	$(BIN)/hpo demo

test: $(INSTALLED)  ## run the test suite (PostgreSQL tests skip unless a server answers)
	$(BIN)/python -m pytest

bench: $(INSTALLED)  ## service latency and throughput against Optuna
	$(BIN)/python benchmarks/service.py

lint: $(INSTALLED)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

proto: $(INSTALLED)  ## regenerate hpo/v1 after editing proto/hpo/v1/hpo.proto
	$(BIN)/python proto/generate.py

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,dev]'
	touch $@

clean:
	rm -rf $(VENV) hpo-demo hpo-demo.db hpo-demo.db-wal hpo-demo.db-shm *.egg-info
