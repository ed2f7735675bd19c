"""A seeded generator of realistic IMS job records, and the committed sample made with it.

`generate_jobs(n, seed=..., now=...)` returns response dicts shaped like
`GET /v1/{project_id}/jobs/{job_id}` answers: the documented job types in uneven shares,
both time formats (about a fifth legacy `04-Jun-2015 18:11:06:586`, the rest ISO 8601),
INIT/RUNNING/SUCCESS/FAIL in plausible proportions, long-tailed (log-normal) durations
whose scale depends on the job type, failures with `IMG.xxxx` codes and a dozen
`fail_reason` templates whose texts vary by embedded ids, sizes and names (some in Chinese),
sub-jobs (`entities.sub_jobs_result`) for whole-image and multi-volume jobs, and
`process_percent` (a fraction, 0 to 1) and `current_task` in the entities of running jobs.

As the real service does (reference, "What public examples show"): job ids are laid out as
Hibernate's UUIDHexGenerator makes them, holding their creation time a millisecond or two after
`begin_time`; legacy times are written on a UTC+08:00 clock; progress is a fraction.

Keyword options shape a batch for the simulator's scenarios: a `window` of begin times,
chosen `job_types`, failure `regression`s from given times (and until given times), slow and
fast tails, and `running_share=None` for a batch seen as it is: every job began inside the
window, and the ones whose duration reaches past `now` are still running.

The columns are drawn with NumPy, a chunk of jobs at a time, and only then made into records,
so `write_jobs` writes three million records in well under a minute in bounded memory.

    python -m jobtools.sample --out jobtools/data/sample_jobs.jsonl.gz [--n 2000] [--seed 20241106]

rewrites the committed sample byte for byte (gzip at level 9 with no name and no time in its
header, so the same records give the same bytes; 140 KB instead of 706 KB installed);
`--scenario NAME --n N` writes a scenario of the simulator's (`jobtools.scenarios.SCENARIOS`)
with N jobs instead.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import string
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson

__all__ = [
    "DEFAULT_NOW",
    "DEFAULT_SEED",
    "Batch",
    "Regression",
    "SAMPLE_PATH",
    "generate_batch",
    "generate_jobs",
    "main",
    "write_jobs",
    "write_sample",
]

DEFAULT_SEED = 20241106
# The sample's "now": fixed so that the committed file is reproducible.
DEFAULT_NOW = datetime(2024, 11, 6, 12, 0, 0, tzinfo=UTC)
# The committed sample of ~2,000 jobs, shipped inside the package (package data), gzipped:
# `read_jobs` and the simulator read it as it is.
SAMPLE_PATH = Path(str(resources.files("jobtools") / "data" / "sample_jobs.jsonl.gz"))


@dataclass(frozen=True)
class _JobType:
    name: str
    weight: float
    median_s: float  # median duration of a finished job
    sigma: float  # log-normal spread: larger means a longer tail
    fail_rate: float
    sub_jobs: bool = False


_JOB_TYPES = (
    _JobType("imsCreateImageByInstance", 30, 420, 0.8, 0.08),
    _JobType("createImageByInstance", 6, 480, 0.8, 0.10),
    _JobType("imsNativeExportImageJob", 8, 1500, 1.0, 0.15),
    _JobType("imsNativeImportImageJob", 4, 1800, 1.0, 0.12),
    _JobType("imsImportImageJob", 10, 1200, 1.1, 0.18),
    _JobType("imsImportOvaImageJob", 2, 2400, 1.1, 0.22),
    _JobType("imsVolumeCreateImageJob", 6, 600, 0.9, 0.08),
    _JobType("imsVolumesToSysDataImagesJob", 2, 900, 0.9, 0.12, sub_jobs=True),
    _JobType("imsImportDataImageJob", 3, 1500, 1.0, 0.15),
    _JobType("imsCreateWholeImageByInstanceJob", 2, 1500, 0.9, 0.12, sub_jobs=True),
    _JobType("imsCreateWholeImageByBackupJob", 1, 1200, 0.9, 0.10, sub_jobs=True),
    _JobType("imsAddImageMembersJob", 5, 4, 0.6, 0.04),
    _JobType("imsDelImageMembersJob", 2, 3, 0.6, 0.03),
    _JobType("imsUpdateImageMembersJob", 2, 3, 0.6, 0.03),
    _JobType("imsCopyImageInRegionJob", 5, 300, 0.8, 0.06),
    _JobType("imsCrossRegionCopyImageJob", 6, 2700, 1.2, 0.14),
)

# Failure templates: code, text, weight. Placeholders are filled per job so that the same
# cause reads differently each time, as real fail_reason texts do.
_FAILURES = (
    ("IMG.0015", "The image quota is exceeded. Quota: {quota}, used: {used}.", 8),
    ("IMG.0001", "Invalid parameter: the image name {image_name} already exists.", 6),
    ("IMG.0106", "Failed to download the image file {object} from OBS bucket {bucket}.", 9),
    ("IMG.0057", "The image file is {size} GB, larger than the 1024 GB allowed.", 3),
    ("IMG.0103", "Creating a snapshot of volume {volume_id} timed out after {seconds} s.", 7),
    ("IMG.0117", "Server {server_id} is running; stop it before creating an image.", 8),
    ("IMG.0045", "Image {image_id} is locked by another job ({job_ref}).", 4),
    ("IMG.0140", "Replicating to {region} failed: network error (request {request_id}).", 5),
    ("IMG.0050", "镜像文件 {object} 的格式不支持：{fmt}。", 5),
    ("IMG.0061", "磁盘 {volume_id} 容量 {size} GB 小于镜像要求的最小磁盘 {min_disk} GB。", 4),
    ("IMG.0090", "导出镜像到桶 {bucket} 失败：没有写权限（AccessDenied）。", 4),
    ("IMG.0070", "Insufficient resources in {az} for flavor {flavor}; try later.", 3),
)

_TASKS = (
    "CREATE_SNAPSHOT",
    "EXPORT_IMAGE",
    "CONVERT_FORMAT",
    "UPLOAD_TO_OBS",
    "DOWNLOAD_FROM_OBS",
    "CHECK_IMAGE",
    "REGISTER_IMAGE",
    "COPY_DATA",
)
_REGIONS = ("cn-north-4", "cn-east-3", "ap-southeast-1", "eu-west-0", "af-south-1", "la-south-2")
_BUCKETS = ("ims-export", "backup-bucket", "prod-images", "golden-img", "migration-obs")
_OS_NAMES = ("centos7", "ubuntu22", "euleros2", "win2019", "debian12", "rocky9", "suse15")
_ROLES = ("web", "db", "base", "gpu", "ci")
_FORMATS = ("vhdx", "qed", "raw.gz", "img.xz", "iso9660")
_FLAVORS = ("s6.large.2", "c7.xlarge.4", "m6.2xlarge.8", "kc1.large.2")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Status shares of a history (`running_share` given): most records are finished, a few going.
_RUNNING_SHARE = 0.05
_INIT_SHARE = 0.015
# The share of records written by legacy service nodes in the old time format.
_LEGACY_TIME_SHARE = 0.2
_HISTORY = timedelta(days=30)
# Service nodes (the first 8 hex digits of an id): the seed's, and two more seen in examples.
_NODES = np.array([0xFF808081, 0xFF808082, 0x2C9EB2C5], dtype=np.uint64)
# Jobs drawn at once: the columns of a chunk and its records fit easily in memory.
_CHUNK = 50_000
_LEGACY_OFFSET_MS = 8 * 3600 * 1000  # legacy times are on a UTC+08:00 clock (reference)

# Outcome codes in the columns.
_SUCCESS, _FAIL, _RUNNING, _INIT = 0, 1, 2, 3
_STATUS_NAMES = ("SUCCESS", "FAIL", "RUNNING", "INIT")


@dataclass(frozen=True)
class Regression:
    """From `since` (until `until`), a `share` of jobs (of `job_types`) fails with one reason.

    The reason may be new or one the service already gives (then it grows); `{placeholders}`
    in `fail_reason` are filled per job as the usual reasons' are.
    """

    since: datetime
    error_code: str = "IMG.0188"
    fail_reason: str = (
        "Failed to upload the image to OBS: the KMS key of bucket {bucket} is disabled."
    )
    share: float = 0.4
    until: datetime | None = None
    job_types: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Batch:
    """Generated records, and how the ones not ended at `now` will end.

    `endings` maps the id of each INIT or RUNNING record to `(status, error_code,
    fail_reason)`: the outcome drawn for it with the others, so that a simulator carrying
    the batch on keeps the batch's failure rates (the simulator's `add_scenario` does).
    """

    records: list[dict[str, Any]]
    endings: dict[str, tuple[str, str | None, str | None]]


def job_kinds(job_types: Sequence[str] | None = None) -> tuple[_JobType, ...]:
    """The job types drawn from: the documented mix, or only `job_types`."""
    if job_types is None:
        return _JOB_TYPES
    known = {t.name: t for t in _JOB_TYPES}
    kinds = tuple(known.get(name) or _JobType(name, 1, 600, 0.9, 0.1) for name in job_types)
    if not kinds:
        raise ValueError("job_types must name at least one job type")
    return kinds


def usual_failures() -> dict[str, str]:
    """The usual failure reasons' templates by error code (a change's reason may be one)."""
    return {code: template for code, template, _ in _FAILURES}


def generate_jobs(
    n: int,
    seed: int = DEFAULT_SEED,
    now: datetime | None = None,
    *,
    window: timedelta = _HISTORY,
    job_types: Sequence[str] | None = None,
    regression: Regression | Sequence[Regression] | None = None,
    slow_tail: float = 0.0,
    fast_tail: float = 0.0,
    running_share: float | None = _RUNNING_SHARE,
) -> list[dict[str, Any]]:
    """Return `n` realistic IMS job records, the same ones for the same arguments.

    Args:
        n: how many records.
        seed: the random seed.
        now: the moment the records describe (begin times fall in the `window` before it;
            running jobs are running at it). Default: a fixed moment, so output is stable.
        window: how far back begin times go (30 days by default).
        job_types: only these job types (the documented ones keep their shares).
        regression: from its `since` (until its `until`), a share of the jobs begun then
            fails with its reason; one or several.
        slow_tail: the share of jobs that take 5 to 20 times their usual time.
        fast_tail: the share that end within seconds (quick validations).
        running_share: the share still RUNNING at `now` (about 1.5 % more are INIT). None:
            every job begins inside the window, and those not ended by `now` are running.

    >>> jobs = generate_jobs(3, seed=1)
    >>> sorted(jobs[0])[:5]
    ['begin_time', 'end_time', 'entities', 'error_code', 'fail_reason']
    >>> jobs == generate_jobs(3, seed=1)
    True
    """
    return generate_batch(
        n,
        seed,
        now,
        window=window,
        job_types=job_types,
        regression=regression,
        slow_tail=slow_tail,
        fast_tail=fast_tail,
        running_share=running_share,
    ).records


def generate_batch(
    n: int,
    seed: int = DEFAULT_SEED,
    now: datetime | None = None,
    **options: Any,
) -> Batch:
    """`generate_jobs`'s records with the endings of those still going (same arguments)."""
    records: list[dict[str, Any]] = []
    endings: dict[str, tuple[str, str | None, str | None]] = {}
    for chunk in _chunks(n, seed, now, **options):
        records += chunk.records()
        endings.update(chunk.endings())
    return Batch(records, endings)


