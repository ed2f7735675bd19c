"""Print `name==floor` for every dependency pyproject.toml declares with a lower bound.

The extras named as arguments are included (`make test-min` names `notebook`).

`make test-min` installs jobtools with these as pip constraints, so each dependency is at
exactly the version its bound names: a bound that names a release that does not exist, or
one that does not work, fails there.

    python tests/_min_versions.py notebook > minimums.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def minimums(dependencies: list[str]) -> list[str]:
    """The `name==floor` pins of the requirements that have a `>=` floor.

    >>> minimums(["pandas>=3.0", "certifi", "aiohttp>=3.9,<4", "numpy >= 1.26; python_version<'4'"])
    ['pandas==3.0', 'aiohttp==3.9', 'numpy==1.26']
    """
    pins = []
    for requirement in dependencies:
        found = re.match(r"\s*([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*[^;]*?>=\s*([^,;\s]+)", requirement)
        if found:
            pins.append(f"{found.group(1)}=={found.group(3)}")
    return pins


if __name__ == "__main__":
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in sys.argv[1:]:
        requirements += project["optional-dependencies"][extra]
    print("\n".join(minimums(requirements)))
