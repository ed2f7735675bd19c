"""The services that answer `GET /v1/{project_id}/jobs/{job_id}`, and their entity shapes.

IMS, ECS, EVS, BMS and VPC (EIP) serve the same path and top-level fields; their `entities`
differ (reference, "Entities by service"): ECS and BMS hold `sub_jobs` (each with a
`server_id`, and on failure an `errorcode_message`) and `sub_jobs_total`; EVS holds
`volume_id`, `volume_type`, `size`, `name` and `sub_jobs`; VPC (EIP) jobs hold the
`publicip_id` / `bandwidth_id` they act on. The official SDK clients of those services parse
these shapes into their models.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Callable, Mapping
from typing import Any

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
    "vpc": Service(
        "vpc",
        ("createPublicip", "deletePublicip", "updateBandwidth"),
        None,
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


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


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
        out: dict[str, Any] = {
            "volume_id": _uuid(rng),
            "volume_type": rng.choice(("SSD", "SAS", "GPSSD")),
            "size": rng.choice((40, 100, 200, 500)),
            "name": f"volume-{rng.randrange(10**4):04d}",
        }
        if status == JobStatus.FAIL:
            out["volume_id"] = ""
        return out
    if name == "vpc":
        return {"publicip_id": _uuid(rng), "bandwidth_id": _uuid(rng)}
    count = rng.randint(1, 3)
    subs = []
    for number, sub_id in enumerate(sub_ids(count)):
        failed = status == JobStatus.FAIL and (number == 0 or rng.random() < 0.5)
        sub_status = JobStatus.FAIL if failed else status
        ended = sub_status in (JobStatus.SUCCESS, JobStatus.FAIL)
        sub_entities: dict[str, Any] = {"server_id": _uuid(rng)}
        if failed:
            # ECS: why a sub-job failed is its entities' errorcode_message (reference).
            sub_entities = {"server_id": "", "errorcode_message": reason or "unknown error"}
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
    return {"sub_jobs_total": count, "sub_jobs": subs}


def resource_key(record_entities: Mapping[str, Any]) -> str | None:
    """The entity key naming the resource a job acts on, as the simulator writes them."""
    for key in ("image_id", "server_id", "volume_id", "backup_id", "publicip_id"):
        if key in record_entities:
            return key
    return None
