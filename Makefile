# The two commands a newcomer needs: `make run` and `make test`. Both build .venv on first use
# and refresh it whenever a requirements file changes.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
STAMP := $(VENV)/.installed
# sam build needs python3.13 on PATH for the python3.13 runtime (pyenv provides it here).
SAM_ENV := PYENV_VERSION=$(shell $(PYTHON) -c 'import platform; print(platform.python_version())'):3.13.0 SAM_CLI_TELEMETRY=0 PATH=$(CURDIR)/$(BIN):$$PATH

.PHONY: venv run test lint format validate build bench clean

$(STAMP): requirements-dev.txt layers/common/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/python -m devstack

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

validate: venv
	SAM_CLI_TELEMETRY=0 $(BIN)/sam validate --lint

build: venv
	$(SAM_ENV) $(BIN)/sam build

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf .aws-sam .devstack .pytest_cache .ruff_cache
