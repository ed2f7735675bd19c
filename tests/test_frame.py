"""Tests for jobtools.frame: the column contract, odd records, sub-jobs."""

from __future__ import annotations

import json

import orjson
import pandas as pd
import pytest
from conftest import SEED as DOCUMENTED

import jobtools
from jobtools import FETCH_COLUMNS, JOB_COLUMNS, OUTCOMES, jobs_to_frame, sub_jobs_to_frame
from jobtools.frame import decode_json, entities_of
from jobtools.schema import STATUS_ORDER, cast_frame, categorical

# The documented example, ended ten minutes after it began.
SEED = {**DOCUMENTED, "end_time": "04-Jun-2015 18:21:06:586"}
FAILED = {
    "status": "FAIL",
    "job_id": "j-fail",
    "job_type": "imsImportImageJob",
    "begin_time": "2024-11-06T06:19:43.195Z",
    "end_time": "2024-11-06T14:29:43.195+08:00",
    "error_code": "IMG.0106",
    "fail_reason": "Failed to download the image file a.vhdx from OBS bucket b.",
    "entities": {"image_name": "web-001", "error_code": "IMG.0106", "error": "download"},
}
RUNNING = {
    "status": "RUNNING",
    "job_id": "j-run",
    "job_type": "imsNativeExportImageJob",
    "begin_time": "2024-11-06T06:19:43Z",
    "end_time": "",
    "entities": {"process_percent": 42.5, "current_task": "EXPORT_IMAGE"},
}


