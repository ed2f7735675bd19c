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

import concurrent.futures
import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobtools.ids import job_id_times
from jobtools.schema import (
    COLUMNS,
    FETCH_COLUMNS,
    JOB_COLUMNS,
    KNOWN_FIELDS,
    OUTCOMES,
    RECORD_FIELDS,
    RESPONSE_KEYS,
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
# IMS image, ECS/BMS server (or NIC), EVS volume, volume backup, ELB, EIP, SDRS protection
# group (`server_group_id`: reference, "More services with this job API"); first found wins.
# A backup job names its volume too: the backup is what it makes, so it comes first.
RESOURCE_KEYS = (
    "image_id",
    "backup_id",
    "server_id",
    "volume_id",
    "elb_id",
    "nic_id",
    "publicip_id",
    "server_group_id",
)
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
_HELD_RANK = {key: rank for rank, key in enumerate(HELD_ENTITY_KEYS)}
_HELD_TYPE = {key: float if key == "process_percent" else str for key in HELD_ENTITY_KEYS}

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
    cut = _held_prefix(entities)
    if not cut:
        return entities  # nothing to cut (the common case, decided without a copy)
    if cut == len(entities):
        return {}  # all cut (as common): no walk over them again
    return dict(itertools.islice(entities.items(), cut, None))


def _held_prefix(entities: dict[str, Any]) -> int:
    """How many keys `split_entities` cuts from the front of an entities object."""
    last = -1
    cut = 0
    for key, value in entities.items():
        rank = _HELD_RANK.get(key, -1)
        if rank <= last or type(value) is not _HELD_TYPE[key]:
            break
        last = rank
        cut += 1
    return cut


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
    """The frame of parsed records: their raw values gathered, then typed by the rules."""
    return frame_from_raw(raw_from_records(rows), legacy_tz=legacy_tz)


# --- the raw values, and every derived column's rule ------------------------------------------
# Every reader gathers the same raw values (`RawJobs`): `raw_from_records` from parsed records
# (jobs_to_frame, the JSONL reader's Python engine and odd lines), the compiled scanner from
# JSONL bytes (`jobtools.io._scan`). `frame_from_raw` types them and derives every other
# column, vectorised, for all of them: each derived column's rule is written once, below.
# A new rule reads the slots it needs (add a key to the tuples above and it is followed by
# every reader, the scanner included), and is called in `frame_from_raw`.

# The kinds of JSON value (the scanner uses the same numbers).
ABSENT, NULL, STRING, INT, FLOAT, BOOL, OBJECT, ARRAY = range(8)
_KIND_OF: dict[type, int] = {
    type(None): NULL,
    str: STRING,
    int: INT,
    float: FLOAT,
    bool: BOOL,
    dict: OBJECT,
    list: ARRAY,
}
# The entity keys whose values the rules read as text (`entities.<key>` slots), and those
# whose kind they read (with "entities" itself, and the sub-job lists, whose length counts).
ENTITY_TEXT_KEYS = tuple(
    dict.fromkeys((*RESOURCE_KEYS, *ENTITY_FIELDS.values(), *ERROR_KEYS, TOTAL_KEY))
)
ENTITY_KIND_KEYS = (ERROR_KEYS[0], TOTAL_KEY, *SUB_JOB_KEYS)


class _Missing:
    """The type of `_MISSING`: its kind is ABSENT (so kinds are read by type, in C)."""


_MISSING: Any = _Missing()
_KIND_OF[_Missing] = ABSENT


def slot(key: str) -> str:
    """The name of the slot of an entity key: `entities.<key>`."""
    return f"entities.{key}"


# How `RawJobs.put` may put text into a column in place: (name, column, new values) -> the
# column with them, or None.
TextPut = Callable[[str, Any, Any], Any]


@dataclass
class RawJobs:
    """The raw values of job records, column by column, as every reader gathers them.

    `text`: by slot (each record field, `entities.<key>` for ENTITY_TEXT_KEYS), the value as
    text: a string as it is, anything else as Python's `str` of it; null when absent or
    null. `kind`: by slot ("entities", `entities.<key>` for ENTITY_KIND_KEYS), the kind of
    the value (ABSENT ... ARRAY); `items`: by sub-job list key, its length (0 unless a list).
    `entities` and `extra`: the JSON text of those columns. `sub_jobs`: by row, the sub-job
    list the rules follow (the first of SUB_JOB_KEYS that is a list), where it has items: the
    list, or its JSON bytes. `odd`: by time field, the raw values that are not text.
    """

    n: int
    text: dict[str, Any]
    kind: dict[str, np.ndarray]
    items: dict[str, np.ndarray]
    entities: Any
    extra: Any
    sub_jobs: dict[int, Any] = field(default_factory=dict)
    odd: dict[str, dict[int, Any]] = field(default_factory=dict)

    def take(self, order: np.ndarray) -> RawJobs:
        """The rows in `order` (row i of the result is row order[i] here). Consumes this
        one's text columns, each let go as soon as it is copied (so that memory holds one
        column twice at most, not all)."""
        where = np.full(self.n, -1, dtype=np.int64)  # -1: a row left out
        where[order] = np.arange(len(order))
        index = pa.array(order)
        text = {name: _taken(self.text.pop(name), index) for name in list(self.text)}
        return RawJobs(
            len(order),
            text,
            {name: values[order] for name, values in self.kind.items()},
            {name: values[order] for name, values in self.items.items()},
            _taken(self.entities, index),
            _taken(self.extra, index),
            {int(where[row]): v for row, v in self.sub_jobs.items() if where[row] >= 0},
            {
                name: {int(where[row]): v for row, v in values.items() if where[row] >= 0}
                for name, values in self.odd.items()
            },
        )

    def put(self, rows: np.ndarray, other: RawJobs, in_place: TextPut | None = None) -> RawJobs:
        """These rows with `rows` (rows with no values yet, in order) holding the rows of
        `other`: one copy of each column that gets a value, no reorder. `in_place(name,
        mine, theirs)`: a text column with the values put in without a copy (`_scan.put`),
        or None where it cannot (then copied)."""
        mask = np.zeros(self.n, dtype=bool)
        mask[rows] = True
        where = pa.array(mask)

        def put_text(name: str, mine: Any, theirs: Any) -> Any:
            if isinstance(theirs, pa.ChunkedArray):
                theirs = theirs.combine_chunks()
            theirs = theirs.cast(pa.large_string())
            if theirs.null_count == len(theirs):
                return mine  # the rows are null already
            if in_place is not None and (put := in_place(name, mine, theirs)) is not None:
                return put
            if isinstance(mine, pa.ChunkedArray):
                mine = mine.combine_chunks()
            return pc.replace_with_mask(mine, where, theirs.cast(mine.type))

        def put_values(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
            out = mine.copy()
            out[rows] = theirs
            return out

        at = rows.tolist()
        return RawJobs(
            self.n,
            {name: put_text(name, mine, other.text[name]) for name, mine in self.text.items()},
            {name: put_values(values, other.kind[name]) for name, values in self.kind.items()},
            {name: put_values(values, other.items[name]) for name, values in self.items.items()},
            put_text("entities", self.entities, other.entities),
            put_text("extra", self.extra, other.extra),
            self.sub_jobs | {at[row]: v for row, v in other.sub_jobs.items()},
            {
                name: self.odd.get(name, {})
                | {at[row]: v for row, v in other.odd.get(name, {}).items()}
                for name in {*self.odd, *other.odd}
            },
        )

    @classmethod
    def concat(cls, parts: list[RawJobs]) -> RawJobs:
        """The parts' rows one after another (their text stays in its chunks)."""
        starts = np.cumsum([0, *(part.n for part in parts)])
        sub_jobs: dict[int, Any] = {}
        odd: dict[str, dict[int, Any]] = {}
        for start, part in zip(starts.tolist(), parts, strict=False):
            rows = np.fromiter(part.sub_jobs, dtype=np.int64, count=len(part.sub_jobs)) + start
            sub_jobs.update(zip(rows.tolist(), part.sub_jobs.values(), strict=True))
            for name, values in part.odd.items():
                odd.setdefault(name, {}).update({start + row: v for row, v in values.items()})
        first = parts[0]
        return cls(
            int(starts[-1]),
            {name: _chunked([p.text[name] for p in parts]) for name in first.text},
            {name: np.concatenate([p.kind[name] for p in parts]) for name in first.kind},
            {name: np.concatenate([p.items[name] for p in parts]) for name in first.items},
            _chunked([p.entities for p in parts]),
            _chunked([p.extra for p in parts]),
            sub_jobs,
            odd,
        )


def _taken(values: Any, index: pa.Array) -> pa.Array:
    # Joined first: Arrow's take over many chunks finds each row's chunk one by one, several
    # times slower than one copy and a take over a single array.
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.take(index)


def _chunked(arrays: list[Any]) -> pa.ChunkedArray:
    chunks = [c for a in arrays for c in (a.chunks if isinstance(a, pa.ChunkedArray) else [a])]
    return pa.chunked_array(chunks, pa.large_string())


def raw_from_records(rows: list[Any]) -> RawJobs:
    """The raw values of parsed records (a record that is no object: all absent, kept whole
    in `extra["_record"]`).

    The Python engine's hot path, so it works a column at a time in C-level passes (Arrow
    converts the text fields straight from the dicts), and a row at a time only for what
    needs Python: each value's kind, the entities' JSON text, the odd row's `extra`."""
    n = len(rows)
    dicts = rows if set(map(type, rows)) <= {dict} else [_as_dict(r) for r in rows]
    ents: list[Any] = list(map(dict.get, dicts, itertools.repeat("entities"), _MISSINGS))
    edicts: list[dict[str, Any]]
    if set(map(type, ents)) == {dict}:
        edicts = list(ents)  # (a copy: rows with top-level sub-jobs get their own below)
    else:
        edicts = [e if type(e) is dict else _EMPTY for e in ents]
    extra: list[Any] | None = None
    for row in _rows_with_extra(rows, dicts):
        extra = extra or [None] * n
        extra[row] = _extra(dicts[row], rows[row])
        edicts[row] = _with_top_sub_jobs(dicts[row], edicts[row])
    text: dict[str, Any] = {}
    odd: dict[str, dict[int, Any]] = {}
    for name, (values, others) in _text_columns(dicts, RECORD_FIELDS).items():
        text[name] = values
        if others and name in _TIME_COLUMNS_READ:
            odd[name] = others
    # Most records' entities are an image id and nothing else: those rows' entity values
    # are known from it (every other key absent; `split_entities` cuts it whole), so the
    # passes key by key go over the other rows only (`rest`) and are spread back.
    ids = list(map(dict.get, edicts, itertools.repeat(_LONE)))
    lone = np.fromiter(map(len, edicts), dtype=np.int64, count=n) == 1
    lone &= np.fromiter(map(operator.is_, map(type, ids), _STRS), dtype=bool, count=n)
    rest = np.flatnonzero(~lone)
    others = edicts if len(rest) == n else list(map(edicts.__getitem__, rest.tolist()))
    spread = _Spread(rest, n)
    # Keys no record has are all absent: no pass over the records for them.
    present: set[str] = set().union(*others) | ({_LONE} if len(rest) < n else set())
    followed = _text_columns(
        others, [key for key in ENTITY_TEXT_KEYS if key in present and key != _LONE]
    )
    for key in ENTITY_TEXT_KEYS:
        if key == _LONE and key in present:
            text[slot(key)] = _texts(ids)[0]
        else:
            text[slot(key)] = spread.text(followed[key][0]) if key in followed else _nulls(n)
    kind = {"entities": _kinds(ents)}
    items: dict[str, np.ndarray] = {}
    for key in ENTITY_KIND_KEYS:  # (the lone key is not among them: its rows have none)
        kind[slot(key)] = np.zeros(n, dtype=np.int8)
        if key in present:
            kind[slot(key)][rest] = _kinds(map(dict.get, others, itertools.repeat(key), _MISSINGS))
        if key in SUB_JOB_KEYS:
            items[key] = np.zeros(n, dtype=np.int64)
            lists = np.flatnonzero(kind[slot(key)] == ARRAY).tolist()
            items[key][lists] = [len(edicts[row][key]) for row in lists]
    sub_jobs = {row: edicts[row][key] for row, key in _sub_job_rows(kind, items).items()}
    extras = _nulls(n) if extra is None else _strings(_json_texts(extra))
    rest_ents = ents if len(rest) == n else list(map(ents.__getitem__, rest.tolist()))
    entities = spread.entities(_entity_texts(rest_ents))
    return RawJobs(n, text, kind, items, entities, extras, sub_jobs, odd)


# The entity key that, alone in the entities, makes most records' (a text image id).
_LONE = HELD_ENTITY_KEYS[0]
_STRS = itertools.repeat(str)


class _Spread:
    """Values of the rows `rest` (of `n`) spread to all `n` rows: the others' are known."""

    def __init__(self, rest: np.ndarray, n: int) -> None:
        self.rest, self.n = rest, n
        self.all = len(rest) == n
        if not self.all:
            where = np.full(n, -1, dtype=np.int64)
            where[rest] = np.arange(len(rest))
            self.index = pa.array(where, mask=where < 0)

    def text(self, values: pa.Array) -> pa.Array:
        """Null in the other rows."""
        return values if self.all else values.take(self.index)

    def entities(self, texts: list[str | None]) -> pa.Array:
        """`{}` in the other rows (their entities, cut whole)."""
        if self.all:
            return _strings(texts)
        out: list[str | None] = ["{}"] * self.n
        for row, value in zip(self.rest.tolist(), texts, strict=True):
            out[row] = value
        return _strings(out)


def _as_dict(record: Any) -> dict[str, Any]:
    return record if type(record) is dict else _EMPTY


def _rows_with_extra(rows: list[Any], dicts: list[dict[str, Any]]) -> list[int]:
    """The rows with keys beyond KNOWN_FIELDS, or no object at all."""
    if dicts is rows:
        unknown = set().union(*dicts) - KNOWN_FIELDS
        if not unknown:
            return []  # the common case: every key known (decided 2x faster than row by row)
        if len(unknown) <= _FEW_UNKNOWN:  # the rows with them: one lookup a row for each
            has = np.zeros(len(dicts), dtype=bool)
            for key in unknown:
                has |= np.fromiter(
                    map(dict.__contains__, dicts, itertools.repeat(key)),
                    dtype=bool,
                    count=len(dicts),
                )
            return np.flatnonzero(has).tolist()
    known = np.fromiter(map(KNOWN_FIELDS.issuperset, dicts), dtype=bool, count=len(dicts))
    if dicts is not rows:
        known &= np.fromiter((d is not _EMPTY for d in dicts), dtype=bool, count=len(dicts))
    return np.flatnonzero(~known).tolist()


_FEW_UNKNOWN = 4


def _text_columns(dicts: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """`_texts` of each key's values in the dicts (None where absent). Arrow converts them
    straight from the dicts, all keys in one pass, while they are all text or null (3x
    faster than a list a key); a key with other values is `_texts`' own way. A key with
    other values in the first rows goes there at once: a failed conversion costs a pass."""
    if not keys:
        return {}
    seen_other = {
        key for d in dicts[:_PROBE] for key, value in d.items() if type(value) not in _TEXT
    }
    likely = tuple(key for key in keys if key not in seen_other)
    columns = _arrow_texts(dicts, likely) if likely else {}
    if columns is None:  # some value further on is no text: key by key
        columns = {}
        for key in likely:
            columns |= _arrow_texts(dicts, (key,)) or {}
    for key in keys:
        if key not in columns:
            columns[key] = _texts([d.get(key) for d in dicts])
    return {key: columns[key] for key in keys}


_PROBE = 64
_TEXT = (str, type(None))


def _arrow_texts(dicts: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any] | None:
    """Each key's values as Arrow text, if they are all text or null (else None)."""
    try:
        struct = pa.array(dicts, type=_text_struct(keys))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return {key: (struct.field(i), {}) for i, key in enumerate(keys)}


@functools.cache
def _text_struct(keys: tuple[str, ...]) -> pa.StructType:
    return pa.struct([(key, pa.large_string()) for key in keys])


def _entity_texts(ents: list[Any]) -> list[str | None]:
    """The `entities` column: `split_entities` of each row's entities as JSON text (null
    where absent or null). In one pass, and with no JSON written for the entities cut whole
    (most rows: `{"image_id": ...}`): 1.3x faster than splitting, then writing each."""
    held, dumps, option = _held_prefix, orjson.dumps, orjson.OPT_NON_STR_KEYS
    texts: list[str | None] = []
    append = texts.append
    try:
        for entities in ents:
            if type(entities) is dict:
                cut = held(entities)
                if cut == len(entities):
                    append("{}")
                elif cut:
                    rest = dict(itertools.islice(entities.items(), cut, None))
                    append(dumps(rest, str, option).decode())  # by position: see _json_texts
                else:
                    append(dumps(entities, str, option).decode())
            elif entities is _MISSING or entities is None:
                append(None)
            else:
                append(dumps(entities, str, option).decode())
    except TypeError:  # an integer past 64 bits: each row as `_json_text` writes it
        split = split_entities
        return _json_texts([None if e is _MISSING else split(e) for e in ents])
    return texts


def _with_top_sub_jobs(record: dict[str, Any], entities: dict[str, Any]) -> dict[str, Any]:
    """VBS documents `sub_jobs` at the top of the job, not in `entities` (reference, "More
    services with this job API"): the rules read them there too (`extra` keeps them as they
    came). Parsed records only: the compiled scanner does not follow them yet."""
    top = record.get("sub_jobs")
    if type(top) is not list or any(key in entities for key in SUB_JOB_KEYS):
        return entities
    return {**entities, "sub_jobs": top}


def _sub_job_rows(
    kind: Mapping[str, np.ndarray], items: Mapping[str, np.ndarray]
) -> dict[int, str]:
    """The rows whose followed sub-job list (the first of SUB_JOB_KEYS that is a list) has
    items, and that list's key."""
    chosen = np.full(len(kind["entities"]), -1, dtype=np.int64)
    for k in range(len(SUB_JOB_KEYS) - 1, -1, -1):
        chosen[kind[slot(SUB_JOB_KEYS[k])] == ARRAY] = k
    rows: dict[int, str] = {}
    for k, key in enumerate(SUB_JOB_KEYS):
        for row in np.flatnonzero((chosen == k) & (items[key] > 0)).tolist():
            rows[row] = key
    return rows


def _texts(values: list[Any]) -> tuple[pa.Array, dict[int, Any]]:
    """Values as Arrow text (a non-string as its `str`), and the non-strings by row."""
    try:
        return pa.array(values, type=pa.large_string()), {}
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    others = {i: v for i, v in enumerate(values) if v is not None and type(v) is not str}
    as_text = list(values)
    for i, value in others.items():
        as_text[i] = str(value)
    return pa.array(as_text, type=pa.large_string()), others


def _kinds(values: Iterable[Any]) -> np.ndarray:
    # By the values' types, in C (`map`): a list comprehension took twice as long.
    return np.fromiter(map(_KIND_OF.get, map(type, values), _OBJECTS), dtype=np.int8)


_MISSINGS = itertools.repeat(_MISSING)
_OBJECTS = itertools.repeat(OBJECT)


def _nulls(n: int) -> pa.Array:
    return pa.nulls(n, pa.large_string())


def _strings(values: list[str | None]) -> pa.Array:
    return pa.array(values, type=pa.large_string())


@dataclass
class RowValues:
    """What the rules give row by row: the record's times read (`read_times`, not yet in a
    zone), the creation times in the job ids, and the columns found in the entities or the
    sub-jobs. Row by row, so a reader can work them out part by part as the parts come
    (`join`), while it scans the next; `frame_from_raw` then types the whole."""

    read: dict[str, ParsedTimes]
    created: pd.Series
    derived: dict[str, Any]  # resource_id, entity_error, sub_job_count

    @classmethod
    def of(cls, raw: RawJobs, *, threads: bool = True) -> RowValues:
        """The rows' values; `threads`: the times worked out on a second core (NumPy on
        whole columns, which lets go of the GIL) while this thread follows the sub-jobs
        (Python objects, which hold it). A reader that works out several parts' values at
        once keeps both cores busy already: one thread each is faster then."""
        if not threads:
            return cls(*_times_of(raw), _derived(raw))
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            reading = pool.submit(_times_of, raw)
            derived = _derived(raw)
            read, created = reading.result()
        return cls(read, created, derived)

    @classmethod
    def join(cls, parts: list[RowValues]) -> RowValues:
        if len(parts) == 1:
            return parts[0]
        starts = np.cumsum([0, *(len(p.created) for p in parts)]).tolist()
        read = {}
        for name in _TIME_COLUMNS_READ:
            these = [p.read[name] for p in parts]
            unparsed = {
                start + label: value
                for start, times in zip(starts, these, strict=False)
                for label, value in times.unparsed.items()
            }
            read[name] = ParsedTimes(
                np.concatenate([t.wall for t in these]),
                np.concatenate([t.legacy for t in these]),
                unparsed,
                pd.RangeIndex(starts[-1]),
            )
        derived = {
            name: _chunked([p.derived[name] for p in parts])
            for name in ("resource_id", "entity_error")
        }
        counts = [pd.Series(p.derived["sub_job_count"], copy=False) for p in parts]
        derived["sub_job_count"] = pd.concat(counts, ignore_index=True).array
        return cls(read, pd.concat([p.created for p in parts], ignore_index=True), derived)


def _derived(raw: RawJobs) -> dict[str, Any]:
    resource, error = _from_sub_jobs(
        raw, (resource_ids(raw), _sub_resource), (entity_errors(raw), _sub_message)
    )
    return {"resource_id": resource, "entity_error": error, "sub_job_count": sub_job_counts(raw)}


def _times_of(raw: RawJobs) -> tuple[dict[str, ParsedTimes], pd.Series]:
    read = {name: read_times(raw.text[name], raw.odd.get(name)) for name in _TIME_COLUMNS_READ}
    return read, job_id_times(_large_text(raw.text["job_id"]))


def frame_from_raw(
    raw: RawJobs, *, legacy_tz: LegacyTz | None = None, rows: RowValues | None = None
) -> pd.DataFrame:
    """The `JOB_COLUMNS` frame of raw values: each column typed, each derived one by its rule
    (see `jobs_to_frame` for the attrs). `rows`: `RowValues.of` the same rows, when a reader
    has them already."""
    values = rows or RowValues.of(raw)
    columns: dict[str, Any] = {name: raw.text[name] for name in RECORD_FIELDS}
    columns |= {name: raw.text[slot(key)] for name, key in ENTITY_FIELDS.items()}
    columns |= values.derived
    columns["entities"], columns["extra"] = raw.entities, raw.extra
    typed, attrs = type_job_columns(
        columns, legacy_tz=legacy_tz, read=values.read, created=values.created
    )
    # Not copied again: every column is new and writable (`type_job_columns`); a copy of a
    # million rows' columns into fresh memory took 0.04-0.1 s, and 0.3 s at 3 million.
    frame = pd.DataFrame(typed, copy=False)
    frame.attrs.update(attrs)
    return frame


def resource_ids(raw: RawJobs) -> pa.Array:
    """`resource_id`: the first of RESOURCE_KEYS whose value is there and not `""`; else
    (`_from_sub_jobs`, by `_sub_resource`) the resources of its sub-jobs (each by this rule),
    comma-separated."""
    own = [raw.text[slot(key)] for key in RESOURCE_KEYS]
    # Keys no record has are all null: left out. An empty value counts as none.
    own = [t for t in own if t.null_count < len(t)] or own[:1]
    found = pc.coalesce(*(_empty_as_null(t) for t in own))
    return found


def _empty_as_null(text: Any) -> Any:
    empty = pc.equal(text, "")
    return pc.if_else(empty, pa.scalar(None, text.type), text) if pc.any(empty).as_py() else text


def entity_errors(raw: RawJobs) -> pa.Array:
    """`entity_error`: IMS `error` when the key is there (even null), else ECS
    `errorcode_message`; when that is null (`_from_sub_jobs`, by `_sub_message`), the first
    sub-job's message that is not."""
    own, ecs = (raw.text[slot(key)] for key in ERROR_KEYS)
    has_own = pa.array(raw.kind[slot(ERROR_KEYS[0])] != ABSENT)
    return pc.if_else(has_own, own, ecs)


def sub_job_counts(raw: RawJobs) -> pd.arrays.IntegerArray:
    """`sub_job_count`: the length of the first of SUB_JOB_KEYS that is a list; else
    `sub_jobs_total` when it is an integer (that fits 64 bits); else 0. NA when the entities
    are no object."""
    count = np.zeros(raw.n, dtype=np.int64)
    missing = raw.kind["entities"] != OBJECT
    total = slot(TOTAL_KEY)
    integer = np.flatnonzero(raw.kind[total] == INT)
    if len(integer):
        values = [int(v) for v in raw.text[total].take(pa.array(integer)).to_pylist()]
        fits = np.array([-(2**63) <= v < 2**63 for v in values], dtype=bool)
        count[integer[fits]] = [v for v, ok in zip(values, fits, strict=True) if ok]
        missing[integer[~fits]] = True  # a count past 64 bits is no count
    chosen = np.zeros(raw.n, dtype=bool)
    for key in SUB_JOB_KEYS:
        is_list = (raw.kind[slot(key)] == ARRAY) & ~chosen
        count[is_list] = raw.items[key][is_list]
        chosen |= is_list
    missing = (missing & ~chosen) | (raw.kind["entities"] != OBJECT)
    return pd.arrays.IntegerArray(np.where(missing, 0, count), missing)


def _from_sub_jobs(raw: RawJobs, *columns: tuple[Any, Any]) -> list[Any]:
    """Each `(found, rule)` column, its nulls filled from the row's sub-jobs by `rule` where
    it gives a value. Each row's list is read once, for every column, and let go (holding
    them all for a second pass costs more in garbage collection than reading them)."""
    found = [f for f, _ in columns]
    valid = [f.is_valid().to_numpy(zero_copy_only=False) for f in found]
    rules = [rule for _, rule in columns]
    filled: list[dict[int, str]] = [{} for _ in columns]
    rows = np.sort(np.fromiter(raw.sub_jobs, dtype=np.int64, count=len(raw.sub_jobs)))
    wanted = np.stack([~v[rows] for v in valid]) if len(rows) else np.zeros((len(columns), 0))
    some = wanted.any(axis=0)
    for row, wants in zip(rows[some].tolist(), wanted[:, some].T.tolist(), strict=True):
        subs = raw.sub_jobs[row]
        if isinstance(subs, bytes):
            subs = orjson.loads(subs)
        for k in itertools.compress(range(len(columns)), wants):
            value = rules[k](subs)
            if value is not None:
                filled[k][row] = value if type(value) is str else str(value)
    return [_replaced(array, values) for array, values in zip(found, filled, strict=True)]


def _replaced(array: Any, values: dict[int, str]) -> Any:
    """`array` (chunked or not) with the values at their rows; only the chunks with one are
    copied (the others stay as they are: one copy of a whole column is memory the size of
    it, new)."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    rows = np.fromiter(values, dtype=np.int64, count=len(values))  # in order
    texts = list(values.values())
    out, at = [], 0
    for chunk in chunks:
        first, last = np.searchsorted(rows, [at, at + len(chunk)]).tolist()
        if first < last:
            mask = np.zeros(len(chunk), dtype=bool)
            mask[rows[first:last] - at] = True
            new = pa.array(texts[first:last], chunk.type)
            chunk = pc.replace_with_mask(chunk, pa.array(mask), new)
        out.append(chunk)
        at += len(chunk)
    return pa.chunked_array(out, array.type) if isinstance(array, pa.ChunkedArray) else out[0]


def _sub_resource(subs: list[Any]) -> Any:
    found = [
        _resource_id(s["entities"])
        for s in subs
        if type(s) is dict and type(s.get("entities")) is dict
    ]
    found = [str(value) for value in found if value is not None]
    return ",".join(found) if found else None


def _sub_message(subs: list[Any]) -> Any:
    ecs = ERROR_KEYS[1]
    for sub in subs:
        sub_entities = sub.get("entities") if type(sub) is dict else None
        if type(sub_entities) is dict and sub_entities.get(ecs) is not None:
            return sub_entities[ecs]
    return None


def _resource_id(entities: dict[str, Any]) -> Any:
    """A sub-job's resource: `resource_ids`' rule over one entities object."""
    for key in RESOURCE_KEYS:
        value = entities.get(key)
        if value is not None and value != "":
            return value
    for key in SUB_JOB_KEYS:
        found = entities.get(key)
        if isinstance(found, list):
            return _sub_resource(found)
    return None


def read_times(text: Any, odd: dict[int, Any] | None = None) -> ParsedTimes:
    """A time column: the service's two exact shapes (`2015-06-04T10:11:06.586Z`, legacy
    `04-Jun-2015 18:11:06:586`) read at fixed places from the text's bytes, vectorised;
    everything else (other shapes, impossible dates, raw non-text values) by the general
    parser (`times.read_job_times`), which reports what it cannot read."""
    n = len(text)
    if odd or n == 0 or text.null_count == n:
        return read_job_times(_with_odd(text, odd))
    wall = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    legacy = np.zeros(n, dtype=bool)
    # A block at a time (each chunk as the reader made it, cut to _TIME_BLOCK rows): the
    # temporaries stay a few MB, reused, where whole-column ones would be new memory each
    # time (on a VM a fresh page costs more than the arithmetic done in it).
    rest, at = [], 0
    for chunk in text.chunks if isinstance(text, pa.ChunkedArray) else [text]:
        for lo in range(0, len(chunk), _TIME_BLOCK):
            block = chunk.slice(lo, _TIME_BLOCK)
            here = slice(at, at + len(block))
            left = _read_exact_times(block, wall[here], legacy[here])
            rest.append(left + at)
            at += len(block)
    left = np.concatenate(rest)
    unparsed: dict[Any, Any] = {}
    if len(left):
        general = read_job_times(_str_column(_large_text(text).take(pa.array(left))))
        wall[left], legacy[left] = general.wall, general.legacy
        unparsed = {int(left[label]): value for label, value in general.unparsed.items()}
    return ParsedTimes(wall, legacy, unparsed, pd.RangeIndex(n))


_TIME_BLOCK = 1 << 16


def _read_exact_times(array: pa.Array, wall: np.ndarray, legacy: np.ndarray) -> np.ndarray:
    """The times of `array` in an exact shape, written into `wall` and `legacy`; the rows
    left (text in no exact shape) returned."""
    n = len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + n + 1]
    lengths = np.diff(offsets)
    rows = np.flatnonzero(lengths == 24)  # null rows have no length
    exact = array
    if int(lengths.sum()) != 24 * len(rows):  # other lengths among them: the 24s side by side
        exact = array.filter(pa.array(lengths == 24))
    start = np.frombuffer(exact.buffers()[1], dtype=np.int64)[exact.offset] if len(rows) else 0
    data = np.frombuffer(exact.buffers()[2], dtype=np.uint8) if len(rows) else np.zeros(0, np.uint8)
    # One row per character place, so that each place is a contiguous array.
    places = np.ascontiguousarray(data[start : start + 24 * len(rows)].reshape(len(rows), 24).T)
    done = np.zeros(len(rows), dtype=bool)
    shapes = {
        False: (places[4] == 45) & (places[10] == 84) & (places[23] == 90),  # -, T, Z
        True: (places[2] == 45) & (places[6] == 45) & (places[11] == 32),  # -, -, space
    }
    for is_legacy, shape in shapes.items():
        these = np.flatnonzero(shape)
        if not len(these):
            continue
        chosen = places if len(these) == places.shape[1] else places[:, these]
        ok, micros = _exact_times(chosen, is_legacy)
        wall[rows[these[ok]]] = micros[ok].astype("datetime64[us]")
        legacy[rows[these[ok]]] = is_legacy
        done[these[ok]] = True
    rest = np.asarray(array.is_valid()) & (lengths > 0)
    rest[rows[done]] = False  # (a mask: setdiff1d sorts, ten times slower)
    return np.flatnonzero(rest)


_MONTHS = np.array(
    [
        sum((ord(c) | 32) << (8 * (2 - i)) for i, c in enumerate(m))
        for m in (
            "jan",
            "feb",
            "mar",
            "apr",
            "may",
            "jun",
            "jul",
            "aug",
            "sep",
            "oct",
            "nov",
            "dec",
        )
    ]
)
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)


# Where the marks and digits of each exact shape are.
_ISO_SHAPE = (
    {4: "-", 7: "-", 10: "T", 13: ":", 16: ":", 19: ".", 23: "Z"},
    [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22],
)
_LEGACY_SHAPE = (
    {2: "-", 6: "-", 11: " ", 14: ":", 17: ":", 20: ":"},
    [0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 21, 22, 23],
)


def _exact_times(places: np.ndarray, legacy: bool) -> tuple[np.ndarray, np.ndarray]:
    """Which columns of a (24, rows) byte matrix are exact ISO (or legacy) times, and their
    microseconds since the epoch (the legacy ones as wall-clock time).

    In 32-bit integers, updated in place, until the last step: half the memory traffic of
    64-bit temporaries (the work is bound by it), about 1.6x faster on a million times."""
    marks, digits = _LEGACY_SHAPE if legacy else _ISO_SHAPE
    value = places - np.uint8(48)  # a digit's value; anything else wraps past 9
    ok = (value[digits] <= 9).all(axis=0)
    for at, mark in marks.items():
        ok &= places[at] == ord(mark)

    def number(start: int, stop: int) -> np.ndarray:
        found: np.ndarray = value[start].astype(np.int32)
        for k in range(start + 1, stop):
            found *= 10
            found += value[k]
        return found

    if legacy:
        letters = [places[k].astype(np.int32) | 32 for k in (3, 4, 5)]
        code = (letters[0] << 16) | (letters[1] << 8) | letters[2]
        order = np.argsort(_MONTHS)
        found = np.minimum(np.searchsorted(_MONTHS[order], code), 11)
        ok &= _MONTHS[order][found] == code
        month = (order[found] + 1).astype(np.int32)
        year, day = number(7, 11), number(0, 2)
        clock = (number(12, 14), number(15, 17), number(18, 20), number(21, 24))
    else:
        year, month, day = number(0, 4), number(5, 7), number(8, 10)
        clock = (number(11, 13), number(14, 16), number(17, 19), number(20, 23))
    hour, minute, second, milli = clock
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    np.clip(month, 1, 12, out=month)
    last = _MONTH_DAYS[month - 1] + (leap & (month == 2))
    ok &= (year >= 1) & (day >= 1) & (day <= last) & (hour < 24) & (minute < 60) & (second < 60)
    # Days since the epoch (Howard Hinnant's days_from_civil; years 0-9999, so no negative era).
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    seconds = days.astype(np.int64) * 86400 + (hour * 3600 + minute * 60 + second)
    return ok, (seconds * 1000 + milli) * 1000


def _with_odd(text: Any, odd: dict[int, Any] | None) -> pd.Series:
    """A text column with the raw values of `odd` rows put back (for `unparsed_times`)."""
    series = _str_column(text)
    if not odd:
        return series
    objects = series.astype(object)
    rows = list(odd)
    objects.iloc[rows] = pd.Series(list(odd.values()), index=objects.index[rows], dtype=object)
    return objects


def type_job_columns(
    columns: Mapping[str, Any],
    *,
    legacy_tz: LegacyTz | None = None,
    read: Mapping[str, ParsedTimes],
    created: pd.Series,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every job column typed, in contract order (each one new and writable: the frame takes
    them as they are), and the frame's attrs.

    The attrs are `unparsed_times` (raw values by column and row) and `legacy_tz` (the zone
    legacy times were read in, and why: see `jobs_to_frame`). `read` holds the record's
    times, read, and `created` the times in the job ids (`job_id_times`).
    """
    # The categoricals (Arrow's hashing, which lets go of the GIL) on a second core while
    # this thread places the times: on a million records a third of this function.
    names = sorted(  # status first: the rest waits for it
        (n for n in JOB_COLUMNS if column(n).kind is Kind.CATEGORY), key=lambda n: n != "status"
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        encoding = {n: pool.submit(categorical, columns[n], column(n).categories) for n in names}
        typed, attrs = _type_the_rest(columns, legacy_tz, read, created, encoding["status"])
        for name, future in encoding.items():
            typed[name] = future.result()
    return {name: typed[name] for name in JOB_COLUMNS}, attrs


def _type_the_rest(
    columns: Mapping[str, Any],
    legacy_tz: LegacyTz | None,
    read: Mapping[str, ParsedTimes],
    created: pd.Series,
    status: concurrent.futures.Future[pd.Categorical],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`type_job_columns` but for the categoricals (`status` comes as it is made)."""
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
    terminal = [str(s) for s in TERMINAL_STATUSES]
    is_terminal = pd.Series(status.result()).isin(terminal).to_numpy(copy=True)  # writable
    duration = (times["end_time"] - times["begin_time"]).where(is_terminal)
    duration = duration.astype("timedelta64[us]")

    typed: dict[str, Any] = {}
    for name in JOB_COLUMNS:
        kind = column(name).kind
        if name in times:
            typed[name] = times[name].array
        elif name == "duration":
            typed[name] = duration.array
        elif name == "duration_s":
            # pandas' `total_seconds` (microseconds / 1e6, NaN for NaT) in two NumPy passes.
            micros = duration.to_numpy("timedelta64[us]")
            typed[name] = np.where(np.isnat(micros), np.nan, micros.view(np.int64) / 1e6)
        elif name == "is_terminal":
            typed[name] = is_terminal
        elif kind in (Kind.TEXT, Kind.JSON):
            typed[name] = _str_column(columns[name]).array
        elif kind is Kind.FLOAT:
            typed[name] = _float_column(columns[name])
        elif kind is Kind.NULLABLE_INT:
            typed[name] = pd.array(columns[name], dtype="Int64")
    return typed, attrs


def _json_texts(values: list[Any]) -> list[str | None]:
    dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
    try:
        # `default` and `option` by position: keywords cost 10 % of this loop.
        return [None if v is None else dumps(v, str, option).decode() for v in values]
    except TypeError:
        return [None if v is None else _json_text(v) for v in values]


def _json_text(value: Any) -> str:
    """One value as JSON text, an integer past 64 bits (`exact_int`) as its exact digits."""
    option = orjson.OPT_NON_STR_KEYS
    try:
        return orjson.dumps(value, default=str, option=option).decode()
    except TypeError:
        passing = option | orjson.OPT_PASSTHROUGH_SUBCLASS
        return orjson.dumps(value, default=_exact_default, option=passing).decode()


class BigInt(int):
    """An integer past 64 bits, read from JSON: written back as its exact digits."""


_KIND_OF[BigInt] = INT


def exact_int(text: str) -> int:
    """An integer of JSON text, marked `BigInt` when orjson could not write it."""
    value = int(text)
    return value if -(2**63) <= value < 2**64 else BigInt(value)


def _exact_default(value: Any) -> Any:
    if isinstance(value, BigInt):
        return orjson.Fragment(int.__repr__(value))
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return str(value)


def unwritable(record: Any) -> str | None:
    """Why a parsed record cannot be written as JSON text (nested too deep), or None."""
    try:
        _json_text(record)
    except TypeError as exc:
        return f"cannot be read: {exc} (nested deeper than JSON text is written)"
    return None


def _extra(record: dict[str, Any], raw: Any) -> dict[str, Any] | None:
    if record is _EMPTY:
        # Not a JSON object at all: keep the value itself, so nothing is lost.
        return None if raw is None else {"_record": raw}
    if record.keys() <= KNOWN_FIELDS:
        return None
    return {key: value for key, value in record.items() if key not in KNOWN_FIELDS}


def _large_text(values: Any) -> pa.Array | pa.ChunkedArray:
    """A text column as Arrow large strings (a reader's columns already are: no copy)."""
    if isinstance(values, pa.Array | pa.ChunkedArray) and values.type == pa.large_string():
        return values
    return pa.array(_str_column(values).array, type=pa.large_string(), from_pandas=True)


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


def _float_column(values: list[Any] | pa.Array) -> np.ndarray:
    """A float column; anything that is not a number (a dict, "n/a") becomes NaN."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        try:
            out = np.asarray(values.cast(pa.float64()).to_numpy(zero_copy_only=False))
            # Writable: the frame keeps it without a copy (`frame_from_raw`).
            return out if out.flags.writeable else out.copy()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # Some text is no number ("n/a"): pandas' rules, that value NaN.
            text = pd.Series(values.to_pylist(), dtype=object)
            return pd.to_numeric(text, errors="coerce").to_numpy("float64")
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
