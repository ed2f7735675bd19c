"""Job records as typed DataFrames: the column contract every part of jobtools relies on.

`jobs_to_frame` turns job query responses into one row per record with the columns of
`JOB_COLUMNS`, in that order and with those dtypes. One odd record never breaks a batch:
missing fields are NaN, unknown top-level fields go to `extra`, a record that is not even
an object keeps its row (all NaN) with the raw value in `extra["_record"]`, and times that
fail to parse are NaT with the raw text kept in `frame.attrs["unparsed_times"]`.

The columns, their dtypes and where each comes from are the table in `jobtools.schema`.
`entities` and `extra` are compact JSON text (a Python dict per row would cost more than all
the other columns together). `entities` leaves out the keys its columns hold whole (an image
id, once in the frame), and `entities_of(frame)` gives every row's entities back whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from jobtools.ids import job_id_times
from jobtools.schema import (
    COLUMNS,
    FETCH_COLUMNS,
    JOB_COLUMNS,
    KNOWN_FIELDS,
    OUTCOMES,
    RECORD_FIELDS,
    RESPONSE_KEYS,
    STATUS_ORDER,
    TERMINAL_STATUSES,
    Kind,
    categorical,
    column,
)
from jobtools.times import LegacyTz, ParsedTimes, decide_legacy_zone, iso_text, read_job_times

__all__ = [
    "FETCH_COLUMNS",
    "JOB_COLUMNS",
    "OUTCOMES",
    "decode_json",
    "entities_of",
    "frame_to_records",
    "jobs_to_frame",
    "sub_jobs_to_frame",
]

# Where sub-jobs live: IMS `sub_jobs_result`, ECS/EVS `sub_jobs`.
SUB_JOB_KEYS = ("sub_jobs_result", "sub_jobs")
# The entity keys naming what a job acts on, by service (reference, "Entities by service"):
# IMS image, ECS/BMS server (or NIC), EVS volume, volume backup, ELB, EIP; first found wins.
# A backup job names its volume too: the backup is what it makes, so it comes first.
RESOURCE_KEYS = (
    "image_id",
    "backup_id",
    "server_id",
    "volume_id",
    "elb_id",
    "nic_id",
    "publicip_id",
)
# SDRS names its protection group `server_group_id` (reference, "More services with this
# job API"): read after RESOURCE_KEYS. Apart from them only while the JSONL kernel's slots
# are fixed at build time (it reads RESOURCE_KEYS); it joins them when its tables are not.
LATE_RESOURCE_KEYS = ("server_group_id",)
# What `entity_error` is read from (IMS, then ECS), and the count given without the sub-jobs.
ERROR_KEYS = ("error", "errorcode_message")
TOTAL_KEY = "sub_jobs_total"
# Entity keys that become columns as they are, by column name (from the schema).
ENTITY_FIELDS: dict[str, str] = {
    c.name: c.key for c in COLUMNS if c.source == "entities" and c.key is not None
}
# The entity keys whose columns give them back whole (text as text, a float as a float): the
# `entities` column leaves them out when they open the object in this order, so the frame
# holds each value once (`split_entities`, and `entities_of` to put them back).
HELD_ENTITY_KEYS = tuple(ENTITY_FIELDS.values())
_HELD_COLUMN = {key: name for name, key in ENTITY_FIELDS.items()}

_TIME_COLUMNS = tuple(c.name for c in COLUMNS if c.kind is Kind.TIME and c.group == "job")
# The times read from the record (the others are derived: `created_at`, from the id).
_TIME_COLUMNS_READ = tuple(name for name in _TIME_COLUMNS if column(name).source == "record")
_EMPTY: dict[str, Any] = {}


def jobs_to_frame(records: Any, *, legacy_tz: LegacyTz | None = None) -> pd.DataFrame:
    """Turn job query responses into the typed frame of `JOB_COLUMNS`.

    Args:
        records: a list of response dicts, one response dict, JSON text (or bytes) of either,
            or an object wrapping a list (e.g. `{"jobs": [...]}`).
        legacy_tz: the zone of legacy-format times (`04-Jun-2015 18:11:06:586`), e.g.
            `"+08:00"` or `"UTC"`. By default the records' ids decide: the whole-hour offset
            between the legacy begin times and the creation times in their ids, when 90 % of
            them agree; otherwise UTC+08:00, the zone the seed's own example proves.

    Returns:
        A new frame, one row per record, in input order with a RangeIndex. Its
        `attrs["unparsed_times"]` maps a time column to `{row label: raw value}` for the
        values that were present but not a job time (empty when all parsed);
        `attrs["legacy_tz"]` says which zone legacy times were read in and why
        (`offset`, `decided_by` ids/default/override, and the evidence).

    >>> frame = jobs_to_frame('{"job_id": "ff8080814dbd65d7014dbe0d84db0013", "status": '
    ...     '"SUCCESS", "entities": {"image_id": "i1"}, "begin_time": "04-Jun-2015 18:11:06:586", '
    ...     '"end_time": "2015-06-04T10:12:00Z"}')
    >>> frame.loc[0, ["status", "resource_id", "duration"]].tolist()
    ['SUCCESS', 'i1', Timedelta('0 days 00:00:53.414000')]
    >>> str(frame.loc[0, "begin_time"]), str(frame.loc[0, "created_at"])
    ('2015-06-04 10:11:06.586000+00:00', '2015-06-04 10:11:06.587000+00:00')
    >>> frame.attrs["legacy_tz"]["offset"], frame.attrs["legacy_tz"]["decided_by"]
    ('+08:00', 'ids')
    """
    rows = _as_records(records)
    return _build(rows, legacy_tz)


def sub_jobs_to_frame(records: Any) -> pd.DataFrame:
    """The sub-jobs of jobs as their own frame: `parent_job_id`, then the `JOB_COLUMNS`.

    Sub-jobs are read from `entities.sub_jobs_result` (IMS) and `entities.sub_jobs` (ECS,
    EVS). Accepts what `jobs_to_frame` accepts, or a frame it made (its `entities` column).
    """
    if isinstance(records, pd.DataFrame):
        parents = records["job_id"].tolist()
        entities = entities_of(records).tolist()
    else:
        rows = _as_records(records)
        dicts = [r if type(r) is dict else _EMPTY for r in rows]
        parents = [r.get("job_id") for r in dicts]
        entities = [r.get("entities") for r in dicts]
    parent_ids: list[Any] = []
    subs: list[Any] = []
    for parent, ents in zip(parents, entities, strict=True):
        if not isinstance(ents, dict):
            continue
        for key in SUB_JOB_KEYS:
            found = ents.get(key)
            if isinstance(found, list):
                subs.extend(found)
                parent_ids.extend([parent] * len(found))
    frame = _build(subs)
    frame.insert(0, "parent_job_id", _str_column(parent_ids))
    return frame


def decode_json(values: pd.Series) -> pd.Series:
    """A JSON-text column (`extra`, `entities`) decoded: one Python value a row, None if missing.

    For whole entities, use `entities_of(frame)`: the `entities` column leaves out what the
    entity columns hold.

    >>> frame = jobs_to_frame({"job_id": "j1", "entities": {"image_id": "i1", "zone": "az1"}})
    >>> decode_json(frame["entities"]).tolist()
    [{'zone': 'az1'}]
    """
    loads = orjson.loads
    decoded = [None if v is None or v != v else loads(v) for v in values.astype(object).tolist()]
    return pd.Series(_objects(decoded), index=values.index, dtype=object)


def split_entities(entities: Any) -> Any:
    """The entities without the held keys that open them (in `HELD_ENTITY_KEYS` order, with
    values their columns give back whole): what the `entities` column holds.

    >>> split_entities({"image_id": "i1", "image_name": "n", "sub_jobs": [], "current_task": "t"})
    {'sub_jobs': [], 'current_task': 't'}
    """
    if type(entities) is not dict:
        return entities
    rest = dict(entities)
    last = -1
    for key, value in entities.items():
        rank = HELD_ENTITY_KEYS.index(key) if key in _HELD_COLUMN else -1
        kind = float if key == "process_percent" else str
        if rank <= last or type(value) is not kind:
            break
        del rest[key]
        last = rank
    return rest


def entities_of(frame: pd.DataFrame) -> pd.Series:
    """Each row's entities whole (None where the record had none): the `entities` column
    decoded, with the held keys its columns hold put back in front, as they came.

    >>> frame = jobs_to_frame({"job_id": "j1", "entities": {"image_id": "i1", "sub_jobs": []}})
    >>> frame.loc[0, "entities"], entities_of(frame).tolist()
    ('{"sub_jobs":[]}', [{'image_id': 'i1', 'sub_jobs': []}])
    """
    rests = decode_json(frame["entities"]).tolist()
    held = {key: _plain(frame[name]) for key, name in _HELD_COLUMN.items() if name in frame.columns}
    whole = []
    for i, rest in enumerate(rests):
        if type(rest) is dict:
            front = {k: values[i] for k, values in held.items() if values[i] is not None}
            rest = {k: v for k, v in front.items() if k not in rest} | rest
        whole.append(rest)
    return pd.Series(_objects(whole), index=frame.index, dtype=object)


def frame_to_records(frame: pd.DataFrame) -> list[Any]:
    """Rows of a job frame back as API-shaped records, which `jobs_to_frame` reads again.

    Times become ISO 8601 UTC text (`end_time` `""` while a job runs, as the API writes it);
    `entities` and the fields kept in `extra` come back as they were. Raw values of times
    that did not parse (`attrs["unparsed_times"]`) are written back as they came.
    """
    n = len(frame)
    unparsed = frame.attrs.get("unparsed_times", {})
    fields: dict[str, list[Any]] = {}
    for name in RECORD_FIELDS:
        if name not in frame:
            continue
        values = frame[name]
        if name in _TIME_COLUMNS:
            text = iso_text(values)
            for label, raw in unparsed.get(name, {}).items():
                if label in text.index and pd.isna(values.get(label)):
                    text[label] = raw if isinstance(raw, str) else orjson.dumps(raw).decode()
            values = text
        fields[name] = _plain(values)
    if "end_time" in fields:
        fields["end_time"] = ["" if v is None else v for v in fields["end_time"]]
    entities = entities_of(frame).tolist() if "entities" in frame else [None] * n
    extras = decode_json(frame["extra"]).tolist() if "extra" in frame else [None] * n
    records = []
    for i in range(n):
        extra = extras[i]
        record = {name: values[i] for name, values in fields.items()} | {"entities": entities[i]}
        record = {key: record[key] for key in RESPONSE_KEYS if key in record}
        if isinstance(extra, dict) and "_record" in extra:
            records.append(extra["_record"])  # a record that was not an object, as it came
            continue
        records.append(extra | record if isinstance(extra, dict) else record)
    return records


def _plain(values: pd.Series) -> list[Any]:
    """Plain Python values for JSON: None for missing."""
    objects = values.astype(object)
    return objects.where(values.notna(), None).tolist()


def _as_records(records: Any) -> list[Any]:
    """Normalise the accepted inputs to a list of records (dicts, or odd values kept)."""
    if isinstance(records, str | bytes | bytearray | memoryview):
        try:
            records = orjson.loads(records)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON job records: {exc}") from None
    if isinstance(records, Mapping):
        return [records] if _looks_like_job(records) else _unwrap(records)
    if isinstance(records, list):
        return records
    if isinstance(records, Iterable):
        return list(records)
    return [records]


def _looks_like_job(record: Mapping[str, Any]) -> bool:
    return any(key in record for key in KNOWN_FIELDS)


def _unwrap(record: Mapping[str, Any]) -> list[Any]:
    """An object that wraps exactly one list (e.g. `{"jobs": [...]}`) stands for that list."""
    lists = [value for value in record.values() if isinstance(value, list)]
    return lists[0] if len(lists) == 1 else [record]


def _build(rows: list[Any], legacy_tz: LegacyTz | None = None) -> pd.DataFrame:
    """Gather each column as a plain list (one pass per column), then type them all at once."""
    return assemble_job_frame(raw_job_columns(rows), legacy_tz=legacy_tz)


def raw_job_columns(rows: list[Any]) -> dict[str, list[Any]]:
    """The raw values of every column `assemble_job_frame` types, from parsed records."""
    dicts = [r if type(r) is dict else _EMPTY for r in rows]
    ents = [r.get("entities") for r in dicts]
    edicts = [
        _with_top_sub_jobs(r, e if type(e) is dict else _EMPTY)
        for r, e in zip(dicts, ents, strict=True)
    ]
    columns: dict[str, Any] = {name: [r.get(name) for r in dicts] for name in RECORD_FIELDS}
    columns |= {name: [e.get(key) for e in edicts] for name, key in ENTITY_FIELDS.items()}
    columns["entity_error"] = [_entity_error(e) for e in edicts]
    columns["resource_id"] = [_resource_id(e) for e in edicts]
    columns["sub_job_count"] = [
        _sub_job_count(m) if type(e) is dict or m is not _EMPTY else None
        for e, m in zip(ents, edicts, strict=True)
    ]
    columns["entities"] = _json_texts([split_entities(e) for e in ents])
    columns["extra"] = _json_texts([_extra(r, raw) for r, raw in zip(dicts, rows, strict=True)])
    return columns


def _with_top_sub_jobs(record: dict[str, Any], entities: dict[str, Any]) -> dict[str, Any]:
    """VBS documents `sub_jobs` at the top of the job, not in `entities` (reference, "More
    services with this job API"): the derived columns read them there too (`extra` keeps
    them as they came)."""
    top = record.get("sub_jobs")
    if type(top) is not list or any(key in entities for key in SUB_JOB_KEYS):
        return entities
    return {**entities, "sub_jobs": top}


def _entity_error(entities: dict[str, Any]) -> Any:
    """IMS `error`, ECS `errorcode_message`, else the first failed sub-job's message."""
    own, ecs = ERROR_KEYS
    found = entities.get(own, entities.get(ecs))
    if found is not None:
        return found
    for sub in _sub_jobs(entities):
        sub_entities = sub.get("entities")
        if type(sub_entities) is dict and sub_entities.get(ecs) is not None:
            return sub_entities[ecs]
    return None


