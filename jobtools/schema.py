"""The frame contract: every column jobtools produces, in one table, and the states behind it.

`COLUMNS` lists the job columns (what a job record says), the fetch columns (how fetching
it went) and the wait columns (how waiting for it ended), in frame order, each with its
kind (which fixes the pandas dtype, the Arrow type and how it is written to text), where its
value comes from, and for categories their order. Everything else derives from this table:
`jobs_to_frame` and the JSONL reader (both engines), the CSV, JSONL and Parquet writers and
readers, the poll log, the Dask meta and the README's frame table. Adding a column is one
row here plus the code that computes it.

>>> [c.name for c in COLUMNS if c.source == "entities"][:3]
['image_id', 'image_name', 'current_task']
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobtools.errors import MissingColumnsError
from jobtools.outcome import Outcome
from jobtools.times import TIME_DTYPE

__all__ = [
    "COLUMNS",
    "FETCH_COLUMNS",
    "JOB_COLUMNS",
    "KNOWN_FIELDS",
    "OUTCOMES",
    "RECORD_FIELDS",
    "RESPONSE_KEYS",
    "STATUS_ORDER",
    "TERMINAL_STATUSES",
    "WAIT_COLUMNS",
    "WAIT_STATES",
    "Column",
    "JobStatus",
    "Kind",
    "MissingColumnsError",
    "Outcome",
    "WaitState",
    "cast_frame",
    "categorical",
    "column",
    "empty_frame",
    "is_terminal",
    "markdown_table",
    "require",
]


class JobStatus(enum.StrEnum):
    """A status the service documents. Anything else is kept as it came, as unknown."""

    INIT = "INIT"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    # ECS/BMS: a yearly/monthly order waiting for payment; nothing moves until it is paid.
    PENDING_PAYMENT = "PENDING_PAYMENT"

    @property
    def is_terminal(self) -> bool:
        """True when the job has ended and will not change again: SUCCESS and FAIL."""
        return self in (JobStatus.SUCCESS, JobStatus.FAIL)


TERMINAL_STATUSES = frozenset(s for s in JobStatus if s.is_terminal)


def is_terminal(status: object) -> bool:
    """True for SUCCESS and FAIL; False for anything else, unknown values included."""
    return status in TERMINAL_STATUSES


class WaitState(enum.StrEnum):
    """How a wait ended for one job (the `wait_state` column)."""

    WAITING = "waiting"  # still being polled
    DONE = "done"  # terminal status seen
    GONE = "gone"  # 404: the service does not know the id (or deleted the ended job)
    # 404 for an id whose creation time is older than the service's retention: it ran, ended
    # and was deleted (ECS deletes ended jobs after about a day); `created_at` still places it.
    EXPIRED = "expired"
    GAVE_UP = "gave_up"  # too many fetch errors in a row
    TIMED_OUT = "timed_out"  # the wait's deadline passed first
    CANCELLED = "cancelled"  # the wait was stopped; the job itself is unchanged
    # PENDING_PAYMENT with no change for a while: an unpaid order moves only when paid.
    AWAITING_PAYMENT = "awaiting_payment"
    REFUSED = "refused"  # the service refused the credentials: no later round could succeed

    @property
    def is_final(self) -> bool:
        """Nothing more will be learnt by asking again: a resumed wait takes it from the log."""
        return self in (WaitState.DONE, WaitState.GONE, WaitState.EXPIRED)

    @property
    def is_resumable(self) -> bool:
        """A later wait should ask about this job again."""
        return not self.is_final

    @property
    def is_ended(self) -> bool:
        """This wait no longer polls the job (final, or the wait stopped watching it)."""
        return self is not WaitState.WAITING


class Kind(enum.StrEnum):
    """What a column holds; it fixes the pandas dtype, the Arrow type and the text form."""

    TEXT = "text"  # pandas `str` (Arrow-backed)
    CATEGORY = "category"  # known categories first, unknown values after, as they came
    TIME = "time"  # datetime64[us, UTC]
    TIMEDELTA = "timedelta"  # timedelta64[us]
    FLOAT = "float"
    INT = "int"  # int64, never missing
    NULLABLE_INT = "nullable_int"  # Int64
    BOOL = "bool"
    JSON = "json"  # JSON text of a nested value, decoded on demand (`frame.decode_json`)


Group = Literal["job", "fetch", "wait"]
# Where a value comes from: a top-level field of the record (of the column's name), a key of
# its `entities` (`key`), computed from other columns, or set by the client or a wait.
Source = Literal["record", "entities", "derived", "fetch", "wait"]

_DTYPES: dict[Kind, Any] = {
    Kind.TEXT: "str",
    Kind.CATEGORY: "category",
    Kind.TIME: TIME_DTYPE,
    Kind.TIMEDELTA: "timedelta64[us]",
    Kind.FLOAT: "float64",
    Kind.INT: "int64",
    Kind.NULLABLE_INT: "Int64",
    Kind.BOOL: "bool",
    Kind.JSON: "str",
}
_ARROW: dict[Kind, pa.DataType] = {
    Kind.TEXT: pa.large_string(),
    Kind.CATEGORY: pa.dictionary(pa.int32(), pa.large_string()),
    Kind.TIME: pa.timestamp("us", tz="UTC"),
    Kind.TIMEDELTA: pa.duration("us"),
    Kind.FLOAT: pa.float64(),
    Kind.INT: pa.int64(),
    Kind.NULLABLE_INT: pa.int64(),
    Kind.BOOL: pa.bool_(),
    Kind.JSON: pa.large_string(),
}


@dataclass(frozen=True)
class Column:
    """One column of the contract."""

    name: str
    kind: Kind
    group: Group
    source: Source
    doc: str
    key: str | None = None  # the entities key, for source "entities"
    categories: tuple[str, ...] = ()  # the known categories, in order

    @property
    def dtype(self) -> str:
        """The pandas dtype, as `astype` takes it."""
        return str(_DTYPES[self.kind])

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type the column is stored as (Parquet files)."""
        return _ARROW[self.kind]


