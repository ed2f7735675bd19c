"""The compiled JSONL kernel: what it reads equals what orjson and `jobs_to_frame` make.

The kernel (`jobtools.io._kernel`, driven by `_scan` and `_jsonl`) is a JSON validator and
column writer of its own, so every test here holds it to the exact Python rules: the same
frame, the same attrs, and the same lines reported as corrupt (by the slow path, which the
kernel hands a file to when one line is not a job object).
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import orjson
import pandas as pd
import pytest
from conftest import SEED

import jobtools.io._jsonl as jsonl
import jobtools.io._scan as scan
from jobtools import jobs_to_frame, read_jobs
from jobtools.sample import generate_jobs


def frame_by_python(path: Path) -> pd.DataFrame:
    """The frame read the slow way: every line parsed by orjson, typed by jobs_to_frame."""
    data = path.read_bytes()
    lines = jsonl._scan_lines(data, path)
    frame = jobs_to_frame(lines.records)
    frame.attrs["corrupt_lines"] = lines.problems
    return frame


def assert_same_as_python(path: Path) -> pd.DataFrame:
    """read_jobs gives the frame and attrs of the slow way, and warns iff a line is corrupt."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = read_jobs(path)
    expected = frame_by_python(path)
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.attrs == expected.attrs
    assert bool(caught) == bool(expected.attrs["corrupt_lines"])
    return frame


def write(path: Path, lines: list[str | bytes]) -> Path:
    data = b"\n".join(line.encode() if isinstance(line, str) else line for line in lines) + b"\n"
    path.write_bytes(data)
    return path


@pytest.fixture()
def records() -> list[dict]:
    return generate_jobs(400, seed=11)


@pytest.fixture()
def no_slow_path(monkeypatch):
    """The slow path fails loudly: the file must be read by the kernel."""
    monkeypatch.setattr(jsonl, "_scan_lines", None)


@pytest.mark.parametrize("dumps", [json.dumps, lambda r: orjson.dumps(r).decode()])
def test_clean_files_are_read_by_the_kernel(tmp_path, records, dumps, no_slow_path):
    """Compact and `json.dumps`-spaced files alike: the frame jobs_to_frame makes."""
    path = write(tmp_path / "jobs.jsonl", [dumps(r) for r in records])
    pd.testing.assert_frame_equal(read_jobs(path), jobs_to_frame(records))


def test_a_file_is_read_in_two_parts_as_in_one(tmp_path, records, monkeypatch, no_slow_path):
    """Split across both cores, the parts join up with every row and time in place."""
    path = write(tmp_path / "jobs.jsonl", [orjson.dumps(r).decode() for r in records])
    monkeypatch.setattr(scan, "_SPLIT_AT", 1)
    assert len(scan.scan(path.read_bytes())) == 2
    pd.testing.assert_frame_equal(read_jobs(path), jobs_to_frame(records))


def test_a_column_larger_than_its_region_is_read_again(tmp_path, no_slow_path):
    """One fail_reason longer than the rest of the file: the part is read with room for it."""
    long = {**SEED, "fail_reason": "x" * 100_000}
    records = [long, *([SEED] * 10)]
    path = write(tmp_path / "jobs.jsonl", [orjson.dumps(r).decode() for r in records])
    frame = read_jobs(path)
    assert frame.loc[0, "fail_reason"] == "x" * 100_000
    pd.testing.assert_frame_equal(frame, jobs_to_frame(records))


def _with(**changes: object) -> str:
    record = json.loads(json.dumps(SEED))
    for key, value in changes.items():
        if value is _DROP:
            record.pop(key, None)
        else:
            record[key] = value
    return orjson.dumps(record).decode()


_DROP = object()
_SUB = {"status": "SUCCESS", "job_id": "j2", "entities": {"image_id": "sub-1"}}