def assert_contract(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(JOB_COLUMNS)
    for column, dtype in JOB_COLUMNS.items():
        assert str(frame[column].dtype) == dtype, column
    assert list(frame["status"].cat.categories[: len(STATUS_ORDER)]) == list(STATUS_ORDER)
    assert isinstance(frame.index, pd.RangeIndex)


def test_seed_example_row():
    """The documented example becomes one fully typed row."""
    frame = jobs_to_frame([SEED, FAILED, RUNNING])
    assert_contract(frame)
    row = frame.iloc[0]
    assert row["job_id"] == SEED["job_id"]
    assert row["status"] == "SUCCESS" and row["is_terminal"]
    # The legacy format is UTC+08:00: the seed is 10:11:06.586Z, a millisecond before its id.
    assert row["begin_time"] == pd.Timestamp("2015-06-04 10:11:06.586", tz="UTC")
    assert row["created_at"] == pd.Timestamp("2015-06-04 10:11:06.587", tz="UTC")
    assert row["duration"] == pd.Timedelta(minutes=10)
    assert row["image_id"] == SEED["entities"]["image_id"]
    assert pd.isna(row["error_code"]) and row["sub_job_count"] == 0
    assert json.loads(row["entities"]) == {} and pd.isna(row["extra"])  # image_id: its column
    assert entities_of(frame)[0] == SEED["entities"]
    assert frame.attrs["unparsed_times"] == {}


def test_failed_and_running_rows():
    """Failures carry codes and reasons; a running job has NaT end and duration, progress."""
    frame = jobs_to_frame([FAILED, RUNNING])
    failed, running = frame.iloc[0], frame.iloc[1]
    assert failed["duration"] == pd.Timedelta(minutes=10)
    assert failed["error_code"] == failed["entity_error_code"] == "IMG.0106"
    assert failed["entity_error"] == "download" and failed["image_name"] == "web-001"
    assert pd.isna(running["end_time"]) and pd.isna(running["duration"])
    assert not running["is_terminal"]
    assert running["process_percent"] == 42.5 and running["current_task"] == "EXPORT_IMAGE"


@pytest.mark.parametrize(
    "records",
    [
        [SEED],
        SEED,
        json.dumps(SEED),
        json.dumps([SEED]),
        json.dumps(SEED).encode(),
        json.dumps({"jobs": [SEED]}),
        {"jobs": [SEED], "count": 1},
        (record for record in [SEED]),
    ],
)
def test_accepted_inputs(records):
    """A list, one dict, JSON text or bytes, or an object wrapping a list give the same row."""
    frame = jobs_to_frame(records)
    assert_contract(frame)
    assert frame["job_id"].tolist() == [SEED["job_id"]]


def test_invalid_json_text_is_a_clear_error():
    """Text that is not JSON raises ValueError, not a decoder internals error."""
    with pytest.raises(ValueError, match="not valid JSON"):
        jobs_to_frame("{not json")


@pytest.mark.parametrize("records", [[], "[]", {"jobs": []}])
def test_empty_input_keeps_the_contract(records):
    """No records still gives every column with its dtype."""
    frame = jobs_to_frame(records)
    assert_contract(frame)
    assert len(frame) == 0


def test_every_field_missing():
    """An empty record is a row of NaN, not an error, and its neighbours are untouched."""
    frame = jobs_to_frame([{}, SEED])
    assert_contract(frame)
    row = frame.iloc[0]
    for column in ("job_id", "job_type", "status", "begin_time", "end_time", "image_id"):
        assert pd.isna(row[column]), column
    assert not row["is_terminal"] and pd.isna(row["sub_job_count"])
    assert pd.isna(row["entities"]) and pd.isna(row["extra"])
    assert frame.iloc[1]["job_id"] == SEED["job_id"]


def test_unknown_fields_go_to_extra():
    """Unknown top-level fields are kept in `extra`; unknown entity keys stay in `entities`."""
    record = {**SEED, "code": "Ecs.0114", "message": "x", "entities": {"server_id": "s1"}}
    row = jobs_to_frame([record]).iloc[0]
    assert json.loads(row["extra"]) == {"code": "Ecs.0114", "message": "x"}
    assert json.loads(row["entities"]) == {"server_id": "s1"}


@pytest.mark.parametrize("odd", [42, "text", ["a"], 1.5, True])
def test_non_object_records_keep_their_row(odd):
    """A record that is not an object still gets a row, its value kept in extra."""
    frame = jobs_to_frame([SEED, odd])
    assert_contract(frame)
    assert len(frame) == 2
    assert decode_json(frame["extra"])[1] == {"_record": odd}


def test_unknown_status_is_kept_as_a_category():
    """Unknown statuses follow the documented ones, in order of appearance."""
    records = [{**SEED, "status": "QUEUED"}, {**SEED, "status": "success"}, SEED, {}]
    frame = jobs_to_frame(records)
    assert list(frame["status"].cat.categories) == [*STATUS_ORDER, "QUEUED", "success"]
    assert frame["status"].tolist()[:3] == ["QUEUED", "success", "SUCCESS"]
    assert frame["is_terminal"].tolist() == [False, False, True, False]


@pytest.mark.parametrize("bad", [{"t": 1}, 1433441466, ["x"], "32-Jun-2015 10:00:00:000"])
def test_unparseable_time_is_nat_and_reported(bad):
    """A dict, number or impossible date in a time field is NaT, kept in attrs by row."""
    frame = jobs_to_frame([SEED, {**SEED, "begin_time": bad}])
    assert_contract(frame)
    assert pd.isna(frame.loc[1, "begin_time"]) and pd.isna(frame.loc[1, "duration"])
    assert frame.attrs["unparsed_times"] == {"begin_time": {1: bad}}


@pytest.mark.parametrize(
    ("field", "value"),
    [("job_id", 12345), ("job_type", {"a": 1}), ("error_code", 7), ("fail_reason", ["x"])],
)
def test_odd_types_in_text_fields_become_text(field, value):
    """A number or dict where text belongs is kept as its text; the batch still builds."""
    frame = jobs_to_frame([SEED, {**SEED, field: value}])
    assert_contract(frame)
    assert frame.loc[1, field] == str(value)


@pytest.mark.parametrize(
    ("entities", "percent", "count"),
    [
        (None, float("nan"), None),
        ("oops", float("nan"), None),
        ([1, 2], float("nan"), None),
        ({"process_percent": "55.5"}, 55.5, 0),
        ({"process_percent": {"x": 1}}, float("nan"), 0),
        ({"process_percent": "n/a"}, float("nan"), 0),
        ({"sub_jobs_total": 3}, float("nan"), 3),
        ({"sub_jobs": [{}, {}]}, float("nan"), 2),
    ],
)
def test_odd_entities(entities, percent, count):
    """Entities of any shape are kept raw; the flattened columns take what fits."""
    frame = jobs_to_frame([{**SEED, "entities": entities}])
    assert_contract(frame)
    row = frame.iloc[0]
    assert entities_of(frame)[0] == entities
    assert row["process_percent"] == percent or (
        pd.isna(percent) and pd.isna(row["process_percent"])
    )
    assert (pd.isna(row["sub_job_count"]) and count is None) or row["sub_job_count"] == count


def test_ecs_errorcode_message_fills_entity_error():
    """ECS sub-job entities carry `errorcode_message`; it lands in `entity_error`."""
    frame = jobs_to_frame([{**SEED, "entities": {"errorcode_message": "disk quota"}}])
    assert frame.loc[0, "entity_error"] == "disk quota"


def test_does_not_mutate_input():
    """The caller's records are left as they were."""
    records = [dict(SEED), {**FAILED, "x": 1}]
    before = json.dumps(records, sort_keys=True)
    jobs_to_frame(records)
    assert json.dumps(records, sort_keys=True) == before


def _with_sub_jobs() -> list[dict]:
    ims = {
        **SEED,
        "job_id": "parent-ims",
        "entities": {
            "sub_jobs_result": [
                {**FAILED, "job_id": "sub-1"},
                {**SEED, "job_id": "sub-2", "entities": {"image_id": "i2", "image_name": "n2"}},
            ],
            "sub_jobs_list": ["sub-1", "sub-2"],
        },
    }
    ecs = {**SEED, "job_id": "parent-ecs", "entities": {"sub_jobs": [{**RUNNING, "job_id": "e1"}]}}
    return [ims, ecs, SEED, {**SEED, "entities": {"sub_jobs_result": "broken"}}, 42]


@pytest.mark.parametrize("as_frame", [False, True])
def test_sub_jobs_to_frame(as_frame):
    """IMS sub_jobs_result and ECS sub_jobs become rows tied to their parent."""
    records = _with_sub_jobs()
    source = jobs_to_frame(records) if as_frame else records
    subs = sub_jobs_to_frame(source)
    assert list(subs.columns) == ["parent_job_id", *JOB_COLUMNS]
    assert str(subs["parent_job_id"].dtype) == "str"
    assert subs["parent_job_id"].tolist() == ["parent-ims", "parent-ims", "parent-ecs"]
    assert subs["job_id"].tolist() == ["sub-1", "sub-2", "e1"]
    assert subs["status"].tolist() == ["FAIL", "SUCCESS", "RUNNING"]
    assert subs.loc[1, "image_name"] == "n2"
    assert jobs_to_frame(records)["sub_job_count"].tolist()[:3] == [2, 1, 0]


def test_sub_jobs_of_nothing():
    """Jobs without sub-jobs give an empty frame that still has the columns."""
    subs = sub_jobs_to_frame([SEED])
    assert len(subs) == 0 and list(subs.columns) == ["parent_job_id", *JOB_COLUMNS]


def test_cast_frame_restores_text_columns():
    """A frame of plain text is cast back to the contract, fetch columns included."""
    typed = jobs_to_frame([SEED, FAILED, RUNNING])
    typed["outcome"] = categorical(["ok", "ok", "weird"], OUTCOMES)
    typed["http_status"] = pd.array([200, 200, None], dtype="Int64")
    for column in ("fetch_error_code", "fetch_error", "request_id", "raw_body"):
        typed[column] = pd.array([None, "x", None], dtype="str")
    as_text = typed.astype(object)
    restored = cast_frame(as_text)
    for column, dtype in {**JOB_COLUMNS, **FETCH_COLUMNS}.items():
        assert str(restored[column].dtype) == dtype, column
    assert list(restored["outcome"].cat.categories) == [*OUTCOMES, "weird"]
    assert as_text["status"].dtype == object  # the input is not changed


def test_status_categorical_keeps_order():
    """Known statuses come first in the documented order, then unknown ones."""
    cat = categorical(["X", "FAIL", None, "INIT"], STATUS_ORDER)
    assert list(cat.categories) == [*STATUS_ORDER, "X"]
    assert pd.isna(cat[2])


# --- real-shaped records of each service (reference, "What public examples show") ---------

_UUID = "bae51750-0089-41a1-9b18-5c777978ff6d"
# The OTC volume-backup example gives no job id: this one holds the time it would (08:14Z).
_BACKUP_ID = "ff80808152868b3b0152874bfa3b0001"


def _record(job_id, job_type, begin, entities, status="SUCCESS", **fields):
    return {
        "status": status,
        "entities": entities,
        "job_id": job_id,
        "job_type": job_type,
        "begin_time": begin,
        "end_time": fields.pop("end_time", ""),
        "error_code": fields.pop("error_code", None),
        "fail_reason": fields.pop("fail_reason", None),
        **fields,
    }


def _sub(job_id, entities, status="SUCCESS", job_type="createSingleServer"):
    return _record(job_id, job_type, "2022-02-17T05:41:55.500Z", entities, status=status)


# (service, record, resource_id, entity_error, created_at)
REAL_RECORDS = [
    ("ims seed", SEED, SEED["entities"]["image_id"], None, "2015-06-04T10:11:06.587Z"),
    (
        "ims otc",
        _record(
            "9a175ac89d2a5e14019d2cde77f03a0f",
            "imsNativeExportImageJob",
            "2026-03-27T01:17:50.446Z",
            {"image_id": _UUID, "process_percent": 0.4, "current_task": "EXPORT_IMAGE"},
            status="RUNNING",
        ),
        _UUID,
        None,
        "2026-03-27T01:17:50.448Z",
    ),
    (
        "evs",
        _record(
            "ff8080817aa5637b017ac7d6ca9005d5",
            "createVolume",
            "2021-07-21T06:53:00.431Z",
            {"volume_id": _UUID, "volume_type": "SSD", "size": 10, "name": "v1"},
        ),
        _UUID,
        None,
        "2021-07-21T06:53:00.432Z",
    ),
    (
        "ecs failed",
        _record(
            "ff8080827e7810fb017f06338a731328",
            "createServer",
            "2022-02-17T05:41:55.441Z",
            {
                "sub_jobs_total": 1,
                "sub_jobs": [
                    _sub(
                        "ff8080827e7810fb017f06338b201329",
                        {"server_id": "", "errorcode_message": "Insufficient EIP quota."},
                        status="FAIL",
                    )
                ],
            },
            status="FAIL",
            error_code="Ecs.0013",
            fail_reason="Insufficient EIP quota.",
        ),
        None,
        "Insufficient EIP quota.",
        "2022-02-17T05:41:55.443Z",
    ),
    (
        "bms doc",
        _record(
            "2c9eb2c5544cbf6101544f0602af2b4f",
            "baremetalBatchCreate",
            "2019-04-25T20:04:34.604Z",
            {
                "sub_jobs_total": 1,
                "sub_jobs": [
                    _sub(
                        "2c9eb2c5544cbf6101544f0635672b60",
                        {"server_id": _UUID},
                        job_type="baremetalSingleCreate",
                    )
                ],
            },
            end_time="2019-04-25T20:08:41.593Z",
        ),
        _UUID,
        None,
        "2016-04-25T20:04:34.607Z",
    ),
    (
        "volume backup",
        _record(
            _BACKUP_ID,
            "bksCreateBackup",
            "2016-01-28T16:14:09.466Z",
            {"backup_id": _UUID, "snapshot_id": "s-1", "volume_id": "v-1"},
        ),
        _UUID,
        None,
        "2016-01-28T08:14:09.467Z",
    ),
    (
        "eip",
        _record(
            "ff8080827e7810fb017f06338a731400",
            "batchCreatePublicips",
            "2022-02-17T05:41:55.600Z",
            {"sub_jobs": [_sub("ff8080827e7810fb017f06338a731401", {"publicip_id": _UUID})]},
        ),
        _UUID,
        None,
        "2022-02-17T05:41:55.443Z",
    ),
    (
        "elb",
        _record(
            "ff8080827e7810fb017f06338a731500",
            "createLoadbalancer",
            "2022-02-17T05:41:55.440Z",
            {"elb_id": _UUID},
        ),
        _UUID,
        None,
        "2022-02-17T05:41:55.443Z",
    ),
    (
        "ecs unpaid",
        _record(
            "ff8080827e7810fb017f06338a731600",
            "createServer",
            "2022-02-17T05:41:55.440Z",
            {},
            status="PENDING_PAYMENT",
        ),
        None,
        None,
        "2022-02-17T05:41:55.443Z",
    ),
]


@pytest.mark.parametrize(
    ("record", "resource_id", "entity_error", "created_at"),
    [case[1:] for case in REAL_RECORDS],
    ids=[case[0] for case in REAL_RECORDS],
)
def test_real_records_of_each_service(record, resource_id, entity_error, created_at):
    """Each service's real record shape gives its resource, its error and the id's time."""
    row = jobs_to_frame([record]).iloc[0]
    assert (None if pd.isna(row["resource_id"]) else row["resource_id"]) == resource_id
    assert (None if pd.isna(row["entity_error"]) else row["entity_error"]) == entity_error
    assert row["created_at"] == pd.Timestamp(created_at)
    assert entities_of(jobs_to_frame([record]))[0] == record["entities"]  # lossless


@pytest.mark.parametrize("engine", ["kernel", "python"])
def test_real_records_fast_path_matches(tmp_path, engine):
    """Both JSONL engines give the same created_at, resource_id and entity_error."""
    records = [case[1] for case in REAL_RECORDS]
    path = tmp_path / "real.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    read = jobtools.read_jobs(path, engine=engine)
    built = jobs_to_frame(records)
    for name in ("created_at", "resource_id", "entity_error", "begin_time"):
        pd.testing.assert_series_equal(read[name], built[name], check_names=False)
    assert read.attrs["legacy_tz"] == built.attrs["legacy_tz"]


@pytest.mark.parametrize(
    ("legacy_tz", "begin"),
    [(None, "2015-06-04T10:11:06.586Z"), ("UTC", "2015-06-04T18:11:06.586Z")],
)
def test_seed_begin_time_and_the_zone_record(legacy_tz, begin):
    """The seed reads 10:11:06.586Z by the ids' evidence; `legacy_tz=` overrides it."""
    frame = jobs_to_frame([SEED], legacy_tz=legacy_tz)
    assert frame.loc[0, "begin_time"] == pd.Timestamp(begin)
    expected = "ids" if legacy_tz is None else "override"
    assert frame.attrs["legacy_tz"]["decided_by"] == expected
    assert frame.attrs["legacy_tz"]["seen"] == {"+08:00": 1}


@pytest.mark.parametrize(
    "entities",
    [
        {"image_id": "i1"},
        {"image_id": "i1", "image_name": "n", "current_task": "t", "process_percent": 0.5},
        {"image_name": "n", "image_id": "i1"},  # out of the held order: image_id stays
        {"sub_jobs_result": [], "image_id": "i1"},  # not at the start: stays
        {"image_id": 5, "image_name": "n"},  # not text: stays, and so does what follows
        {"process_percent": 1, "error_code": "E"},  # an int: its column gives back 1.0
        {"process_percent": 0.25, "error_code": "IMG.0001", "x": None},
        {"image_id": None},
        {"image_id": ""},
        {},
        [1, 2],
        "text",
        None,
    ],
)
def test_entities_come_back_whole_in_their_order(entities):
    """The `entities` column leaves held keys out; entities_of gives the record's back exactly."""
    frame = jobs_to_frame([{**SEED, "entities": entities}])
    whole = entities_of(frame)[0]
    assert whole == entities
    if isinstance(entities, dict):
        assert list(whole) == list(entities)
        assert orjson.dumps(whole) == orjson.dumps(entities)
