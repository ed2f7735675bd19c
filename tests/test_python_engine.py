"""The Python engine's worker processes (`jobtools.io._workers`): a large file's pieces are
parsed in child processes and put back in order; the frame, the attrs and the lines reported
are the ones the engine gives reading in-process, and a worker that cannot start or dies
costs nothing but time.

The workers are used from `WORKERS_FROM` bytes; here that threshold is lowered so that small
files go through them, in pieces of a few lines.
"""

from __future__ import annotations

import gzip
import os
import warnings
from pathlib import Path

import orjson
import pandas as pd
import pytest
from conftest import SEED

import jobtools.io._jsonl as jsonl
from jobtools import read_jobs
from jobtools.frame import raw_from_records, split_entities
from jobtools.io import _workers
from jobtools.sample import generate_jobs

DIGITS = "123456789012345678901234567890"
# Lines no engine reads, each reported with its number, between the good ones.
BAD = [
    '{"job_id":"j1","entities":{"image_id":"i',  # cut short
    "[1,2,3]",  # no object
    '{"job_id":"j1","entities":{"a":' + "[" * 300 + "]" * 300 + "}}",  # nested too deep
    "{'job_id':'j1'}",  # no JSON
]


@pytest.fixture()
def path(tmp_path: Path) -> Path:
    """400 records with a bad line in several pieces, a big integer, a blank line."""
    lines = [orjson.dumps(r).decode() for r in generate_jobs(400, seed=3)]
    for i, bad in zip((5, 120, 121, 390), BAD, strict=True):
        lines.insert(i, bad)
    lines.insert(200, orjson.dumps({**SEED, "entities": {"n": 1}}).decode().replace("1", DIGITS))
    lines.insert(300, "")
    path = tmp_path / "jobs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _dies(*args: object) -> None:
    """A worker's target that ends its process (the tests' folder is on its import path)."""
    os._exit(3)


def read(path: Path, engine: str = "python") -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bad lines' warning: compared in attrs
        return read_jobs(path, engine=engine)


original_worker_count = jsonl._worker_count


@pytest.fixture()
def through_workers(monkeypatch) -> list[int]:
    """Any file read by the Python engine goes through the workers, in pieces of ~4 KiB;
    the pieces the workers parsed are counted (by their first line)."""
    monkeypatch.setattr(jsonl, "WORKERS_FROM", 0)
    monkeypatch.setattr(jsonl, "WORKER_PIECE", 4096)
    monkeypatch.setattr(jsonl, "CHUNK", 16384)
    monkeypatch.setattr(jsonl, "_worker_count", lambda: 2)
    parsed: list[int] = []
    original = jsonl._Reader._take_sent

    def counted(self):
        future, _text = self._sent[0]
        if future.exception() is None:
            parsed.append(self.line)
        original(self)

    monkeypatch.setattr(jsonl._Reader, "_take_sent", counted)
    # Never read here while the workers start (`_here`): each piece waits for them.
    monkeypatch.setattr(_workers.Workers, "ready", lambda self: True)
    return parsed


def test_workers_frame_equals_in_process_and_kernel(path, through_workers, monkeypatch):
    """Through the workers: the frame and the reported lines of the in-process read (and
    of the kernel, when built)."""
    frame = read(path)
    assert len(through_workers) > 10
    lines = [p["line"] for p in frame.attrs["corrupt_lines"]]
    assert lines == [6, 121, 122, 393]
    assert frame["entities"].str.contains(DIGITS).sum() == 1
    monkeypatch.setattr(jsonl, "WORKERS_FROM", 1 << 62)
    in_process = read(path)
    pd.testing.assert_frame_equal(frame, in_process)
    assert frame.attrs == in_process.attrs
    if jsonl._scan.BUILT:
        kernel = read(path, "kernel")
        pd.testing.assert_frame_equal(frame, kernel)
        assert frame.attrs == kernel.attrs


@pytest.mark.parametrize(
    "target",
    [
        "jobtools.io._jsonl:no_such_function",  # the child fails as it starts
        "builtins:len",  # the child fails on each piece (len takes one argument)
        "test_python_engine:_dies",  # the child dies on the first piece it takes
    ],
)
def test_a_broken_worker_costs_nothing_but_time(path, through_workers, monkeypatch, target):
    """Workers that cannot start, fail or die: the pieces are read in-process instead."""
    monkeypatch.setattr(jsonl, "WORKER_TARGET", target)
    frame = read(path)
    assert through_workers == []
    monkeypatch.setattr(jsonl, "WORKERS_FROM", 1 << 62)
    expected = read(path)
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.attrs == expected.attrs


def test_no_process_to_start(path, through_workers, monkeypatch):
    """No interpreter to start: read in-process, as if the file were small."""

    def refuse(target, count):
        raise OSError("no room for a process")

    monkeypatch.setattr(_workers, "_start", refuse)
    frame = read(path)
    assert through_workers == []
    assert len(frame) == 401


def test_gzip_through_workers(path, through_workers, tmp_path):
    """A gzip file's lines (decompressed by the reading process) go to the workers too."""
    zipped = tmp_path / "jobs.jsonl.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    frame = read(zipped)
    assert len(through_workers) > 10
    expected = read(path)
    pd.testing.assert_frame_equal(frame, expected)
    assert [p["line"] for p in frame.attrs["corrupt_lines"]] == [6, 121, 122, 393]


def test_workers_can_be_turned_off(path, through_workers, monkeypatch):
    """`JOBTOOLS_JSONL_WORKERS=0`: no worker process, the file read in-process."""
    monkeypatch.setattr(jsonl, "_worker_count", original_worker_count)
    monkeypatch.setenv(jsonl.WORKERS_VARIABLE, "0")
    assert len(read(path)) == 401
    assert through_workers == []


ENTITIES = [
    {"image_id": "i1"},  # the common case: known from the id alone
    {"image_id": 7},  # no text: not held by its column, kept in the entities
    {"image_id": None},
    {"image_id": "i1", "image_name": "n"},
    {"image_name": "n", "image_id": "i1"},  # out of order: only the first cut
    {"server_id": "s1"},
    {},
    None,
    [1],
    "text",
]


def test_entities_cut_as_split_entities_cuts_them():
    """Rows of every kind side by side: each row's entities and ids as for that row alone."""
    records = [{**SEED, "entities": e} for e in ENTITIES] + [{"job_id": "j2"}]
    raw = raw_from_records(records)
    alone = [raw_from_records([r]) for r in records]
    for row, one in enumerate(alone):
        assert raw.entities[row] == one.entities[0], records[row]
        for name, values in raw.text.items():
            assert values[row] == one.text[name][0], (records[row], name)
        for name, values in raw.kind.items():
            assert values[row] == one.kind[name][0], (records[row], name)
    expected = [None if e is None else orjson.dumps(split_entities(e)).decode() for e in ENTITIES]
    assert raw.entities.to_pylist() == [*expected, None]


def test_a_line_past_the_limit_between_pieces_sent(path, through_workers, monkeypatch):
    """A line too long to hold, after pieces sent to the workers: reported with its number
    (counted from the pieces' lines), the lines after it read and numbered on from it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(250, orjson.dumps({**SEED, "fail_reason": "x" * 40_000}).decode())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(jsonl, "MAX_LINE", 32768)
    frame = read(path)
    assert len(through_workers) > 10
    assert [p["line"] for p in frame.attrs["corrupt_lines"]] == [6, 121, 122, 251, 394]
    monkeypatch.setattr(jsonl, "WORKERS_FROM", 1 << 62)
    expected = read(path)
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.attrs == expected.attrs
