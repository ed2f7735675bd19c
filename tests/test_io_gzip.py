"""Tests for gzip-compressed JSONL in jobtools.io: read as it is, damage reported by line."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest
from conftest import SEED

import jobtools.io._jsonl as jsonl_reader
from jobtools import jobs_to_frame, read_jobs, write_jobs
from jobtools.io import CorruptInputError, CorruptInputWarning
from jobtools.io.files import readable_suffix
from jobtools.sample import generate_jobs
from jobtools.simulator import read_records

# Every test here runs under both JSONL engines (conftest's `jsonl_engine`).
pytestmark = pytest.mark.usefixtures("jsonl_engine")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return generate_jobs(600, seed=11)


@pytest.fixture
def text(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@pytest.fixture
def small_pieces(monkeypatch) -> None:
    """Pieces of 4 KiB instead of 32 MiB, so a small file spans many reads of the stream."""
    monkeypatch.setattr(jsonl_reader, "CHUNK", 4096)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


@pytest.mark.parametrize("name", ["jobs.jsonl.gz", "jobs.ndjson.gz", "JOBS.JSONL.GZ"])
@pytest.mark.parametrize("pieces", ["whole", "small"])
def test_gzip_jsonl_reads_as_the_plain_file(tmp_path, records, text, name, pieces, request):
    """A gzipped JSONL file gives the frame its records make, read in one piece or many."""
    if pieces == "small":
        request.getfixturevalue("small_pieces")
    path = tmp_path / name
    path.write_bytes(gz(text))
    frame = read_jobs(path)
    pd.testing.assert_frame_equal(frame, jobs_to_frame(records))
    assert frame.attrs["corrupt_lines"] == []


def test_gzip_is_known_by_its_magic_bytes_whatever_the_name(tmp_path, records, text):
    """A `.jsonl` file that is really gzip is read as gzip; a `.jsonl.gz` that is plain text
    is read as text."""
    (tmp_path / "disguised.jsonl").write_bytes(gz(text))
    (tmp_path / "plain.jsonl.gz").write_bytes(text)
    for name in ("disguised.jsonl", "plain.jsonl.gz"):
        pd.testing.assert_frame_equal(read_jobs(tmp_path / name), jobs_to_frame(records))


def test_concatenated_gzip_members_are_one_file(tmp_path, records, text, small_pieces):
    """Gzip members written one after another (`cat a.gz b.gz`) read as one file, a BOM and
    blank lines included."""
    half = text.index(b"\n", len(text) // 2) + 1
    path = tmp_path / "jobs.jsonl.gz"
    path.write_bytes(gz(b"\xef\xbb\xbf" + text[:half] + b"\n") + gz(text[half:]))
    frame = read_jobs(path)
    pd.testing.assert_frame_equal(frame, jobs_to_frame(records))
    assert frame.attrs["corrupt_lines"] == []


def test_a_directory_reads_its_gzip_jsonl_files(tmp_path, records, text):
    """A directory's `.jsonl.gz` and `.ndjson.gz` files are read in name order beside the
    others; other `.gz` files are not read."""
    lines = text.splitlines(keepends=True)
    (tmp_path / "a.jsonl.gz").write_bytes(gz(b"".join(lines[:200])))
    (tmp_path / "b.jsonl").write_bytes(b"".join(lines[200:400]))
    (tmp_path / "c.ndjson.gz").write_bytes(gz(b"".join(lines[400:])))
    (tmp_path / "d.csv.gz").write_bytes(gz(b"job_id,status\nx,SUCCESS\n"))
    (tmp_path / "e.gz").write_bytes(gz(b"not jobs"))
    frame = read_jobs(tmp_path)
    pd.testing.assert_frame_equal(frame, jobs_to_frame(records), check_categorical=False)
    assert readable_suffix("x.NDJSON.GZ") and not readable_suffix("x.csv.gz")


def test_cut_short_gzip_keeps_the_lines_before_and_names_file_and_line(tmp_path, small_pieces):
    """A gzip file cut short: its whole lines are read, and the cut is a corrupt line of the
    file (a warning, `attrs["corrupt_lines"]`), at the line it cut."""
    records = [{**SEED, "job_id": f"{n:032x}"} for n in range(300)]
    data = gz(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.warns(CorruptInputWarning, match=r"cut\.jsonl\.gz:\d+ .*gzip"):
        frame = read_jobs(path)
    read = len(frame)
    assert 0 < read < len(records)
    assert frame["job_id"].tolist() == [r["job_id"] for r in records[:read]]
    problems = frame.attrs["corrupt_lines"]
    assert problems[-1]["file"] == str(path)
    assert problems[-1]["line"] == read + 1
    assert problems[-1]["error"].startswith("damaged gzip data (Compressed file ended")
    assert [p["line"] for p in problems] == sorted(p["line"] for p in problems)
    with pytest.raises(CorruptInputError, match="cut.jsonl.gz"):
        read_jobs(path, errors="raise")


@pytest.mark.parametrize("damage", ["data", "checksum", "header"])
def test_damaged_gzip_is_a_corrupt_line_naming_the_file(tmp_path, text, damage, small_pieces):
    """Bad compressed data, a wrong checksum or a bad header: the lines before the damage
    are read, and the damage is reported with the file, never raised as a bare zlib error."""
    data = bytearray(gz(text))
    if damage == "data":
        data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    elif damage == "checksum":
        data[-8:-4] = b"\0\0\0\0"
    else:
        data[2] = 0  # compression method 0: unknown
    path = tmp_path / "jobs.jsonl.gz"
    path.write_bytes(bytes(data))
    with pytest.warns(CorruptInputWarning, match="jobs.jsonl.gz"):
        frame = read_jobs(path)
    lines = text.count(b"\n")
    expected = {"data": range(1, lines), "checksum": [lines], "header": [0]}[damage]
    assert len(frame) in expected
    assert frame.attrs["corrupt_lines"][-1]["error"].startswith("damaged gzip data")


def test_the_simulator_reads_gzip_records_and_names_damaged_files(tmp_path, records, text):
    """`Simulator(path)` serves a gzipped JSONL file's records; damage is a ValueError
    naming the file."""
    path = tmp_path / "jobs.jsonl.gz"
    path.write_bytes(gz(text))
    assert read_records(path) == records
    path.write_bytes(gz(text)[:-100])
    with pytest.raises(ValueError, match=r"jobs\.jsonl\.gz: damaged gzip"):
        read_records(path)


def test_gzip_is_not_written(tmp_path, records):
    """Writing gzip is not offered: a `.jsonl.gz` path is refused, not written as plain text."""
    with pytest.raises(ValueError, match="cannot write"):
        write_jobs(jobs_to_frame(records), tmp_path / "jobs.jsonl.gz")
