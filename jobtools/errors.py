"""Every exception jobtools raises, and the one place HTTP failures become them.

    JobsError                         base; `.job_id` and `.outcome` give the context
    ├── InvalidIdError(ValueError)    a job or project id refused before any request "invalid_id"
    ├── CredentialsError(ValueError)  credentials missing or unusable
    ├── TransportError                no HTTP answer at all
    │   ├── FetchTimeout(TimeoutError)          outcome "timeout"
    │   └── FetchConnectionError(ConnectionError)  outcome "connection_error"
    ├── BadBodyError                  an answer that is not a job record; `.raw_body`; retried
    │   ├── MismatchedIdError         a 200 naming another job; `.body_job_id`     retried
    │   └── BodyTooLargeError         a body over the size cap "too_large"        not retried
    └── ApiError                      an HTTP error answer; status, error_code, message, request_id
        ├── BadRequestError           400  "bad_request"
        ├── AuthenticationError       401  "auth"  (also 400 IMG.0030)  stops the batch
        ├── ForbiddenError            403  "forbidden"  (IMG.0026 stops the batch)
        ├── NotFoundError             404  "not_found"
        ├── ThrottledError            429  "throttled"  (also APIGW.0308, Common.0024 and
        │                                  Common.1503 under any status)      retried
        ├── ServerError               5xx  "server_error"   502 and 504 retried
        │   ├── InternalServerError        500             retried
        │   └── ServiceUnavailableError    503             retried
        └── UnexpectedStatusError     any other status "http_error"

`error_for_status()` is the only mapping from a status code (and error code) to a class;
the outcome strings are those of the frame's `outcome` column (`OUTCOMES` in
`jobtools.frame`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadBodyError",
    "BadRequestError",
    "BodyTooLargeError",
    "CREDENTIAL_CODES",
    "CredentialsError",
    "FetchConnectionError",
    "FetchTimeout",
    "ForbiddenError",
    "InternalServerError",
    "InvalidIdError",
    "JobsError",
    "MismatchedIdError",
    "NotFoundError",
    "RETRY_STATUSES",
    "ROLE_CODES",
    "ServerError",
    "ServiceUnavailableError",
    "THROTTLE_CODES",
    "ThrottledError",
    "TransportError",
    "UnexpectedStatusError",
    "error_class",
    "error_for_status",
    "error_from_response",
    "parse_error_body",
    "parse_retry_after",
]

# Statuses worth another attempt: throttling and the gateway's transient failures.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

# Error codes that decide the class whatever the status (shared/reference/jobs-api.md,
# "Statuses, retention, errors, throttling"): the gateway's and ECS's throttling shapes;
# IMS's "invalid project id or token" (a 400 that means the credentials). Other codes
# (IMG.0023 "exception during job query": 400, or 404 for an unknown job) go by status.
THROTTLE_CODES = frozenset({"APIGW.0308", "Common.0024", "Common.1503"})
CREDENTIAL_CODES = frozenset({"IMG.0030", "APIGW.0301"})
# 403 "invalid role": no request of this user will be allowed, like wrong credentials.
ROLE_CODES = frozenset({"IMG.0026"})


class JobsError(Exception):
    """Base of every jobtools error."""

    outcome: ClassVar[str] = "http_error"

    def __init__(self, message: str, *, job_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.job_id = job_id

    @property
    def is_retriable(self) -> bool:
        """True when another attempt may succeed."""
        return False

    @property
    def stops_batch(self) -> bool:
        """True when no other request can succeed either (wrong credentials, invalid role)."""
        return False

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickling calls the class with `args` alone, which loses or refuses the
        # keyword-only fields (job_id, raw_body, retry_after…): rebuild, then restore them all.
        return (_rebuild, (type(self), self.args), self.__dict__)


def _rebuild(cls: type[JobsError], args: tuple[Any, ...]) -> JobsError:
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class InvalidIdError(JobsError, ValueError):
    """A job or project id that cannot be put in a URL path (empty, `/`, `..`, too long…)."""

    outcome = "invalid_id"


class CredentialsError(JobsError, ValueError):
    """No usable credentials. The message names variables or arguments, never values."""


class TransportError(JobsError):
    """The request got no HTTP answer."""

    @property
    def is_retriable(self) -> bool:
        """Always: timeouts and broken connections are worth another attempt."""
        return True


class FetchTimeout(TransportError, TimeoutError):
    """Connecting, reading or the pool wait took longer than the timeout."""

    outcome = "timeout"


class FetchConnectionError(TransportError, ConnectionError):
    """The connection could not be made or broke."""

    outcome = "connection_error"


class BadBodyError(JobsError):
    """A successful answer whose body is not a job record (not JSON, truncated, no `status`)."""

    outcome = "bad_body"

    def __init__(
        self,
        message: str,
        *,
        raw_body: str,
        status: int | None = None,
        request_id: str | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message, job_id=job_id)
        self.raw_body = raw_body
        self.status = status
        self.request_id = request_id

    @property
    def is_retriable(self) -> bool:
        """True: about 1 % of a busy service's 200s are malformed, and a second try succeeds."""
        return True


