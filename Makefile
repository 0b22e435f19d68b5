# saga-orchestrator: the two commands a newcomer needs are `make demo` and `make test`.
# Everything else (virtualenv, PostgreSQL, Kafka) is brought up by these targets themselves.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SAGACTL := $(VENV)/bin/sagactl
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help demo test unit integration up down status lint fmt bench venv clean

help:
	@echo "make demo   run the order-fulfilment demo against local Kafka and PostgreSQL"
	@echo "make test   run every test (unit + integration against real Kafka and PostgreSQL)"
	@echo "make up     start local PostgreSQL and Kafka (idempotent);  make down  stop them"
	@echo "make lint   ruff + mypy --strict;  make bench  run the benchmarks in load_tests/"

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

up: $(STAMP)
	$(PY) .devstack/stack.py up
	# migrations: added with the event store (sagactl db migrate)

down: $(STAMP)
	$(PY) .devstack/stack.py down

status: $(STAMP)
	$(PY) .devstack/stack.py status

demo: up
	$(SAGACTL) demo

test: up
	$(PY) -m pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: up
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict .devstack/stack.py

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: up
	$(PY) -m load_tests

clean: down
	rm -rf .devstack/run $(VENV)
