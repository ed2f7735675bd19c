# The two commands a newcomer needs: `make demo` and `make test`.
# Both (re)build a project-local virtual env from the pinned requirements.lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench lock clean

$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python -m jobtools demo

test: $(BIN)/.installed lint
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check jobtools tests benchmarks
	$(BIN)/ruff format --check jobtools tests benchmarks
	$(BIN)/mypy

bench: $(BIN)/.installed
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# Re-pin every dependency (runtime and dev) after changing pyproject.toml.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet hatchling && .lockenv/bin/pip install --quiet -e '.[dev,dask]'
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^jobtools' > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV)
