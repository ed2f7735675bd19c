"""Job plans: when a simulated job starts, runs and ends, and what it answers at a given time.

A plan holds its times on the simulator's clock. Records loaded from a file keep their own
timeline: `shift` maps simulator time to record time (record = simulator + shift), so a job
that was RUNNING in the file keeps its `begin_time` and ends a little after the file's "now".
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from jobtools.ids import resource_id
from jobtools.schema import RESPONSE_KEYS, JobStatus
from jobtools.simulator import _services
from jobtools.times import format_job_time

# The keys of an answer, in the seed's order (which is the service's).
RECORD_KEYS = RESPONSE_KEYS
_PROGRESS_KEYS = frozenset({"process_percent", "current_task", "subJobId"})
_ERROR_KEYS = frozenset({"error_code", "error"})
_LEGACY = re.compile(r"\d{1,2}-[A-Za-z]{3}-\d{4} \d{2}:\d{2}:\d{2}:\d{1,3}")

# current_task names (the sample data's vocabulary) by job family; first keyword found wins.
_TASKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Export", ("CREATE_SNAPSHOT", "EXPORT_IMAGE", "CONVERT_FORMAT", "UPLOAD_TO_OBS")),
    ("Import", ("DOWNLOAD_FROM_OBS", "CHECK_IMAGE", "CONVERT_FORMAT", "REGISTER_IMAGE")),
    ("Copy", ("COPY_DATA", "CHECK_IMAGE", "REGISTER_IMAGE")),
    ("Members", ("CHECK_IMAGE", "REGISTER_IMAGE")),
)
_CREATE_TASKS = ("CREATE_SNAPSHOT", "COPY_DATA", "CHECK_IMAGE", "REGISTER_IMAGE")

# Lent to a drawn failure when no failed record is at hand.
FALLBACK_FAILURES: tuple[tuple[str, str], ...] = (
    ("IMG.0090", "Failed to export the image to bucket ims-export-00: AccessDenied."),
    ("IMG.0015", "The image quota is exceeded. Quota: 100, used: 100."),
    # IMG.0103 as the IMS error table gives it: no permission to access the original key.
    ("IMG.0103", "No permission to access the original key of the encrypted image."),
)
SUCCESS_SHARE = 0.85


def time_style(text: object) -> str:
    """`legacy` for a `04-Jun-2015 18:11:06:586` string, else `iso`."""
    return "legacy" if isinstance(text, str) and _LEGACY.fullmatch(text.strip()) else "iso"


def tasks_for(job_type: str) -> tuple[str, ...]:
    """The `current_task` names a job of this type goes through, in order."""
    for keyword, tasks in _TASKS:
        if keyword.lower() in job_type.lower():
            return tasks
    return _CREATE_TASKS


def sub_job_id(job_id: str) -> str:
    """A stable 32-hex sub-job id for the progress route's `subJobId`."""
    return hashlib.md5(job_id.encode(), usedforsecurity=False).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """How a job ends: its terminal status and the fields that come with it."""

    status: str
    error_code: str | None = None
    fail_reason: str | None = None
    entities: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # Where process_percent stops: 1 on success, somewhere on the way for a failure. It is a
    # fraction from 0 to 1 in every real example (reference, "Progress is a fraction").
    final_percent: float = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class JobPlan:
    """A job's life on the simulator clock: INIT from `begin`, RUNNING from `start`, then ended."""

    job_id: str
    job_type: str
    begin: float
    start: float
    end: float
    outcome: Outcome
    tasks: tuple[str, ...]
    style: str = "iso"
    shift: float = 0.0
    start_percent: float = 0.0
    # Entities shown before the end (image_name, sub-jobs…); progress is added while running.
    running_entities: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    begin_text: str | None = None
    # A record that came already ended is served exactly as it came.
    verbatim: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # PENDING_PAYMENT until then (an unpaid yearly/monthly order: inf until someone pays).
    pending_until: float = -math.inf
    service: str = "ims"

    def status_at(self, now: float) -> str:
        """The job's status at simulator time `now`."""
        if now < self.pending_until:
            return JobStatus.PENDING_PAYMENT
        if now >= self.end:
            return self.outcome.status
        return JobStatus.RUNNING if now >= self.start else JobStatus.INIT

    def progress_at(self, now: float) -> tuple[float, str]:
        """`(process_percent, current_task)` at simulator time `now`, the progress a fraction."""
        if now < self.start or now < self.pending_until:
            return 0.0, ""
        span = self.end - self.start
        share = 1.0 if now >= self.end or span <= 0 else (now - self.start) / span
        percent = self.start_percent + (self.outcome.final_percent - self.start_percent) * share
        # The task follows the overall progress, so a failure stops in the task it failed in.
        task = self.tasks[min(int(percent * len(self.tasks)), len(self.tasks) - 1)]
        return round(percent, 3), task

    def record_at(self, now: float, *, progress_route: bool = False) -> dict[str, Any]:
        """The API's answer for this job at simulator time `now` (a new dict).

        `progress_route` is `GET /v1/cloudimages/job/{id}`, whose entities always carry
        `process_percent`, `current_task` and `subJobId`.
        """
        ended = now >= self.end
        if ended and self.verbatim is not None:
            record = dict(self.verbatim)
            if progress_route:
                entities = record.get("entities")
                record["entities"] = {
                    **self._progress_entities(now),
                    **(entities if isinstance(entities, Mapping) else {}),
                }
            return record
        status = self.status_at(now)
        entities = dict(self.outcome.entities if ended else self.running_entities)
        if status == JobStatus.PENDING_PAYMENT and self.service != "ims":
            entities = {}  # nothing is created before the order is paid
        if status == JobStatus.RUNNING and self.service == "ims":
            percent, task = self.progress_at(now)
            entities.update(process_percent=percent, current_task=task)
        if progress_route:
            entities = {**self._progress_entities(now), **entities}
        record = {
            "status": str(status),
            "entities": entities,
            "job_id": self.job_id,
            "job_type": self.job_type,
            "begin_time": self.begin_text or self.format(self.begin),
            "end_time": self.format(self.end) if ended else "",
            "error_code": self.outcome.error_code if ended else None,
            "fail_reason": self.outcome.fail_reason if ended else None,
        }
        record.update(self.extra)
        return record

    def format(self, seconds: float) -> str:
        """A simulator time as this job writes its times."""
        return format_job_time(seconds + self.shift, legacy=self.style == "legacy")

    def _progress_entities(self, now: float) -> dict[str, Any]:
        percent, task = self.progress_at(now)
        return {
            "process_percent": percent,
            "current_task": task,
            "subJobId": sub_job_id(self.job_id),
        }


