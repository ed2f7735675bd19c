"""Job id validation, extraction from free text, and normalisation."""

from __future__ import annotations

import random

import pandas as pd
import pytest

import jobtools
from jobtools.errors import InvalidIdError
from jobtools.ids import (
    NearMissWarning,
    RejoinedIdWarning,
    as_job_ids,
    extract_job_ids,
    job_id_times,
    job_ids_from_text,
    make_job_id,
    scan_job_ids,
    validate_job_id,
    validate_project_id,
)

HEX = "ff8080814dbd65d7014dbe0d84db0013"
HEX2 = "ff8080814dbd65d7014dbe0d84db0014"
UUID = "4010a32c-1d2c-4a2b-9b8e-6e3c5b0a1f00"
PROJECT = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("value", [HEX, UUID, "job-1", "a" * 64, "a.b", "A_b~c"])
def test_valid_ids(value):
    """Ordinary ids pass unchanged."""
    assert validate_job_id(value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a/b", "'/'"),
        ("..", "'..'"),
        ("a..b", "'..'"),
        ("a?x=1", "'?'"),
        ("a#f", "'#'"),
        ("a%2F", "'%'"),
        ("a b", "' '"),
        (" a", "' '"),
        ("a\tb", "'\\\\t'"),
        ("a\nb", "'\\\\n'"),
        ("a\x00b", "'\\\\x00'"),
        ("a\x7fb", "'\\\\x7f'"),
        ("a" * 65, "longer than 64"),
        (None, "must be a string"),
        (123, "must be a string"),
    ],
)
def test_invalid_job_ids(value, reason):
    """Each unsafe id is a ValueError naming the value and the reason."""
    with pytest.raises(ValueError, match=reason) as info:
        validate_job_id(value)
    assert isinstance(info.value, InvalidIdError)
    assert "job id" in str(info.value)
    if isinstance(value, str) and value.strip() and len(value) < 60:
        assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", ["", "p/../x", "p?", "p" * 65])
def test_invalid_project_ids(value):
    """Project ids are held to the same rules and named as project ids."""
    with pytest.raises(ValueError, match="project id"):
        validate_project_id(value)


def test_long_value_is_shortened_in_message():
    """A huge bad value is named but shortened, so the message stays one readable line."""
    with pytest.raises(ValueError) as info:
        validate_job_id("x" * 10_000)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"job {HEX} done", [HEX]),
        (f"{HEX}\n{UUID}\n{HEX}", [HEX]),
        (f"job_id={UUID} and {HEX}", [UUID, HEX]),
        (f"| {HEX} | SUCCESS |\n| {HEX2} | FAIL |", [HEX, HEX2]),
        (f"GET /v1/{PROJECT}/jobs/{HEX} 200", [HEX]),
        (f'{{"job_id": "{HEX}", "entities": {{"image_id": "{UUID}"}}}}', [HEX]),
        (f"request_id={HEX2} job_id={HEX}", [HEX]),
        (f"X-Request-Id: {HEX2}", []),
        (f"sha {HEX}{HEX}", []),
        (f"x{HEX}", []),
        (f"{UUID.upper()}", []),
        (f"job {UUID.upper()}", [UUID]),
        (f"{HEX.upper()} {HEX}", [HEX]),
        (f"project {PROJECT} job {HEX}", [HEX]),
        ('{"jobId": "job-42"} job_id=null "job_id": None', ["job-42"]),
        (f"exporting image {UUID} for {HEX}", [HEX]),
        (f"/v1/cloudimages/job/{UUID}", [UUID]),
        ("nothing here", []),
        ("", []),
    ],
)
def test_extract_job_ids(text, expected):
    """Ids come out of logs, tables and JSON in order, once each, and look-alikes stay out."""
    assert extract_job_ids(text) == expected


@pytest.mark.parametrize(
    "values",
    [
        [HEX, UUID, HEX],
        (HEX, UUID),
        pd.Series([HEX, UUID, HEX]),
        pd.Index([HEX, UUID]),
        pd.DataFrame({"job_id": [HEX, UUID], "x": [1, 2]}),
        iter([HEX, UUID]),
    ],
)
def test_as_job_ids(values):
    """Lists, Series, Index, a frame's job_id column and iterators all normalise alike."""
    assert as_job_ids(values) == [HEX, UUID]


def test_as_job_ids_single_string_is_one_id():
    """A single string is one id, never split into characters."""
    assert as_job_ids(HEX) == [HEX]


