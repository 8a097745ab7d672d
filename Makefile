# riskwarn: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
RISKWARN_HOME ?= $(CURDIR)/var
export RISKWARN_HOME

.PHONY: install demo test lint typecheck benchmarks up down clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Install exactly what uv.lock says (no resolution, no upgrades), compiled to bytecode:
# with PYTHONDONTWRITEBYTECODE=1 (as in this project's dev shells) nothing is ever cached,
# so every process (each Airflow CLI call and task, each test subprocess) would compile
# Airflow, pandas, MLflow... from source again (`import airflow`: 7.3-7.5 user CPU s from
# source, 3.8-4.9 from bytecode; 2026-12-05 14:06-14:10 UTC, load 2-8).
$(VENV)/.installed: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

install: $(VENV)/.installed

# The suite in PYTEST_WORKERS processes (pytest-xdist; 0 = one process, as before), one
# test module per unit of work, the longest modules first (tests/conftest.py).
PYTEST_WORKERS ?= 2
test: install
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS) \
		|| { rc=$$?; [ $$rc -ne 5 ] || echo 'make test: pytest collected no tests (exit 5): failing' >&2; exit $$rc; }

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

demo: install
	$(VENV)/bin/python -m riskwarn.demo

benchmarks: install
	$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf var .pytest_cache

# Airflow (API server :8080, scheduler, DAG processor), MLflow (:5000), dashboard (:8501).
up: install
	scripts/services.sh up

down:
	scripts/services.sh down
