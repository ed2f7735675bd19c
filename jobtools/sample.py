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
chosen `job_types`, a failure `regression` from a given time, and slow and fast tails.

    python -m jobtools.sample --out jobtools/data/sample_jobs.jsonl [--n 2000] [--seed 20241106]

rewrites the committed sample byte for byte.
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from jobtools.ids import make_job_id, resource_id
from jobtools.times import format_job_time

__all__ = [
    "DEFAULT_NOW",
    "DEFAULT_SEED",
    "Regression",
    "SAMPLE_PATH",
    "generate_jobs",
    "main",
    "write_sample",
]

DEFAULT_SEED = 20241106
# The sample's "now": fixed so that the committed file is reproducible.
DEFAULT_NOW = datetime(2024, 11, 6, 12, 0, 0, tzinfo=UTC)
# The committed sample of ~2,000 jobs, shipped inside the package (package data).
SAMPLE_PATH = Path(str(resources.files("jobtools") / "data" / "sample_jobs.jsonl"))


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
_FORMATS = ("vhdx", "qed", "raw.gz", "img.xz", "iso9660")
_FLAVORS = ("s6.large.2", "c7.xlarge.4", "m6.2xlarge.8", "kc1.large.2")

# Status shares: most records in a history are finished; a few are still going.
_RUNNING_SHARE = 0.05
_INIT_SHARE = 0.015
# The share of records written by legacy service nodes in the old time format.
_LEGACY_TIME_SHARE = 0.2
_HISTORY = timedelta(days=30)
# Service nodes (the first 8 hex digits of an id): the seed's, and two more seen in examples.
_NODES = (0xFF808081, 0xFF808082, 0x2C9EB2C5)


@dataclass(frozen=True)
class Regression:
    """From `since` on, a share of jobs fails with a reason not seen before."""

    since: datetime
    error_code: str = "IMG.0188"
    fail_reason: str = (
        "Failed to upload the image to OBS: the KMS key of bucket {bucket} is disabled."
    )
    share: float = 0.4


@dataclass
class _Ids:
    """Ids as a few service nodes make them: node, JVM start, creation time, a counter."""

    rng: random.Random
    jvms: dict[int, int] = field(default_factory=dict)
    counter: int = 0

    def at(self, moment: datetime) -> str:
        node = self.rng.choice(_NODES)
        jvm = self.jvms.setdefault(node, self.rng.getrandbits(32))
        self.counter = (self.counter + 1) & 0xFFFF
        # In every public example the id's time is 1-3 ms after begin_time.
        created = moment.timestamp() + self.rng.uniform(0.001, 0.003)
        return make_job_id(created, node=node, jvm=jvm, counter=self.counter)


def generate_jobs(
    n: int,
    seed: int = DEFAULT_SEED,
    now: datetime | None = None,
    *,
    window: timedelta = _HISTORY,
    job_types: Sequence[str] | None = None,
    regression: Regression | None = None,
    slow_tail: float = 0.0,
    fast_tail: float = 0.0,
    running_share: float = _RUNNING_SHARE,
) -> list[dict[str, Any]]:
    """Return `n` realistic IMS job records, the same ones for the same arguments.

    Args:
        n: how many records.
        seed: the random seed.
        now: the moment the records describe (begin times fall in the `window` before it;
            running jobs are running at it). Default: a fixed moment, so output is stable.
        window: how far back begin times go (30 days by default).
        job_types: only these job types (the documented ones keep their shares).
        regression: from its `since`, a share of jobs fails with its new reason.
        slow_tail: the share of jobs that take 5 to 20 times their usual time.
        fast_tail: the share that end within seconds (quick validations).
        running_share: the share still RUNNING at `now`.

    >>> jobs = generate_jobs(3, seed=1)
    >>> sorted(jobs[0])[:5]
    ['begin_time', 'end_time', 'entities', 'error_code', 'fail_reason']
    >>> jobs == generate_jobs(3, seed=1)
    True
    """
    rng = random.Random(seed)
    now = DEFAULT_NOW if now is None else now.astimezone(UTC)
    kinds: tuple[_JobType, ...] = _JOB_TYPES
    if job_types is not None:
        known = {t.name: t for t in _JOB_TYPES}
        kinds = tuple(known.get(name) or _JobType(name, 1, 600, 0.9, 0.1) for name in job_types)
        if not kinds:
            raise ValueError("job_types must name at least one job type")
    weights = [t.weight for t in kinds]
    shape = _Shape(window, regression, slow_tail, fast_tail, running_share)
    ids = _Ids(random.Random(f"ids:{seed}"))
    return [_job(rng, rng.choices(kinds, weights)[0], now, shape, ids) for _ in range(n)]