def test_as_job_ids_keeps_duplicates_on_request():
    """unique=False keeps repeats in order."""
    assert as_job_ids([HEX, HEX], unique=False) == [HEX, HEX]


@pytest.mark.parametrize(
    "values",
    [[HEX, "bad/id"], pd.Series([HEX, None]), pd.DataFrame({"id": [HEX]}), 42],
)
def test_as_job_ids_refuses_bad_input(values):
    """A bad id, a missing value, a frame without job_id or a non-collection is a ValueError."""
    with pytest.raises(ValueError):
        as_job_ids(values)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{HEX}\n{UUID}\n", [HEX, UUID]),
        (f"# exported ids\n\njob_id\n{HEX}\n{HEX}\n", [HEX]),
        ("job-1\r\njob-2\r\n", ["job-1", "job-2"]),
        (f"job_id,status\n{HEX},SUCCESS\n{UUID},FAIL\n", [HEX, UUID]),
        (f'"status","job_id"\n"FAIL","{UUID}"\n', [UUID]),
        (f"2024-01-01 INFO job {HEX} created\n2024-01-01 INFO job {UUID} created\n", [HEX, UUID]),
        (f"| {HEX} | SUCCESS |\n| {UUID} | FAIL |\n", [HEX]),
        (f"{HEX.upper()}\n{HEX}\n", [HEX]),
        (f"job_id\n{UUID.upper()}\n", [UUID]),
    ],
)
def test_job_ids_from_text(text, expected):
    """Plain lists, CSV with a job_id column, logs and tables all give their ids."""
    assert job_ids_from_text(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("job_id\n", "no job ids"),
        (f"{HEX}\nbad..id\n", "'..'"),
        ("nothing that looks like an id here\n", "no job ids"),
        ("job_id,status\n,SUCCESS\n", "empty"),
    ],
)
def test_job_ids_from_text_errors(text, match):
    """Empty input, a bad id in a plain list, or text without ids is a clear ValueError."""
    with pytest.raises(ValueError, match=match):
        job_ids_from_text(text)


# --- the creation time inside a job id ----------------------------------------------------

# Public job ids and the time their layout holds (reference, "Job ids carry their creation
# time"); the last one is from the BMS API reference's example, whose begin_time says 2019.
REAL_IDS = [
    ("ff8080814dbd65d7014dbe0d84db0013", "2015-06-04T10:11:06.587Z"),
    ("9a175ac89d2a5e14019d2cde77f03a0f", "2026-03-27T01:17:50.448Z"),
    ("ff8080817aa5637b017ac7d6ca9005d5", "2021-07-21T06:53:00.432Z"),
    ("ff8080827e7810fb017f06338a731328", "2022-02-17T05:41:55.443Z"),
    ("2c9eb2c5544cbf6101544f0602af2b4f", "2016-04-25T20:04:34.607Z"),
    ("FF8080814DBD65D7014DBE0D84DB0013", "2015-06-04T10:11:06.587Z"),
]


@pytest.mark.parametrize(("job_id", "expected"), REAL_IDS)
def test_job_id_time_of_real_ids(job_id, expected):
    """Hex digits 17-28 of a real job id are its creation time in ms since the epoch (UTC)."""
    assert jobtools.job_id_time(job_id) == pd.Timestamp(expected)


@pytest.mark.parametrize(
    "value",
    [
        PROJECT,  # 2009: a random project id
        "0d3a6f8c2b9e4a71b5c8e2f4a6d9b3c1",  # the demo project id: year 2330
        UUID,
        HEX[:31],
        HEX + "0",
        "zz8080814dbd65d7014dbe0d84db0013",
        pytest.param(
            make_job_id(pd.Timestamp.now().timestamp() + 3 * 86400, node=1, jvm=2, counter=3),
            id="three-days-ahead",  # a stable name: the id itself changes with the clock
        ),
        make_job_id(pd.Timestamp("2009-12-31T23:59:59Z").timestamp(), node=1, jvm=2, counter=3),
        "",
        None,
        42,
    ],
)
def test_job_id_time_is_nat_without_a_plausible_time(value):
    """Other shapes, and times before 2010 or more than a day ahead, give NaT."""
    assert jobtools.job_id_time(value) is pd.NaT


def test_job_id_times_is_vectorised_and_keeps_the_index():
    """A Series of ids gives a UTC time column on the same index, NaT where there is none."""
    ids = pd.Series([REAL_IDS[0][0], None, UUID], index=[7, 8, 9], name="job_id")
    times = job_id_times(ids)
    assert str(times.dtype) == "datetime64[us, UTC]" and times.name == "job_id"
    assert times.index.tolist() == [7, 8, 9]
    assert times.isna().tolist() == [False, True, True]
    assert str(job_id_times([]).dtype) == "datetime64[us, UTC]"


