# The two commands that matter: `make run` and `make test`. Both work on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: install run test lint format i18n openapi clean

$(STAMP): pyproject.toml gateway_agent/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q -e gateway_agent
	touch $(STAMP)

install: $(STAMP)

## Start the whole product (embedded PostgreSQL, Redis and mail catcher unless configured).
run: $(STAMP)
	$(VENV)/bin/wisp run

## Run the whole test suite (embedded services unless DATABASE_URL / REDIS_URL are set).
test: $(STAMP)
	$(PY) -m tests.run

## Style, types, layer contracts, migrations in step with the tables, complete translations,
## the PWA's API types generated from the current OpenAPI document (needs `npm ci` in pwa/;
## without node only the document is checked, except under CI=true).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/wisp migrate --check
	$(VENV)/bin/wisp i18n --check
	$(VENV)/bin/wisp openapi --check

## Regenerate pwa/openapi.json and the PWA's API types (pwa/src/api/schema.d.ts) after an API change.
openapi: $(STAMP)
	$(VENV)/bin/wisp openapi

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

i18n: $(STAMP)
	$(VENV)/bin/wisp i18n

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