STATUS_ORDER: tuple[str, ...] = tuple(JobStatus)
OUTCOMES: tuple[str, ...] = tuple(Outcome)
WAIT_STATES: tuple[str, ...] = tuple(WaitState)

_J: Final = "job"
_F: Final = "fetch"
_W: Final = "wait"
COLUMNS: tuple[Column, ...] = (
    Column("job_id", Kind.TEXT, _J, "record", "the job id"),
    Column("job_type", Kind.CATEGORY, _J, "record", "e.g. `imsNativeExportImageJob`, as it came"),
    Column(
        "status",
        Kind.CATEGORY,
        _J,
        "record",
        "INIT, RUNNING, SUCCESS, FAIL, PENDING_PAYMENT, then any unknown value as it came",
        categories=STATUS_ORDER,
    ),
    Column(
        "begin_time",
        Kind.TIME,
        _J,
        "record",
        "from ISO 8601 (`Z`, `+0800`, `+08:00`) or legacy `04-Jun-2015 18:11:06:586`, which is "
        "read as UTC+08:00 unless the ids say otherwise (see `attrs['legacy_tz']`); "
        'NaT for `""`/null',
    ),
    Column("end_time", Kind.TIME, _J, "record", "as `begin_time`; NaT while the job runs"),
    Column(
        "created_at",
        Kind.TIME,
        _J,
        "derived",
        "when the job was created, read from its id (hex digits 17-28 are milliseconds since "
        "the epoch); NaT when the id has another layout or the time is before 2010 or more "
        "than a day ahead",
    ),
    Column("duration", Kind.TIMEDELTA, _J, "derived", "end - begin; NaT unless terminal"),
    Column("duration_s", Kind.FLOAT, _J, "derived", "`duration` in seconds (`.plot.hist()` works)"),
    Column("is_terminal", Kind.BOOL, _J, "derived", "SUCCESS or FAIL"),
    Column("error_code", Kind.CATEGORY, _J, "record", "the job's error code, e.g. `IMG.0001`"),
    Column("fail_reason", Kind.TEXT, _J, "record", "why it failed, as the service says"),
    Column(
        "resource_id",
        Kind.TEXT,
        _J,
        "derived",
        "what the job acts on, whichever key the service uses: `image_id`, `backup_id`, "
        "`server_id`, `volume_id`, `elb_id`, `nic_id`, `publicip_id`; else its sub-jobs' "
        "(comma-separated)",
    ),
    Column("image_id", Kind.TEXT, _J, "entities", "the image", key="image_id"),
    Column("image_name", Kind.TEXT, _J, "entities", "the image's name", key="image_name"),
    Column("current_task", Kind.CATEGORY, _J, "entities", "the step running", key="current_task"),
    Column(
        "process_percent",
        Kind.FLOAT,
        _J,
        "entities",
        "progress as the service sends it: a fraction from 0 to 1",
        key="process_percent",
    ),
    Column(
        "entity_error_code",
        Kind.CATEGORY,
        _J,
        "entities",
        "the entity-level error code (IMS `error_code`)",
        key="error_code",
    ),
    Column(
        "entity_error",
        Kind.TEXT,
        _J,
        "derived",
        "the entity-level error (IMS `error`, ECS `errorcode_message`, also from the first "
        "failed sub-job)",
    ),
    Column(
        "sub_job_count",
        Kind.NULLABLE_INT,
        _J,
        "derived",
        "`sub_jobs_result` / `sub_jobs` / `sub_jobs_total`; `sub_jobs_to_frame` gives a frame",
    ),
    Column(
        "entities",
        Kind.JSON,
        _J,
        "record",
        "the `entities` as compact JSON text, less the keys that open them and that the entity "
        "columns hold; `entities_of(frame)` gives them back whole",
    ),
    Column("extra", Kind.JSON, _J, "derived", "unknown top-level fields as JSON text, kept"),
    Column(
        "outcome",
        Kind.CATEGORY,
        _F,
        "fetch",
        "how the fetch went: " + ", ".join(OUTCOMES),
        categories=OUTCOMES,
    ),
    Column("http_status", Kind.NULLABLE_INT, _F, "fetch", "the HTTP status of the last attempt"),
    Column("fetch_error_code", Kind.TEXT, _F, "fetch", "the error code of a failed fetch"),
    Column("fetch_error", Kind.TEXT, _F, "fetch", "why the fetch failed"),
    Column("request_id", Kind.TEXT, _F, "fetch", "the `X-Request-Id` of the answer"),
    Column("raw_body", Kind.TEXT, _F, "fetch", "the body of an answer that was not a job"),
    Column(
        "wait_state",
        Kind.CATEGORY,
        _W,
        "wait",
        "how the wait ended for the job: " + ", ".join(WAIT_STATES),
        categories=WAIT_STATES,
    ),
    Column("observed_at", Kind.TIME, _W, "wait", "when the job was last observed"),
    Column("polls", Kind.INT, _W, "wait", "how often it was fetched"),
    Column("fetch_errors", Kind.INT, _W, "wait", "how many of those fetches failed"),
)

