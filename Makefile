# Two commands for a newcomer: `make demo` and `make test`. Both install first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench check lint clean

install: $(STAMP)

# Rebuilt whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/scanner demo --out reports/demo --inputs inputs

test: install
	scripts/ensure-chromium
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m bench.startup
	$(BIN)/python -m bench.fleet
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check scanner tests bench
	$(BIN)/ruff format --check scanner bench
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
