# Two commands for a newcomer: `make demo` and `make test`. Both install first when needed.
# Installs come from uv.lock (every package pinned with its hashes); `make lock` refreshes it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv itself is pinned and installed from PyPI into a tools venv of its own.
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# Never download a Python: the machine's python3 (3.11+) is the one.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
EXTRAS := --extra dev --extra dask --extra s3 --extra docs
PYTEST_ARGS ?=
# sslyze for `make bench`, in a venv of its own (see the $(SSLYZE_STAMP) rule)
SSLYZE_VENV := bench/.venv-sslyze
SSLYZE_STAMP := $(SSLYZE_VENV)/.installed

.PHONY: install lock demo test test-latest bench check lint docs clean

install: $(STAMP)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

# Rebuilt whenever the lock changes; --frozen installs exactly what uv.lock pins (hashes checked).
# Byte-compiled at install, as pip does: with PYTHONDONTWRITEBYTECODE set (CI, containers) every
# run would otherwise compile pandas, pyarrow and the rest from source (~1 s per start).
$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON) $(EXTRAS)
	$(BIN)/python -m compileall -q scanner bench
	touch $(STAMP)

# Newest versions pyproject.toml allows, with cryptography held at the cryptography_vectors
# release (vectors follow cryptography; the newest vectors may lag the newest cryptography).
lock: | $(UV)
	$(UV) lock --upgrade --python $(PYTHON)
	$(UV) lock --python $(PYTHON) --upgrade-package "cryptography==$$(sed -n '/^name = "cryptography-vectors"/{n;s/version = "\(.*\)"/\1/p}' uv.lock)"

demo: install
	$(BIN)/scanner demo --out reports/demo --inputs inputs

test: install
	scripts/ensure-chromium
	scripts/ensure-promtool
	scripts/ensure-testssl
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The suite against the newest releases pyproject.toml allows, in a venv of its own.
test-latest: | $(UV)
	rm -rf .venv-latest
	$(UV) venv --quiet --python $(PYTHON) .venv-latest
	VIRTUAL_ENV=.venv-latest $(UV) pip install --quiet --compile-bytecode --upgrade --resolution highest -e '.[dev,dask,s3]'
	scripts/ensure-chromium
	.venv-latest/bin/python -m pytest -q $(PYTEST_ARGS)

bench: install $(SSLYZE_STAMP)
	$(BIN)/python -m bench.startup
	$(BIN)/python -m bench.fleet
	$(BIN)/python -m bench $(BENCH_ARGS)
	$(BIN)/python -m bench.hello
	$(BIN)/python -m bench.peers --sslyze $(SSLYZE_VENV)/bin/python

# sslyze for bench.peers, in a venv of its own: exactly what bench/requirements-sslyze.txt pins
# (with hashes; regenerate it with `uv pip compile --generate-hashes` from `sslyze==VERSION`).
$(SSLYZE_STAMP): bench/requirements-sslyze.txt | $(UV)
	rm -rf $(SSLYZE_VENV)
	$(UV) venv --quiet --python $(PYTHON) $(SSLYZE_VENV)
	VIRTUAL_ENV=$(SSLYZE_VENV) $(UV) pip install --quiet --require-hashes -r bench/requirements-sslyze.txt
	touch $(SSLYZE_STAMP)

lint: install
	$(BIN)/ruff check scanner tests bench docs/gen_reference.py
	$(BIN)/ruff format --check scanner bench docs/gen_reference.py
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint test

# The documentation site, offline: the reference pages are written from the code first, then a
# strict build (a broken link, a missing anchor or a page left out of the nav fails) into site/.
docs: install
	$(BIN)/python docs/gen_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	@echo "docs: site/index.html"

clean:
	rm -rf $(VENV) .venv-latest $(TOOLS) .pytest_cache .mypy_cache .ruff_cache site