_BY_NAME = {c.name: c for c in COLUMNS}


def _dtypes(group: Group) -> dict[str, str]:
    return {c.name: c.dtype for c in COLUMNS if c.group == group}


# name -> pandas dtype, per group, in frame order.
JOB_COLUMNS: dict[str, str] = _dtypes("job")
FETCH_COLUMNS: dict[str, str] = _dtypes("fetch")
WAIT_COLUMNS: dict[str, str] = _dtypes("wait")
# The top-level fields of a job response taken into columns as they are; with `entities`,
# the fields a record is known to have (anything else goes to `extra`).
RECORD_FIELDS: tuple[str, ...] = tuple(
    c.name for c in COLUMNS if c.source == "record" and c.name != "entities"
)
KNOWN_FIELDS = frozenset({*RECORD_FIELDS, "entities"})
# The keys of a job response in the service's own order (the seed's): the simulator answers
# in it and `frame_to_records` writes it.
RESPONSE_KEYS: tuple[str, ...] = (
    "status",
    "entities",
    *(name for name in RECORD_FIELDS if name != "status"),
)


def column(name: str) -> Column:
    """The contract's column `name` (KeyError if it has none)."""
    return _BY_NAME[name]


def categorical(values: Iterable[Any], known: tuple[str, ...] = ()) -> pd.Categorical:
    """Text as a categorical over `known`, unknown values appended in order of appearance.

    Non-text values (a number where text was expected) are kept as their text.

    >>> list(categorical(["b", "x", None, "a"], ("a", "b")).categories)
    ['a', 'b', 'x']
    """
    if isinstance(values, pa.ChunkedArray) and values.type == pa.large_string():
        strings = values  # a reader's column: its chunks as they are (joining them is a copy)
    else:
        strings = _large_strings(values)
    # Arrow's unique keeps the order of first appearance, which is the order unknowns follow.
    unique = pc.unique(strings).drop_null()
    seen = set(known)
    unknown = [v for v in unique.to_pylist() if v not in seen]
    categories = [*known, *unknown]
    codes = pc.fill_null(pc.index_in(strings, value_set=pa.array(categories, strings.type)), -1)
    codes_np = np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int32)
    dtype = pd.CategoricalDtype(pd.Index(categories, dtype="str"))
    return cast(pd.Categorical, pd.Categorical.from_codes(codes_np, dtype=dtype))


