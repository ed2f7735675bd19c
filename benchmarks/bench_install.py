"""What installing jobtools costs: the runtime closure on disk and the time of `import jobtools`.

Two fresh venvs, dependencies from the registry (not the locks): one with jobtools (built from
this checkout, or the wheel given), one with pandas and pyarrow alone, the floor any pandas
tool on Arrow pays. For each: the size of site-packages (less pip and setuptools, which every
venv has) with the largest distributions, and the import time from `python -X importtime`
(best of 7 runs, each a new process). The issue's budgets: closure <= 450 MB, and
`import jobtools` <= 0.85 s on a quiet machine.

    .venv/bin/python benchmarks/bench_install.py [--wheel dist/jobtools-...whl]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7
CLOSURE_BUDGET_MB = 450
IMPORT_BUDGET_S = 0.85

# Printed by the venv's own python: each distribution's size on disk, in bytes.
SIZES = """
import importlib.metadata as md, json, os
out = {}
for dist in md.distributions():
    total = 0
    for f in dist.files or []:
        path = dist.locate_file(f)
        if os.path.isfile(path):
            total += os.path.getsize(path)
    out[dist.metadata["Name"]] = total
print(json.dumps(out))
"""


def make_venv(where: Path, *requirements: str) -> Path:
    venv.create(where, with_pip=True)
    python = where / ("Scripts" if os.name == "nt" else "bin") / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *requirements], check=True)
    return python


def sizes(python: Path) -> dict[str, int]:
    import json

    done = subprocess.run(
        [str(python), "-c", SIZES],
        check=True,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),  # not the checkout, whose jobtools.egg-info would count
    )
    found: dict[str, int] = json.loads(done.stdout)
    for tool in ("pip", "setuptools"):  # every venv has them (3.11); not brought by jobtools
        found.pop(tool, None)
    return found


def import_seconds(python: Path, statement: str) -> float:
    """The best of RUNS: the sum of the top-level imports' cumulative times (-X importtime)."""
    best = float("inf")
    for _ in range(RUNS):
        done = subprocess.run(
            [str(python), "-X", "importtime", "-c", statement],
            check=True,
            capture_output=True,
            text=True,
            cwd=tempfile.gettempdir(),  # never the checkout: the installed package is timed
        )
        total = 0
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            _, cumulative, name = (part for part in line.split(":", 1)[1].split("|"))
            if not name.startswith("  "):  # indentation marks nested imports
                total += int(cumulative)
        best = min(best, total / 1e6)
    return best


def report(label: str, found: dict[str, int]) -> int:
    total = sum(found.values())
    top = sorted(found.items(), key=lambda item: -item[1])[:8]
    print(f"  {label}: {total / 1e6:,.1f} MB in {len(found)} distributions")
    print("    largest: " + ", ".join(f"{name} {size / 1e6:.0f}" for name, size in top))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", help="install this wheel instead of building the checkout")
    args = parser.parse_args()
    print(f"bench_install: fresh venvs, Python {sys.version.split()[0]}, best of {RUNS} imports")
    with tempfile.TemporaryDirectory(prefix="bench-install-") as folder:
        ours = make_venv(Path(folder) / "jobtools", args.wheel or str(ROOT))
        floor = make_venv(Path(folder) / "floor", "pandas", "pyarrow")
        ours_bytes = report("jobtools and its dependencies", sizes(ours))
        floor_bytes = report("pandas + pyarrow alone", sizes(floor))
        ours_s = import_seconds(ours, "import jobtools")
        floor_s = import_seconds(floor, "import pandas, pyarrow")
        closure_ok = "within" if ours_bytes / 1e6 <= CLOSURE_BUDGET_MB else "OVER"
        print(
            f"closure: {ours_bytes / 1e6:,.1f} MB ({closure_ok} the {CLOSURE_BUDGET_MB} MB "
            f"budget), {ours_bytes / floor_bytes:.2f}x pandas + pyarrow "
            f"({floor_bytes / 1e6:,.0f} MB)"
        )
        import_ok = "within" if ours_s <= IMPORT_BUDGET_S else "OVER"
        print(
            f"import jobtools: {ours_s:.3f} s ({import_ok} the {IMPORT_BUDGET_S} s budget), "
            f"{ours_s / floor_s:.2f}x import pandas, pyarrow ({floor_s:.3f} s)"
        )


if __name__ == "__main__":
    main()
