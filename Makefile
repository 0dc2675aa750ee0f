# The two commands a newcomer needs: `make run` and `make test`. Both build .venv on first use
# and refresh it whenever a requirements file changes; `make run` installs only what devstack
# needs, so a fresh clone is up quickly.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
RUN_STAMP := $(VENV)/.installed-devstack
DEV_STAMP := $(VENV)/.installed-dev
# sam build needs python3.13 on PATH for the python3.13 runtime (the layer's and the proxy's
# Makefiles compile with it), and so does the bench's cold import of the build; pyenv provides it.
PYENV_WITH_LAMBDA := $(shell $(PYTHON) -c 'import platform; print(platform.python_version())'):3.13.0
SAM_ENV := PYENV_VERSION=$(PYENV_WITH_LAMBDA) SAM_CLI_TELEMETRY=0 PATH=$(CURDIR)/$(BIN):$$PATH
bench: export PYENV_VERSION = $(PYENV_WITH_LAMBDA)

.PHONY: venv run test lint format validate build bench bench-peer soak clean console-assets chromium screenshots

$(BIN)/python:
	@echo "creating $(VENV)" >&2
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) --upgrade pip >&2

$(RUN_STAMP): $(BIN)/python requirements-devstack.txt layers/common/requirements.txt
	@echo "installing devstack's requirements into $(VENV)" >&2
	@$(PIP) -r requirements-devstack.txt >&2
	@touch $@

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt
	@echo "installing development requirements into $(VENV)" >&2
	@$(PIP) -r requirements-dev.txt >&2
	@touch $@

venv: $(DEV_STAMP)

# The console's vendored browser libraries (htmx, uPlot; Swagger UI for /docs), from their npm
# packages at the versions console/package-lock.json pins (and checks by integrity), copied into
# the layer so that `sam deploy` ships them and the console serves them itself: no CDN at run
# time.
CONSOLE_VENDOR := layers/common/tollgate/console/static/vendor
CONSOLE_FILES := htmx.org/dist/htmx.min.js uplot/dist/uPlot.iife.min.js uplot/dist/uPlot.min.css \
	swagger-ui-dist/swagger-ui-bundle.js swagger-ui-dist/swagger-ui.css
$(CONSOLE_VENDOR)/.installed: console/package.json console/package-lock.json
	@echo "installing the console's browser libraries (npm ci)" >&2
	@cd console && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2
	@mkdir -p $(CONSOLE_VENDOR)
	@cp $(addprefix console/node_modules/,$(CONSOLE_FILES)) $(CONSOLE_VENDOR)/
	@touch $@

console-assets: $(CONSOLE_VENDOR)/.installed

# The browser tests drive Debian's Chromium (Playwright's own download cannot work here);
# CI runs as root on a bare machine, so it is installed when missing.
chromium:
	@command -v chromium >/dev/null || { echo "installing chromium (apt-get)" >&2; \
	  export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; }

PORT ?= 8787
# make run UPSTREAM_OPENAI=http://127.0.0.1:9000/openai/v1 UPSTREAM_OPENAI_KEY=sk-...: that
# provider is served by the server at that base URL, not by devstack's mock (also ANTHROPIC,
# GEMINI).
upstream = $(if $(UPSTREAM_$(2)),--upstream '$(1)=$(UPSTREAM_$(2))')$(if $(UPSTREAM_$(2)_KEY), --upstream-key '$(1)=$(UPSTREAM_$(2)_KEY)')
UPSTREAMS = $(call upstream,openai,OPENAI) $(call upstream,anthropic,ANTHROPIC) $(call upstream,gemini,GEMINI)
run: $(RUN_STAMP) console-assets
	@$(BIN)/python -m devstack --port $(PORT) $(strip $(UPSTREAMS))

# Coverage of the layer, with the floor in pyproject.toml ([tool.coverage.report] fail_under).
# Two workers (pytest-xdist), a test file each at a time: the suite is half I/O waits on moto and
# devstack, and CI has two cores.
test: venv console-assets chromium
	$(BIN)/python -m pytest -n 2 --dist loadfile --cov --cov-report=term-missing:skip-covered

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

validate: venv
	SAM_CLI_TELEMETRY=0 $(BIN)/sam validate --lint

build: venv console-assets
	$(SAM_ENV) $(BIN)/sam build

# The console's screenshots in docs/console/ (shown in the README), taken by the browser tests
# on devstack: regenerate them after changing a page.
screenshots: venv console-assets chromium
	TOLLGATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/browser -q -p no:cacheprovider

# Cold import, package size, the proxy's hot path against a standalone mock upstream (minutes).
bench: venv
	$(BIN)/python -m bench

# LiteLLM's proxy, the peer `make bench-peer` measures Tollgate against, in a venv of its own:
# pinned, and never a dependency of the product. 1.108.0: the newest whose [proxy] extra
# resolves from the package index here (1.109 pins litellm-proxy-extras 0.4.113, 1.110 needs a
# litellm-proxy package, neither served).
LITELLM_VERSION := 1.108.0
PEER_VENV := .bench/litellm
PEER_STAMP := $(PEER_VENV)/.installed-$(LITELLM_VERSION)

$(PEER_STAMP):
	@echo "installing litellm[proxy]==$(LITELLM_VERSION) into $(PEER_VENV)" >&2
	@rm -rf $(PEER_VENV) && $(PYTHON) -m venv $(PEER_VENV)
	@$(PEER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		'litellm[proxy]==$(LITELLM_VERSION)' >&2
	@touch $@

# Tollgate's devstack and LiteLLM on the same mock upstream: overhead, CPU, throughput (~5 min).
bench-peer: venv $(PEER_STAMP)
	$(BIN)/python -m bench peer

# 5,000 chat requests through devstack: memory and p50 latency at the start and the end.
soak: venv
	$(BIN)/python -m bench soak

clean:
	rm -rf .bench .aws-sam .devstack .pytest_cache .ruff_cache .mypy_cache .coverage .coverage.*
	rm -rf console/node_modules $(CONSOLE_VENDOR)