class MismatchedIdError(BadBodyError):
    """A 200 whose record names another job than the one asked; `.body_job_id` is its id."""

    outcome = "mismatched_id"

    def __init__(
        self,
        message: str,
        *,
        raw_body: str,
        body_job_id: str = "",
        status: int | None = None,
        request_id: str | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(
            message, raw_body=raw_body, status=status, request_id=request_id, job_id=job_id
        )
        self.body_job_id = body_job_id


class BodyTooLargeError(BadBodyError):
    """A body over the client's size cap (`max_body_bytes`), compressed or decompressed."""

    outcome = "too_large"

    @property
    def is_retriable(self) -> bool:
        """False: the same job gives the same body."""
        return False


class ApiError(JobsError):
    """The service answered with an error status."""

    def __init__(
        self,
        status: int,
        error_code: str | None = None,
        message: str | None = None,
        request_id: str | None = None,
        *,
        job_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        text = message or f"HTTP {status}"
        detail = f"HTTP {status}" + (f" {error_code}" if error_code else "") + f": {text}"
        if request_id:
            detail += f" (request id {request_id})"
        super().__init__(detail, job_id=job_id)
        self.status = status
        self.error_code = error_code
        self.message = text
        self.request_id = request_id
        # Seconds the server asked us to wait (`Retry-After`), None when it did not say.
        self.retry_after = retry_after

    @property
    def is_retriable(self) -> bool:
        """True for 429, 500, 502, 503 and 504."""
        return self.status in RETRY_STATUSES


class BadRequestError(ApiError):
    """400: the request was malformed (e.g. IMG.0001)."""

    outcome = "bad_request"


class AuthenticationError(ApiError):
    """401: the token or signature was refused (e.g. APIGW.0301); also 400 IMG.0030."""

    outcome = "auth"

    @property
    def stops_batch(self) -> bool:
        """True: every other request carries the same credentials."""
        return True


class ForbiddenError(ApiError):
    """403: authenticated, but not allowed to read this job (IMG.0026: an invalid role)."""

    outcome = "forbidden"

    @property
    def stops_batch(self) -> bool:
        """True for an invalid role (IMG.0026), which no other request escapes."""
        return self.error_code in ROLE_CODES


class NotFoundError(ApiError):
    """404: no such job (finished ECS jobs are deleted after about a day)."""

    outcome = "not_found"


class ThrottledError(ApiError):
    """429 (APIGW.0308), or a throttling code under any status (Common.0024, Common.1503)."""

    outcome = "throttled"

    @property
    def is_retriable(self) -> bool:
        """Always, whatever the status it came with."""
        return True


class ServerError(ApiError):
    """A 5xx answer; 502 and 504 are retried, other unnamed ones are not."""

    outcome = "server_error"


class InternalServerError(ServerError):
    """500: the service failed."""


class ServiceUnavailableError(ServerError):
    """503: the service is unavailable for now."""


class UnexpectedStatusError(ApiError):
    """Any other error status (405, 409, 3xx without a location…)."""

    outcome = "http_error"


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    429: ThrottledError,
    500: InternalServerError,
    503: ServiceUnavailableError,
}


def error_class(status: int, error_code: str | None = None) -> type[ApiError]:
    """The ApiError subclass for `status`, or for `error_code` where the code decides.

    >>> error_class(400, "IMG.0030").__name__
    'AuthenticationError'
    """
    if error_code in THROTTLE_CODES:
        return ThrottledError
    if error_code in CREDENTIAL_CODES:
        return AuthenticationError
    if error_code in ROLE_CODES:
        return ForbiddenError
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else UnexpectedStatusError


def error_for_status(
    status: int,
    error_code: str | None = None,
    message: str | None = None,
    request_id: str | None = None,
    *,
    job_id: str | None = None,
    retry_after: float | None = None,
) -> ApiError:
    """Build the ApiError for a status and error code (the only mapping to a class)."""
    return error_class(status, error_code)(
        status, error_code, message, request_id, job_id=job_id, retry_after=retry_after
    )


_PAIRS = (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message"))


def _find_pair(body: Mapping[str, Any], depth: int = 0) -> tuple[str | None, str | None]:
    # The official SDK's order: the three flat pairs, then the same pairs one level down.
    for code_key, msg_key in _PAIRS:
        if code_key in body and msg_key in body:
            return _text(body[code_key]), _text(body[msg_key])
    for code_key, msg_key in _PAIRS:
        if code_key in body or msg_key in body:
            return _text(body.get(code_key)), _text(body.get(msg_key))
    if depth < 2:
        for value in body.values():
            if isinstance(value, Mapping):
                code, message = _find_pair(value, depth + 1)
                if code or message:
                    return code, message
    return None, None


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def parse_error_body(
    body: bytes | str, headers: Mapping[str, str] | None = None
) -> tuple[str | None, str | None, str | None]:
    """Read `(error code, message, request id)` from any of the four documented body shapes.

    The request id comes from the `X-Request-Id` header, else from the body's `request_id`.
    A body that is not JSON gives its (shortened) text as the message.

    >>> parse_error_body(b'{"error": {"code": "IMG.0024", "message": "no such job"}}')
    ('IMG.0024', 'no such job', None)
    """
    request_id = None
    if headers is not None:
        request_id = headers.get("X-Request-Id") or headers.get("x-request-id") or None
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, Mapping):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return None, (text.strip()[:500] or None), request_id
    code, message = _find_pair(data)
    if request_id is None:
        request_id = _text(data.get("request_id")) or _find_request_id(data)
    return code, message, request_id


def _find_request_id(data: Mapping[str, Any]) -> str | None:
    for value in data.values():
        if isinstance(value, Mapping) and value.get("request_id"):
            return _text(value["request_id"])
    return None


def error_from_response(
    status: int,
    body: bytes | str,
    headers: Mapping[str, str] | None = None,
    *,
    job_id: str | None = None,
) -> ApiError:
    """Build the ApiError for an error answer, reading its body, request id and Retry-After."""
    code, message, request_id = parse_error_body(body, headers)
    retry_after = None
    if headers is not None:
        retry_after = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
    return error_for_status(
        status, code, message, request_id, job_id=job_id, retry_after=retry_after
    )


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value (seconds or an HTTP date); None if absent.

    >>> parse_retry_after("3")
    3.0
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())
