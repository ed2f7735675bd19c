"""The package's layers, as the README's layout table draws them, checked on every import.

Every `import` in every module is read with `ast`, function-level imports included (a lazy
import still ties the layers together); imports under `if TYPE_CHECKING:` are left out, since
they never run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jobtools"

CORE = ("jobtools.schema", "jobtools.times", "jobtools.ids", "jobtools.frame", "jobtools.errors")
CORE += ("jobtools.progress", "jobtools.io", "jobtools._aio", "jobtools.outcome")
# workbook: the report's Excel writer.
FRONT_ENDS = (
    "jobtools.views",
    "jobtools.report",
    "jobtools.workbook",
    "jobtools.cli",
    "jobtools.demo",
)
ABOVE_CORE = ("jobtools.api", "jobtools.wait", "jobtools.analysis", "jobtools.simulator")
ABOVE_CORE += FRONT_ENDS

# The one import of a front-end below them: Findings.plot() draws with it (see RULES).
PLOT_BACKEND = ("jobtools.analysis.findings", "jobtools.views._findings_plot")

# (who imports, what it must not import, what it may import all the same, why)
RULES = [
    (CORE, ABOVE_CORE, (), "the core imports nothing above it"),
    (("jobtools.api",), ABOVE_CORE, ("jobtools.api",), "the network needs only the core"),
    (
        ("jobtools.wait",),
        ABOVE_CORE,
        ("jobtools.api", "jobtools.wait"),
        "waiting needs only the core and the network",
    ),
    (
        ("jobtools.analysis",),
        ABOVE_CORE,
        # Findings.plot() draws through its front-end, imported when called, as
        # DataFrame.plot imports its plotting backend: one picture, one set of fonts.
        ("jobtools.analysis", "jobtools.views._findings_plot"),
        "analysis works offline, on frames alone",
    ),
    (
        ("jobtools.simulator",),
        ABOVE_CORE,
        ("jobtools.api.auth", "jobtools.simulator"),
        "the simulator checks signatures like the service, and needs no client",
    ),
    (("jobtools.sample",), ABOVE_CORE, (), "the sample generator needs only the core"),
    (("jobtools.scenarios",), ABOVE_CORE, (), "scenarios are generated batches and their truth"),
]


def module_name(path: Path) -> str:
    """`jobtools/api/client.py` -> `jobtools.api.client`; a package's `__init__` is the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    """Whether `name` is a module or package of jobtools (not a name defined in one)."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below `node`, except the bodies of `if TYPE_CHECKING:` (their `else` runs)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield child
        yield from _runtime_nodes(child)


def imports_of(path: Path) -> set[str]:
    """The jobtools modules that `path` imports when it runs, relative imports resolved."""
    found = every_import_of(path)
    return {name for name in found if name == "jobtools" or name.startswith("jobtools.")}


def every_import_of(path: Path) -> set[str]:
    """Every module, of jobtools or not, that `path` imports when it runs."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            # `from jobtools.views import plots` imports the module jobtools.views.plots.
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if is_module(submodule) else source)
    return found


MODULES = {module_name(path): imports_of(path) for path in sorted(PACKAGE.rglob("*.py"))}


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def test_the_walk_sees_function_level_imports():
    """The walk reads imports inside functions, not only at the top of a module."""
    assert "jobtools.sample" in MODULES["jobtools.simulator._core"]
    assert "jobtools.views.plots" in MODULES["jobtools.report"]


@pytest.mark.parametrize(("importers", "forbidden", "allowed", "why"), RULES)
def test_layer_imports_only_what_it_may(importers, forbidden, allowed, why):
    """Each layer imports only the layers it may: see the README's layout table."""
    broken = sorted(
        f"{module} imports {name}"
        for module, names in MODULES.items()
        if within(module, importers)
        for name in names
        if within(name, forbidden) and not within(name, allowed)
    )
    assert broken == [], why


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_only_front_ends_import_front_ends(front_end):
    """Nothing outside views/, report, cli and demo imports a front-end (jobtools: lazily)."""
    importers = sorted(
        module
        for module, names in MODULES.items()
        if any(within(name, (front_end,)) and (module, name) != PLOT_BACKEND for name in names)
        and not within(module, (*FRONT_ENDS, "jobtools.__main__"))
    )
    assert importers == []


def test_only_front_ends_import_the_package():
    """Below the front-ends, no module imports `jobtools` itself, which loads every layer."""
    importers = sorted(
        module
        for module, names in MODULES.items()
        if "jobtools" in names and not within(module, FRONT_ENDS)
    )
    assert importers == []


# What draws: bars, widgets, the notebook, and jobtools' own front-ends.
DISPLAY = ("tqdm", "ipywidgets", "IPython", "jobtools.views")


@pytest.mark.parametrize("layer", [*CORE, "jobtools.api", "jobtools.wait"])
def test_core_network_and_waiting_import_no_display(layer):
    """The core, the network and the waits report progress as events and never draw: they
    import no bar, widget or view, not even lazily (the front-ends subscribe to them)."""
    importers = sorted(
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if within(module_name(path), (layer,))
        for name in every_import_of(path)
        if within(name, DISPLAY)
    )
    assert importers == []


HEAVY = ("ipywidgets", "IPython", "matplotlib", "aiohttp.web", "dask", "tqdm")


def test_import_jobtools_loads_no_heavy_module():
    """`import jobtools` loads no widget, plotting, web-server, Dask or progress-bar module."""
    code = f"import sys, jobtools\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_errors_and_outcomes_import_nothing_that_imports_them():
    """Every layer imports `errors` (and `outcome`), so they import no other jobtools module:
    no cycle, whatever raises what."""
    assert MODULES["jobtools.errors"] <= {"jobtools.outcome"}
    assert MODULES["jobtools.outcome"] == set()
