"""Every exception and warning jobtools raises, and the one place HTTP failures become them.

    JobsError                         base; `.job_id` and `.outcome` give the context
    ├── InvalidIdError(ValueError)    a job or project id refused before any request: invalid_id
    ├── CredentialsError(ValueError)  credentials missing or unusable
    ├── TransportError                no HTTP answer at all
    │   ├── FetchTimeout(TimeoutError)          outcome timeout
    │   └── FetchConnectionError(ConnectionError)  outcome connection_error
    │       ├── CertificateError      the server's certificate does not verify  stops the batch
    │       └── ProxyError            the proxy answered instead of the service (407: stops)
    ├── BadBodyError                  an answer that is not a job record; `.raw_body`; retried
    │   ├── MismatchedIdError         a 200 naming another job; `.body_job_id`     retried
    │   └── BodyTooLargeError         a body over the size cap: too_large         not retried
    └── ApiError                      an HTTP error answer; status, error_code, message, request_id
        ├── BadRequestError           400  bad_request
        ├── AuthenticationError       401  auth  (also IMG.0030, Common.0018)  stops the batch
        ├── ForbiddenError            403  forbidden  (IMG.0026, APIGW.0302… stop the batch)
        ├── NotFoundError             404  not_found  (also 400 IMG.0023 and Common.0011)
        ├── NoSuchApiError            404 APIGW.0101: the endpoint or route is wrong
        │                                  http_error  stops the batch; never about a job
        ├── ThrottledError            429  throttled  (also APIGW.0308, Common.0024 and
        │                                  Common.1503 under any status)      retried
        ├── ServerError               5xx  server_error   502 and 504 retried
        │   ├── InternalServerError        500             retried
        │   └── ServiceUnavailableError    503             retried
        └── UnexpectedStatusError     any other status: http_error

    ValueError                        files and frames (read_jobs, read_parquet, the analyses)
    ├── CorruptInputError             input unreadable with errors="raise"; `.problems`
    ├── CsvError                      a CSV file that cannot be read; `.path`, `.line`
    ├── BadFileError                  a Parquet file that cannot be part of the frame; `.path`
    └── MissingColumnsError           a frame lacks contract columns a function needs

    UserWarning
    ├── PlainHttpWarning              credentials about to go over plain http:// to another host
    ├── ExposedSimulatorWarning       the simulator listens beyond this machine
    ├── CorruptInputWarning           unreadable input was skipped; file and line named
    ├── NaiveTimeWarning              zone-less times fell in a daylight-saving change
    ├── EncodingGuessWarning          a file's encoding was a close guess
    ├── AcceleratorNotBuiltWarning    the compiled JSONL scanner is not built (Python reads)
    ├── NearMissWarning               text held near-misses of job ids
    ├── RejoinedIdWarning             job ids cut by a line wrap were read whole
    └── PollLogWarning                the poll log could not be written; the wait goes on

    Exception (internal: the session's signals, which the client turns into BodyTooLargeError
    and BadBodyError; they never reach a caller)
    ├── BodyTooLarge                  a body over the cap, on the wire or decoded
    └── UndecodableBody               an unknown Content-Encoding or broken compressed data

`error_for_status()` is the only mapping from a status code (and error code) to a class;
each class's `outcome` is a member of `Outcome` (`jobtools.outcome`), the values of the
frame's `outcome` column (`OUTCOMES` in `jobtools.schema`). `refuses_credentials()` is the
one definition of "the credentials were refused" (the client stops its batch, the waits end
`refused`, the monitor says why), and `refusal_cause()` names the cause in one line.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Iterable, Mapping
from os import PathLike
from typing import Any, ClassVar

import numpy as np
import orjson

from jobtools.outcome import Outcome

__all__ = [
    "AcceleratorNotBuiltWarning",
    "ApiError",
    "AuthenticationError",
    "BadBodyError",
    "BadFileError",
    "BadRequestError",
    "BodyTooLarge",
    "BodyTooLargeError",
    "CREDENTIAL_CODES",
    "CertificateError",
    "CorruptInputError",
    "CorruptInputWarning",
    "CredentialsError",
    "CsvError",
    "EncodingGuessWarning",
    "ExposedSimulatorWarning",
    "FetchConnectionError",
    "FetchTimeout",
    "ForbiddenError",
    "InternalServerError",
    "InvalidIdError",
    "JobsError",
    "MismatchedIdError",
    "MissingColumnsError",
    "NO_API_CODES",
    "NaiveTimeWarning",
    "NearMissWarning",
    "NoSuchApiError",
    "NotFoundError",
    "PlainHttpWarning",
    "PollLogWarning",
    "ProxyError",
    "RETRY_STATUSES",
    "ROLE_CODES",
    "RejoinedIdWarning",
    "ServerError",
    "ServiceUnavailableError",
    "THROTTLE_CODES",
    "ThrottledError",
    "TransportError",
    "UNKNOWN_JOB_CODES",
    "UndecodableBody",
    "UnexpectedStatusError",
    "canonical_code",
    "clock_skew",
    "describe_problems",
    "error_class",
    "error_for_status",
    "error_from_response",
    "parse_error_body",
    "parse_retry_after",
    "refusal_cause",
    "refused_rows",
    "refuses_credentials",
    "stops_batch",
]

# Statuses worth another attempt: throttling and the gateway's transient failures.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

# Error codes that decide the class whatever the status, each as the public error tables give
# it (shared/reference/jobs-api.md, "The gateway's answers"). Dedicated gateways and Open
# Telekom Cloud spell the gateway's codes `APIG.` for `APIGW.`: `canonical_code` reads both.
#
# Throttling: the gateway's 429 APIGW.0308; ECS's Common.0024 ("exceeds flow over limit",
# documented as HTTP 202) and Common.1503 (503 on Huawei Cloud, 429 on Open Telekom Cloud).
THROTTLE_CODES = frozenset({"APIGW.0308", "Common.0024", "Common.1503"})
# The credentials refused, for every request that carries them: a wrong signature, AK or
# token, and the AK lock (APIGW.0301, 401); an expired token or one of another region
# (APIGW.0307, 401); ECS's invalid token (Common.0013, 401); a project id that is not the
# credentials' (IMS IMG.0030 and ECS Common.0018, both 400).
CREDENTIAL_CODES = frozenset({"APIGW.0301", "APIGW.0307", "Common.0013", "IMG.0030", "Common.0018"})
# No permission, for every request of these credentials (403): IMS's invalid role (IMG.0026),
# the gateway's access denied (APIGW.0302, APIGW.0306) and project unavailable (APIGW.0310).
ROLE_CODES = frozenset({"IMG.0026", "APIGW.0302", "APIGW.0306", "APIGW.0310"})
# The service does not know the job: IMS IMG.0023 ("exception during task query") and ECS
# Common.0011 ("invalid job ID"), both 400 in every table (no document gives 404).
UNKNOWN_JOB_CODES = frozenset({"IMG.0023", "Common.0011"})
# The API does not exist or is not published (404 APIGW.0101): a wrong host, route or
# version. A configuration error, never a statement about a job.
NO_API_CODES = frozenset({"APIGW.0101"})

# A server clock this far from ours is named in a refusal; past the gateway's 15 minutes it is
# the cause (a signature's X-Sdk-Date more than 15 minutes off is refused: API signing guide).
SKEW_NOTED = 5 * 60.0
SKEW_REFUSED = 15 * 60.0


def canonical_code(code: str | None) -> str | None:
    """`code` with the gateway's `APIG.` prefix read as `APIGW.` (the same table).

    >>> canonical_code("APIG.0301")
    'APIGW.0301'
    """
    if code is not None and code.startswith("APIG."):
        return "APIGW." + code[5:]
    return code


def refuses_credentials(outcome: str | None, error_code: str | None = None) -> bool:
    """True when an answer says no request with these credentials can succeed.

    The one definition: `auth` (a 401, or a code of `CREDENTIAL_CODES` under any status), or
    `forbidden` with a code of `ROLE_CODES` (no role, access denied: for every job alike). A
    403 without such a code is about one job, and refuses nothing else.
    """
    if outcome == Outcome.AUTH:
        return True
    return outcome == Outcome.FORBIDDEN and canonical_code(error_code) in ROLE_CODES


def stops_batch(outcome: str | None, error_code: str | None = None) -> bool:
    """True when no other request of the batch can succeed: the credentials were refused, or
    the API itself does not exist (a wrong endpoint or route)."""
    return refuses_credentials(outcome, error_code) or canonical_code(error_code) in NO_API_CODES


def refused_rows(outcomes: Iterable[Any], error_codes: Iterable[Any]) -> np.ndarray:
    """`refuses_credentials` for each row of a frame's `outcome` and `fetch_error_code`."""
    return np.fromiter(
        (
            refuses_credentials(
                outcome if isinstance(outcome, str) else None,
                code if isinstance(code, str) else None,
            )
            for outcome, code in zip(outcomes, error_codes, strict=True)
        ),
        dtype=bool,
    )


