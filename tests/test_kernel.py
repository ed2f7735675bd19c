"""The JSONL reader's two engines: the compiled scanner and Python give one frame.

The scanner (`jobtools.io._kernel`, driven by `_scan` and `_jsonl`) is a JSON validator of
its own, so every test here holds it to Python's engine (orjson and `raw_from_records`) and
both to `jobs_to_frame`: the same frame, the same attrs, the same lines reported. Lines no
engine can read are reported with their numbers, and never cost the other lines.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from conftest import SEED

import jobtools.io._jsonl as jsonl
import jobtools.io._scan as scan
from jobtools import jobs_to_frame, read_jobs
from jobtools.frame import split_entities
from jobtools.io import CorruptInputError, CorruptInputWarning
from jobtools.sample import generate_jobs

pytestmark = pytest.mark.skipif(not scan.BUILT, reason="the JSONL scanner is not built")


def read_both(path: Path) -> pd.DataFrame:
    """The kernel's frame, after checking that the Python engine's is the same (attrs and
    the warning included)."""
    frames = []
    for engine in ("kernel", "python"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frames.append(read_jobs(path, engine=engine))
        assert bool(caught) == bool(frames[-1].attrs["corrupt_lines"])
    kernel, python = frames
    pd.testing.assert_frame_equal(kernel, python)
    assert kernel.attrs == python.attrs
    return kernel


def good_records(path: Path) -> list[dict]:
    """The file's lines that are job objects, parsed (big integers exactly)."""
    records = []
    for line in path.read_bytes().split(b"\n"):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if type(record) is dict:
            records.append(json.loads(line, parse_int=jsonl.exact_int))
    return records


def assert_same_as_python(path: Path) -> pd.DataFrame:
    """Both engines agree, and with jobs_to_frame over the good lines."""
    frame = read_both(path)
    expected = jobs_to_frame(good_records(path))
    pd.testing.assert_frame_equal(frame.drop(columns=_carried(frame)), expected)
    assert frame.attrs["unparsed_times"] == expected.attrs["unparsed_times"]
    return frame


def _carried(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in jobs_to_frame([]).columns]


def write(path: Path, lines: list[str | bytes], end: bytes = b"\n") -> Path:
    data = end.join(line.encode() if isinstance(line, str) else line for line in lines) + end
    path.write_bytes(data)
    return path


@pytest.fixture()
def records() -> list[dict]:
    return generate_jobs(400, seed=11)


@pytest.fixture()
def python_lines(monkeypatch) -> list[bytes]:
    """The lines the kernel engine leaves to Python, as it reads them."""
    seen: list[bytes] = []
    original = jsonl._Reader._python

    def spy(self, lines, numbers, text=None):
        if text is None:  # lines one by one: those the scanner left (a piece comes as text)
            seen.extend(lines)
        return original(self, lines, numbers, text)

    monkeypatch.setattr(jsonl._Reader, "_python", spy)
    return seen