def test_make_job_id_round_trips():
    """An id made for a time gives that time back, to the millisecond."""
    rng = random.Random(1)
    for _ in range(50):
        moment = pd.Timestamp("2015-01-01", tz="UTC") + pd.Timedelta(
            milliseconds=rng.randrange(10 * 365 * 86400 * 1000)
        )
        job_id = make_job_id(moment.timestamp(), node=rng.getrandbits(32), jvm=7, counter=1)
        assert len(job_id) == 32 and jobtools.job_id_time(job_id) == moment


# --- near misses and a console log ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "value", "reason"),
    [
        (f"ok\njob_id={HEX[:31]}", 2, HEX[:31], "31 hex"),
        (f'"job_id": "{HEX}0"', 1, HEX + "0", "33 hex"),
        (f"/jobs/{HEX[:31]}g", 1, HEX[:31] + "g", "not hex"),
        (f"jobId: {UUID[:-1]}", 1, UUID[:-1], "31 hex"),
    ],
)
def test_near_misses_are_reported(text, line, value, reason):
    """A marked value a character off a job id is a near miss with its line, not an id."""
    scan = scan_job_ids(text)
    assert scan.ids == []
    [miss] = scan.near_misses
    assert (miss.line, miss.value) == (line, value) and reason in miss.reason
    with pytest.warns(NearMissWarning, match=f"line {line}"):
        assert extract_job_ids(text) == []


def _console_log(count: int) -> tuple[str, list[str]]:
    """A console log of `count` export jobs as a new user would paste it."""
    rng = random.Random(5)
    start = pd.Timestamp("2024-11-06T08:00:00Z").timestamp()
    ids, lines = [], []
    for number in range(count):
        job_id = make_job_id(start + number * 2.5, node=0xFF808081, jvm=77, counter=number)
        image = f"{rng.getrandbits(32):08x}-1d2c-4a2b-9b8e-{rng.getrandbits(48):012x}"
        ids.append(job_id)
        lines += [
            f"2024-11-06 08:00:{number % 60:02d} INFO exporting image {image} to obs://b/x.qcow2",
            f"2024-11-06 08:00:{number % 60:02d} INFO POST /v1/{PROJECT}/cloudimages/{image}"
            f'/file -> 200 {{"job_id": "{job_id}"}}',
            f"| {job_id.upper()} | {image} | RUNNING |",
        ]
    lines.append(f"2024-11-06 09:10:00 WARN retry job_id={ids[0][:31]} (typo)")
    return "\n".join(lines), ids


def test_console_log_gives_the_job_ids_only():
    """1,500 export jobs in a log: 1,500 ids, no image UUIDs, no project id, no case repeats."""
    text, ids = _console_log(1500)
    with pytest.warns(NearMissWarning, match="31 hex"):
        assert extract_job_ids(text) == ids
    with pytest.warns(NearMissWarning):
        assert job_ids_from_text(text) == ids


# --- wrapped console text, big logs, other encodings ----------------------------------------


def _wrapped(text: str, width: int) -> str:
    """Text as a terminal `width` columns wide wraps it, copied back with its breaks."""
    out = []
    for line in text.split("\n"):
        out += [line[i : i + width] for i in range(0, max(len(line), 1), width)]
    return "\n".join(out)


def test_a_fragment_is_never_an_id():
    """`job_id=` then a piece of a hex id is a near miss with its line, never an id."""
    scan = scan_job_ids(f"start\njob_id={HEX[:20]}\nfetched job_id=9a17 ok")
    assert scan.ids == []
    assert [(m.line, m.value) for m in scan.near_misses] == [(2, HEX[:20]), (3, "9a17")]
    assert all("piece of a job id" in m.reason for m in scan.near_misses)


def test_ids_cut_by_a_line_wrap_are_rejoined_and_reported():
    """A log wrapped at 50 columns: every id back whole, in order, with the lines it spans."""
    ids = [make_job_id(1730880000 + 7 * i, node=0xFF808081, jvm=9, counter=i) for i in range(30)]
    log = "\n".join(
        f"2024-11-06 08:00:{i % 60:02d} INFO export {'x' * (i % 13)}, job_id={job_id} RUNNING"
        for i, job_id in enumerate(ids)
    )
    text = _wrapped(log, 60)
    scan = scan_job_ids(text)
    assert scan.ids == ids
    assert scan.near_misses == ()
    cut = [r for r in scan.rejoined]
    assert cut and all(r.lines[1] == r.lines[0] + 1 for r in cut)
    first = cut[0]
    lines = text.split("\n")
    assert first.value.startswith(lines[first.lines[0] - 1].rsplit("=", 1)[-1])
    with pytest.warns(RejoinedIdWarning, match="cut by a line wrap"):
        assert extract_job_ids(text) == ids


