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
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: gateway/pyproject.toml client/pyproject.toml tests/fake_ollama/pyproject.toml requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ./gateway -e ./client -e ./tests/fake_ollama -r requirements-dev.txt
	touch $@

# The JavaScript clients of tests/clients (Codex CLI, openai JS SDK), pinned by package-lock.json.
NODE_CLIENTS := tests/clients/node
$(NODE_CLIENTS)/node_modules/.package-lock.json: $(NODE_CLIENTS)/package.json $(NODE_CLIENTS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make install needs npm (Debian: apt-get install nodejs npm; .ci/install-packages.sh does it)"; exit 2; }
	cd $(NODE_CLIENTS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed $(NODE_CLIENTS)/node_modules/.package-lock.json ## create .venv with gateway, client, fake Ollama and dev tools, and the npm clients of tests/clients (idempotent)

lint: install ## ruff lint + format check + the gateway's import layers (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: install ## mypy (strict)
	$(BIN)/mypy gateway/src client/src tests/fake_ollama/src

security: install ## bandit over the shipped code
	$(BIN)/bandit -q -c pyproject.toml -r gateway/src client/src

# FULL=1 adds the long soaks (marker `soak`); otherwise they are deselected, not skipped.
FULL ?=
UNIT_MARKERS := not e2e and not smoke$(if $(filter-out 0,$(FULL)),, and not soak)

unit: install ## unit + integration tests (no Docker), with the gateway coverage floor [FULL=1: + soaks]
	$(BIN)/pytest -m "$(UNIT_MARKERS)" --cov --cov-report=term $(PYTEST_ARGS)

test: lint typecheck security unit ## everything that needs no Docker: lint, types, security, tests

# Flake hunt, not part of CI: the suite must pass on a busy machine. stress-ng keeps STRESS_CPUS
# cores busy (default: all of them) for as long as the tests run and is stopped however they end.
STRESS_CPUS ?= $(shell nproc 2>/dev/null || echo 2)
.PHONY: test-stress
test-stress: install ## `make unit` while stress-ng keeps every core busy (flake hunt; needs stress-ng)
	@command -v stress-ng >/dev/null 2>&1 || { \
		echo "make test-stress needs stress-ng, which is not installed."; \
		echo "Install it with: apt-get install stress-ng   (Debian/Ubuntu; use sudo if not root)"; \
		exit 2; }
	@stress-ng --cpu $(STRESS_CPUS) --timeout 2h --quiet & stress=$$!; \
	trap 'kill $$stress 2>/dev/null; wait $$stress 2>/dev/null' EXIT; \
	echo "stress-ng: $(STRESS_CPUS) CPU workers (pid $$stress) while make unit runs"; \
	started=$$(date +%s); \
	$(MAKE) --no-print-directory unit; status=$$?; \
	echo "make test-stress: make unit exited $$status after $$(( $$(date +%s) - started )) s under load"; \
	exit $$status

e2e: install wheelhouse ## build the images and drive the whole compose stack with testcontainers, and the Swarm stack on a single-node swarm
	$(BIN)/pytest tests/e2e -m e2e -p no:cacheprovider $(PYTEST_ARGS)

# ---- the stack ---------------------------------------------------------------------------------
# `make up` adds the GPU override when an NVIDIA GPU is usable; `make up-cpu` never does.
COMPOSE := docker compose
GPU_FILES := $(shell nvidia-smi -L >/dev/null 2>&1 && echo "-f docker-compose.gpu.yml")
MODEL ?=
SERVICE ?=

.PHONY: up up-cpu down logs ps pull wheelhouse clean smoke env-file

env-file: # create .env from .env.example on first run; generate an API key when none is set
	@test -f .env || { cp .env.example .env && echo "created .env from .env.example (edit it to taste)"; }
	@if ! grep -Eq '^GATEWAY_API_KEYS=[^[:space:]]+' .env && ! grep -Eq '^GATEWAY_KEYS_FILE=[^[:space:]]+' .env; then \
		key="sk-$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))')"; \
		sed -i "s|^GATEWAY_API_KEYS=.*|GATEWAY_API_KEYS=$$key|" .env; \
		grep -q '^GATEWAY_API_KEYS=' .env || echo "GATEWAY_API_KEYS=$$key" >> .env; \
		printf '\n  Your API key (shown once; it is stored in .env as GATEWAY_API_KEYS):\n\n    %s\n\n' "$$key"; \
	fi

# Several GPUs: one Ollama per GPU (docker-compose.gpus.yml, written by ollama/compose_gpus.py)
# when GPUS=N or GPU_IDS=0,2 is given, or when the driver lists two GPUs or more.
GPUS ?=
GPU_IDS ?=

up: env-file ## start the stack (one Ollama per GPU with GPUS=N / GPU_IDS=0,2 or ≥ 2 GPUs; else GPU or CPU)
	@ids="$$($(PYTHON) ollama/compose_gpus.py --gpus '$(GPUS)' --gpu-ids '$(GPU_IDS)')" || exit 2; \
	files="-f docker-compose.yml"; \
	if [ -n "$$ids" ]; then echo "one Ollama per GPU ($$ids): using docker-compose.gpus.yml"; \
		files="$$files -f docker-compose.gpus.yml"; \
	elif [ -n "$(GPU_FILES)" ]; then echo "NVIDIA GPU found: using docker-compose.gpu.yml"; \
		files="$$files $(GPU_FILES)"; \
	else echo "no usable NVIDIA GPU (nvidia-smi failed): running on the CPU — slow; see README 'GPU prerequisites'"; fi; \
	set -x; $(COMPOSE) $$files up -d --build --wait --remove-orphans
	@echo "The API is on port $${HTTP_PORT:-$$(sed -n 's/^HTTP_PORT=//p' .env | grep . || echo 8080)}; the first start downloads the model (make logs SERVICE=ollama)."

up-cpu: env-file ## start the stack on the CPU only (no GPU override)
	$(COMPOSE) -f docker-compose.yml up -d --build --wait

down: ## stop the stack (models and keys stay in their volumes)
	$(COMPOSE) down --remove-orphans

# Two gateway containers take turns behind nginx (gateway/rollout.sh; README "Upgrading").
.PHONY: upgrade
upgrade: env-file ## rebuild the gateway and roll it out without failing a request in flight
	COMPOSE="$(COMPOSE) -f docker-compose.yml $(if $(wildcard docker-compose.gpus.yml),-f docker-compose.gpus.yml,$(GPU_FILES))" gateway/rollout.sh

# ---- Docker Swarm (docker-stack.yml; README "Docker Swarm") -----------------------------------
STACK ?= gptoss
.PHONY: swarm-up swarm-down

swarm-up: env-file ## deploy on Docker Swarm (docker-stack.yml, + GPUs when nvidia-smi works, + TLS when certs exist)
	@test "$$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" = active || { \
		echo "This Docker engine is not part of a swarm: run 'docker swarm init' first (README 'Docker Swarm')."; exit 2; }
	$(COMPOSE) -f docker-compose.yml build ollama gateway nginx
	@test -f "$${GATEWAY_KEYS_SECRET_FILE:-keys.json}" || { \
		echo '{"version": 1, "keys": []}' > "$${GATEWAY_KEYS_SECRET_FILE:-keys.json}"; \
		echo "created an empty keys.json: the keys in GATEWAY_API_KEYS (.env) apply"; }
	@set -a; . ./.env; set +a; \
	files="-c docker-stack.yml"; \
	if [ -n "$(GPU_FILES)" ]; then files="$$files -c docker-stack.gpu.yml"; fi; \
	if [ -f "$${TLS_DIR:-./nginx/certs}/tls.crt" ]; then files="$$files -c docker-stack.tls.yml"; fi; \
	set -x; docker stack deploy $$files --resolve-image never $(STACK)

swarm-down: ## remove the Swarm stack (its volumes stay)
	docker stack rm $(STACK)

logs: ## follow the logs (all services, or SERVICE=ollama)
	$(COMPOSE) logs -f --tail=200 $(SERVICE)

ps: ## show the services and their health
	$(COMPOSE) ps

pull: ## download another model into the running stack: make pull MODEL=gpt-oss:120b
	@test -n "$(MODEL)" || { echo "usage: make pull MODEL=name:tag (e.g. MODEL=gpt-oss:120b)"; exit 2; }
	$(COMPOSE) exec ollama ollama pull $(MODEL)
	@echo "pulled $(MODEL); add it to OLLAMA_MODELS in .env so a fresh volume gets it too"

# ---- API keys (README "API keys") --------------------------------------------------------------
NAME ?=
ARGS ?=
.PHONY: key

key: ## create an API key: make key NAME=alice [ARGS="--rpm 30 --models gpt-oss:20b"] (printed once)
	@test -n "$(NAME)" || { echo 'usage: make key NAME=alice [ARGS="--rpm 30 --tpm 50000 --max-concurrent 2 --models gpt-oss:20b --admin --expires 30d"]'; exit 2; }
	@if [ -n "$$($(COMPOSE) ps -q --status running gateway 2>/dev/null)" ]; then \
		$(COMPOSE) exec -T gateway gateway keys create --name "$(NAME)" $(ARGS); \
	elif [ -n "$${GATEWAY_KEYS_FILE:-}" ]; then \
		test -x $(BIN)/gateway || { echo "run 'make install' first"; exit 2; }; \
		$(BIN)/gateway keys create --name "$(NAME)" $(ARGS); \
	else \
		echo "The stack is not running and GATEWAY_KEYS_FILE is not set: start the stack (make up) or"; \
		echo "point GATEWAY_KEYS_FILE at the key file of a gateway run with 'gateway serve'."; exit 2; \
	fi

# ---- Usage ledger (README "Usage and budgets") ---------------------------------------------------
.PHONY: usage
usage: ## usage per day, key and model: make usage [ARGS="--since 7d --key alice --csv"]
	@if [ -n "$$($(COMPOSE) ps -q --status running gateway 2>/dev/null)" ]; then \
		$(COMPOSE) exec -T gateway gateway keys usage $(ARGS); \
	else \
		test -x $(BIN)/gateway || { echo "run 'make install' first"; exit 2; }; \
		$(BIN)/gateway keys usage $(ARGS); \
	fi

# Wheels for the images' Python 3.11 (manylinux), so builds need no package index (air-gapped hosts, CI).
WHEEL_ARCH := $(shell uname -m)
WHEEL_ARGS := --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
	$(foreach p,manylinux2014 manylinux_2_28 manylinux_2_34,--platform $(p)_$(WHEEL_ARCH))
# pip evaluates environment markers with the host's Python, not the target's: also fetch what an
# older 3.11 patch release needs (redis wants async-timeout below 3.11.3, e.g. Debian's 3.11.2).
WHEEL_EXTRAS := setuptools wheel async-timeout

gateway/wheelhouse/.complete: gateway/pyproject.toml | install
	find gateway/wheelhouse -name '*.whl' -delete
	$(PY) -m pip download -q --disable-pip-version-check $(WHEEL_ARGS) -d gateway/wheelhouse ./gateway $(WHEEL_EXTRAS)
	touch $@

tests/fake_ollama/wheelhouse/.complete: tests/fake_ollama/pyproject.toml | install
	find tests/fake_ollama/wheelhouse -name '*.whl' -delete
	$(PY) -m pip download -q --disable-pip-version-check $(WHEEL_ARGS) -d tests/fake_ollama/wheelhouse ./tests/fake_ollama $(WHEEL_EXTRAS)
	touch $@

wheelhouse: gateway/wheelhouse/.complete tests/fake_ollama/wheelhouse/.complete ## download the images' dependency wheels (offline image builds)

clean: ## remove build artefacts, caches and wheelhouses (keeps .venv, .env and the Docker volumes)
	find gateway/wheelhouse tests/fake_ollama/wheelhouse -type f ! -name .gitkeep -delete
	find . -path ./.venv -prune -o -type d \( -name __pycache__ -o -name .pytest_cache -o -name .mypy_cache -o -name .ruff_cache -o -name build -o -name dist \) -print0 | xargs -0 rm -rf
	rm -rf htmlcov .coverage .coverage.* coverage.xml

smoke: install ## opt-in intelligence checks against a real deployment: make smoke BASE_URL=http://host:8080 API_KEY=sk-...
	BASE_URL="$(BASE_URL)" API_KEY="$(API_KEY)" $(BIN)/pytest tests/smoke -m smoke -p no:cacheprovider $(PYTEST_ARGS)

.PHONY: bench
BENCH_ARGS ?=
bench: install ## the gateway vs a lean reference proxy, same run (~3 min): bench/results/latest.json + .png [BENCH_ARGS=...]
	$(PY) bench/run.py $(BENCH_ARGS)

.PHONY: overload
OVERLOAD_ARGS ?=
overload: install ## 1,000 streams vs Ollama parallelism 4, through 1 and 2 workers (~2 min): bench/results/overload.json + .png
	$(PY) bench/overload.py $(OVERLOAD_ARGS)

.PHONY: health
# The checks are `gptoss health` (client/). BASE_URL and API_KEY come from the command line or the
# environment, else from .env (HTTP_PORT, the first key of GATEWAY_API_KEYS).
health: install ## check a running deployment end to end, red/green per component: make health [BASE_URL=http://host:8080 API_KEY=sk-...]
	@port="$$(sed -n 's/^HTTP_PORT=//p' .env 2>/dev/null | tail -n 1)"; \
	key="$$(sed -n 's/^GATEWAY_API_KEYS=//p' .env 2>/dev/null | tail -n 1 | cut -d, -f1)"; \
	base="$(BASE_URL)"; api_key="$(API_KEY)"; \
	GPTOSS_BASE_URL="$${base:-http://127.0.0.1:$${port:-8080}}" GPTOSS_API_KEY="$${api_key:-$$key}" \
		$(BIN)/gptoss health
