# gpt-oss-20b API stack — the verbs. `make` alone lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: help install test lint typecheck security unit e2e

help: ## list the verbs
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: gateway/pyproject.toml client/pyproject.toml tests/fake_ollama/pyproject.toml requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ./gateway -e ./client -e ./tests/fake_ollama -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed ## create .venv with gateway, client, fake Ollama and dev tools (idempotent)

lint: install ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy (strict)
	$(BIN)/mypy gateway/src client/src tests/fake_ollama/src

security: install ## bandit over the shipped code
	$(BIN)/bandit -q -c pyproject.toml -r gateway/src client/src

unit: install ## unit + integration tests (no Docker), with the gateway coverage floor
	$(BIN)/pytest -m "not e2e and not smoke" --cov --cov-report=term $(PYTEST_ARGS)

test: lint typecheck security unit ## everything that needs no Docker: lint, types, security, tests

e2e: install ## build the images and drive the whole compose stack with testcontainers
	$(BIN)/pytest tests/e2e -m e2e -p no:cacheprovider $(PYTEST_ARGS)
