"""The services that answer `GET /v1/{project_id}/jobs/{job_id}`, and their entity shapes.

IMS, ECS, EVS, BMS and VPC (EIP) serve the same path and top-level fields; their `entities`
differ (reference, "Entities by service"): ECS and BMS hold `sub_jobs` (each with a
`server_id`, and on failure an `errorcode_message`) and `sub_jobs_total`; EVS holds
`volume_id`, `volume_type`, `size`, `name` and `sub_jobs`; VPC (EIP) jobs hold `sub_jobs`
only (the official EIP SDK's `SubJobsInfo`). The official SDK clients of those services
(huaweicloudsdkecs, -evs, -bms, -eip) parse these shapes into their models.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

from jobtools.ids import resource_id
from jobtools.schema import JobStatus


@dataclasses.dataclass(frozen=True)
class Service:
    """A service's job types (the first the most common), its sub-job type and failures."""

    name: str
    job_types: tuple[str, ...]
    sub_job_type: str | None
    failures: tuple[tuple[str, str], ...]


SERVICES: dict[str, Service] = {
    "ims": Service("ims", (), None, ()),
    # ECS job types and sub-job type as the ECS API reference's examples name them.
    "ecs": Service(
        "ecs",
        ("createServer", "deleteServer", "attachVolume", "resizeServer"),
        "createSingleServer",
        (
            ("Ecs.0013", "Insufficient EIP quota."),
            ("Ecs.0039", "The flavor is sold out in this availability zone."),
            ("Ecs.0000", "Request error! Check the request body."),
        ),
    ),
    "bms": Service(
        "bms",
        ("baremetalBatchCreate", "baremetalBatchOperate"),
        "baremetalSingleCreate",
        (("BMS.0028", "The flavor is sold out."), ("BMS.0216", "Insufficient quota.")),
    ),
    "evs": Service(
        "evs",
        ("createVolume", "extendVolume", "deleteVolume"),
        "createSingleVolume",
        (
            ("EVS.2024", "The disk type is sold out."),
            ("EVS.5400", "Insufficient disk quota."),
        ),
    ),
    # EIP jobs on vpc.{region}: the official EIP SDK reads their entities as `sub_jobs`.
    "vpc": Service(
        "vpc",
        ("batchCreatePublicips", "batchDeletePublicips"),
        "createPublicip",
        (("VPC.0501", "Insufficient EIP quota."),),
    ),
}


def service(name: str) -> Service:
    """The service called `name` (ims, ecs, evs, bms, vpc); ValueError for another."""
    try:
        return SERVICES[name]
    except KeyError:
        raise ValueError(
            f"unknown service {name!r}: one of {', '.join(sorted(SERVICES))}"
        ) from None


def entities(
    name: str,
    status: str,
    *,
    rng: random.Random,
    sub_ids: Callable[[int], list[str]],
    times: tuple[str, str],
    error: tuple[str | None, str | None] = (None, None),
    sub_job_type: str | None = None,
) -> dict[str, Any]:
    """The `entities` of a `name` job in `status`, drawn from `rng` (same draws, same result).

    `sub_ids(n)` makes n sub-job ids; `times` are the parent's begin and end texts.
    """
    spec = service(name)
    code, reason = error if status == JobStatus.FAIL else (None, None)
    if name == "evs":
        volume: dict[str, Any] = {
            "volume_id": "" if status == JobStatus.FAIL else resource_id(rng),
            "volume_type": rng.choice(("SSD", "SAS", "GPSSD")),
            "size": rng.choice((40, 100, 200, 500)),
            "name": f"volume-{rng.randrange(10**4):04d}",
        }
        return {**volume, "sub_jobs": []}
    count = rng.randint(1, 3)
    subs = []
    for number, sub_id in enumerate(sub_ids(count)):
        failed = status == JobStatus.FAIL and (number == 0 or rng.random() < 0.5)
        sub_status = JobStatus.FAIL if failed else status
        ended = sub_status in (JobStatus.SUCCESS, JobStatus.FAIL)
        if name == "vpc":
            sub_entities: dict[str, Any] = {
                "publicip_id": resource_id(rng),
                "bandwidth_id": resource_id(rng),
            }
        else:
            sub_entities = {"server_id": resource_id(rng)}
        if failed:
            # ECS/BMS: why a sub-job failed is its entities' errorcode_message (reference).
            key = "publicip_id" if name == "vpc" else "server_id"
            sub_entities = {key: "", "errorcode_message": reason or "unknown error"}
        subs.append(
            {
                "status": str(sub_status),
                "entities": sub_entities,
                "job_id": sub_id,
                "job_type": sub_job_type or spec.sub_job_type,
                "begin_time": times[0],
                "end_time": times[1] if ended else "",
                "error_code": code if failed else None,
                "fail_reason": reason if failed else None,
            }
        )
    if name == "vpc":
        return {"sub_jobs": subs}  # the EIP SDK's SubJobsInfo: sub_jobs only
    return {"sub_jobs_total": count, "sub_jobs": subs}
