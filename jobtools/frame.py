"""Job records as typed DataFrames: the column contract every part of jobtools relies on.

`jobs_to_frame` turns job query responses into one row per record with the columns of
`JOB_COLUMNS`, in that order and with those dtypes. One odd record never breaks a batch:
missing fields are NaN, unknown top-level fields go to `extra`, a record that is not even
an object keeps its row (all NaN) with the raw value in `extra["_record"]`, and times that
fail to parse are NaT with the raw text kept in `frame.attrs["unparsed_times"]`.

Frames from the client add the fetch-outcome columns of `FETCH_COLUMNS`; `apply_schema`
casts any frame carrying these columns back to the contract (used by `read_jobs` on CSV).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobtools.schema import STATUS_ORDER, TERMINAL_STATUSES
from jobtools.times import TIME_DTYPE, parse_job_times

# column -> dtype; "category" columns are explained by STATUS_ORDER and OUTCOMES.
JOB_COLUMNS: dict[str, str] = {
    "job_id": "str",
    "job_type": "str",
    "status": "category",
    "begin_time": TIME_DTYPE,
    "end_time": TIME_DTYPE,
    "duration": "timedelta64[us]",
    "is_terminal": "bool",
    "error_code": "str",
    "fail_reason": "str",
    "image_id": "str",
    "image_name": "str",
    "current_task": "str",
    "process_percent": "float64",
    "entity_error_code": "str",
    "entity_error": "str",
    "sub_job_count": "Int64",
    "entities": "object",
    "extra": "object",
}

# The columns `fetch_jobs` adds after JOB_COLUMNS: how fetching each job id went.
FETCH_COLUMNS: dict[str, str] = {
    "outcome": "category",
    "http_status": "Int64",
    "fetch_error_code": "str",
    "fetch_error": "str",
    "request_id": "str",
    "raw_body": "str",
}

# The categories of `outcome`, in this order; unknown values follow as they came.
OUTCOMES: tuple[str, ...] = (
    "ok",
    "not_found",
    "auth",
    "forbidden",
    "throttled",
    "server_error",
    "timeout",
    "bad_body",
    "connection_error",
    "bad_request",
    "http_error",
    "mismatched_id",
    "too_large",
    "invalid_id",
    "client_error",
)

# The top-level fields of a job response; anything else goes to `extra`.
KNOWN_FIELDS = frozenset(
    {"status", "job_id", "job_type", "begin_time", "end_time", "error_code", "fail_reason"}
    | {"entities"}
)
# Where sub-jobs live: IMS `sub_jobs_result`, ECS/EVS `sub_jobs`.
SUB_JOB_KEYS = ("sub_jobs_result", "sub_jobs")

_TIME_COLUMNS = ("begin_time", "end_time")
_EMPTY: dict[str, Any] = {}


def jobs_to_frame(records: Any) -> pd.DataFrame:
    """Turn job query responses into the typed frame of `JOB_COLUMNS`.

    Args:
        records: a list of response dicts, one response dict, JSON text (or bytes) of either,
            or an object wrapping a list (e.g. `{"jobs": [...]}`).

    Returns:
        A new frame, one row per record, in input order with a RangeIndex. Its
        `attrs["unparsed_times"]` maps a time column to `{row label: raw value}` for the
        values that were present but not a job time (empty when all parsed).

    >>> frame = jobs_to_frame('{"job_id": "j1", "status": "SUCCESS", "entities": {"image_id": '
    ...     '"i1"}, "begin_time": "04-Jun-2015 18:11:06:586", "end_time": "2015-06-04T18:12:00Z"}')
    >>> frame.loc[0, ["job_id", "status", "image_id", "duration"]].tolist()
    ['j1', 'SUCCESS', 'i1', Timedelta('0 days 00:00:53.414000')]
    """
    rows = _as_records(records)
    return _build(rows)


def sub_jobs_to_frame(records: Any) -> pd.DataFrame:
    """The sub-jobs of jobs as their own frame: `parent_job_id`, then the `JOB_COLUMNS`.

    Sub-jobs are read from `entities.sub_jobs_result` (IMS) and `entities.sub_jobs` (ECS,
    EVS). Accepts what `jobs_to_frame` accepts, or a frame it made (its `entities` column).
    """
    if isinstance(records, pd.DataFrame):
        parents = records["job_id"].tolist()
        entities = records["entities"].tolist()
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


def apply_schema(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with every contract column present cast to its contract dtype.

    Columns of `JOB_COLUMNS` and `FETCH_COLUMNS` are cast; others are left alone. Used to
    restore a frame read back from text (CSV), where strings are all one can store.
    """
    out = frame.copy()
    schema = {**JOB_COLUMNS, **FETCH_COLUMNS}
    for column in out.columns.intersection(list(schema)):
        dtype = schema[column]
        values = out[column]
        if column == "status":
            out[column] = status_categorical(values)
        elif column == "outcome":
            out[column] = outcome_categorical(values)
        elif dtype == "str":
            out[column] = _str_column(values.tolist())
        elif dtype == "bool":
            out[column] = values.fillna(False).astype(bool)
        elif dtype == "object":
            out[column] = values.astype(object)
        else:
            out[column] = values.astype(cast(Any, dtype))
    return out


def status_categorical(values: Iterable[Any]) -> pd.Categorical:
    """Statuses as a categorical over STATUS_ORDER, unknown values appended as they came."""
    return _categorical(values, STATUS_ORDER)