def _resource_id(entities: dict[str, Any]) -> Any:
    """The job's own resource key; else its sub-jobs' resources, comma-separated."""
    for key in (*RESOURCE_KEYS, *LATE_RESOURCE_KEYS):
        value = entities.get(key)
        if value is not None and value != "":
            return value
    found = [
        _resource_id(s["entities"]) for s in _sub_jobs(entities) if type(s.get("entities")) is dict
    ]
    found = [str(value) for value in found if value is not None]
    return ",".join(found) if found else None


def _sub_jobs(entities: dict[str, Any]) -> list[dict[str, Any]]:
    for key in SUB_JOB_KEYS:
        found = entities.get(key)
        if isinstance(found, list):
            return [sub for sub in found if type(sub) is dict]
    return []


def assemble_job_frame(
    columns: Mapping[str, Any], *, legacy_tz: LegacyTz | None = None
) -> pd.DataFrame:
    """Type raw columns into the `JOB_COLUMNS` frame (used by `jobs_to_frame` and `read_jobs`).

    `columns` maps every non-derived JOB_COLUMNS name, plus `entity_error`, `resource_id` and
    `sub_job_count`, to a list of raw values or an Arrow array (text as strings; `entities`
    and `extra` as JSON text; `sub_job_count` as ints or None).
    """
    typed, attrs = type_job_columns(columns, legacy_tz=legacy_tz)
    frame = pd.DataFrame(typed)
    frame.attrs.update(attrs)
    return frame


