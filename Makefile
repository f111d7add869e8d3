# One entry point for people and CI. `make synth` and `make test` work on a fresh machine
# with Python 3.11+, Node 20+ and npm, and no cloud credentials.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ENV ?= example
CDK := npx --no-install cdk
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
# The CDK CLI (2.1100.0 and later) sends usage telemetry unless told not to; the gate and the
# targets here make no call that the user did not ask for.
export CDK_DISABLE_CLI_TELEMETRY := true
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install browser synth test lint typecheck pytest schema diff deploy clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip==25.3"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed node_modules/.installed ## install Python and Node dependencies locally

# The try-signin tests drive a system Chrome or Chromium through Playwright (never
# Playwright's own browser download); tests/browser.py says which, with the system Python.
# Only when there is none and apt-get exists (Debian, Ubuntu) is chromium installed (apt-get
# update only when the install fails without it). Without a browser the tests skip, and
# fail where CI is set.
FIND_BROWSER := $(PYTHON) -m tests.browser
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser: ## find Chrome/Chromium for the browser tests (apt-get installs one on Debian/Ubuntu)
	@$(FIND_BROWSER) >/dev/null 2>&1 || ! command -v apt-get >/dev/null || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y --no-install-recommends chromium \
	  || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; } \
	  || echo "apt-get could not install chromium" >&2; }
	@if found=$$($(FIND_BROWSER)); then echo "browser tests use $$found"; else \
	  echo "*** NOTICE: the browser tests will be skipped (and fail in CI). Install Google Chrome or Chromium, or set MOBILE_SSO_BROWSER." >&2; fi

synth: install ## synthesize the ENV environment (default: example) into cdk.out/, offline
	$(CDK) synth --no-notices --quiet -c env=$(ENV)
	@echo "Synthesized $(ENV) into cdk.out/:" && ls cdk.out/*.template.json

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install browser
	$(BIN)/pytest

test: lint typecheck pytest ## the full gate: ruff, mypy --strict, pytest

schema: install ## regenerate config/schema.json from the config model
	$(BIN)/mobile-sso config schema --out config/schema.json

diff: install ## cdk diff of ENV against the deployed stack (needs AWS credentials)
	$(CDK) diff --no-notices -c env=$(ENV)

deploy: install ## deploy ENV (needs AWS credentials and a bootstrapped account)
	$(CDK) deploy --no-notices -c env=$(ENV) --outputs-file cdk-outputs-$(ENV).json

clean: ## remove cdk.out and caches (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
