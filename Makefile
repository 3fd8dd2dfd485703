# graphstore: `make demo` runs the main job on embedded defaults, `make test` runs the whole suite against real
# Neo4j (+ GDS, APOC, Browser) and PostgreSQL servers that it starts and stops. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: venv demo test test-fast lint format typecheck bench services services-stop clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	bash scripts/bootstrap.sh "$(PYTHON)" "$(VENV)"
	touch $@

demo: venv
	$(BIN)/graphstore demo

test: venv
	bash scripts/run-tests.sh

test-fast: venv  ## unit tests only, no servers
	$(BIN)/pytest -q -m "not neo4j and not postgres"

lint: venv  ## ruff (lint + format check) and mypy
	$(BIN)/ruff check graphstore cli migrations tests bench
	$(BIN)/ruff format --check graphstore cli migrations tests bench
	bash scripts/typecheck.sh $(VENV)

format: venv  ## the one formatter
	$(BIN)/ruff format graphstore cli migrations tests bench

typecheck: venv  ## mypy over the installed layout (graphstore + cli/, cypher/, migrations/)
	bash scripts/typecheck.sh $(VENV)

bench: venv
	bash scripts/run-bench.sh

services: venv
	$(BIN)/graphstore services start
	@$(BIN)/graphstore services env --app

services-stop: venv
	$(BIN)/graphstore services stop

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
