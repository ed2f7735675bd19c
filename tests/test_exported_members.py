"""The public surface: `jobtools.__all__` against what each module says it exports."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import jobtools

PACKAGE = Path(jobtools.__file__).parent


def _where_from() -> dict[str, str]:
    """Each name `jobtools/__init__.py` offers -> the module it comes from (lazy ones too)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    origin: dict[str, str] = {}
    for node in tree.body:  # top level only: the TYPE_CHECKING block repeats the lazy table
        if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
            origin.update((alias.asname or alias.name, node.module) for alias in node.names)
    origin.update(jobtools._LAZY)
    origin.pop("TYPE_CHECKING", None)
    return origin


ORIGIN = _where_from()


def _public_modules() -> list[str]:
    """Every module whose name has no leading underscore, and every non-empty package."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
            if not ast.parse(path.read_text(encoding="utf-8")).body[1:]:
                continue  # a docstring alone: nothing to export
        if parts[-1] == "__main__" or any(part.startswith("_") for part in parts):
            continue
        names.append(".".join(parts))
    return names


def test_all_is_sorted():
    """The package's `__all__` stays sorted, so the API reads in one screen."""
    assert list(jobtools.__all__) == sorted(jobtools.__all__)


def test_all_is_what_the_package_imports():
    """`jobtools.__all__` lists exactly the names imported in `__init__` or loaded lazily."""
    assert set(jobtools.__all__) - {"__version__"} == set(ORIGIN)


@pytest.mark.parametrize("name", sorted(ORIGIN))
def test_each_name_resolves_and_its_module_exports_it(name):
    """Every name resolves (lazy ones on first use) to the object its module lists in `__all__`."""
    module = importlib.import_module(ORIGIN[name])
    assert name in module.__all__, f"{module.__name__}.__all__ lacks {name}"
    assert getattr(jobtools, name) is getattr(module, name)


@pytest.mark.parametrize("module_name", _public_modules())
def test_module_states_its_public_surface(module_name):
    """Each public module has an `__all__`, and every name in it exists."""
    module = importlib.import_module(module_name)
    assert isinstance(module.__all__, list | tuple), module_name
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