def clock_skew(headers: Mapping[str, str] | None, now: float) -> float | None:
    """Seconds the server's clock (its `Date` header) is ahead of `now`; None without one."""
    value = headers.get("date") or headers.get("Date") if headers is not None else None
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp() - now


def _minutes(seconds: float) -> str:
    minutes = abs(seconds) / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def refusal_cause(
    error_code: str | None, message: str | None = None, skew: float | None = None
) -> str:
    """The likely cause of a refusal, in a few words, from its code, message and the clock skew.

    >>> refusal_cause("APIGW.0307", "token expires, expires_at: 2026-01-01")
    'the token has expired (or is for another region): get a new one'
    >>> refusal_cause("APIGW.0301", "verify aksk signature fail", skew=-1200.0)
    "your clock is 20 min ahead of the server's (signatures more than 15 min off are refused)"
    """
    code = canonical_code(error_code)
    text = (message or "").lower()
    clock = None
    if skew is not None and abs(skew) >= SKEW_NOTED:
        side = "behind" if skew > 0 else "ahead of"
        clock = f"your clock is {_minutes(skew)} {side} the server's"
    # Only a signature (APIGW.0301) depends on the clock: there the skew is the cause.
    if clock is not None and abs(skew or 0) >= SKEW_REFUSED - 60 and code == "APIGW.0301":
        return f"{clock} (signatures more than 15 min off are refused)"
    if "reach the limit" in text:
        cause = (
            "the access key is locked for 5 minutes after more than 5 failed signatures in a "
            "row (check the SK, then try again in 5 minutes)"
        )
    elif code == "APIGW.0307" or "expire" in text:
        cause = "the token has expired (or is for another region): get a new one"
    elif code in ("IMG.0030", "Common.0018"):
        cause = "the project id does not match the credentials (check the project id)"
    elif code == "APIGW.0310":
        cause = "the project is unavailable (frozen or deleted)"
    elif code in ROLE_CODES:
        cause = "no permission: the credentials' role does not allow this call"
    elif "secretkey" in text or "ak not exist" in text or "access key" in text:
        cause = "the access key (AK) does not exist"
    elif code == "Common.0013" or "token" in text:
        cause = "the token is not valid (wrong, or of another account)"
    else:
        cause = "wrong AK/SK or token: the signature was refused"
    return cause if clock is None else f"{cause}; note: {clock}"