# Lines the kernel leaves to Python (or reads itself) without giving up on the file.
ODD_LINES = {
    "escaped text": json.dumps({**SEED, "fail_reason": 'a "quoted" \\ back\nslash'}),
    "ascii-escaped Chinese": json.dumps({**SEED, "fail_reason": "镜像失败"}),
    "raw Chinese": _with(fail_reason="镜像失败", entities={"image_name": "镜像"}),
    "escaped entity field": json.dumps({**SEED, "entities": {"image_name": "a\tb"}}),
    "unknown top-level field": _with(region="cn-north-4"),
    "duplicated key": '{"status":"FAIL","status":"SUCCESS","job_id":"j1"}',
    "duplicated entity key": '{"job_id":"j1","entities":{"image_id":"a","image_id":"b"}}',
    "number where text goes": '{"job_id":123,"status":"SUCCESS"}',
    "object where text goes": '{"job_id":"j1","fail_reason":{"a":1}}',
    "entities not an object": '{"job_id":"j1","entities":[1,2]}',
    "entities a string": '{"job_id":"j1","entities":"x"}',
    "null entities": '{"job_id":"j1","entities":null}',
    "no entities": '{"job_id":"j1","status":"RUNNING"}',
    "empty entities": '{"job_id":"j1","entities":{}}',
    "empty object": "{}",
    "numeric image id": '{"job_id":"j1","entities":{"image_id":5}}',
    "percent as text": '{"job_id":"j1","entities":{"process_percent":"0.5"}}',
    "percent as exponent": '{"job_id":"j1","entities":{"process_percent":5e-1}}',
    "percent as integer": '{"job_id":"j1","entities":{"process_percent":1}}',
    "huge sub_jobs_total": '{"job_id":"j1","entities":{"sub_jobs_total":123456789012345678901}}',
    "sub_jobs_total": '{"job_id":"j1","entities":{"sub_jobs_total":-3}}',
    "sub_jobs_total float": '{"job_id":"j1","entities":{"sub_jobs_total":3.0}}',
    "sub-jobs": _with(entities={"sub_jobs_result": [_SUB, {**_SUB, "entities": {}}, 7]}),
    "ECS sub-jobs": _with(entities={"sub_jobs": [{"entities": {"server_id": "s1"}}]}),
    "both sub-job lists": _with(
        entities={"sub_jobs_result": [], "sub_jobs": [{"entities": {"server_id": "s1"}}]}
    ),
    "sub-job list not a list": _with(
        entities={"sub_jobs_result": {"a": 1}, "sub_jobs": [{"entities": {"volume_id": "v"}}]}
    ),
    "sub-job messages": _with(
        entities={
            "sub_jobs": [
                {"entities": {"errorcode_message": None}},
                {"entities": {"errorcode_message": "disk full", "nic_id": ""}},
                {"entities": {"errorcode_message": "later"}},
            ]
        }
    ),
    "error null beside a message": _with(entities={"error": None, "errorcode_message": "m"}),
    "sub-sub-jobs": _with(entities={"sub_jobs": [{"entities": {"sub_jobs": [_SUB]}}]}),
    "many sub-jobs": _with(entities={"sub_jobs": [_SUB] * 300}),
    "empty resource key": '{"job_id":"j1","entities":{"image_id":"","server_id":"s9"}}',
    "deep nesting": '{"job_id":"j1","entities":{"a":' + "[" * 80 + "]" * 80 + "}}",
    "spaced entities": '{"job_id": "j1", "entities": { "image_id" : "i1" , "x": [1, 2] }}',
    "CRLF": _with() + "\r",
    "spaces around": "  " + _with() + "  ",
    "literals": '{"job_id":"j1","entities":{"a":true,"b":false,"c":null,"d":-0.5e+3}}',
    "ISO with offset": _with(begin_time="2015-06-04T18:11:06.586+08:00"),
    "ISO without fraction": _with(begin_time="2015-06-04T10:11:06Z"),
    "ISO naive": _with(end_time="2015-06-04T10:11:06.586"),
    "legacy short fields": _with(begin_time="4-Jun-2015 18:11:06:5"),
    "legacy upper case": _with(begin_time="04-JUN-2015 18:11:06:586"),
    "not a time": _with(begin_time="yesterday", end_time="2015-02-30T10:11:06.586Z"),
    "empty times": _with(begin_time="", end_time=""),
    "time as number": '{"job_id":"j1","begin_time":1433412666}',
    "leap day": _with(begin_time="2016-02-29T10:11:06.586Z", end_time="29-Feb-2016 18:11:06:586"),
    "year one": _with(begin_time="0001-01-01T00:00:00.000Z"),
    "upper-case id": _with(job_id="FF8080814DBD65D7014DBE0D84DB0013"),
    "escaped key": '{"job_\\u0069d":"j1"}',
    # Valid JSON, but no object: the whole file is read the slow way, the value kept in extra.
    "an array": "[1,2]",
    "a string": '"job"',
}


