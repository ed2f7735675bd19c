"""jobtools as people install it: what `import jobtools` loads, what is declared, the optional
kernel build, and (`-m dist`, `make dist-check`) the sdist and wheel in fresh venvs."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import jobtools
from jobtools.sample import SAMPLE_PATH

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
NOT_BUILT = "jobtools: the JSONL accelerator was not built"


def _declared() -> set[str]:
    """Distributions named in the dependencies and the extras but dev, canonical names."""
    project = PYPROJECT["project"]
    requirements = list(project["dependencies"])
    for name, extra in project["optional-dependencies"].items():
        if name != "dev":  # the tests' tools: never what the package itself imports
            requirements += extra
    names = (re.match(r"[A-Za-z0-9._-]+", r) for r in requirements)
    return {_canonical(m.group(0)) for m in names if m}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_modules() -> dict[str, str]:
    """Every top-level module the package imports (anywhere in a file), with one file using it."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "jobtools").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.partition(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_imported_distribution_is_declared() -> None:
    """Each third-party module jobtools imports comes from a declared distribution."""
    declared = _declared()
    owners = importlib.metadata.packages_distributions()
    missing = {}
    for module, where in _imported_modules().items():
        if module in sys.stdlib_module_names or module in ("jobtools", "__future__"):
            continue
        dists = {_canonical(d) for d in owners.get(module, [module])}
        if not dists & declared:
            missing[module] = where
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_runtime_dependencies_are_light() -> None:
    """scipy and mplfonts are gone; the widgets and jinja2 (style_table's Styler) are in the
    notebook extra; numpy is declared."""
    runtime = {
        _canonical(re.match(r"[A-Za-z0-9._-]+", r).group(0))  # type: ignore[union-attr]
        for r in PYPROJECT["project"]["dependencies"]
    }
    assert not runtime & {"scipy", "mplfonts", "ipywidgets", "ipython"}
    assert {"numpy", "pandas", "pyarrow", "matplotlib"} <= runtime
    notebook = " ".join(PYPROJECT["project"]["optional-dependencies"]["notebook"])
    assert "jinja2" in notebook and "jinja2" not in runtime