def outcome_categorical(values: Iterable[Any]) -> pd.Categorical:
    """Fetch outcomes as a categorical over OUTCOMES, unknown values appended as they came."""
    return _categorical(values, OUTCOMES)


def _categorical(values: Iterable[Any], known: tuple[str, ...]) -> pd.Categorical:
    text = values if isinstance(values, pd.Series) else _str_column(list(values))
    strings = pa.array(text.astype("str").array)
    # Arrow's unique keeps the order of first appearance, which is the order unknowns follow.
    unknown = [v for v in pc.unique(strings).drop_null().to_pylist() if v not in known]
    categories = [*known, *unknown]
    codes = pc.fill_null(pc.index_in(strings, value_set=pa.array(categories, strings.type)), -1)
    codes_np = np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64)
    return pd.Categorical.from_codes(codes_np, categories=pd.Index(categories))


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


def _build(rows: list[Any]) -> pd.DataFrame:
    """Gather each column as a plain list (one pass per column), then type them all at once."""
    dicts = [r if type(r) is dict else _EMPTY for r in rows]
    ents = [r.get("entities") for r in dicts]
    edicts = [e if type(e) is dict else _EMPTY for e in ents]
    columns: dict[str, Any] = {name: [r.get(name) for r in dicts] for name in _TOP_LEVEL}
    columns |= {name: [e.get(key) for e in edicts] for name, key in _FROM_ENTITIES.items()}
    columns["entity_error"] = [e.get("error", e.get("errorcode_message")) for e in edicts]
    columns["sub_job_count"] = [_sub_job_count(e) if type(e) is dict else None for e in ents]
    columns["entities"] = ents
    columns["extra"] = [_extra(r, raw) for r, raw in zip(dicts, rows, strict=True)]
    return assemble_job_frame(columns)


# Top-level fields that are columns as they are, and entity keys that become columns.
_TOP_LEVEL = ("job_id", "job_type", "status", "begin_time", "end_time", "error_code", "fail_reason")
_FROM_ENTITIES = {
    "image_id": "image_id",
    "image_name": "image_name",
    "current_task": "current_task",
    "process_percent": "process_percent",
    "entity_error_code": "error_code",
}


def assemble_job_frame(columns: Mapping[str, Any]) -> pd.DataFrame:
    """Type raw columns into the `JOB_COLUMNS` frame (used by `jobs_to_frame` and `read_jobs`).

    `columns` maps every JOB_COLUMNS name except the derived `duration` and `is_terminal` to a
    list of raw values or an Arrow array (text as strings; `sub_job_count` as ints or None).
    """
    typed, unparsed = type_job_columns(columns)
    return finish_job_frame(typed, columns["entities"], columns["extra"], unparsed)


def type_job_columns(columns: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """All but the `entities` and `extra` columns typed, and the unparsed times by column.

    Split from `finish_job_frame` so that a reader can type these while it builds the dicts.
    """
    status = status_categorical(_str_column(columns["status"]))
    is_terminal = np.asarray(pd.Series(status).isin([str(s) for s in TERMINAL_STATUSES]))
    times: dict[str, pd.Series] = {}
    unparsed = {}
    for name in _TIME_COLUMNS:
        times[name] = parse_job_times(_text_or_object(columns[name]))
        if times[name].attrs["unparsed"]:
            unparsed[name] = times[name].attrs["unparsed"]
    duration = (times["end_time"] - times["begin_time"]).where(is_terminal)

    typed: dict[str, Any] = {}
    for name, dtype in JOB_COLUMNS.items():
        if name == "status":
            typed[name] = status
        elif name in times:
            typed[name] = times[name].array
        elif name == "duration":
            typed[name] = duration.astype("timedelta64[us]").array
        elif name == "is_terminal":
            typed[name] = is_terminal
        elif dtype == "str":
            typed[name] = _str_column(columns[name])
        elif name == "process_percent":
            typed[name] = _float_column(columns[name])
        elif name == "sub_job_count":
            typed[name] = pd.array(columns[name], dtype="Int64")
    return typed, unparsed


def finish_job_frame(
    typed: Mapping[str, Any], entities: Any, extra: Any, unparsed: dict[str, Any]
) -> pd.DataFrame:
    """The frame from typed columns plus the raw `entities` and `extra` values."""
    objects = {"entities": _object_column(entities), "extra": _object_column(extra)}
    frame = pd.DataFrame({name: typed.get(name, objects.get(name)) for name in JOB_COLUMNS})
    frame.attrs["unparsed_times"] = unparsed
    return frame


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
    total = entities.get("sub_jobs_total")
    return total if type(total) is int else 0


def _str_column(values: list[Any] | pa.Array) -> pd.Series:
    """A `str` column from a list; non-strings (a number, a dict) are kept as their text."""
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
    if isinstance(values, pa.Array | pa.ChunkedArray):
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
    objects = _object_column(values)
    return pd.to_numeric(objects, errors="coerce").to_numpy("float64")


def _object_column(values: list[Any] | np.ndarray) -> pd.Series:
    if isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1:
        return pd.Series(values, dtype=object, copy=False)
    # fromiter, not np.array: nested lists must stay elements, not become a second dimension;
    # dtype=object, or pandas would turn a column of only strings into `str`.
    return pd.Series(np.fromiter(values, dtype=object, count=len(values)), dtype=object)