def test_a_key_cut_by_a_wrap_still_marks_its_id():
    """`jo` | `b_id=<id>`: the key read whole, the id (a UUID, so only marked counts) taken."""
    text = f"retrying export jo\nb_id={UUID} in 5 s"
    with pytest.warns(RejoinedIdWarning, match="lines 1-2"):
        assert extract_job_ids(text) == [UUID]


def test_separate_lines_are_not_glued_into_ids():
    """A hex tail and a hex head that do not make an id stay apart: nothing invented."""
    text = f"took 12\n2024-11-06 job_id={HEX}\n{HEX2}\nff80 done"
    assert extract_job_ids(text) == [HEX, HEX2]


@pytest.mark.slow
def test_a_big_log_is_read_from_its_file_in_bounded_memory(tmp_path):
    """24 MB of log with three ids, read by path: the ids, with far less memory than the file."""
    import tracemalloc

    filler = "2024-11-06 08:00:00 INFO heartbeat ok, queue depth 0, nothing to do here\n"
    path = tmp_path / "big.log"
    with path.open("w") as out:
        for i, job_id in enumerate([HEX, HEX2, HEX]):
            out.write(filler * 110_000)
            out.write(f"job_id={job_id}\n" if i < 2 else f"again {job_id}\n")
    assert path.stat().st_size > 24_000_000
    tracemalloc.start()
    try:
        found = extract_job_ids(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found == [HEX, HEX2]
    assert peak < 16_000_000


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig", "gb18030"])
def test_an_ids_file_in_another_encoding_is_read(tmp_path, encoding):
    """Notepad's "Unicode" (UTF-16), a BOM, GB18030 with a comment: the ids."""
    path = tmp_path / "ids.txt"
    path.write_bytes(
        f"# 导出的任务列表：镜像导出失败的任务，请重新导出\r\n{HEX}\r\n{UUID}\r\n".encode(encoding)
    )
    assert extract_job_ids(path, strict=True) == [HEX, UUID]


def test_a_big_text_gives_what_its_lines_give_alone():
    """Past 64 KB the lines are picked by Arrow first: same ids, order, near misses, rejoins."""
    ids = [make_job_id(1730880000 + 7 * i, node=0xFF808081, jvm=9, counter=i) for i in range(40)]
    filler = "2024-11-06 08:00:00 INFO heartbeat ok, queue depth 3\n" * 60
    parts = []
    for i, job_id in enumerate(ids):
        if i % 4 == 0:
            parts.append(_wrapped(f"2024-11-06 INFO export {'x' * i}, job_id={job_id} ok", 40))
        elif i % 4 == 1:
            parts.append(f"job_id=\n{job_id}\nimage_id=\n{HEX2}")
        elif i % 4 == 2:
            parts.append(f"| {job_id.upper()} | RUNNING |\nretry job_id={job_id[:31]} (typo)")
        else:
            parts.append(f'{{"jobId": "{job_id}", "x": 1}}')
        parts.append(filler)
    text = "\n".join(parts)
    assert len(text) > 100_000
    small = [scan_job_ids(part) for part in parts]
    big = scan_job_ids(text)
    assert big.ids == ids
    assert len(big.rejoined) == sum(len(s.rejoined) for s in small) > 0
    lines = text.split("\n")
    assert len(big.near_misses) == 10
    for miss in big.near_misses:
        assert miss.value in lines[miss.line - 1]
    for cut in big.rejoined:
        assert cut.lines[1] == cut.lines[0] + 1 and cut.value in ids
        joined = lines[cut.lines[0] - 1] + lines[cut.lines[1] - 1]
        assert cut.value in joined.lower()


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-8"])
def test_a_log_past_64_kib_is_read_in_its_encoding(tmp_path, encoding):
    """The encoding is decided on the file's start, cut inside a character: still right."""
    path = tmp_path / "console.log"
    text = "导出镜像，等待任务完成\n" * 7000 + f"job_id={HEX}\n"
    path.write_bytes(text.encode(encoding))
    assert path.stat().st_size > 1 << 16
    assert extract_job_ids(path) == [HEX]