def test_style_table_without_jinja2_names_the_extra() -> None:
    """Where jinja2 is not installed (a plain `pip install jobtools`), style_table says how."""
    code = (
        "import sys; sys.modules['jinja2'] = None  # as if not installed\n"
        "import pandas as pd, jobtools\n"
        "try:\n"
        "    jobtools.style_table(pd.DataFrame({'a': [1]}))\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "jobtools[notebook]" in done.stdout


def test_import_jobtools_loads_no_http_stack_and_no_front_end() -> None:
    """`import jobtools` (offline analysis) loads neither the HTTP stacks nor the front-ends."""
    heavy = ("aiohttp", "httpx", "yarl", "matplotlib", "ipywidgets", "IPython", "scipy", "tqdm")
    code = (
        "import sys, jobtools\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
        "jobtools.JobsClient\n"
        "print('aiohttp' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["[]", "True"], done.stdout


def test_the_sample_ships_inside_the_package() -> None:
    """SAMPLE_PATH is package data (importlib.resources), listed for the wheel and the sdist."""
    assert SAMPLE_PATH.is_file()
    assert SAMPLE_PATH.parent == Path(jobtools.__file__).parent / "data"
    package_data = PYPROJECT["tool"]["setuptools"]["package-data"]["jobtools"]
    assert "data/sample_jobs.jsonl.gz" in package_data
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    assert "jobtools/io/_kernel.pyx" in manifest and "exclude jobtools/io/_kernel.c" in manifest


def _build_ext(
    tmp_path: Path, env: dict[str, str], prelude: str = ""
) -> subprocess.CompletedProcess:
    """setup.py's build_ext into tmp_path, with `prelude` run first (to hide a module)."""
    code = (
        f"{prelude}\nimport runpy, sys\n"
        f"sys.argv = ['setup.py', '-q', 'build_ext', '--build-lib', {str(tmp_path / 'lib')!r},"
        f" '--build-temp', {str(tmp_path / 'tmp')!r}]\n"
        "runpy.run_path('setup.py', run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_without_a_compiler_the_build_succeeds_with_one_line(tmp_path: Path) -> None:
    """No working C compiler (CC=false): the build still succeeds and says how to get it."""
    done = _build_ext(tmp_path, {"CC": "false", "LDSHARED": "false"})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith(NOT_BUILT)]
    assert len(lines) == 1, done.stderr[-2000:]
    assert "apt-get install gcc python3-dev" in lines[0] and "pip install" in lines[0]
    assert not list(tmp_path.rglob("_kernel*.so"))


def test_without_cython_the_build_succeeds_with_one_line(tmp_path: Path) -> None:
    """No Cython (a --no-build-isolation install): nothing compiled, one line, exit 0."""
    hide = "import sys; sys.modules['Cython'] = sys.modules['Cython.Build'] = None"
    done = _build_ext(tmp_path, {}, prelude=hide)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{NOT_BUILT} (Cython is not installed)" in done.stderr


# --- the sdist and the wheel in fresh venvs (make dist-check) ------------------------------


def _readme_tour() -> str:
    """The README's ten-line tour, exactly as written."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A ten-line tour", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`python -m build`: the sdist, and the wheel built from it (repaired to manylinux)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], check=True)
    wheel = next(out.glob("*.whl"))
    if sys.platform.startswith("linux"):
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        repair = [sys.executable, "-m", "auditwheel", "repair", str(wheel), "-w", str(out / "wh")]
        subprocess.run(repair, check=True, env={**os.environ, "PATH": path})
        wheel = next((out / "wh").glob("*manylinux*.whl"))
    return {"sdist": next(out.glob("*.tar.gz")), "wheel": wheel}


# Building and installing take minutes on a loaded machine: beyond the suite's 600 s bound.
DIST_TIMEOUT = pytest.mark.timeout(3600)


@pytest.mark.dist
@DIST_TIMEOUT
def test_the_sdist_and_the_wheel_hold_what_they_should(built: dict[str, Path]) -> None:
    """The sdist has the kernel's source and no C; the wheel the compiled kernel only."""
    with tarfile.open(built["sdist"]) as sdist:
        names = sdist.getnames()
    assert any(n.endswith("jobtools/io/_kernel.pyx") for n in names)
    assert any(n.endswith("jobtools/data/sample_jobs.jsonl.gz") for n in names)
    assert not any(n.endswith("jobtools/data/sample_jobs.jsonl") for n in names)
    assert not any(n.endswith((".c", ".so")) for n in names)
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = wheel.namelist()
    assert "jobtools/data/sample_jobs.jsonl.gz" in names and "jobtools/py.typed" in names
    assert "jobtools/data/sample_jobs.jsonl" not in names
    assert any(re.match(r"jobtools/io/_kernel\..*(so|pyd)$", n) for n in names)
    assert not any(n.endswith((".c", ".pyx")) for n in names)
    if sys.platform.startswith("linux"):
        assert "manylinux" in built["wheel"].name


def _fresh_venv(where: Path, artifact: Path, env: dict[str, str]) -> tuple[Path, str]:
    """A new venv with `artifact` installed, its dependencies from the registry (no lock)."""
    venv.create(where, with_pip=True)
    bindir = where / ("Scripts" if os.name == "nt" else "bin")
    done = subprocess.run(
        [bindir / "python", "-m", "pip", "install", "-v", "--disable-pip-version-check", artifact],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return bindir, done.stdout + done.stderr


@pytest.fixture
def plain_env() -> Iterator[dict[str, str]]:
    """The environment of a user: no PYTHONPATH into the checkout, a non-GUI matplotlib."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    yield {**env, "MPLBACKEND": "Agg"}


@pytest.mark.dist
@DIST_TIMEOUT
@pytest.mark.parametrize("kind", ["wheel", "sdist", "sdist-no-compiler"])
def test_installed_package_runs_the_readme_tour(
    built: dict[str, Path], kind: str, tmp_path: Path, plain_env: dict[str, str]
) -> None:
    """Installed from the wheel or the sdist (with or without a C compiler) in a fresh venv:
    the README tour runs as written, `jobtools serve` serves the sample, --version, --help."""
    no_cc = {"CC": "false", "LDSHARED": "false"} if kind == "sdist-no-compiler" else {}
    artifact = built["wheel" if kind == "wheel" else "sdist"]
    bindir, log = _fresh_venv(tmp_path / "venv", artifact, no_cc)
    assert (NOT_BUILT in log) == bool(no_cc), log[-3000:]
    work = tmp_path / "work"  # not the checkout: only the installed package can be imported
    work.mkdir()
    (work / "tour.py").write_text(_readme_tour(), encoding="utf-8")
    python = str(bindir / "python")
    run = {"cwd": work, "env": plain_env, "capture_output": True, "text": True, "timeout": 600}
    done = subprocess.run([python, "tour.py"], **run)  # type: ignore[call-overload]
    assert done.returncode == 0, done.stderr[-3000:]
    assert (work / "report" / "manifest.json").is_file()

    version = subprocess.run([str(bindir / "jobtools"), "--version"], **run)  # type: ignore[call-overload]
    accelerator = "not built" if no_cc else "compiled"
    assert version.stdout.startswith(
        f"jobtools {jobtools.__version__} (JSONL accelerator: {accelerator}"
    )
    helped = subprocess.run([str(bindir / "jobtools"), "--help"], **run)  # type: ignore[call-overload]
    assert helped.returncode == 0 and "exit codes:" in helped.stdout
    _check_serve(bindir, work, plain_env)


def _check_serve(bindir: Path, work: Path, env: dict[str, str]) -> None:
    """`jobtools serve --port 0` serves the packaged sample: 2,000 jobs, a job answered."""
    server = subprocess.Popen(
        [str(bindir / "jobtools"), "serve", "--port", "0"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = [server.stdout.readline()]
        while banner[-1] and not banner[-1].startswith("  try"):
            banner.append(server.stdout.readline())
        jobs = next(line for line in banner if line.startswith("  jobs"))
        assert "2000 from" in jobs and "sample_jobs.jsonl.gz" in jobs, banner
        url = banner[-1].split()[-1]  # `  try  curl -H 'X-Auth-Token: demo-token' URL`
        request = urllib.request.Request(url, headers={"X-Auth-Token": "demo-token"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200 and b'"job_id"' in answer.read()
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()


@pytest.fixture(autouse=True)
def _no_build_dirs() -> Iterator[None]:
    """`python -m build` leaves build/ and *.egg-info in the checkout: remove what it made."""
    before = {p for p in (ROOT / "build", ROOT / "jobtools.egg-info") if p.exists()}
    yield
    for made in {ROOT / "build", ROOT / "jobtools.egg-info"} - before:
        shutil.rmtree(made, ignore_errors=True)