LAYOUTS = {
    "compact": (lambda r: orjson.dumps(r).decode(), b"\n"),
    "json.dumps": (json.dumps, b"\n"),
    "json.dumps CJK escaped": (lambda r: json.dumps({**r, "fail_reason": "镜像失败"}), b"\n"),
    "CRLF": (lambda r: orjson.dumps(r).decode(), b"\r\n"),
    "keys reversed": (lambda r: json.dumps(dict(reversed(list(r.items())))), b"\n"),
    "blank lines": (lambda r: orjson.dumps(r).decode() + "\n  \n", b"\n"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_is_read_by_the_kernel(tmp_path, records, layout, python_lines):
    """Spaced, escaped, CRLF, reordered, blank lines: no line left to Python, one frame."""
    dumps, end = LAYOUTS[layout]
    path = write(tmp_path / "jobs.jsonl", [dumps(r) for r in records], end)
    frame = read_both(path)
    assert python_lines == []
    expected = jobs_to_frame([json.loads(dumps(r).split("\n")[0]) for r in records])
    pd.testing.assert_frame_equal(frame, expected)


def test_unknown_fields_stay_on_the_fast_path(tmp_path, records, python_lines):
    """Fields the contract does not know go to `extra` by the scanner itself, as Python's
    rules write them; only a top-level `sub_jobs` (which the rules follow) goes to Python."""
    lines = [
        _with(region="cn-north-4"),
        json.dumps({**SEED, "zone": {"a": [1, None, "镜像"]}, "n": 2}),
        _with(entities={}, sub_jobs=[{"entities": {"volume_id": "v1"}}]),
    ]
    frame = read_both(write(tmp_path / "jobs.jsonl", lines))
    assert python_lines == [lines[2].encode()]
    assert frame["extra"].tolist() == [
        '{"region":"cn-north-4"}',
        '{"zone":{"a":[1,null,"镜像"]},"n":2}',
        '{"sub_jobs":[{"entities":{"volume_id":"v1"}}]}',
    ]
    assert frame.loc[2, "resource_id"] == "v1"


def test_a_bom_is_no_problem(tmp_path, records):
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(orjson.dumps(r) for r in records))
    pd.testing.assert_frame_equal(read_both(path), jobs_to_frame(records))


def test_a_file_is_read_in_pieces_and_halves(tmp_path, records, monkeypatch, python_lines):
    """Pieces of a few KiB, each in two halves: the rows join up in order."""
    monkeypatch.setattr(jsonl, "CHUNK", 4096)
    monkeypatch.setattr(jsonl, "_HALVES_AT", 1024)
    lines = [orjson.dumps(r).decode() for r in records]
    lines[7] = lines[7][:-1] + ',"x":1,"x":2}'  # a duplicated unknown key: Python's, in place
    path = write(tmp_path / "jobs.jsonl", lines)
    frame = read_both(path)
    assert len(python_lines) == 1
    pd.testing.assert_frame_equal(frame, jobs_to_frame([json.loads(line) for line in lines]))


def test_pieces_growing_from_a_small_first_one_keep_every_line_in_order(
    tmp_path, monkeypatch, python_lines
):
    """The first piece small, each next twice as large (4, 8, 16, then 32 KiB here), each
    scanned in halves while the next is read: rows, bad lines and lines left to Python in
    several pieces keep their order and their numbers."""
    monkeypatch.setattr(jsonl, "CHUNK", 32768)
    monkeypatch.setattr(jsonl, "_FIRST", 4096)
    monkeypatch.setattr(jsonl, "_HALVES_AT", 1024)
    records = generate_jobs(1500, seed=3)
    lines = [orjson.dumps(r).decode() for r in records]
    bad = [5, 40, 333, 900, 1499]
    for at in bad:
        lines[at] = lines[at][:-5]  # cut short: no JSON
    left = [6, 41, 700, 1200]
    for at in left:
        lines[at] = lines[at][:-1] + ',"x":1,"x":2}'  # Python's rules
    path = write(tmp_path / "jobs.jsonl", lines)
    assert path.stat().st_size > 4 * 32768  # pieces of every size, then several of CHUNK
    frame = read_both(path)
    assert len(python_lines) == len(left) + len(bad)  # (Python reports the bad ones)
    assert [p["line"] for p in frame.attrs["corrupt_lines"]] == [at + 1 for at in bad]
    kept = [json.loads(line) for i, line in enumerate(lines) if i not in bad]
    pd.testing.assert_frame_equal(frame, jobs_to_frame(kept))


def test_a_known_key_given_again_is_read_by_the_scanner():
    """A top-level field given twice (a proxy that appends one): the last wins, as in
    Python, and the line stays on the fast path; any other duplicate goes to Python."""
    text = (
        b'{"status":"RUNNING","job_id":"j1","fail_reason":"a","status":"SUCCESS",'
        b'"fail_reason":null}\n{"job_id":"j2","x":1,"x":2}\n'
    )
    part = scan.scan(np.frombuffer(text, dtype=np.uint8), 0, len(text))
    assert part.state.tolist() == [scan.OK, scan.PYTHON]
    assert part.raw.text["status"].to_pylist()[0] == "SUCCESS"
    assert part.raw.text["fail_reason"].to_pylist()[0] is None
    assert part.raw.text["job_id"].to_pylist()[0] == "j1"


def test_a_long_line_grows_the_buffer(tmp_path, monkeypatch):
    """A line longer than a piece: read whole."""
    monkeypatch.setattr(jsonl, "CHUNK", 4096)
    records = [{**SEED, "fail_reason": "x" * 100_000}, *([SEED] * 10)]
    path = write(tmp_path / "jobs.jsonl", [orjson.dumps(r).decode() for r in records])
    pd.testing.assert_frame_equal(read_both(path), jobs_to_frame(records))


def test_a_line_past_the_limit_is_refused_and_the_rest_read(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonl, "CHUNK", 4096)
    monkeypatch.setattr(jsonl, "MAX_LINE", 16384)
    lines = [_with(), _with(fail_reason="x" * 50_000), _with()]
    frame = read_both(write(tmp_path / "jobs.jsonl", lines))
    assert len(frame) == 2
    assert [p["line"] for p in frame.attrs["corrupt_lines"]] == [2]
    assert "longer than" in frame.attrs["corrupt_lines"][0]["error"]


def test_a_file_truncated_while_read_ends_early(tmp_path, records, monkeypatch):
    """Another process cuts the file between two reads: what was read is the frame."""
    monkeypatch.setattr(jsonl, "CHUNK", 8192)
    path = write(tmp_path / "jobs.jsonl", [orjson.dumps(r).decode() for r in records])
    original = jsonl._Reader.piece

    def piece_then_truncate(self, buf, lo, hi):
        original(self, buf, lo, hi)
        os.truncate(path, 100)

    monkeypatch.setattr(jsonl._Reader, "piece", piece_then_truncate)
    for engine in ("kernel", "python"):
        with pytest.warns(CorruptInputWarning, match="unexpected end of data"):
            frame = read_jobs(path, engine=engine)  # the line cut short
        assert 0 < len(frame) < len(records)
        path.write_bytes(b"\n".join(orjson.dumps(r) for r in records))


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
    "unknown fields of every kind": _with(
        region={"a": [1, 2.5, None, True, 'x"y\n'], "b": {}}, zone=[], n=-7, f=False
    ),
    "unknown fields first and between": '{"x":1,"job_id":"j1","y":[{}],"status":"SUCCESS"}',
    "unknown field, spaced and escaped": json.dumps({**SEED, "note": '镜像 "q"\t'}),
    "unknown field, a number orjson writes otherwise": '{"job_id":"j1","n":1.50}',
    "top-level sub_jobs (VBS)": _with(sub_jobs=[{"entities": {"volume_id": "v1"}}]),
    "duplicated key": '{"status":"FAIL","status":"SUCCESS","job_id":"j1"}',
    "duplicated entity key": '{"job_id":"j1","entities":{"image_id":"a","image_id":"b"}}',
    "duplicated keys, later values": (
        '{"status":"RUNNING","job_id":"j1","begin_time":"2015-06-04T10:11:06.586Z",'
        '"status":"SUCCESS","begin_time":"04-Jun-2015 18:11:06:586","job_id":"j2"}'
    ),
    "duplicated key, null after text": '{"job_id":"j1","fail_reason":"a","fail_reason":null}',
    "duplicated key, text after null": '{"job_id":"j1","error_code":null,"error_code":"E1"}',
    "duplicated key, escaped after plain": (
        '{"job_id":"j1","fail_reason":"a","fail_reason":"\\u955c"}'
    ),
    "duplicated key, a number after text": '{"job_id":"j1","job_id":5}',
    "duplicated entities": '{"job_id":"j1","entities":{"image_id":"a"},"entities":{"x":1}}',
    "duplicated unknown key": '{"job_id":"j1","x":1,"x":[2]}',
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
    "spaced json.dumps": json.dumps({**SEED, "entities": {"image_id": "i", "n": [1, {"a": None}]}}),
    "CJK escaped": json.dumps(
        {**SEED, "fail_reason": "镜像失败", "entities": {"k": "镜像 \U0001f600"}}
    ),
    "keys in another order": json.dumps(dict(reversed(list(SEED.items())))),
    "held keys in order": _with(
        entities={"image_id": "i", "image_name": "n", "current_task": "t", "process_percent": 0.5}
    ),
    "held keys out of order": _with(entities={"image_name": "n", "image_id": "i", "x": 1}),
    "held percent as integer": _with(entities={"image_id": "i", "process_percent": 1, "x": 2}),
    "escapes kept": _with(entities={"k": 'a"b\\c\n\t\u0001\u007f/'}),
    "slash escaped": '{"job_id":"j1","entities":{"k":"a\\/b","image_name":"x\\/y"}}',
    "surrogate pair": (
        '{"job_id":"j1","fail_reason":"\\ud83d\\ude00","entities":{"k":"\\ud83d\\ude00"}}'
    ),
    "big integer in entities": '{"job_id":"j1","entities":{"n":123456789012345678901234567890}}',
    "u64 integer": '{"job_id":"j1","entities":{"n":18446744073709551615,"m":-9223372036854775808}}',
    "huge sub_jobs_total 2^63": '{"job_id":"j1","entities":{"sub_jobs_total":9223372036854775808}}',
    "nested duplicate key": '{"job_id":"j1","entities":{"a":{"b":1,"b":2}}}',
    "_jobtools key": _with(_jobtools={"job_id": "x", "status": "FAIL"}),
    "server_group_id": _with(entities={"server_group_id": "g1"}),
}


