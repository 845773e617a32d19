PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Serve the API on embedded PostgreSQL and S3 (data under ATS_DATA_DIR, default ./.ats).
run: $(STAMP)
	$(BIN)/ats run

## The whole suite against real PostgreSQL and S3 (embedded unless ATS_DATABASE_URL / ATS_S3_ENDPOINT_URL).
test: $(STAMP)
	$(BIN)/pytest -q

## ruff, ruff format, mypy and the import contracts (the layering in pyproject's [tool.importlinter]).
lint: $(STAMP) typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd $(TREE) && $(CURDIR)/$(BIN)/lint-imports --config $(CURDIR)/pyproject.toml

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# mypy and import-linter read packages from the file system, not through the editable install's import
# hook, so they look at the installed shape (ats.api = api/, ...) through a tree of links.
TREE := build/typecheck
typecheck: $(STAMP)
	rm -rf $(TREE) && mkdir -p $(TREE)/ats
	for entry in ats/*; do ln -s "$(CURDIR)/$$entry" $(TREE)/ats/; done
	for pkg in api storage exports; do ln -s "$(CURDIR)/$$pkg" $(TREE)/ats/$$pkg; done
	cd $(TREE) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p ats

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build .ats .mypy_cache .ruff_cache .pytest_cache
