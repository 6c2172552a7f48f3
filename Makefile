# The two set-up commands of the README, and a few more for development.
# Each target creates .venv and installs what it needs on first use.

PYTHON ?= python3
# Installed before anything can pull torch in (BoTorch does): this machine's pip finds a local
# CPU build of this version. Elsewhere, pick your build, e.g.
#   make TORCH="torch --index-url https://download.pytorch.org/whl/cpu" test
TORCH ?= torch==2.13.0
# llama-cpp-python (the LLM tests' local server) compiles from source: a build tuned to the
# building CPU crashed in generation (general protection fault in libggml-cpu on an AVX-512
# host), so it is built for a generic x86-64 without AVX-512.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX512=OFF
VENV := .venv
BIN := $(VENV)/bin
# Two stages: the coordinator and the demo (extra `server`), then what the tests add (`dev`,
# which compiles llama-cpp-python), so that a first `make demo` installs only the first.
SERVER_INSTALLED := $(VENV)/.installed-server
INSTALLED := $(VENV)/.installed
# setuptools prints an informational notice ("Editable installation. Please be careful with
# folders ... with the same name as your package") on every editable install of a project with a
# package-dir mapping like ours; it is not a problem of this project, so pip hides it.
EDITABLE_INSTALL := $(BIN)/python -W "ignore:Editable installation" -m pip install --quiet -e

.PHONY: demo test bench bench-quality lint proto vendor-js clean

demo: $(SERVER_INSTALLED)  ## run a real study on SQLite with 4 worker processes
	$(BIN)/hpo demo

test: $(INSTALLED)  ## run the test suite (PostgreSQL tests skip unless a server answers)
	$(BIN)/python -m pytest

bench: $(INSTALLED)  ## service latency and throughput against Optuna
	$(BIN)/python -m benchmarks.throughput

bench-quality: $(INSTALLED)  ## regret over a simulated budget: hpo's algorithms and Optuna
	$(BIN)/python -m benchmarks.quality

lint: $(INSTALLED)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

proto: $(INSTALLED)  ## regenerate hpo/v1 after editing proto/hpo/v1/hpo.proto
	$(BIN)/python proto/generate.py

vendor-js:  ## refetch the dashboard's charting libraries (pinned in tools/vendor_js.py) with npm
	python3 tools/vendor_js.py

$(SERVER_INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(EDITABLE_INSTALL) '.[server]'
	touch $@

$(INSTALLED): $(SERVER_INSTALLED) pyproject.toml
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(EDITABLE_INSTALL) '.[server,dev]'
	touch $@

clean:
	rm -rf $(VENV) hpo-demo hpo-demo.db hpo-demo.db-wal hpo-demo.db-shm *.egg-info