def write_jobs(
    path: str | Path,
    n: int,
    seed: int = DEFAULT_SEED,
    now: datetime | None = None,
    **options: Any,
) -> Path:
    """Write `generate_jobs(n, seed, now, **options)` as JSONL, one compact record a line
    (gzip-compressed when `path` ends in `.gz`, the same bytes every time).

    A chunk of records at a time, so memory stays flat however many are written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file, _compressed(file, path) as out:
        for chunk in _chunks(n, seed, now, **options):
            out.write(chunk.text().encode())
    return path


def _compressed(file: BinaryIO, path: Path) -> gzip.GzipFile | contextlib.nullcontext[BinaryIO]:
    """`file`, through gzip when `path` ends in `.gz`: level 9, and no file name and a zero
    time in the header, so that the bytes depend on the records alone (and zlib's version)."""
    if path.suffix.lower() != ".gz":
        return contextlib.nullcontext(file)
    return gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=file, mtime=0)


def write_sample(path: str | Path, n: int, seed: int = DEFAULT_SEED) -> Path:
    """Write `generate_jobs(n, seed)` as JSONL (the committed sample is `n=2000`)."""
    return write_jobs(path, n, seed)


# --- the columns ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    kinds: tuple[_JobType, ...]
    window_ms: int
    now_ms: int
    regressions: tuple[Regression, ...]
    slow_tail: float
    fast_tail: float
    running_share: float | None