class JobsError(Exception):
    """Base of every jobtools error."""

    outcome: ClassVar[Outcome] = Outcome.HTTP_ERROR

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

    outcome = Outcome.INVALID_ID


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

    outcome = Outcome.TIMEOUT


class FetchConnectionError(TransportError, ConnectionError):
    """The connection could not be made or broke."""

    outcome = Outcome.CONNECTION_ERROR


class CertificateError(FetchConnectionError):
    """The server's TLS certificate does not verify: no retry will change it."""

    @property
    def is_retriable(self) -> bool:
        """False: the same certificate comes back."""
        return False

    @property
    def stops_batch(self) -> bool:
        """True: every request goes to the same host."""
        return True


class ProxyError(FetchConnectionError):
    """The proxy (`HTTPS_PROXY`…) answered itself, e.g. 407 or 502; `.status` is its answer."""

    def __init__(
        self, message: str, *, status: int | None = None, job_id: str | None = None
    ) -> None:
        super().__init__(message, job_id=job_id)
        self.status = status

    @property
    def is_retriable(self) -> bool:
        """True for the proxy's own transient failures (502, 503, 504, no status)."""
        return self.status is None or self.status in RETRY_STATUSES

    @property
    def stops_batch(self) -> bool:
        """True when the proxy refuses us (407 and the like): every request goes through it."""
        return not self.is_retriable