@pytest.mark.parametrize("name", list(ODD_LINES))
def test_odd_lines_read_as_python_reads_them(tmp_path, name):
    """Each odd line on its own, between clean ones: the frame and attrs Python's rules give."""
    lines = [_with(), ODD_LINES[name], _with(job_id="ff8080814dbd65d7014dbe0d84db0014")]
    assert_same_as_python(write(tmp_path / "jobs.jsonl", lines))


def test_all_odd_lines_in_one_file(tmp_path, records, monkeypatch):
    """Together, in a file read in small pieces and halves: still the same frame."""
    monkeypatch.setattr(jsonl, "CHUNK", 8192)
    monkeypatch.setattr(jsonl, "_HALVES_AT", 1024)
    lines = [orjson.dumps(r).decode() for r in records[:50]] + list(ODD_LINES.values())
    assert_same_as_python(write(tmp_path / "jobs.jsonl", lines + lines))


def test_huge_integers_keep_their_exact_text(tmp_path):
    digits = "123456789012345678901234567890"
    line = f'{{"job_id":"j1","entities":{{"n":{digits},"image_id":{digits}}}}}'
    frame = read_both(write(tmp_path / "jobs.jsonl", [line]))
    # An image id that is no text is not held by its column: it stays in the entities.
    assert frame.loc[0, "entities"] == f'{{"n":{digits},"image_id":{digits}}}'
    assert frame.loc[0, "image_id"] == frame.loc[0, "resource_id"] == digits


