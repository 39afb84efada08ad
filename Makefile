# Set-up and entry points. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

LAB_ARGS ?= --to-version=2.6.4 --apply

.PHONY: lab test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## lab: the main job: a full verified upgrade session against the built-in lab
lab: $(STAMP)
	$(BIN)/pytest --target=lab $(LAB_ARGS)

## test: the harness's own test suite
test: $(STAMP)
	$(BIN)/pytest tests; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

## lint: ruff (lint + format check) and mypy (strict on upgrade/ and dtrlab/)
lint: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
