"""Answers: the reply type, and the error bodies of the API gateway and the image service."""

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
    """404 `APIGW.0101`: no such API (path or method)."""
    text = message or "The API does not exist or has not been published in the environment."
    return gateway_error(404, "APIGW.0101", text, request_id)


def unauthorized(problem: str, request_id: str) -> Reply:
    """401 `APIGW.0301`, saying what is wrong (never a secret)."""
    message = f"Incorrect IAM authentication information: {problem}"
    return gateway_error(401, "APIGW.0301", message, request_id)


def job_not_found(job_id: str, request_id: str) -> Reply:
    """404 for a job the service does not know (never had, or deleted after its retention),
    with `IMG.0023` in the image service's nested shape."""
    message = f"Failed to query the job: job {job_id} does not exist."
    return ims_error(404, "IMG.0023", message, request_id)


def internal_error(request_id: str) -> Reply:
    """An injected 500, in the `errorCode`/`errorMsg` shape."""
    payload = {"errorCode": "IMG.0500", "errorMsg": "Internal server error."}
    return json_reply(500, payload, request_id)


def unavailable(request_id: str, faults: Faults) -> Reply:
    """An injected 503, in the `code`/`message` shape."""
    payload = {"code": "IMG.0503", "message": "Service unavailable, please retry later."}
    return json_reply(503, payload, request_id, retry_after(faults))


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
    """ECS's `Common.0024`: too many concurrent requests. A 400, yet throttling: retry later."""
    message = "The request exceeds flow over limit. Please try again later."
    payload = {"error": {"code": "Common.0024", "message": message}}
    return json_reply(400, payload, request_id, retry_after(faults))


def overloaded(request_id: str, faults: Faults) -> Reply:
    """ECS's 503 `Common.1503`: the service is busy."""
    payload = {"error": {"code": "Common.1503", "message": "The service is currently unavailable."}}
    return json_reply(503, payload, request_id, retry_after(faults))


def fault_reply(kind: str, request_id: str, faults: Faults) -> Reply:
    """The answer for an injected fault named as `FaultDice.status` names it."""
    if kind == "throttle":
        return throttled(request_id, faults)
    if kind == "500":
        return internal_error(request_id)
    if kind == "503":
        return unavailable(request_id, faults)
    if kind == "flow_limit":
        return flow_limited(request_id, faults)
    return overloaded(request_id, faults)