@dataclass(frozen=True)
class _Shape:
    window: timedelta
    regression: Regression | None
    slow_tail: float
    fast_tail: float
    running_share: float


def _job(
    rng: random.Random, kind: _JobType, now: datetime, shape: _Shape, ids: _Ids
) -> dict[str, Any]:
    duration = _duration(rng, kind)
    tail = rng.random()
    if tail < shape.slow_tail:
        duration *= rng.uniform(5, 20)
    elif tail < shape.slow_tail + shape.fast_tail:
        duration = timedelta(seconds=rng.uniform(0.5, 5))
    roll = rng.random()
    if roll < _INIT_SHARE:
        status = "INIT"
    elif roll < _INIT_SHARE + shape.running_share:
        status = "RUNNING"
    else:
        status = "FAIL" if rng.random() < kind.fail_rate else "SUCCESS"

    legacy = kind.name == "createImageByInstance" or rng.random() < _LEGACY_TIME_SHARE
    done = 0.0  # the share of a running job already done
    if status == "INIT":
        begin, end = now - timedelta(seconds=rng.uniform(0.5, 20)), None
    elif status == "RUNNING":
        done = rng.uniform(0.02, 0.97)
        begin, end = now - duration * done, None
    else:
        if status == "FAIL":
            # Failures tend to come early: validation and download errors cut a job short.
            duration *= rng.uniform(0.05, 1.0)
        # Begin times spread over the window, the job ended by now (a job longer than the
        # window began before it).
        room = max(0.0, (shape.window - duration).total_seconds())
        begin = now - duration - timedelta(seconds=rng.uniform(0, room))
        end = begin + duration
    regressed = (
        shape.regression is not None
        and status in ("SUCCESS", "FAIL")
        and begin >= shape.regression.since
        and rng.random() < shape.regression.share
    )
    if regressed:
        status = "FAIL"

    image_name = f"{rng.choice(_OS_NAMES)}-{rng.choice(('web', 'db', 'base', 'gpu', 'ci'))}-"
    image_name += f"{rng.randrange(1, 400):03d}"
    record: dict[str, Any] = {
        "status": status,
        "entities": {},
        "job_id": ids.at(begin),
        "job_type": kind.name,
        "begin_time": format_job_time(begin, legacy=legacy),
        "end_time": "" if end is None else format_job_time(end, legacy=legacy),
        "error_code": None,
        "fail_reason": None,
    }
    entities: dict[str, Any] = record["entities"]
    if kind.name.endswith("MembersJob"):
        entities["results"] = [
            {"image_id": resource_id(rng), "project_id": _hex_id(rng), "status": "success"}
            for _ in range(rng.randint(1, 3))
        ]
    elif status == "SUCCESS":
        entities["image_id"] = resource_id(rng)  # as in the documented example: just the new image
    else:
        entities["image_name"] = image_name
    if status == "RUNNING":
        entities["process_percent"] = round(done, 2)
        entities["current_task"] = rng.choice(_TASKS)
    if status == "FAIL":
        code, reason = _failure(rng, image_name, ids, begin)
        if regressed and shape.regression is not None:
            code = shape.regression.error_code
            reason = shape.regression.fail_reason.format(bucket=f"{rng.choice(_BUCKETS)}-07")
        record["error_code"] = code
        record["fail_reason"] = reason
        entities["error_code"] = code
        entities["error"] = reason
    if kind.sub_jobs and status in ("SUCCESS", "FAIL", "RUNNING"):
        entities["sub_jobs_result"] = _sub_jobs(rng, record, image_name, ids, begin)
    return record


