# The commands a newcomer needs: `make demo`, `make lab` and `make test`.
# Both (re)build a project-local virtual env from the pinned requirements.lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo lab test test-fast lint browser-deps build-deps bench lock clean fuzz

# The editable install compiles the JSONL kernel (jobtools/io/_kernel.pyx) with the C compiler:
# rebuilt when the kernel changes.
$(BIN)/.installed: requirements.lock pyproject.toml setup.py jobtools/io/_kernel.pyx | build-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python -m jobtools demo

# JupyterLab from the project's venv, where jupyterlab_widgets is: the monitor is a live
# widget there (a JupyterLab from another environment shows its text repr instead).
lab: $(BIN)/.installed
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks $(if $(SUDO),,--allow-root)

test: $(BIN)/.installed lint browser-deps
	$(BIN)/python -m pytest -q

# The edit-test loop: everything but the browser, notebook, cluster and child-process tests
# (marked slow in tests/conftest.py); `make test` runs them all.
test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "not slow"

# A C compiler and Python's headers build the kernel. Installed only when missing.
build-deps:
	@if ! command -v cc >/dev/null || ! $(PYTHON) -c "import sysconfig, os, sys; \
		sys.exit(not os.path.exists(sysconfig.get_paths()['include'] + '/Python.h'))"; then \
		echo "installing a C compiler and Python's headers to build the JSONL kernel"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc python3-dev; \
	fi

# The browser tests drive Debian's chromium (Playwright cannot download its own build here)
# and need a CJK font for Chinese text. Installed only when missing; CI runs as root.
BROWSER_PACKAGES := chromium fonts-noto-cjk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

browser-deps:
	@missing=$$(for p in $(BROWSER_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ] || ! command -v chromium >/dev/null; then \
		echo "installing $${missing:-chromium} for the browser tests"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $${missing:-chromium}; \
	fi

lint: $(BIN)/.installed
	$(BIN)/ruff check jobtools tests benchmarks
	$(BIN)/ruff format --check jobtools tests benchmarks
	$(BIN)/mypy

# A longer fuzz of the JSONL scanner than the suite's, against a copy of the package whose
# kernel is built with Cython's bounds checks and AddressSanitizer (preloaded: Python itself
# is not built with it). FUZZ_TRIALS sets its length. The installed kernel is not touched.
FUZZ_DIR := build/fuzz
FUZZ_TRIALS ?= 300
fuzz: $(BIN)/.installed
	rm -rf $(FUZZ_DIR) && mkdir -p $(FUZZ_DIR) && cp -r jobtools tests $(FUZZ_DIR)/
	rm -f $(FUZZ_DIR)/jobtools/io/_kernel*.so $(FUZZ_DIR)/jobtools/io/_kernel.c
	sed -i -e 's/boundscheck=False, wraparound=False/boundscheck=True, wraparound=True/' \
		-e 's/initializedcheck=False/initializedcheck=True/' $(FUZZ_DIR)/jobtools/io/_kernel.pyx
	cd $(FUZZ_DIR) && CFLAGS="-O1 -g -fsanitize=address -fno-omit-frame-pointer" \
		LDFLAGS="-fsanitize=address" $(CURDIR)/$(BIN)/cythonize -q -i -3 jobtools/io/_kernel.pyx \
		2>&1 | grep -v "performance hint" || true
	cd $(FUZZ_DIR) && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
		LD_PRELOAD=$$(cc -print-file-name=libasan.so) JOBTOOLS_FUZZ_TRIALS=$(FUZZ_TRIALS) \
		PYTHONPATH=. $(CURDIR)/$(BIN)/python -m pytest tests/test_kernel.py -q -p no:cacheprovider \
		-W ignore::pytest.PytestUnraisableExceptionWarning --rootdir=. -c /dev/null -k \
		"damage or layout or odd or corrupt or utf8 or no_job or huge or refuses"

bench: $(BIN)/.installed
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# Re-pin every dependency (runtime and dev) after changing pyproject.toml.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet 'setuptools>=64' 'cython>=3.0' numpy
	.lockenv/bin/pip install --quiet --no-build-isolation -e '.[dev,dask]'
	.lockenv/bin/pip freeze --all --exclude-editable | grep -v '^jobtools\|^pip==' > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV)