def type_job_columns(
    columns: Mapping[str, Any],
    *,
    legacy_tz: LegacyTz | None = None,
    read: Mapping[str, ParsedTimes] | None = None,
    created: pd.Series | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every job column typed, in contract order, and the frame's attrs.

    The attrs are `unparsed_times` (raw values by column and row) and `legacy_tz` (the zone
    legacy times were read in, and why: see `jobs_to_frame`). `read` and `created` are the
    record's times and the id times when the caller has read them already (the JSONL kernel).
    """
    status = categorical(columns["status"], STATUS_ORDER)
    is_terminal = np.asarray(pd.Series(status).isin([str(s) for s in TERMINAL_STATUSES]))
    if created is None:
        created = job_id_times(_text_or_object(columns["job_id"]))
    if read is None:
        read = {name: read_job_times(_text_or_object(columns[name])) for name in _TIME_COLUMNS_READ}
    zone = decide_legacy_zone(
        read["begin_time"], created.dt.tz_localize(None).to_numpy("datetime64[us]"), legacy_tz
    )
    times: dict[str, pd.Series] = {"created_at": created}
    unparsed = {}
    for name, parsed in read.items():
        times[name] = parsed.to_utc(zone.offset)
        if parsed.unparsed:
            unparsed[name] = parsed.unparsed
    attrs = {"unparsed_times": unparsed, "legacy_tz": zone.as_attrs()}
    duration = (times["end_time"] - times["begin_time"]).where(is_terminal)
    duration = duration.astype("timedelta64[us]")

    typed: dict[str, Any] = {}
    for name in JOB_COLUMNS:
        kind = column(name).kind
        if name == "status":
            typed[name] = status
        elif name in times:
            typed[name] = times[name].array
        elif name == "duration":
            typed[name] = duration.array
        elif name == "duration_s":
            typed[name] = duration.dt.total_seconds().to_numpy("float64")
        elif name == "is_terminal":
            typed[name] = is_terminal
        elif kind is Kind.CATEGORY:
            typed[name] = categorical(columns[name], column(name).categories)
        elif kind in (Kind.TEXT, Kind.JSON):
            typed[name] = _str_column(columns[name]).array
        elif kind is Kind.FLOAT:
            typed[name] = _float_column(columns[name])
        elif kind is Kind.NULLABLE_INT:
            typed[name] = pd.array(columns[name], dtype="Int64")
    return typed, attrs


def _json_texts(values: list[Any]) -> list[str | None]:
    dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
    return [None if v is None else dumps(v, default=str, option=option).decode() for v in values]


def _extra(record: dict[str, Any], raw: Any) -> dict[str, Any] | None:
    if record is _EMPTY:
        # Not a JSON object at all: keep the value itself, so nothing is lost.
        return None if raw is None else {"_record": raw}
    if record.keys() <= KNOWN_FIELDS:
        return None
    return {key: value for key, value in record.items() if key not in KNOWN_FIELDS}


def _sub_job_count(entities: dict[str, Any]) -> int:
    for key in SUB_JOB_KEYS:
        found = entities.get(key)
        if isinstance(found, list):
            return len(found)
    total = entities.get(TOTAL_KEY)
    return total if type(total) is int else 0


def _str_column(values: list[Any] | pa.Array) -> pd.Series:
    """A `str` column from a list; non-strings (a number, a dict) are kept as their text."""
    if isinstance(values, pd.Series):
        return values if values.dtype == "str" else values.astype("str")
    if isinstance(values, pa.Array | pa.ChunkedArray):
        if values.type != pa.large_string():
            values = values.cast(pa.large_string())
        return pd.Series(pd.array(values, dtype="str"))
    try:
        array = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.Series(values, dtype=object).astype("str")
    return pd.Series(pd.array(array, dtype="str"))


def _text_or_object(values: list[Any] | pa.Array) -> pd.Series:
    """Strings as a fast `str` column; anything odd keeps its raw values in an object column."""
    if isinstance(values, pa.Array | pa.ChunkedArray | pd.Series):
        return _str_column(values)
    try:
        array = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.Series(values, dtype=object)
    return pd.Series(pd.array(array, dtype="str"))


def _float_column(values: list[Any] | pa.Array) -> np.ndarray:
    """A float column; anything that is not a number (a dict, "n/a") becomes NaN."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return np.asarray(values.cast(pa.float64()).to_numpy(zero_copy_only=False))
    try:
        out = np.array(values, dtype="float64")
        if out.shape == (len(values),):
            return out
    except (TypeError, ValueError):
        pass
    return pd.to_numeric(pd.Series(_objects(values)), errors="coerce").to_numpy("float64")


def _objects(values: list[Any]) -> np.ndarray:
    # fromiter, not np.array: nested lists must stay elements, not become a second dimension.
    return np.fromiter(values, dtype=object, count=len(values))
