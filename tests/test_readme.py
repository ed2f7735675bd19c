"""The README's ten-line tour runs as written, so the README stays true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_tour_runs_and_writes_a_report(tmp_path: Path):
    """The tour's code block runs in a fresh interpreter and leaves the report it promises."""
    text = README.read_text(encoding="utf-8")
    tour = text[text.index("## A ten-line tour") :]
    code = re.search(r"```python\n(.*?)```", tour, re.S).group(1)
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"},
        check=True,
        timeout=120,
    )
    assert {"jobs.csv", "failures.csv", "manifest.json"} <= {
        p.name for p in (tmp_path / "report").iterdir()
    }