def _duration(rng: random.Random, kind: _JobType) -> timedelta:
    seconds = kind.median_s * math.exp(rng.gauss(0.0, kind.sigma))
    return timedelta(seconds=max(0.2, seconds))


def _failure(rng: random.Random, image_name: str, ids: _Ids, begin: datetime) -> tuple[str, str]:
    code, template, _ = rng.choices(_FAILURES, [w for *_, w in _FAILURES])[0]
    quota = rng.choice((50, 100, 200))
    fields = {
        "quota": quota,
        "used": quota,
        "image_name": image_name,
        "object": f"{rng.choice(_OS_NAMES)}-{rng.randrange(10**5):05d}.{rng.choice(_FORMATS)}",
        "bucket": f"{rng.choice(_BUCKETS)}-{rng.randrange(100):02d}",
        "size": rng.choice((20, 40, 80, 100, 200, 500, 1200, 2048)),
        "volume_id": resource_id(rng),
        "seconds": rng.choice((1800, 3600, 7200)),
        "server_id": resource_id(rng),
        "image_id": resource_id(rng),
        "job_ref": ids.at(begin - timedelta(seconds=rng.uniform(1, 3600))),
        "region": rng.choice(_REGIONS),
        "request_id": _hex_id(rng),
        "fmt": rng.choice(_FORMATS),
        "min_disk": rng.choice((40, 60, 100)),
        "az": f"{rng.choice(_REGIONS)}{rng.choice('abc')}",
        "flavor": rng.choice(_FLAVORS),
    }
    return code, template.format(**fields)


def _sub_jobs(
    rng: random.Random, parent: dict[str, Any], image_name: str, ids: _Ids, begin: datetime
) -> list[dict[str, Any]]:
    subs = []
    for number in range(rng.randint(2, 3)):
        status = parent["status"]
        if status == "FAIL" and number > 0 and rng.random() < 0.5:
            status = "SUCCESS"  # one failed volume fails the whole job; the others may succeed
        sub: dict[str, Any] = {
            "status": status,
            "job_id": ids.at(begin + timedelta(milliseconds=rng.uniform(5, 500))),
            "job_type": "imsVolumeCreateImageJob" if number else "imsCreateImageByInstance",
            "begin_time": parent["begin_time"],
            "end_time": parent["end_time"] if status != "RUNNING" else "",
            "error_code": parent["error_code"] if status == "FAIL" else None,
            "fail_reason": parent["fail_reason"] if status == "FAIL" else None,
            "entities": {"image_id": resource_id(rng), "image_name": f"{image_name}-disk{number}"},
        }
        subs.append(sub)
    return subs


def _hex_id(rng: random.Random) -> str:
    """A random 32-hex id, as project and request ids are (no time inside)."""
    return f"{rng.getrandbits(128):032x}"


def write_sample(path: str | Path, n: int, seed: int = DEFAULT_SEED) -> Path:
    """Write `generate_jobs(n, seed)` as JSONL, one compact record a line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for record in generate_jobs(n, seed=seed):
            out.write(orjson.dumps(record) + b"\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobtools.sample", description=__doc__)
    parser.add_argument("--out", default=str(SAMPLE_PATH), help="the JSONL file")
    parser.add_argument("--n", type=int, default=2000, help="how many jobs (default 2000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    path = write_sample(args.out, args.n, args.seed)
    print(f"wrote {args.n} jobs to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