def test_a_count_past_64_bits_is_no_count(tmp_path):
    line = '{"job_id":"j1","entities":{"sub_jobs_total":' + str(2**63) + "}}"
    frame = read_both(write(tmp_path / "jobs.jsonl", [_with(), line]))
    assert frame["sub_job_count"].isna().tolist() == [False, True]


NOT_JOB_LINES = {
    "an array": ("[1,2,3]", "not a JSON object but an array"),
    "a string": ('"job"', "not a JSON object but a string"),
    "a number": ("42", "not a JSON object but a number"),
    "null": ("null", "not a JSON object but null"),
    "deep nesting": (
        '{"job_id":"j1","entities":{"a":' + "[" * 300 + "]" * 300 + "}}",
        "nested deeper",
    ),
    "deep nesting in an unknown field": ('{"x":' + "[" * 300 + "]" * 300 + "}", "nested deeper"),
}


@pytest.mark.parametrize("name", list(NOT_JOB_LINES))
@pytest.mark.parametrize("skip_bad", [True, False])
def test_lines_that_are_no_job_are_reported_with_their_number(tmp_path, name, skip_bad):
    """Reported with file, line and why; the other lines read (`errors="raise"` lists it)."""
    line, why = NOT_JOB_LINES[name]
    path = write(tmp_path / "jobs.jsonl", [_with(), line, "", _with()])
    if not skip_bad:
        for engine in ("kernel", "python"):
            with pytest.raises(CorruptInputError, match=r"jobs\.jsonl:2"):
                read_jobs(path, engine=engine, errors="raise")
        return
    frame = read_both(path)
    assert len(frame) == 2
    [problem] = frame.attrs["corrupt_lines"]
    assert problem["line"] == 2 and why in problem["error"]


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
    """A line that is no JSON: reported where it is, the others read."""
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