class BadBodyError(JobsError):
    """A successful answer whose body is not a job record (not JSON, truncated, no `status`)."""

    outcome = Outcome.BAD_BODY

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

    outcome = Outcome.MISMATCHED_ID

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

    outcome = Outcome.TOO_LARGE

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
        clock_skew: float | None = None,
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
        # Seconds the server's clock (its `Date` header) is ahead of ours, when it said.
        self.clock_skew = clock_skew

    @property
    def is_retriable(self) -> bool:
        """True for 429, 500, 502, 503 and 504."""
        return self.status in RETRY_STATUSES

    @property
    def stops_batch(self) -> bool:
        """True when no other request can succeed (see `stops_batch()`)."""
        return stops_batch(self.outcome, self.error_code)

    @property
    def cause(self) -> str:
        """One line for the user: why the batch stopped, or what the answer means."""
        if refuses_credentials(self.outcome, self.error_code):
            cause = refusal_cause(self.error_code, self.message, self.clock_skew)
            return f"the service refused the credentials: {cause} ({self._code_text()})"
        return self._code_text()

    def _code_text(self) -> str:
        code = f"HTTP {self.status}" + (f" {self.error_code}" if self.error_code else "")
        return f"{code}: {self.message}"


class BadRequestError(ApiError):
    """400: the request was malformed (e.g. IMG.0001)."""

    outcome = Outcome.BAD_REQUEST


class AuthenticationError(ApiError):
    """401: the token or signature was refused (APIGW.0301, APIGW.0307 expired token); also
    400 IMG.0030 and Common.0018 (the project id is not the credentials'). Stops the batch:
    every other request carries the same credentials."""

    outcome = Outcome.AUTH


class ForbiddenError(ApiError):
    """403: not allowed to read this job; IMG.0026 (invalid role) and the gateway's access
    denied (APIGW.0302, 0306, 0310) refuse every job and stop the batch."""

    outcome = Outcome.FORBIDDEN


class NotFoundError(ApiError):
    """The service does not know the job: 400 IMG.0023 or Common.0011 as documented, or a
    plain 404 (ended jobs are deleted, ECS: about a day after they end)."""

    outcome = Outcome.NOT_FOUND


class NoSuchApiError(ApiError):
    """404 APIGW.0101: the API does not exist at this endpoint and route (a wrong host,
    service, route or version). A configuration error: it stops the batch and says nothing
    about any job, so no job is written off as not found."""

    outcome = Outcome.HTTP_ERROR


class ThrottledError(ApiError):
    """429 (APIGW.0308), or a throttling code under any status (Common.0024, Common.1503)."""

    outcome = Outcome.THROTTLED

    @property
    def is_retriable(self) -> bool:
        """Always, whatever the status it came with."""
        return True


class ServerError(ApiError):
    """A 5xx answer; 502 and 504 are retried, other unnamed ones are not."""

    outcome = Outcome.SERVER_ERROR


class InternalServerError(ServerError):
    """500: the service failed."""


class ServiceUnavailableError(ServerError):
    """503: the service is unavailable for now."""


