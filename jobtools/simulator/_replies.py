"""Answers: the reply type, and the error bodies of the API gateway and the services.

Every code and status is the public tables' (shared/reference/jobs-api.md, "The gateway's
answers"; each function names its row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import orjson

from jobtools.simulator._faults import Faults


class Reply(NamedTuple):
    """An answer: status, headers (with `X-Request-Id`), body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


def json_headers(request_id: str) -> dict[str, str]:
    return {"Content-Type": "application/json;charset=UTF-8", "X-Request-Id": request_id}


# The clouds the simulator plays (`jobtools.api.endpoints.CLOUDS`, which the simulator does
# not import: it needs no client); on Open Telekom Cloud ECS answers Common.1503 with 429
# instead of 503 (each cloud's ECS error codes).
CLOUD_NAMES = ("huaweicloud", "huaweicloud-eu", "otc", "otc-swiss")
_1503_AS_429 = frozenset({"otc", "otc-swiss"})


def json_reply(
    status: int, payload: object, request_id: str, extra: Mapping[str, str] | None = None
) -> Reply:
    return Reply(status, {**json_headers(request_id), **(extra or {})}, orjson.dumps(payload))


def gateway_error(status: int, code: str, message: str, request_id: str) -> Reply:
    """The API gateway's error body: `error_code`, `error_msg`, `request_id`."""
    return json_reply(
        status, {"error_code": code, "error_msg": message, "request_id": request_id}, request_id
    )


def ims_error(status: int, code: str, message: str, request_id: str) -> Reply:
    """The image service's own error body: `{"error": {"code": ..., "message": ...}}`."""
    return json_reply(status, {"error": {"code": code, "message": message}}, request_id)


def retry_after(faults: Faults) -> dict[str, str]:
    return {} if faults.retry_after is None else {"Retry-After": f"{faults.retry_after:g}"}


def throttled(request_id: str, faults: Faults) -> Reply:
    limit = 200 if faults.rate_limit is None else faults.rate_limit
    message = (
        "The throttling threshold has been reached: "
        f"policy user over ratelimit, limit:{limit:g}, time:1 second"
    )
    body = {"error_code": "APIGW.0308", "error_msg": message, "request_id": request_id}
    return json_reply(429, body, request_id, retry_after(faults))


# --- the answers by name: each error in one of the documented body shapes ----------------


def no_route(request_id: str, message: str | None = None) -> Reply:
    """404 `APIGW.0101`: no such API (host, route, version or method). A configuration
    error, never a statement about a job (API signing guide, error codes)."""
    text = message or "The API does not exist or has not been published in the environment."
    return gateway_error(404, "APIGW.0101", text, request_id)


def unauthorized(code: str, message: str, request_id: str) -> Reply:
    """401 `APIGW.0301` (signature, AK or token wrong; the AK lock) or `APIGW.0307` (token
    expired), saying what is wrong (never a secret)."""
    return gateway_error(401, code, message, request_id)


def job_not_found(job_id: str, request_id: str, service: str = "ims") -> Reply:
    """400 for a job the service does not know (never had, or deleted after its retention):
    IMS `IMG.0023` ("exception during task query", OTC IMS error codes), ECS and the others
    `Common.0011` ("invalid job ID", ECS error codes). Every table gives 400; none gives 404.
    Both services answer in the nested `{"error": {"code", "message"}}` shape."""
    if service == "ims":
        message = f"An exception occurred during the job query: job {job_id} does not exist."
        return ims_error(400, "IMG.0023", message, request_id)
    message = f"Failed to query system tasks: invalid job ID {job_id}."
    return ims_error(400, "Common.0011", message, request_id)


def internal_error(request_id: str) -> Reply:
    """An injected 500: the gateway's `APIGW.0201` (bad request or internal error)."""
    return gateway_error(500, "APIGW.0201", "Internal server error.", request_id)


def unavailable(request_id: str, faults: Faults) -> Reply:
    """An injected 503: the gateway's `APIGW.0613` (the identity service is unavailable), in
    the `code`/`message` shape the official SDK also reads."""
    payload = {"code": "APIGW.0613", "message": "IAM is unavailable. Please retry later."}
    return json_reply(503, payload, request_id, retry_after(faults))


def backend_down(status: int, request_id: str, faults: Faults) -> Reply:
    """502 or 504 `APIGW.0201`: the backend is unavailable (502) or timed out (504)."""
    message = "Backend unavailable" if status == 502 else "Backend timeout"
    reply = gateway_error(status, "APIGW.0201", message, request_id)
    return Reply(reply.status, {**reply.headers, **retry_after(faults)}, reply.body)


def broken_body(kind: str, shape: float, body: bytes, job_id: str, request_id: str) -> Reply:
    """A 200 whose body is `malformed` (HTML, or JSON with no status) or `truncated`."""
    if kind == "truncated":
        return Reply(
            200, json_headers(request_id), body[: max(1, int(len(body) * (0.1 + 0.8 * shape)))]
        )
    if shape < 0.5:
        html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
        return Reply(200, {"Content-Type": "text/html", "X-Request-Id": request_id}, html)
    return json_reply(200, {"job_id": job_id, "message": "ok"}, request_id)


def flow_limited(request_id: str, faults: Faults) -> Reply:
    """ECS's `Common.0024`: too many concurrent requests, retry later. HTTP 202, as both ECS
    error tables give it (a 2xx that is throttling: a client must read the code)."""
    message = "The request exceeds flow over limit. Please try again later."
    payload = {"error": {"code": "Common.0024", "message": message}}
    return json_reply(202, payload, request_id, retry_after(faults))


def overloaded(request_id: str, faults: Faults, cloud: str = "huaweicloud") -> Reply:
    """ECS's `Common.1503`: the service is busy. 503 on Huawei Cloud, 429 on Open Telekom
    Cloud (each cloud's ECS error codes)."""
    status = 429 if cloud in _1503_AS_429 else 503
    payload = {"error": {"code": "Common.1503", "message": "The service is currently unavailable."}}
    return json_reply(status, payload, request_id, retry_after(faults))


def fault_reply(kind: str, request_id: str, faults: Faults, cloud: str = "huaweicloud") -> Reply:
    """The answer for an injected fault named as `FaultDice.status` names it."""
    if kind == "throttle":
        return throttled(request_id, faults)
    if kind == "500":
        return internal_error(request_id)
    if kind == "503":
        return unavailable(request_id, faults)
    if kind == "502":
        return backend_down(502, request_id, faults)
    if kind == "504":
        return backend_down(504, request_id, faults)
    if kind == "flow_limit":
        return flow_limited(request_id, faults)
    return overloaded(request_id, faults, cloud)