def _chunks(
    n: int,
    seed: int,
    now: datetime | None,
    *,
    window: timedelta = _HISTORY,
    job_types: Sequence[str] | None = None,
    regression: Regression | Sequence[Regression] | None = None,
    slow_tail: float = 0.0,
    fast_tail: float = 0.0,
    running_share: float | None = _RUNNING_SHARE,
) -> Iterator[_Chunk]:
    if n < 0:
        raise ValueError(f"cannot generate {n} jobs")
    now = DEFAULT_NOW if now is None else now.astimezone(UTC)
    if isinstance(regression, Regression):
        regression = (regression,)
    shape = _Shape(
        kinds=job_kinds(job_types),
        window_ms=round(window.total_seconds() * 1000),
        now_ms=round(now.timestamp() * 1000),
        regressions=tuple(regression or ()),
        slow_tail=slow_tail,
        fast_tail=fast_tail,
        running_share=running_share,
    )
    if not shape.window_ms > 0:
        raise ValueError("window must be longer than a millisecond")
    root = np.random.SeedSequence(seed % 2**64)
    # Each node's JVM started once; the same for every chunk of a batch.
    jvms = np.random.default_rng(root.spawn(1)[0]).integers(0, 2**32, len(_NODES), np.uint64)
    for number, start in enumerate(range(0, n, _CHUNK)):
        streams = np.random.SeedSequence([seed % 2**64, number]).spawn(5)
        yield _Chunk(streams, shape, min(_CHUNK, n - start), start, jvms)