def _damaged(rng: random.Random, clean: list[bytes]) -> list[bytes]:
    """Lines with bytes changed, cut, repeated or swapped for JSON-ish ones, at random."""
    alphabet = b'{}[]":,\\ -.0123456789eEnulltruefalse\x00\x1f\x7f\xc3\xa9\xff\r\t'
    pieces = [
        b"\\u4e2d",
        b"\\ud83d\\ude00",
        b"\\ud83d",
        b'{"a":',
        b"[[[",
        b"]]]",
        b'"image_id":"x",',
    ]
    lines = list(clean)
    for _ in range(rng.randint(1, len(lines) // 3)):
        i = rng.randrange(len(lines))
        line = bytearray(lines[i])
        at = rng.randrange(len(line) + 1)
        action = rng.random()
        if action < 0.3:
            line[at : at + 1] = bytes([rng.choice(alphabet)])
        elif action < 0.5:
            del line[at : at + rng.randint(1, 20)]
        elif action < 0.7:
            line[at:at] = line[at : at + rng.randint(1, 20)]
        else:
            line[at:at] = rng.choice(pieces)
        lines[i] = bytes(line).replace(b"\n", b" ")
    return lines


def fuzz(tmp_path: Path, trials: int, seed: int) -> None:
    """Random damage to lines of every layout: both engines agree, the scanner's columns are
    valid Arrow, and the good lines read as jobs_to_frame reads them."""
    rng = random.Random(seed)
    records = generate_jobs(60, seed=seed)
    records[3]["entities"] = {"sub_jobs": [{"entities": {"server_id": "s", "x": [1.5, None]}}]}
    records[4]["entities"] = {"image_id": "i", "image_name": "镜像", "process_percent": 0.25}
    clean = [orjson.dumps(r) for r in records[:20]]
    clean += [json.dumps(r).encode() for r in records[20:40]]
    clean += [json.dumps(r, ensure_ascii=False).encode() + b"\r" for r in records[40:]]
    for trial in range(trials):
        lines = _damaged(rng, clean)
        path = write(tmp_path / f"damaged-{trial % 4}.jsonl", lines)
        assert_same_as_python(path)
        assert_valid_arrow(b"\n".join(lines))


def assert_valid_arrow(data: bytes) -> None:
    """Every column the scanner builds passes Arrow's full validation (UTF-8 included)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    part = scan.scan(buf, 0, len(buf))
    for values in (*part.raw.text.values(), part.raw.entities, part.raw.extra):
        values.validate(full=True)


@pytest.mark.slow  # end to end (or a fuzz): `make test` runs it, `make test-fast` not
def test_random_damage_never_makes_the_engines_disagree(tmp_path):
    """A bounded fuzz (`make fuzz` runs a longer one, under AddressSanitizer)."""
    fuzz(tmp_path, trials=int(os.environ.get("JOBTOOLS_FUZZ_TRIALS", "6")), seed=5)


def test_the_scanner_refuses_tables_that_disagree():
    """Real checks, not asserts: `python -O` keeps them."""
    buf = np.frombuffer(b'{"job_id":"j1"}', dtype=np.uint8)
    memory, bounds = scan._regions(len(buf))
    rows = scan.Scratch().for_lines(1)
    broken = dict(scan.TABLES, text=scan.TABLES["text"][:-1])
    with pytest.raises(ValueError, match="slot tables"):
        scan._kernel.scan(buf, 0, len(buf), broken, memory, bounds, rows)
    shared = scan.TABLES["text"].copy()
    shared[shared == 1] = 0  # two slots writing one text column, one column of none
    with pytest.raises(ValueError, match="no slot, or several"):
        scan._kernel.scan(buf, 0, len(buf), dict(scan.TABLES, text=shared), memory, bounds, rows)
    with pytest.raises(ValueError, match="regions"):
        scan._kernel.scan(buf, 0, len(buf), scan.TABLES, memory, bounds[:-1], rows)
    with pytest.raises(ValueError, match="part"):
        scan._kernel.scan(buf, 0, len(buf) + 1, scan.TABLES, memory, bounds, rows)


def test_the_scanner_refuses_row_arrays_without_room():
    """The caller's row arrays are checked row by row, never written past."""
    buf = np.frombuffer(b'{"job_id":"j1"}\n{"job_id":"j2"}\n', dtype=np.uint8)
    memory, bounds = scan._regions(len(buf))
    small = scan.Scratch().for_lines(1)  # two records
    with pytest.raises(ValueError, match="no room"):
        scan._kernel.scan(buf, 0, len(buf), scan.TABLES, memory, bounds, small)
    narrow = dict(scan.Scratch().for_lines(3), kind=np.zeros((1, 3), dtype=np.int8))
    with pytest.raises(ValueError, match="kind"):
        scan._kernel.scan(buf, 0, len(buf), scan.TABLES, memory, bounds, narrow)


def test_row_arrays_used_again_keep_nothing_of_the_last_part():
    """A part scanned into arrays that held a longer part gives what fresh arrays give."""
    scratch = scan.Scratch()
    first = b'{"job_id":"j1","entities":{"image_id":"i","sub_jobs":[{"a":1}]}}\n' * 3
    second = b'{"job_id":"j2"}\n'
    scan.scan(np.frombuffer(first, dtype=np.uint8), 0, len(first), scratch)
    reused = scan.scan(np.frombuffer(second, dtype=np.uint8), 0, len(second), scratch)
    fresh = scan.scan(np.frombuffer(second, dtype=np.uint8), 0, len(second))
    for name, values in fresh.raw.text.items():
        assert reused.raw.text[name].equals(values), name
    for name, kinds in fresh.raw.kind.items():
        assert (reused.raw.kind[name] == kinds).all(), name
    for key, items in fresh.raw.items.items():
        assert (reused.raw.items[key] == items).all(), key
    assert reused.raw.sub_jobs == fresh.raw.sub_jobs == {}


def test_a_part_denser_than_those_before_is_read_whole():
    """Row arrays are sized by the densest part so far; a part with far more lines a byte
    (short lines after long ones) is counted and read again, not cut."""
    scratch = scan.Scratch()
    sparse = b'{"job_id":"j0","fail_reason":"' + b"x" * 5000 + b'"}\n'
    dense = b"".join(b'{"job_id":"j%d"}\n' % i for i in range(3000))
    scan.scan(np.frombuffer(sparse, dtype=np.uint8), 0, len(sparse), scratch)
    assert scratch.capacity < 3000
    part = scan.scan(np.frombuffer(dense, dtype=np.uint8), 0, len(dense), scratch)
    assert part.raw.text["job_id"].to_pylist() == [f"j{i}" for i in range(3000)]
    assert (part.line == np.arange(3000)).all() and part.lines == 3001


def test_the_tables_follow_the_schema():
    """Every text slot and kind slot of the rules is a slot of the scanner."""
    assert set(scan.TEXT_SLOTS) <= set(scan.SLOTS) and set(scan.KIND_SLOTS) <= set(scan.SLOTS)
    assert len(scan.TABLES["name_off"]) == len(scan.SLOTS) + 1


@pytest.mark.slow  # a child process: `make test` runs it, `make test-fast` does not
def test_import_and_read_without_the_compiled_scanner(tmp_path):
    """No `.so`: `import jobtools` works, JSONL is read by Python, said once; "kernel" says how
    to build it."""
    path = write(tmp_path / "jobs.jsonl", [_with(), _with()])
    code = f"""
import sys, warnings
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "jobtools.io._kernel":
            raise ImportError("hidden")
sys.meta_path.insert(0, Hide())
import jobtools
from jobtools.io._jsonl import AcceleratorNotBuiltWarning
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    jobtools.read_jobs({str(path)!r}); jobtools.read_jobs({str(path)!r})
assert [w.category for w in caught] == [AcceleratorNotBuiltWarning], caught
try:
    jobtools.read_jobs({str(path)!r}, engine="kernel")
except RuntimeError as exc:
    assert "not built" in str(exc) and "make" in str(exc)
else:
    raise AssertionError("engine='kernel' without the kernel")
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_engine_is_checked(tmp_path, monkeypatch):
    path = write(tmp_path / "jobs.jsonl", [_with()])
    with pytest.raises(ValueError, match="engine"):
        read_jobs(path, engine="fast")
    monkeypatch.setenv(jsonl.ENGINE_VARIABLE, "nope")
    with pytest.raises(ValueError, match=jsonl.ENGINE_VARIABLE):
        read_jobs(path)


def test_entities_cut_as_split_entities_cuts_them(tmp_path):
    entities = {"image_id": "i", "image_name": "n", "zone": "z", "current_task": "t"}
    frame = read_both(write(tmp_path / "jobs.jsonl", [_with(entities=entities)]))
    assert frame.loc[0, "entities"] == orjson.dumps(split_entities(entities)).decode()


def test_splice_puts_text_into_empty_rows_in_place():
    """The lines Python reads go into their rows by moving the text after them along, in
    the column's own region; wrong input is refused, no room is said (-1), never overrun."""
    region = np.zeros(16, dtype=np.uint8)
    region[:5] = np.frombuffer(b"aaccc", dtype=np.uint8)
    offsets = np.array([0, 2, 2, 5, 5], dtype=np.int64)  # "aa", "", "ccc", ""
    rows, theirs = np.array([1, 3], dtype=np.int64), np.array([0, 3, 5], dtype=np.int64)
    text = np.frombuffer(b"XYZpq", dtype=np.uint8)
    assert scan._kernel.splice(region, 5, offsets, rows, theirs, text) == 10
    assert bytes(region[:10]) == b"aaXYZcccpq"
    small = np.frombuffer(b"aaccc\0\0", dtype=np.uint8).copy()
    assert scan._kernel.splice(small, 5, offsets, rows, theirs, text) == -1
    assert bytes(small) == b"aaccc\0\0"  # untouched
    with pytest.raises(ValueError, match="not empty"):
        scan._kernel.splice(region, 5, offsets, np.array([0, 1]), theirs, text)
    with pytest.raises(ValueError, match="out of order"):
        scan._kernel.splice(region, 5, offsets, np.array([3, 1]), theirs, text)
    with pytest.raises(ValueError, match="disagree"):
        scan._kernel.splice(region, 4, offsets, rows, theirs, text)


def test_lines_python_writes_longer_than_they_came_are_put_all_the_same(tmp_path):
    """A number orjson writes longer (1E2 as 100.0) can make a column's text outgrow its
    region: that column is copied instead, the frame the same."""
    lines = ['{"a":1E2,"b":1E2}'] * 50  # 18 bytes a line, 21 of extra text a row
    spliced = []
    with pytest.MonkeyPatch.context() as patch:
        splice = scan._kernel.splice
        patch.setattr(scan._kernel, "splice", lambda *a: spliced.append(splice(*a)) or spliced[-1])
        frame = read_both(write(tmp_path / "jobs.jsonl", ['{"job_id":"k"}', *lines]))
    assert -1 in spliced  # the extra text had no room
    assert frame["extra"].iloc[1:].tolist() == ['{"a":100.0,"b":100.0}'] * 50
    assert frame["job_id"].iloc[0] == "k"