@pytest.mark.parametrize("name", list(ODD_LINES))
def test_odd_lines_read_as_python_reads_them(tmp_path, name):
    """Each odd line on its own, between clean ones: the frame and attrs Python's rules give."""
    lines = [_with(), ODD_LINES[name], _with(job_id="ff8080814dbd65d7014dbe0d84db0014")]
    assert_same_as_python(write(tmp_path / "jobs.jsonl", lines))


def test_all_odd_lines_in_one_file(tmp_path, records, monkeypatch):
    """Together, in a file read in two parts: still the same frame."""
    monkeypatch.setattr(scan, "_SPLIT_AT", 1)
    lines = [orjson.dumps(r).decode() for r in records[:50]] + list(ODD_LINES.values())
    assert_same_as_python(write(tmp_path / "jobs.jsonl", lines + lines))


CORRUPT_LINES = {
    "truncated": '{"job_id":"j1","entities":{"image_id":"i',
    "trailing garbage": _with() + " x",
    "two objects": _with() + _with(),
    "control character": '{"job_id":"a\x01b"}',
    "bad escape": '{"job_id":"a\\xb"}',
    "short unicode escape": '{"job_id":"a\\u12"}',
    "leading zero": '{"job_id":"j1","entities":{"n":01}}',
    "NaN": '{"job_id":"j1","entities":{"n":NaN}}',
    "bare minus": '{"job_id":"j1","entities":{"n":-}}',
    "missing colon": '{"job_id" "j1"}',
    "trailing comma": '{"job_id":"j1",}',
    "unclosed array": '{"job_id":"j1","entities":{"a":[1,2}}',
    "mismatched close": '{"job_id":"j1","entities":{"a":[1,2}]}',
    "single quotes": "{'job_id':'j1'}",
    "true misspelt": '{"job_id":"j1","entities":{"a":tru}}',
}


@pytest.mark.parametrize("name", list(CORRUPT_LINES))
def test_corrupt_lines_are_reported_where_they_are(tmp_path, name):
    """A line that is no job object: the file goes the slow way, the line is reported."""
    path = write(tmp_path / "jobs.jsonl", [_with(), CORRUPT_LINES[name], _with()])
    frame = assert_same_as_python(path)
    assert [p["line"] for p in frame.attrs["corrupt_lines"]] == [2]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"job_id":"\xff"}',  # no UTF-8 at all
        b'{"job_id":"\xc3"}',  # a sequence cut short
        b'{"job_id":"\xe0\x80\x80"}',  # overlong
        b'{"job_id":"\xed\xa0\x80"}',  # a surrogate
        b'{"job_id":"j1","entities":{"k":"\xf4\x90\x80\x80"}}',  # past U+10FFFF
    ],
)
def test_invalid_utf8_is_corrupt(tmp_path, raw):
    path = write(tmp_path / "jobs.jsonl", [_with().encode(), raw])
    frame = assert_same_as_python(path)
    assert [p["line"] for p in frame.attrs["corrupt_lines"]] == [2]


def test_random_damage_never_makes_the_kernel_disagree(tmp_path, records):
    """Lines with bytes changed, cut or repeated at random: read as Python reads them."""
    rng = random.Random(5)
    clean = [orjson.dumps(r) for r in records[:40]] + [
        json.dumps(r).encode() for r in records[40:60]
    ]
    alphabet = b'{}[]":,\\ -.0123456789enulltruefalse\x00\x1f\x7f\xc3\xa9\xff'
    for trial in range(150):
        lines = list(clean)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(lines))
            line = bytearray(lines[i])
            at = rng.randrange(len(line))
            action = rng.random()
            if action < 0.4:
                line[at] = rng.choice(alphabet)
            elif action < 0.7:
                del line[at : at + rng.randint(1, 20)]
            else:
                line[at:at] = line[at : at + rng.randint(1, 20)]
            lines[i] = bytes(line).replace(b"\n", b" ")
        path = tmp_path / f"damaged-{trial}.jsonl"
        write(path, lines)
        assert_same_as_python(path)


def test_no_memory_for_the_regions_reads_the_slow_way(tmp_path, records, monkeypatch):
    """When the output regions cannot be had, the file is still read, the slow way."""

    def refuse(size: int) -> None:
        raise MemoryError(size)

    monkeypatch.setattr(scan, "_buffer", refuse)
    path = write(tmp_path / "jobs.jsonl", [orjson.dumps(r).decode() for r in records])
    pd.testing.assert_frame_equal(read_jobs(path), jobs_to_frame(records))