class _Chunk:
    """The columns of `size` jobs, drawn at once; `records()` makes them API records.

    Each part draws from its own stream (`streams`), so that what is drawn does not depend
    on which parts were asked for first.
    """

    def __init__(
        self,
        streams: Sequence[np.random.SeedSequence],
        shape: _Shape,
        size: int,
        first: int,
        jvms: np.ndarray,
    ) -> None:
        rng, ids, naming, failures, extra = (np.random.default_rng(s) for s in streams)
        self.rng, self.ids_rng, self.names_rng, self.failures_rng = extra, ids, naming, failures
        self.shape, self.size, self.first, self.jvms = shape, size, first, jvms
        kinds = shape.kinds
        weights = np.array([k.weight for k in kinds], dtype=float)
        self.kind = rng.choice(len(kinds), size, p=weights / weights.sum())
        median = np.array([k.median_s for k in kinds])[self.kind]
        sigma = np.array([k.sigma for k in kinds])[self.kind]
        seconds = np.maximum(0.2, median * np.exp(rng.normal(0.0, 1.0, size) * sigma))
        tail = rng.random(size)
        slow = tail < shape.slow_tail
        fast = ~slow & (tail < shape.slow_tail + shape.fast_tail)
        seconds = np.where(slow, seconds * rng.uniform(5, 20, size), seconds)
        seconds = np.where(fast, rng.uniform(0.5, 5, size), seconds)
        failed = rng.random(size) < np.array([k.fail_rate for k in kinds])[self.kind]
        # Failures tend to come early: validation and download errors cut a job short.
        seconds = np.where(failed, seconds * rng.uniform(0.05, 1.0, size), seconds)
        duration = np.maximum(1, np.round(seconds * 1000)).astype(np.int64)
        self.begin, self.end, self.status, self.done = self._timeline(rng, duration)
        self.outcome = np.where(failed, _FAIL, _SUCCESS)
        # -1: a usual reason; i >= 0: the i-th regression's reason.
        self.cause = np.full(size, -1)
        names = np.array([k.name for k in kinds])[self.kind]
        for number, change in enumerate(shape.regressions):
            since = round(change.since.timestamp() * 1000)
            until = np.inf if change.until is None else round(change.until.timestamp() * 1000)
            hit = (self.begin >= since) & (self.begin < until)
            if change.job_types is not None:
                hit &= np.isin(names, change.job_types)
            hit &= rng.random(size) < change.share
            self.outcome = np.where(hit, _FAIL, self.outcome)
            self.cause = np.where(hit, number, self.cause)
        ended = self.status < _RUNNING
        self.status = np.where(ended, self.outcome, self.status)
        # Legacy nodes write the old format; createImageByInstance is itself legacy.
        self.legacy = (names == "createImageByInstance") | (rng.random(size) < _LEGACY_TIME_SHARE)

    def _timeline(
        self, rng: np.random.Generator, duration: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Begin and end times, the status at `now` (ended, RUNNING or INIT), the share done."""
        shape, size = self.shape, self.size
        now, window = shape.now_ms, shape.window_ms
        if shape.running_share is None:
            # A batch as it is at `now`: begun inside the window, running until its end.
            begin = now - np.floor(rng.random(size) * window).astype(np.int64)
            age = now - begin
            done = np.minimum(1.0, age / duration)
            init = age < np.minimum(duration * 0.05, 30_000)
            status = np.where(done >= 1, _SUCCESS, np.where(init, _INIT, _RUNNING))
            return begin, begin + duration, status, done
        roll = rng.random(size)
        init = roll < _INIT_SHARE
        running = ~init & (roll < _INIT_SHARE + shape.running_share)
        done = rng.uniform(0.02, 0.97, size)
        # An ended job began and ended inside the window; one longer than the window is
        # shortened to fit it (rare over a month) rather than begin before it.
        fitted = np.minimum(duration, np.floor(window * rng.uniform(0.5, 1.0, size)))
        room = np.maximum(0, window - fitted)
        begin = now - fitted - np.floor(rng.random(size) * room)
        begin = np.where(running, now - np.floor(duration * done), begin)
        begin = np.where(init, now - np.floor(rng.uniform(500, 20_000, size)), begin)
        status = np.where(init, _INIT, np.where(running, _RUNNING, _SUCCESS))
        end = np.where(status == _SUCCESS, begin + fitted, begin + duration)
        return begin.astype(np.int64), end.astype(np.int64), status, np.where(running, done, 1.0)

    # --- records ----------------------------------------------------------------------------

    def endings(self) -> dict[str, tuple[str, str | None, str | None]]:
        going = np.flatnonzero(self.status >= _RUNNING)
        if not len(going):
            return {}
        ids = self._job_ids
        codes, reasons = self._failures
        return {
            ids[i]: (
                (_STATUS_NAMES[_FAIL], orjson.loads(codes[i]), orjson.loads(reasons[i]))
                if i in codes
                else (_STATUS_NAMES[_SUCCESS], None, None)
            )
            for i in going.tolist()
        }

    def records(self) -> list[dict[str, Any]]:
        """The chunk's API records (parsed back from `text()`: one way of writing them)."""
        return [orjson.loads(line) for line in self.text().split("\n")[:-1]]

    def text(self) -> str:
        """The chunk's records as JSONL, each line what `orjson.dumps(record)` writes.

        Written straight from the columns (a dict per record and per sub-job, then one
        `dumps` each, took most of the time); every string that could hold a quote or a
        backslash (job types, codes, reasons: a scenario's come from its author) is quoted
        with the standard library's JSON string encoder.
        """
        size, rng = self.size, self.rng
        if not size:
            return ""
        kinds = self.shape.kinds
        types = [_quote(k.name) for k in kinds]
        members = [k.name.endswith("MembersJob") for k in kinds]
        with_subs = [k.sub_jobs for k in kinds]
        ids = self._job_ids
        begins = _job_times(self.begin, self.legacy)
        ends = _job_times(self.end, self.legacy)
        image_names = self._image_names
        image_ids = _uuids(rng, size)
        codes, reasons = self._failures
        percent = np.round(self.done, 2).tolist()
        tasks = rng.choice(_TASKS, size).tolist()
        results = self._member_results(np.array(members)[self.kind])
        subs = self._sub_jobs(np.array(with_subs)[self.kind], ids, begins, ends, types)
        lines = []
        for i, (kind, status) in enumerate(
            zip(self.kind.tolist(), self.status.tolist(), strict=True)
        ):
            if members[kind]:
                entities = f'"results":{results[i]}'
            elif status == _SUCCESS:
                entities = f'"image_id":"{image_ids[i]}"'  # as documented: just the new image
            else:
                entities = f'"image_name":"{image_names[i]}"'
            if status == _RUNNING:
                entities += f',"process_percent":{percent[i]!r},"current_task":"{tasks[i]}"'
            code = reason = "null"
            if status == _FAIL:
                code, reason = codes[i], reasons[i]
                entities += f',"error_code":{code},"error":{reason}'
            if i in subs:
                entities += f',"sub_jobs_result":[{subs[i]}]'
            end = ends[i] if status < _RUNNING else ""
            lines.append(
                f'{{"status":"{_STATUS_NAMES[status]}","entities":{{{entities}}},'
                f'"job_id":"{ids[i]}","job_type":{types[kind]},"begin_time":"{begins[i]}",'
                f'"end_time":"{end}","error_code":{code},"fail_reason":{reason}}}\n'
            )
        return "".join(lines)

    @property
    def _job_ids(self) -> list[str]:
        cached: list[str] | None = getattr(self, "_ids", None)
        if cached is None:
            # In every public example the id's time is 1-3 ms after begin_time.
            created = self.begin + self.ids_rng.integers(1, 4, self.size)
            counters = np.arange(self.first + 1, self.first + self.size + 1)
            cached = self._ids = self._make_ids(self.ids_rng, created, counters)
        return cached

    def _make_ids(
        self, rng: np.random.Generator, created_ms: np.ndarray, counters: np.ndarray
    ) -> list[str]:
        """Ids as a few service nodes make them: node, JVM start, creation time, a counter."""
        node = rng.integers(0, len(_NODES), len(created_ms))
        return _hex_ids(_NODES[node], self.jvms[node], created_ms, counters)

    @property
    def _image_names(self) -> list[str]:
        cached: list[str] | None = getattr(self, "_names", None)
        if cached is None:
            rng, size = self.names_rng, self.size
            parts = zip(
                rng.choice(_OS_NAMES, size).tolist(),
                rng.choice(_ROLES, size).tolist(),
                rng.integers(1, 400, size).tolist(),
                strict=True,
            )
            cached = self._names = [f"{os}-{role}-{k:03d}" for os, role, k in parts]
        return cached

    @property
    def _failures(self) -> tuple[dict[int, str], dict[int, str]]:
        """`(error_code, fail_reason)` of each job whose outcome is FAIL, by position, as JSON."""
        cached: tuple[dict[int, str], dict[int, str]] | None = getattr(self, "_fail", None)
        if cached is not None:
            return cached
        rng = self.failures_rng
        failing = np.flatnonzero(self.outcome == _FAIL)
        weights = np.array([w for *_, w in _FAILURES], dtype=float)
        usual = rng.choice(len(_FAILURES), len(failing), p=weights / weights.sum())
        templates = [(code, text) for code, text, _ in _FAILURES]
        templates += [(r.error_code, r.fail_reason) for r in self.shape.regressions]
        cause = self.cause[failing]
        which = np.where(cause >= 0, len(_FAILURES) + cause, usual)
        codes: dict[int, str] = {}
        reasons: dict[int, str] = {}
        for number, (code, text) in enumerate(templates):
            rows = failing[which == number]
            if not len(rows):
                continue
            filled = _fill(text, rng, rows, self)
            positions = rows.tolist()
            codes.update(dict.fromkeys(positions, _quote(code)))
            reasons.update(zip(positions, map(_quote, filled), strict=True))
        self._fail = (codes, reasons)
        return self._fail

    def _member_results(self, is_member: np.ndarray) -> dict[int, str]:
        """Member jobs' `results` (1 to 3 images shared with random projects), as JSON."""
        rng = self.rng
        rows = np.flatnonzero(is_member)
        counts = rng.integers(1, 4, len(rows))
        total = int(counts.sum())
        items = [
            f'{{"image_id":"{image}","project_id":"{project}","status":"success"}}'
            for image, project in zip(_uuids(rng, total), _hex32(rng, total), strict=True)
        ]
        ends = np.cumsum(counts).tolist()
        starts = [0, *ends][:-1]
        return {
            row: "[" + ",".join(items[a:b]) + "]"
            for row, a, b in zip(rows.tolist(), starts, ends, strict=True)
        }

    def _sub_jobs(
        self,
        has_subs: np.ndarray,
        ids: list[str],
        begins: list[str],
        ends: list[str],
        types: list[str],
    ) -> dict[int, str]:
        """Whole-image and multi-volume jobs' sub-jobs following their parent, as JSON."""
        rng = self.rng
        rows = np.flatnonzero(has_subs & (self.status != _INIT))
        counts = rng.integers(2, 4, len(rows))
        parent = np.repeat(rows, counts)
        number = np.arange(len(parent)) - np.repeat(np.cumsum(counts) - counts, counts)
        created = self.begin[parent] + rng.integers(5, 501, len(parent))
        sub_ids = self._make_ids(rng, created, rng.integers(0, 2**16, len(parent)))
        image_ids = _uuids(rng, len(parent))
        # One failed volume fails the whole job; the others may have succeeded.
        spared = ((number > 0) & (rng.random(len(parent)) < 0.5)).tolist()
        names = self._image_names
        codes, reasons = self._failures
        statuses = self.status.tolist()
        subs: dict[int, list[str]] = {}
        for k, (row, nth) in enumerate(zip(parent.tolist(), number.tolist(), strict=True)):
            status = statuses[row]
            failed = status == _FAIL and not spared[k]
            sub_status = _SUCCESS if status == _FAIL and spared[k] else status
            kind = "imsVolumeCreateImageJob" if nth else "imsCreateImageByInstance"
            end = ends[row] if status < _RUNNING else ""
            code, reason = (codes[row], reasons[row]) if failed else ("null", "null")
            subs.setdefault(row, []).append(
                f'{{"status":"{_STATUS_NAMES[sub_status]}","job_id":"{sub_ids[k]}",'
                f'"job_type":"{kind}","begin_time":"{begins[row]}","end_time":"{end}",'
                f'"error_code":{code},"fail_reason":{reason},"entities":{{'
                f'"image_id":"{image_ids[k]}","image_name":"{names[row]}-disk{nth}"}}}}'
            )
        return {row: ",".join(items) for row, items in subs.items()}


# --- vectorised pieces ---------------------------------------------------------------------


_quote: Callable[[str], str] = json.encoder.encode_basestring


def _hex_ids(
    node: np.ndarray, jvm: np.ndarray, created_ms: np.ndarray, counter: np.ndarray
) -> list[str]:
    """32-hex ids in Hibernate's UUIDHexGenerator layout (reference, "Job ids carry...")."""
    rows = np.empty((len(node), 2), dtype=">u8")
    rows[:, 0] = (node.astype(np.uint64) << np.uint64(32)) | jvm.astype(np.uint64)
    millis = created_ms.astype(np.uint64) & np.uint64(0xFFFFFFFFFFFF)
    rows[:, 1] = (millis << np.uint64(16)) | (counter.astype(np.uint64) & np.uint64(0xFFFF))
    text = rows.tobytes().hex()
    return [text[k : k + 32] for k in range(0, len(text), 32)]


def _hex32(rng: np.random.Generator, count: int) -> list[str]:
    """Random 32-hex ids, as project and request ids are (no time inside)."""
    text = rng.bytes(16 * count).hex()
    return [text[k : k + 32] for k in range(0, len(text), 32)]


def _uuids(rng: np.random.Generator, count: int) -> list[str]:
    """Random UUID4s, as image, volume and server ids are (no time inside)."""
    raw = np.frombuffer(rng.bytes(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    t = raw.tobytes().hex()
    return [
        f"{t[k : k + 8]}-{t[k + 8 : k + 12]}-{t[k + 12 : k + 16]}-{t[k + 16 : k + 20]}-"
        f"{t[k + 20 : k + 32]}"
        for k in range(0, len(t), 32)
    ]


def _job_times(millis: np.ndarray, legacy: np.ndarray) -> list[str]:
    """Times as the service writes them: ISO 8601 with `Z`, or legacy on UTC+08:00.

    The same text as `jobtools.times.format_job_time`, for a whole column at once.
    """
    shifted = millis + np.where(legacy, _LEGACY_OFFSET_MS, 0)
    iso = np.datetime_as_string(shifted.astype("datetime64[ms]"), unit="ms").tolist()
    return [
        f"{s[8:10]}-{_MONTHS[int(s[5:7]) - 1]}-{s[:4]} {s[11:19]}:{s[20:23]}" if old else s + "Z"
        for s, old in zip(iso, legacy.tolist(), strict=True)
    ]


# A template's placeholders, each drawn for the rows that need it.
_Field = Callable[[np.random.Generator, np.ndarray, "_Chunk"], list[Any]]


def _pick(options: Sequence[Any]) -> _Field:
    return lambda rng, rows, chunk: rng.choice(np.array(options), len(rows)).tolist()


def _object(rng: np.random.Generator, rows: np.ndarray, chunk: _Chunk) -> list[Any]:
    parts = zip(
        rng.choice(_OS_NAMES, len(rows)).tolist(),
        rng.integers(0, 10**5, len(rows)).tolist(),
        rng.choice(_FORMATS, len(rows)).tolist(),
        strict=True,
    )
    return [f"{os}-{k:05d}.{fmt}" for os, k, fmt in parts]


def _bucket(rng: np.random.Generator, rows: np.ndarray, chunk: _Chunk) -> list[Any]:
    parts = zip(
        rng.choice(_BUCKETS, len(rows)).tolist(),
        rng.integers(0, 100, len(rows)).tolist(),
        strict=True,
    )
    return [f"{name}-{k:02d}" for name, k in parts]


def _job_ref(rng: np.random.Generator, rows: np.ndarray, chunk: _Chunk) -> list[Any]:
    """Another job's id, made within the hour before this one began."""
    created = chunk.begin[rows] - rng.integers(1000, 3_600_000, len(rows))
    return chunk._make_ids(rng, created, rng.integers(0, 2**16, len(rows)))


def _az(rng: np.random.Generator, rows: np.ndarray, chunk: _Chunk) -> list[Any]:
    parts = zip(
        rng.choice(_REGIONS, len(rows)).tolist(), rng.choice(list("abc"), len(rows)), strict=True
    )
    return [f"{region}{zone}" for region, zone in parts]


_FIELDS: dict[str, _Field] = {
    "quota": _pick((50, 100, 200)),
    "image_name": lambda rng, rows, chunk: [chunk._image_names[r] for r in rows.tolist()],
    "object": _object,
    "bucket": _bucket,
    "size": _pick((20, 40, 80, 100, 200, 500, 1200, 2048)),
    "volume_id": lambda rng, rows, chunk: _uuids(rng, len(rows)),
    "seconds": _pick((1800, 3600, 7200)),
    "server_id": lambda rng, rows, chunk: _uuids(rng, len(rows)),
    "image_id": lambda rng, rows, chunk: _uuids(rng, len(rows)),
    "job_ref": _job_ref,
    "region": _pick(_REGIONS),
    "request_id": lambda rng, rows, chunk: _hex32(rng, len(rows)),
    "fmt": _pick(_FORMATS),
    "min_disk": _pick((40, 60, 100)),
    "az": _az,
    "flavor": _pick(_FLAVORS),
}


def _fill(template: str, rng: np.random.Generator, rows: np.ndarray, chunk: _Chunk) -> list[str]:
    """`template` filled for each of `rows`; an unknown placeholder is left as written."""
    fields = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    values: dict[str, list[Any]] = {}
    for name in dict.fromkeys(fields):
        if name == "used":
            continue
        draw = _FIELDS.get(name)
        values[name] = draw(rng, rows, chunk) if draw else ["{" + name + "}"] * len(rows)
    if "used" in fields:
        values["used"] = values.get("quota") or _FIELDS["quota"](rng, rows, chunk)
        values.setdefault("quota", values["used"])  # a quota exceeded is a quota used up
    names = list(values)
    positional = template
    for k, name in enumerate(names):
        positional = positional.replace("{" + name + "}", "{" + str(k) + "}")
    return list(map(positional.format, *(values[name] for name in names)))


# --- the command ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m jobtools.sample`: write the sample, or a scenario of any size, as JSONL."""
    from jobtools.scenarios import SCENARIOS

    parser = argparse.ArgumentParser(
        prog="python -m jobtools.sample",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Without --scenario: a 30-day history, the committed sample's shape.",
    )
    parser.add_argument(
        "--out",
        help="the JSONL file to write, gzipped if it ends in .gz (default: the committed "
        "sample; needed with --scenario)",
    )
    parser.add_argument("--n", type=int, default=None, help="how many jobs (default 2000)")
    parser.add_argument(
        "--seed", type=int, help=f"the random seed (default {DEFAULT_SEED}, a scenario's own)"
    )
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        help="a simulator scenario, sized to --n jobs (default: its own size)",
    )
    parser.add_argument(
        "--now",
        type=datetime.fromisoformat,
        default=DEFAULT_NOW,
        help=f"the moment the records describe, ISO 8601 (default {DEFAULT_NOW:%Y-%m-%dT%H:%MZ})",
    )
    args = parser.parse_args(argv)
    if args.out is None and args.scenario:
        parser.error("--scenario needs --out (the default is the committed sample)")
    out = SAMPLE_PATH if args.out is None else Path(args.out)
    now = args.now if args.now.tzinfo else args.now.replace(tzinfo=UTC)
    started = time.perf_counter()
    if args.scenario:
        chosen = SCENARIOS[args.scenario].sized(args.n, seed=args.seed)
        n = chosen.jobs
        path = write_jobs(out, n, chosen.seed, now, **chosen.options(now))
    else:
        n = 2000 if args.n is None else args.n
        seed = DEFAULT_SEED if args.seed is None else args.seed
        path = write_jobs(out, n, seed, now)
    took = time.perf_counter() - started
    print(f"wrote {n} jobs to {path} in {took:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