class UnexpectedStatusError(ApiError):
    """Any other error status (405, 409, 3xx without a location…)."""

    outcome = Outcome.HTTP_ERROR


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
    code = canonical_code(error_code)
    if code in THROTTLE_CODES:
        return ThrottledError
    if code in CREDENTIAL_CODES:
        return AuthenticationError
    if code in ROLE_CODES:
        return ForbiddenError
    if code in NO_API_CODES:
        return NoSuchApiError
    if code in UNKNOWN_JOB_CODES and status in (400, 404):
        return NotFoundError
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
    clock_skew: float | None = None,
) -> ApiError:
    """Build the ApiError for a status and error code (the only mapping to a class)."""
    return error_class(status, error_code)(
        status,
        error_code,
        message,
        request_id,
        job_id=job_id,
        retry_after=retry_after,
        clock_skew=clock_skew,
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
    skew = clock_skew(headers, dt.datetime.now(dt.UTC).timestamp())
    return error_for_status(
        status, code, message, request_id, job_id=job_id, retry_after=retry_after, clock_skew=skew
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


class PlainHttpWarning(UserWarning):
    """Credentials are about to go over plain `http://` to a host that is not this machine."""


class ExposedSimulatorWarning(UserWarning):
    """The simulator listens beyond this machine (e.g. `--host 0.0.0.0`)."""


class CorruptInputWarning(UserWarning):
    """Some input could not be read and was skipped; the message names file and line."""


class NaiveTimeWarning(UserWarning):
    """Times written without a zone fell in a daylight-saving change of the zone given."""


class EncodingGuessWarning(UserWarning):
    """A file's encoding was guessed, and another one was nearly as likely: check its text."""


class AcceleratorNotBuiltWarning(UserWarning):
    """The compiled JSONL scanner is not built: JSONL is read by the Python engine."""


class NearMissWarning(UserWarning):
    """Text held values marked as job ids that are not job ids (a character short, say)."""


class RejoinedIdWarning(UserWarning):
    """Job ids cut in two by a line wrap were read whole; the message names their lines."""


class PollLogWarning(UserWarning):
    """The poll log could not be written (disk full, file made read-only); the wait goes on."""


# --- files and frames ---------------------------------------------------------------------


class CorruptInputError(ValueError):
    """Input could not be read (with `errors="raise"`); `.problems` lists file and line."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        super().__init__(describe_problems(problems))

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickling would call the class with the message, not the problems.
        return (type(self), (self.problems,))


def describe_problems(problems: list[dict[str, Any]]) -> str:
    """One line naming the first unreadable records (file, line, why) and how many in all."""
    shown = ", ".join(f"{p['file']}:{p['line']} ({p['error']})" for p in problems[:10])
    more = f", and {len(problems) - 10} more" if len(problems) > 10 else ""
    return f"skipped {len(problems)} unreadable record(s): {shown}{more}"


class CsvError(ValueError):
    """A CSV file could not be read; the message names the file (and the line where known)."""

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        self.path, self.reason, self.line = path, reason, line
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"cannot read {where}: {reason}")

    def __reduce__(self) -> tuple[type[CsvError], tuple[str, str, int | None]]:
        return (CsvError, (self.path, self.reason, self.line))


class BadFileError(ValueError):
    """A Parquet file that cannot be read as part of the frame; the message names it."""

    def __init__(self, path: str | PathLike[str], reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (BadFileError, (self.path, self.reason))


class MissingColumnsError(ValueError):
    """A frame lacks contract columns that a function needs; the message names them."""

    def __init__(self, needed_by: str, missing: tuple[str, ...]) -> None:
        self.needed_by, self.missing = needed_by, missing
        super().__init__(
            f"{needed_by} needs the column(s) {', '.join(missing)}, which this frame lacks "
            "(frames from jobs_to_frame, read_jobs, fetch_jobs and wait_for have them)"
        )

    def __reduce__(self) -> tuple[type[MissingColumnsError], tuple[str, tuple[str, ...]]]:
        return (MissingColumnsError, (self.needed_by, self.missing))


# --- the session's signals to the client (internal) -------------------------------------


class BodyTooLarge(Exception):
    """The body crossed `limit` bytes, on the wire (`compressed`) or once decoded."""

    def __init__(self, status: int, limit: int, *, compressed: bool) -> None:
        where = "on the wire" if compressed else "decompressed"
        super().__init__(f"HTTP {status} body is over {limit:,} bytes {where}")
        self.status = status
        self.limit = limit
        self.compressed = compressed

    def __reduce__(self) -> tuple[Any, ...]:
        # `compressed` is keyword-only, which the default pickling (by `args`) cannot pass.
        return (_body_too_large, (self.status, self.limit, self.compressed))


def _body_too_large(status: int, limit: int, compressed: bool) -> BodyTooLarge:
    return BodyTooLarge(status, limit, compressed=compressed)


class UndecodableBody(Exception):
    """The body's Content-Encoding is unknown, or its compressed data is broken."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status} body could not be decoded: {detail}")
        self.status = status
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (UndecodableBody, (self.status, self.detail))
