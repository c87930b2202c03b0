# LiteMX: every target bootstraps what it needs (.venv from pyproject.toml, Node tools from package.json)
# and reuses it while its inputs are unchanged.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs Python 3.12: use it when the machine has it, else the default python3.
# (pyenv shims answer `command -v` even when they cannot run, so each candidate must actually run.)
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 python3; do \
	$$p -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
# Tests, the demo and benchmarks run in a private network namespace with only loopback: DynamoDB Local
# binds every interface, and nothing in a test may reach the internet or AWS.
NETNS := scripts/netns
export CDK_DISABLE_CLI_TELEMETRY := true
export AWS_EC2_METADATA_DISABLED := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup test test-suite test-unit test-integration test-timeshift test-plus-400-days test-month-end lint typecheck demo bench clean test-prereqs fuzz

help:
	@echo "make demo   - run LiteMX's policy core against the local AWS, step by step"
	@echo "make test   - lint, type-check and run every test suite (unit, integration, infra)"
	@echo "make bench  - print policy-decision figures against the local AWS"
	@echo "make fuzz   - every fuzz test (tests/fuzz, marker fuzz) with many cases (HYPOTHESIS_PROFILE=fuzz;"
	@echo "              10,000 per inbound and feedback property)"
	@echo "make synth  - synthesize the CDK stack offline into cdk.out/"

# uv installs the same resolution as pip in less than half the time (measured on a fresh clone: 42 s
# against pip's 92 s with a warm cache), which is most of a CI run's setup; pip remains the fallback for
# a machine where uv cannot be installed or cannot reach the index pip is configured for.
UV_VERSION := 0.13.9
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION) \
		&& $(PY) -m uv pip install --quiet --python $(PY) --compile-bytecode -e '.[dev]' \
		|| { $(PY) -m pip install --quiet --upgrade pip && $(PY) -m pip install --quiet -e '.[dev]'; }
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.java-ok:
	@scripts/ensure-java
	@touch $@

.faketime-ok:
	@scripts/ensure-faketime
	@touch $@

setup: $(VENV)/.installed node_modules/.installed .java-ok .faketime-ok

# Everything a test run needs is installed before entering the offline namespace.
test-prereqs: setup

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy $(wildcard shared functions infra tests)

test-unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit -q

test-integration: test-prereqs
	$(NETNS) $(PY) -m pytest tests/integration -q -p no:cacheprovider

# The integration tests again on two shifted anchors of the test clock (litemx_local/testclock.py): 400
# days ahead, and 20 s before a month's last midnight so that a run crosses a day and a month. Tests on
# the product's own system clock (a `litemx local up` subprocess) are marked `realtime` and run once.
# (`make test` runs the two in parallel lanes; the pytest cache is left to the main run.)
test-timeshift: test-plus-400-days test-month-end

test-plus-400-days: test-prereqs
	LITEMX_TEST_NOW=$$($(PY) -m litemx_local.testclock plus-days 400) \
		$(NETNS) $(PY) -m pytest tests/integration -q -p no:cacheprovider -m "not realtime"

test-month-end: test-prereqs
	LITEMX_TEST_NOW=$$($(PY) -m litemx_local.testclock month-end) \
		$(NETNS) $(PY) -m pytest tests/integration -q -p no:cacheprovider -m "not realtime"

SCHEMATHESIS_FIGURES := build/schemathesis-figures.json
SHOW_FIGURES := $(PY) -c "import json; print('schemathesis:', json.load(open('$(SCHEMATHESIS_FIGURES)'))['figures'])"

# Fuzz tests (tests/fuzz/ and anything marked `fuzz`) run in `make test` with the bounded default
# hypothesis profile, and here with the `fuzz` profile (thousands of cases each).
# Five lanes side by side (scripts/lanes.py), so both cores work until the end: lint and type checks; the
# demo and every suite but integration; the integration suite on the real now; and on each shifted anchor
# (the last four each with its own local AWS in its own network namespace). Each lane's output is printed
# whole when it ends.
test: test-prereqs
	$(PY) scripts/lanes.py \
		"checks=$(MAKE) --no-print-directory lint typecheck" \
		"suite=$(MAKE) --no-print-directory test-suite" \
		"integration=$(MAKE) --no-print-directory test-integration" \
		"plus-400-days=$(MAKE) --no-print-directory test-plus-400-days" \
		"month-end=$(MAKE) --no-print-directory test-month-end"

# The demo, then every suite except integration (unit, infra, CLI, fuzz with the bounded profile).
test-suite: test-prereqs
	$(NETNS) $(PY) -m litemx_local.demo --quiet
	$(NETNS) $(PY) -m pytest -q --ignore=tests/integration
	@test ! -f $(SCHEMATHESIS_FIGURES) || $(SHOW_FIGURES)

fuzz: test-prereqs
	HYPOTHESIS_PROFILE=fuzz $(NETNS) $(PY) -m pytest -m fuzz -q
	@test ! -f $(SCHEMATHESIS_FIGURES) || $(SHOW_FIGURES)

demo: setup
	$(NETNS) $(PY) -m litemx_local.demo

bench: setup
	$(NETNS) $(PY) tests/benchmarks/bench_policy.py
	$(NETNS) $(PY) tests/benchmarks/bench_outbound.py
	$(NETNS) $(PY) tests/benchmarks/bench_agents.py
	$(PY) tests/benchmarks/bench_imports.py
	$(NETNS) $(PY) tests/benchmarks/bench_coldstart.py
	$(PY) tests/benchmarks/bench_idle.py

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache

-include make/infra.mk

# The API's OpenAPI document, generated from the handler's routes and models (always regenerated: its
# inputs are spread over the API and the domain models, and a test checks the committed copy).
.PHONY: openapi
openapi: $(VENV)/.installed
	$(PY) -c "from functions.api.handler import openapi_document; import json; \
	print(json.dumps(json.loads(openapi_document()), indent=2))" > docs/openapi.json