def _large_strings(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.DictionaryArray):
        values = values.dictionary_decode()
    if isinstance(values, pa.Array):
        return values.cast(pa.large_string())
    if isinstance(values, pd.Series | pd.Index | pd.Categorical):
        values = pd.Series(values).astype("str").array
        return pa.array(values).cast(pa.large_string())
    values = list(values)
    try:
        return pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        text = pd.Series(values, dtype=object).astype("str")
        return pa.array(text.array).cast(pa.large_string())


def empty_frame(*groups: Group) -> pd.DataFrame:
    """A frame with no rows and the columns of `groups` (default: all), typed: a Dask meta."""
    wanted = groups or ("job", "fetch", "wait")
    chosen = [c for c in COLUMNS if c.group in wanted]
    return cast_frame(pd.DataFrame({c.name: pd.Series([], dtype=object) for c in chosen}))


def cast_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every contract column present cast to its contract dtype; others as they are.

    Used where a frame was put together from parts or read back from text, where the
    values are right but the dtypes may not be (categories differ between files, say).
    """
    out = frame.copy()
    for name in out.columns.intersection(list(_BY_NAME)):
        out[name] = _cast(_BY_NAME[name], out[name])
    return out


def _cast(col: Column, values: pd.Series) -> Any:
    kind = col.kind
    if kind is Kind.CATEGORY:
        if isinstance(values.dtype, pd.CategoricalDtype) and _ordered_like(values, col):
            return values
        return pd.Series(categorical(values, col.categories), index=values.index)
    if kind in (Kind.TEXT, Kind.JSON):
        if values.dtype == "str":
            return values
        return pd.Series(_large_strings(values), index=values.index).astype("str")
    if kind is Kind.BOOL:
        return values.astype("boolean").fillna(False).astype(bool)
    if kind is Kind.INT:
        return values.fillna(0).astype("int64")
    return values.astype(col.dtype)  # type: ignore[call-overload]


def _ordered_like(values: pd.Series, col: Column) -> bool:
    """Categories that start with the known ones, in order (the unknown ones follow)."""
    categories = values.cat.categories
    known = len(col.categories)
    return tuple(categories[:known]) == col.categories and categories.dtype == "str"


def markdown_table() -> str:
    """The contract as the README's frame table (a test keeps the README equal to it)."""
    rows = ["| column | dtype | group | meaning |", "|---|---|---|---|"]
    for c in COLUMNS:
        where = f"`entities.{c.key}`: " if c.source == "entities" else ""
        rows.append(f"| `{c.name}` | {c.dtype} | {c.group} | {where}{c.doc} |")
    return "\n".join(rows)


def require(frame: Any, names: Iterable[str], needed_by: str) -> None:
    """Raise MissingColumnsError unless `frame` has every contract column of `names`."""
    missing = tuple(name for name in names if name not in frame.columns)
    unknown = [name for name in missing if name not in _BY_NAME]
    if unknown:
        raise KeyError(f"not contract columns: {unknown}")  # a bug of ours, not the caller's
    if missing:
        raise MissingColumnsError(needed_by, missing)
