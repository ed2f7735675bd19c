"""Job id validation, extraction from free text, and normalisation."""

from __future__ import annotations

import pandas as pd
import pytest

from jobtools.errors import InvalidIdError
from jobtools.ids import (
    as_job_ids,
    extract_job_ids,
    job_ids_from_text,
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
        (f"{HEX}\n{UUID}\n{HEX}", [HEX, UUID]),
        (f"| {HEX} | SUCCESS |\n| {HEX2} | FAIL |", [HEX, HEX2]),
        (f"GET /v1/{PROJECT}/jobs/{HEX} 200", [HEX]),
        (f'{{"job_id": "{HEX}", "entities": {{"image_id": "{UUID}"}}}}', [HEX]),
        (f"request_id={HEX2} job_id={HEX}", [HEX]),
        (f"X-Request-Id: {HEX2}", []),
        (f"sha {HEX}{HEX}", []),
        (f"x{HEX}", []),
        (f"{UUID.upper()}", [UUID.upper()]),
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
        (f"| {HEX} | SUCCESS |\n| {UUID} | FAIL |\n", [HEX, UUID]),
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
