"""The Excel mode of `write_jobs` (CSV for people): a BOM and no cell a spreadsheet would run."""

from __future__ import annotations

import codecs
from pathlib import Path

import pandas as pd
import pytest

from jobtools.io import write_jobs

# Per the OWASP CSV-injection guidance: = + - @ tab CR at the start, LF too, the same after
# spaces, and the full-width forms Excel on CJK systems reads as ASCII.
RISKY = [
    '=HYPERLINK("http://x","y")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\tTAB",
    "\rCR",
    "\n=1+1",
    "  =1+1",
    " @SUM(A1)",
    "\u3000=1",
    "＝HYPERLINK(1)",
    "＋1",
    "－1",
    "＠SUM(A1)",
]
SAFE = ["plain", "镜像导入失败", "a=b", "1-2", "e-mail@example.com", ""]


def cells(path: Path) -> pd.DataFrame:
    text = path.read_bytes()
    assert text.startswith(codecs.BOM_UTF8)
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)


@pytest.mark.parametrize("value", RISKY)
def test_formula_like_text_is_neutralised(tmp_path: Path, value: str) -> None:
    """Each risky start, in a cell, gets a leading apostrophe and is otherwise unchanged."""
    path = write_jobs(pd.DataFrame({"fail_reason": [value]}), tmp_path / "a.csv", excel=True)
    assert cells(path)["fail_reason"].tolist() == ["'" + value]


@pytest.mark.parametrize("value", SAFE)
def test_ordinary_text_is_left_alone(tmp_path: Path, value: str) -> None:
    """Text that no spreadsheet runs, Chinese included, is written as it is."""
    path = write_jobs(pd.DataFrame({"fail_reason": [value]}), tmp_path / "a.csv", excel=True)
    assert cells(path)["fail_reason"].tolist() == [value]


def test_header_cells_are_neutralised_too(tmp_path: Path) -> None:
    """A column name from a JSONL key can be a formula: the header is neutralised as well."""
    frame = pd.DataFrame({'=HYPERLINK("http://x","y")': ["v"], "job_id": ["a"]})
    path = write_jobs(frame, tmp_path / "a.csv", excel=True)
    assert list(cells(path).columns) == ['\'=HYPERLINK("http://x","y")', "job_id"]
