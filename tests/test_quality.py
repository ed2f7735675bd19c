from __future__ import annotations

import pandas as pd
import pytest

from jobtools import jobs_to_frame
from jobtools.analysis.quality import QUALITY_COLUMNS, begin_vs_id, time_quality
from jobtools.ids import make_job_id

NOW = "2024-11-06T12:00:00Z"


def job(job_id: str, status: str, begin: object, end: object) -> dict:
    return {
        "job_id": job_id,
        "job_type": "imsImportImageJob",
        "status": status,
        "begin_time": begin,
        "end_time": end,
    }


@pytest.mark.parametrize(
    ("record", "flagged"),
    [
        (job("ok", "SUCCESS", "2024-11-01T10:00:00Z", "2024-11-01T10:05:00Z"), set()),
        (job("running", "RUNNING", "2024-11-06T11:00:00Z", ""), set()),
        (job("no-end", "SUCCESS", "2024-11-01T10:00:00Z", ""), {"terminal_without_end"}),
        (job("fail-no-end", "FAIL", "2024-11-01T10:00:00Z", None), {"terminal_without_end"}),
        (
            job("backwards", "FAIL", "2024-11-01T10:05:00Z", "2024-11-01T10:00:00Z"),
            {"end_before_begin"},
        ),
        (job("bad-begin", "RUNNING", "32-Jun-2015 10:00:00:000", ""), {"unparsed_time"}),
        # A garbled end is reported as unparsed, not a second time as missing.
        (job("bad-end", "SUCCESS", "2024-11-01T10:00:00Z", "garbage"), {"unparsed_time"}),
        (job("future", "INIT", "2024-11-06T12:00:01Z", ""), {"begin_in_future"}),
        (job("legacy", "SUCCESS", "04-Jun-2015 18:11:06:586", "04-Jun-2015 18:12:00:000"), set()),
    ],
    ids=lambda value: value["job_id"] if isinstance(value, dict) else "",
)
def test_each_check_flags_its_case(record: dict, flagged: set[str]) -> None:
    """Each kind of doubtful time raises exactly its own flag."""
    flags = time_quality(jobs_to_frame([record]), now=NOW)
    assert tuple(flags.columns) == QUALITY_COLUMNS
    assert {name for name in QUALITY_COLUMNS if flags.loc[0, name]} == flagged


def test_flags_are_boolean_aligned_and_leave_the_frame_alone() -> None:
    """Flags are bool columns on the frame's index; the caller's frame is not changed."""
    frame = jobs_to_frame(
        [
            job("a", "SUCCESS", "2024-11-01T10:00:00Z", ""),
            job("b", "RUNNING", "oops", ""),
            job("c", "SUCCESS", "2024-11-01T10:00:00Z", "2024-11-01T10:01:00Z"),
        ]
    )
    before = frame.copy()
    part = frame.iloc[[2, 1]]  # filtered and reordered, attrs carried along
    flags = time_quality(part, now=NOW)
    assert flags.index.tolist() == [2, 1]
    assert all(dtype == "bool" for dtype in flags.dtypes)
    assert flags["unparsed_time"].tolist() == [False, True]
    assert time_quality(frame, now=NOW).sum().to_dict()["terminal_without_end"] == 1
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize(
    ("now", "tolerance", "expected"),
    [
        ("2024-11-06T11:59:00Z", "0s", True),
        ("2024-11-06T11:59:00Z", "5min", False),
        ("2024-11-06 20:00:00+08:00", "0s", False),  # the same moment as 12:00 UTC
        ("2024-11-06 11:00:00", "0s", True),  # naive means UTC
    ],
)
def test_future_check_uses_the_injected_now(now: str, tolerance: str, expected: bool) -> None:
    """`now` decides what is the future, in any zone; `tolerance` allows some clock skew."""
    frame = jobs_to_frame([job("x", "INIT", "2024-11-06T12:00:00Z", "")])
    assert time_quality(frame, now=now, tolerance=tolerance).loc[0, "begin_in_future"] == expected


def test_empty_frame_gives_empty_flags() -> None:
    """No rows, no flags, but the columns are there."""
    flags = time_quality(jobs_to_frame([]), now=NOW)
    assert flags.empty and tuple(flags.columns) == QUALITY_COLUMNS


# Real public examples against their ids (reference, "What public examples show"): the OTC
# IMS one agrees; OTC's volume-backup example writes a UTC+08:00 clock with `Z`; the BMS API
# reference's example had its year hand-edited (2016 in the id, 2019 in begin_time).
ID_CASES = [
    ("9a175ac89d2a5e14019d2cde77f03a0f", "2026-03-27T01:17:50.446Z", False, None),
    ("ff8080814dbd65d7014dbe0d84db0013", "04-Jun-2015 18:11:06:586", False, None),
    (
        make_job_id(1453968849.467, node=1, jvm=2, counter=3),
        "2016-01-28T16:14:09.466Z",
        True,
        "+08:00",
    ),
    ("2c9eb2c5544cbf6101544f0602af2b4f", "2019-04-25T20:04:34.604Z", True, None),
    ("not-a-hex-id", "2019-04-25T20:04:34.604Z", False, None),
]


@pytest.mark.parametrize(("job_id", "begin", "off", "hours"), ID_CASES)
def test_begin_time_against_the_id(job_id, begin, off, hours):
    """begin_time more than a minute from its id's time is flagged, a zone error named."""
    frame = jobs_to_frame([job(job_id, "RUNNING", begin, "")])
    flags = time_quality(frame, now=NOW.replace("2024", "2030"))
    assert flags.loc[0, "begin_off_id"] == off
    row = begin_vs_id(frame).iloc[0]
    assert (None if pd.isna(row["whole_hours"]) else row["whole_hours"]) == hours
    if off:
        assert flags.attrs["begin_off_id"] == {hours or "not whole hours": 1}


def test_begin_vs_id_without_created_at():
    """A frame without created_at (an old CSV) still gets the ids' times."""
    frame = jobs_to_frame([job(ID_CASES[2][0], "RUNNING", ID_CASES[2][1], "")])
    row = begin_vs_id(frame.drop(columns="created_at")).iloc[0]
    assert row["difference"] == pd.Timedelta(hours=8) - pd.Timedelta(milliseconds=1)
