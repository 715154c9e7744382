# One task runner for people and CI. `make run` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PARLOUR_DATABASE ?= sqlite:///parlour.db
export PARLOUR_DATABASE

.PHONY: install run demo test lint typecheck pytest bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed  ## Create .venv with Parlour and its test tools.

run: install  ## Install, load the demo site into parlour.db and serve it on http://127.0.0.1:8000/.
	$(BIN)/parlour demo
	$(BIN)/parlour serve

test: lint typecheck pytest  ## Everything CI runs.

lint: install
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests

typecheck: install
	$(BIN)/mypy

pytest: install  ## The test suite, on SQLite and PostgreSQL, in parallel.
	$(BIN)/pytest -n 2 -q

bench: install  ## Parlour against Isso and nginx (see bench/README.md).
	bench/compare-isso

.PHONY: bench-import
bench-import: install  ## Importing a 100,000-comment Disqus export, against Isso's importer.
	bench/import

.PHONY: bench-widget
bench-widget: install  ## The reader widget: gzipped size and time to first comments, against Isso.
	bench/widget-size
	bench/widget-time

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
