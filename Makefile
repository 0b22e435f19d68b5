# saga-orchestrator: the two commands a newcomer needs are `make demo` and `make test`.
# Everything else (virtualenv, PostgreSQL, Kafka) is brought up by these targets themselves.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SAGACTL := $(VENV)/bin/sagactl
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# The chart tests render helm/ with the real helm, built once from the Go module proxy.
HELM_VERSION := v3.19.0
HELM := $(CURDIR)/.devstack/run/bin/helm
# The local trace backend, Jaeger v2, built once from the Go module proxy. Its version is the
# tool directive of the small module .devstack/jaeger/go.mod (`go install ...@version` refuses
# Jaeger: its go.mod has replace directives). About 4 minutes on the first run, then cached.
JAEGER := $(CURDIR)/.devstack/run/bin/jaeger

.PHONY: help demo test unit integration up down status lint fmt bench venv clean

help:
	@echo "make demo   run the order-fulfilment demo against local Kafka and PostgreSQL"
	@echo "make test   run every test (unit + integration against real Kafka and PostgreSQL), then the coverage figure"
	@echo "make up     start local PostgreSQL, Kafka, the schema registry, Jaeger (idempotent);  make down  stop them"
	@echo "make status which of them answer (Jaeger's query API: http://127.0.0.1:16686/api/services)"
	@echo "make lint   ruff + mypy --strict (packages and tests) + lint-imports;  make bench  run the benchmarks in load_tests/"

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

up: $(STAMP) $(JAEGER)
	$(PY) .devstack/stack.py up
	$(SAGACTL) db migrate

down: $(STAMP)
	$(PY) .devstack/stack.py down

status: $(STAMP)
	$(PY) .devstack/stack.py status

# `make demo` traces every saga into the Jaeger `make up` runs (set these to export elsewhere).
OTEL_EXPORTER_OTLP_ENDPOINT ?= http://127.0.0.1:4318
OTEL_TRACES_SAMPLER ?= parentbased_always_on

demo: up
	OTEL_EXPORTER_OTLP_ENDPOINT=$(OTEL_EXPORTER_OTLP_ENDPOINT) OTEL_TRACES_SAMPLER=$(OTEL_TRACES_SAMPLER) $(SAGACTL) demo

$(JAEGER): .devstack/jaeger/go.mod .devstack/jaeger/go.sum
	cd .devstack/jaeger && GOFLAGS=-mod=mod go build -o $(JAEGER) github.com/jaegertracing/jaeger/cmd/jaeger

$(HELM):
	GOBIN=$(dir $(HELM)) GOFLAGS=-mod=mod go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# The forensics tests render pages in headless chromium and check mermaid syntax with mermaid.js.
BROWSER_CHECK := .devstack/run/mermaid/node_modules/mermaid/dist/mermaid.min.js

$(BROWSER_CHECK):
	bash tests/integration/forensics/install_browser_check.sh

# The coverage figure comes last, whatever the outcome: `.venv/bin/coverage report` lists the
# modules below 100% (worst first) from the same run.
test: up $(HELM) $(BROWSER_CHECK)
	HELM=$(HELM) $(PY) -m pytest --cov --cov-report= $(PYTEST_ARGS); status=$$?; \
	echo "coverage: $$($(VENV)/bin/coverage report --format=total)% of the lines and branches of" \
	  "orchestrator/, event_store/, sagas/ (per module: $(VENV)/bin/coverage report)"; \
	exit $$status

unit: $(STAMP) $(HELM)
	HELM=$(HELM) $(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: up $(BROWSER_CHECK)
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict .devstack/stack.py
	$(VENV)/bin/lint-imports

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: up
	$(PY) -m load_tests.bench_event_store
	$(PY) -m load_tests.bench_codec
	$(PY) -m load_tests.bench_sagas

clean: down
	rm -rf .devstack/run $(VENV)