# --- building plans -----------------------------------------------------------------------

Failures = Mapping[str, Sequence[tuple[str, str]]]
# How running records end, by job id: (status, error_code, fail_reason).
Endings = Mapping[str, tuple[str, str | None, str | None]]


def job_rng(seed: object, job_id: str) -> random.Random:
    """One generator per job, so that a job's plan does not depend on which others exist."""
    return random.Random(f"{seed}:{job_id}")


def durations(rng: random.Random, horizon: float) -> tuple[float, float]:
    """`(seconds in INIT, seconds to the end)`: the total skewed short, within `horizon`."""
    total = horizon * (0.2 + 0.8 * rng.random() ** 2)
    return total * rng.uniform(0.02, 0.1), total


def failures_by_type(records: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """Failed records' `(error_code, fail_reason)` by job type, `""` holding them all."""
    pool: dict[str, list[tuple[str, str]]] = {"": []}
    for record in records:
        code, reason = record.get("error_code"), record.get("fail_reason")
        if record.get("status") == JobStatus.FAIL and isinstance(reason, str) and reason:
            pair = (str(code or ""), reason)
            pool.setdefault(str(record.get("job_type") or ""), []).append(pair)
            pool[""].append(pair)
    return pool


def _entities_for(
    base: Mapping[str, Any],
    status: str,
    error: tuple[str | None, str | None],
    times: tuple[str, str],
) -> dict[str, Any]:
    """`base` entities as they read in `status`, sub-jobs following their parent."""
    entities = {k: v for k, v in base.items() if k not in _PROGRESS_KEYS | _ERROR_KEYS}
    code, reason = error if status == JobStatus.FAIL else (None, None)
    if status == JobStatus.FAIL:
        entities.update(error_code=code, error=reason)
    subs = entities.get("sub_jobs_result")
    if isinstance(subs, list):
        entities["sub_jobs_result"] = [
            {
                **sub,
                "status": status,
                "begin_time": times[0],
                "end_time": times[1],
                "error_code": code,
                "fail_reason": reason,
            }
            if isinstance(sub, Mapping)
            else sub
            for sub in subs
        ]
    return entities


def planned_job(
    job_id: str,
    job_type: str,
    *,
    rng: random.Random,
    begin: float,
    start: float,
    end: float,
    failures: Failures,
    status: str | None = None,
    error: tuple[str | None, str | None] | None = None,
    base: Mapping[str, Any] | None = None,
    service: str = "ims",
    sub_ids: Sequence[str] = (),
    **fields: Any,
) -> JobPlan:
    """A plan that ends in `status` (drawn when None), its failure borrowed when not given.

    `base` holds the entities known from the start (image_name, sub-jobs…); a success adds an
    `image_id` unless the job is about image members. Jobs of another `service` carry that
    service's entities instead, their sub-jobs taking `sub_ids`. `fields` go to `JobPlan`.
    """
    base = dict(base or {})
    final = status or (JobStatus.SUCCESS if rng.random() < SUCCESS_SHARE else JobStatus.FAIL)
    if final == JobStatus.FAIL and error is None:
        own = _services.service(service).failures
        pool = own or failures.get(job_type) or failures.get("") or FALLBACK_FAILURES
        error = rng.choice(list(pool))
    error = error or (None, None)
    plan = JobPlan(
        job_id=job_id,
        job_type=job_type,
        begin=begin,
        start=start,
        end=end,
        outcome=Outcome(final),
        tasks=tasks_for(job_type),
        service=service,
        **fields,
    )
    begin_text = plan.begin_text or plan.format(begin)
    # An unpaid order has no end yet: its sub-jobs' end times stay empty.
    end_text = plan.format(end) if math.isfinite(end) else ""
    if service != "ims":
        return _service_plan(plan, final, error, begin_text, end_text, list(sub_ids))
    entities = _entities_for(base, final, error, (begin_text, end_text))
    if final == JobStatus.SUCCESS and "results" not in entities:
        entities.setdefault("image_id", resource_id(rng))
    # A failure stops somewhere after where the job already was.
    done = plan.start_percent
    stop = done + (1 - done) * rng.uniform(0.05, 0.95)
    percent = 1.0 if final == JobStatus.SUCCESS else round(stop, 3)
    outcome = Outcome(final, *error, entities=entities, final_percent=percent)
    running = _entities_for(base, JobStatus.RUNNING, (None, None), (begin_text, ""))
    return dataclasses.replace(
        plan,
        outcome=outcome,
        running_entities=running,
        start_percent=min(plan.start_percent, percent),
    )


def _service_plan(
    plan: JobPlan,
    final: str,
    error: tuple[str | None, str | None],
    begin_text: str,
    end_text: str,
    sub_ids: list[str],
) -> JobPlan:
    """An ECS/EVS/BMS/VPC plan: that service's entities, the same draws running and ended."""

    def draw(status: str, end_text: str) -> dict[str, Any]:
        return _services.entities(
            plan.service,
            status,
            rng=random.Random(f"entities:{plan.job_id}"),
            sub_ids=lambda n: sub_ids[:n],
            times=(begin_text, end_text),
            error=error,
        )

    outcome = Outcome(final, *error, entities=draw(final, end_text))
    return dataclasses.replace(plan, outcome=outcome, running_entities=draw(JobStatus.RUNNING, ""))


def paid(plan: JobPlan, now: float, start: float, end: float) -> JobPlan:
    """The plan of a PENDING_PAYMENT job whose order was paid at `now`."""
    return dataclasses.replace(plan, pending_until=now, start=start, end=end)


def plans_from_records(
    records: Sequence[Mapping[str, Any]],
    times: Sequence[tuple[float | None, float | None]],
    now: float,
    *,
    seed: object,
    horizon: float,
    failures: Failures,
    at: float | None = None,
    endings: Endings | None = None,
) -> list[JobPlan]:
    """Plans for API records, given their parsed `(begin, end)` epoch times.

    Ended records are served as they came. INIT and RUNNING ones carry on from the records'
    "now" (`at`, by default their latest time), which becomes simulator time `now`, and end
    within `horizon` seconds with the outcome `endings` gives them, else a seeded one. Other
    statuses (PENDING_PAYMENT, unknown) never change.
    """
    known = [t for pair in times for t in pair if t is not None]
    shift = (at if at is not None else max(known) if known else now) - now
    plans = []
    for record, (begin, end) in zip(records, times, strict=True):
        job_id = str(record["job_id"])
        job_type = str(record.get("job_type") or "")
        status = record.get("status")
        begin_s = now if begin is None else begin - shift
        raw_begin = record.get("begin_time")
        common: dict[str, Any] = {
            "style": time_style(raw_begin),
            "shift": shift,
            "begin_text": raw_begin if isinstance(raw_begin, str) and raw_begin else None,
            "extra": {k: v for k, v in record.items() if k not in RECORD_KEYS},
        }
        entities = record.get("entities")
        entities = entities if isinstance(entities, Mapping) else {}
        if status in (JobStatus.INIT, JobStatus.RUNNING):
            rng = job_rng(seed, job_id)
            init_for, total = durations(rng, horizon)
            percent = entities.get("process_percent")
            running = status == JobStatus.RUNNING
            ending = (endings or {}).get(job_id)
            plans.append(
                planned_job(
                    job_id,
                    job_type,
                    rng=rng,
                    begin=min(begin_s, now),
                    # A running record carries on from where it was, rather than restart at 0.
                    start=now if running else now + init_for,
                    end=now + total,
                    failures=failures,
                    status=ending[0] if ending else None,
                    error=ending[1:] if ending and ending[0] == JobStatus.FAIL else None,
                    base=entities,
                    start_percent=_percent(percent) if running else 0.0,
                    **common,
                )
            )
            continue
        terminal = status in (JobStatus.SUCCESS, JobStatus.FAIL)
        end_s = min(end - shift, now) if end is not None else begin_s
        plans.append(
            JobPlan(
                job_id=job_id,
                job_type=job_type,
                begin=begin_s,
                start=begin_s,
                end=end_s if terminal else -math.inf,
                outcome=Outcome(
                    str(status),
                    record.get("error_code"),
                    record.get("fail_reason"),
                    entities,
                    # Where a failed job stopped, for the progress route.
                    final_percent=1.0
                    if status == JobStatus.SUCCESS
                    else round(job_rng(seed, job_id).uniform(0.05, 0.95), 2),
                ),
                tasks=tasks_for(job_type),
                verbatim=dict(record),
                **common,
            )
        )
    return plans


def _percent(value: object) -> float:
    """A record's process_percent as a fraction, 0 when absent or not a number.

    Records written as 0-100 (older files of ours) are read as percentages.
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value) / 100 if value > 1 else max(0.0, float(value))
    return 0.0
