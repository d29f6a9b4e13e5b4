# The two commands of the README: `make demo` and `make test`. Each creates its own
# virtualenv in .venv and installs what it needs; nothing else has to be on the machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	@test -f experiments.yaml || $(BIN)/publisher init
	$(BIN)/publisher publish experiments.yaml --target ./public --prune
	@echo
	@echo "Serve it with: $(BIN)/publisher serve ./public --port 3100"

lint: $(STAMP)
	$(BIN)/ruff check publisher tests
	$(BIN)/ruff format --check publisher tests

typecheck: $(STAMP)
	$(BIN)/mypy --strict publisher

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist build
