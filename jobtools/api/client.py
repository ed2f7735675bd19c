"""The jobs API client: authenticated, retrying, concurrent fetches into the typed job frame.

One async code path does the work (`aget_job`, `afetch_jobs`); the sync methods run it with
`asyncio.run`, or, when an event loop is already running in this thread (a Jupyter kernel),
in a worker thread with its own loop. Every id asked for comes back as a row: a failure is
an `outcome` in the frame, never an exception that aborts the batch.

Nothing a server sends is trusted: a 200 must be a job record for the id asked (else
`bad_body` or `mismatched_id`, both retried), bodies are capped (`too_large`) and decoded by
their declared charset, every attempt has a deadline for the whole exchange, and our secrets
are masked in every value kept (before anything is shortened).

Credentials are never tried in bulk: the gateway locks an access key for 5 minutes after more
than 5 failed signatures in a row, for every tool that uses it (reference, "The gateway's
answers"). Until the service has accepted the credentials once (any answer that is not a
refusal, a throttle or a 5xx), one request at a time goes out; the fan-out follows the first
such answer. A refusal of credentials not (or no longer) accepted stops the batch at once.

A batch stops sending, and says so in each remaining row and in one logged line, when no
request can succeed: the credentials were refused (the cause named: wrong AK/SK, expired
token, project mismatch, clock skew, no permission, the AK lock), the API does not exist at
this endpoint and route (404 `APIGW.0101`), the certificate does not verify, or every answer
has been retriable failures (throttling, 5xx, timeouts...) for `max_retry_wait` seconds.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import dataclasses
import ipaddress
import logging
import os
import random
import re
import ssl
import threading
import time
import urllib.parse
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

import aiohttp
import httpx
import orjson
import pandas as pd
from aiohttp.http_exceptions import ContentEncodingError

from jobtools import errors
from jobtools._aio import run_sync
from jobtools.api.auth import AkSkCredentials, Credentials, TokenCredentials
from jobtools.api.endpoints import resolve_endpoints
from jobtools.api.options import UNSET, Limits, Retries, Timeouts, Unset
from jobtools.api.scrub import Scrubber, redact_url
from jobtools.api.sessions import BodyTooLarge, Session, UndecodableBody, open_session
from jobtools.errors import BadBodyError, JobsError
from jobtools.frame import FETCH_COLUMNS, jobs_to_frame
from jobtools.ids import JobIds, as_job_ids, storable_id, validate_job_id, validate_project_id
from jobtools.progress import Progressing, ProgressReporter, subscriber
from jobtools.schema import OUTCOMES, Outcome, categorical

__all__ = [
    "AUTH_REFUSALS_TO_STOP",
    "Api",
    "DEFAULT_ATTEMPT_TIMEOUT",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_RETRY_WAIT",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_TIMEOUT",
    "FetchResult",
    "JobsClient",
    "Limits",
    "MAX_RAW_BODY",
    "RateLimiter",
    "Retries",
    "Timeouts",
    "USER_AGENT",
    "fetch_jobs",
    "results_to_frame",
]

log = logging.getLogger(__name__)

Api = Literal["jobs", "cloudimages"]

# The defaults live in the option groups (`jobtools.api.options`); these names stay for
# callers that read them.
DEFAULT_CONCURRENCY = Limits().concurrency
DEFAULT_RATE_LIMIT = Limits().rate_limit
DEFAULT_MAX_ATTEMPTS = Retries().max_attempts
DEFAULT_TIMEOUT = Timeouts().httpx()
DEFAULT_ATTEMPT_TIMEOUT = Timeouts().attempt
DEFAULT_MAX_BODY_BYTES = Limits().max_body_bytes
# A batch whose every answer has been a retriable failure this long stops sending; the fetch
# then ends within about this plus one backoff plus one attempt.
DEFAULT_MAX_RETRY_WAIT = Retries().max_retry_wait
# Refusals of credentials not (or no longer) accepted after which a batch stops: the first.
# The gateway locks the access key after more than 5 failed signatures in a row.
AUTH_REFUSALS_TO_STOP = 1
MAX_RAW_BODY = 65_536
MAX_HEADER_TEXT = 200
USER_AGENT = "jobtools"
# The service's statuses are upper-case words (INIT, RUNNING, PENDING_PAYMENT…); unknown
# ones are kept, but `"error"` or `401` under "status" is no job.
_STATUS_WORD = re.compile(r"[A-Z][A-Z0-9_]{0,39}")
# Keys of the error shapes (errors.parse_error_body) that no job record has at the top.
_ERROR_KEYS = ("error_msg", "errorMsg", "error")
# Safe in a path segment as sent; anything else (non-ASCII included) is percent-encoded.
_PATH_SAFE = "-._~!$&'()*+,;=:@"


@dataclass(frozen=True, slots=True)
class FetchResult:
    """How fetching one job id went: the record when it worked, else why not."""

    job_id: str
    record: dict[str, Any] | None
    outcome: str
    http_status: int | None = None
    error_code: str | None = None
    error: str | None = None
    request_id: str | None = None
    raw_body: str | None = None
    attempts: int = 1
    # The error behind a failed fetch (for `get_job` to raise); not part of the row.
    exception: JobsError | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class _Batch:
    """What the requests of one fetch share: its deadline, why it stopped sending, and the
    one request out while the credentials are not known to be accepted."""

    deadline: float | None = None
    stopped: JobsError | None = None
    reason: str = ""
    failing_since: float | None = None
    probe: asyncio.Event | None = None


class RateLimiter:
    """Spaces request starts at least `1 / rate` seconds apart (no bursts).

    Reserving a slot takes no await, so tasks of one loop never race; the lock guards the
    rare case of two loops (a notebook's and a worker thread's) sharing one client.
    """

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"rate_limit must be positive or None, got {rate!r}")
        self.interval = 0.0 if rate is None else 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")
        self._lock = threading.Lock()

    async def acquire(self) -> None:
        """Wait for the next free slot."""
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)


class JobsClient:
    """A client for `GET /v1/{project_id}/jobs/{job_id}` (IMS, and the same API on ECS/EVS/BMS).

    Args:
        region: e.g. `cn-north-4`; the endpoint is the cloud's, e.g.
            `https://{service}.{region}.myhuaweicloud.com`, unless the official SDK's
            `HUAWEICLOUD_SDK_REGION_{SERVICE}_{REGION}` overrides it (one URL or a list).
        endpoint: a base URL instead of a region (a simulator: `http://127.0.0.1:8080`), or
            several (a comma-separated string or a list): on a connection failure the next
            one is used, as the official SDK does. No user info, query or fragment.
        cloud: `huaweicloud` (default), `huaweicloud-eu`, `otc` (Open Telekom Cloud) or
            `otc-swiss`; see `jobtools.api.endpoints.CLOUDS`.
        endpoint_template: instead of `cloud`, e.g. `https://{service}.{region}.example.com`.
        project_id: defaults to the credentials' project id, then `HUAWEICLOUD_SDK_PROJECT_ID`.
        credentials / token / ak, sk, security_token: how to authenticate; with none of them,
            `Credentials.from_env()`.
        service: `ims` (default), `ecs`, `evs`, `bms` or `vpc`, for the region's endpoint.
        api: `jobs` (default, `/v1/{project_id}/jobs/{id}`) or `cloudimages`
            (`/v1/cloudimages/job/{id}` with `X-Project-Id`, IMS only).
        limits: a `Limits` (concurrency 16, 150 requests/s, bodies up to 8 MiB).
        retries: a `Retries` (6 attempts, full-jitter backoff from 0.5 s to 20 s, Retry-After
            up to 60 s, a batch gives up after 300 s of nothing but retriable failures).
        timeouts: a `Timeouts` (10 s connect, 30 s per read and for the pool, 60 s for one
            whole attempt, connecting to the body's last byte).
        concurrency, rate_limit, max_body_bytes: override the `Limits` field of that name
            (`rate_limit=None`: unlimited, e.g. for a local simulator).
        max_attempts, backoff_base, backoff_max, max_retry_after, max_retry_wait: override
            the `Retries` field of that name.
        timeout: seconds for every phase, an `httpx.Timeout` or a `Timeouts`, overriding
            `timeouts`; attempt_timeout overrides its `attempt` (None: no limit).
        verify: TLS verification (on unless turned off), or a path / SSL context. The
            default reads `SSL_CERT_FILE` / `SSL_CERT_DIR` as httpx does, else certifi's roots.
            A certificate that does not verify is one error at once, never retried.
        transport: an httpx transport: `httpx.MockTransport` in tests, the simulator's
            in-process one, or `httpx.AsyncHTTPTransport()` for httpx's own. Default: aiohttp,
            with proxies from `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY`.
        clock, sleep, random: injected time and jitter, so tests never wait.

    Credentials over plain `http://` to a host that is not this machine give a
    `PlainHttpWarning`.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint: str | Sequence[str] | None = None,
        project_id: str | None = None,
        credentials: Credentials | None = None,
        token: str | None = None,
        ak: str | None = None,
        sk: str | None = None,
        security_token: str | None = None,
        service: str = "ims",
        cloud: str | None = None,
        endpoint_template: str | None = None,
        api: Api = "jobs",
        limits: Limits | None = None,
        retries: Retries | None = None,
        timeouts: Timeouts | None = None,
        timeout: float | httpx.Timeout | Timeouts | None | Unset = UNSET,
        attempt_timeout: float | None | Unset = UNSET,
        max_body_bytes: int | None = None,
        max_attempts: int | None = None,
        backoff_base: float | None = None,
        backoff_max: float | None = None,
        max_retry_after: float | None = None,
        max_retry_wait: float | None = None,
        concurrency: int | None = None,
        rate_limit: float | None | Unset = UNSET,
        verify: Any = True,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        random: Callable[[], float] = random.random,
    ) -> None:
        if api not in ("jobs", "cloudimages"):
            raise ValueError(f"api must be 'jobs' or 'cloudimages', got {api!r}")
        self.limits = _with(
            limits or Limits(),
            concurrency=concurrency,
            max_body_bytes=max_body_bytes,
            rate_limit=rate_limit,
        )
        self.retries = _with(
            retries or Retries(),
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            max_retry_after=max_retry_after,
            max_retry_wait=max_retry_wait,
        )
        timeouts = timeouts or Timeouts()
        if isinstance(timeout, Timeouts):
            timeouts = timeout
        elif timeout is not UNSET:
            timeouts = Timeouts.of(timeout, timeouts.attempt)
        self.timeouts = _with(timeouts, attempt=attempt_timeout)
        self.credentials = _credentials(credentials, token, ak, sk, security_token)
        self.endpoints = resolve_endpoints(
            region=region,
            endpoint=endpoint,
            service=service,
            cloud=cloud,
            endpoint_template=endpoint_template,
        )
        self.endpoint = self.endpoints[0]
        project = project_id or getattr(self.credentials, "project_id", None)
        project = project or os.environ.get("HUAWEICLOUD_SDK_PROJECT_ID", "").strip() or None
        if project is None:
            raise errors.CredentialsError(
                "no project id: pass project_id= or set HUAWEICLOUD_SDK_PROJECT_ID"
            )
        self.project_id = validate_project_id(project)
        self.api = api
        self.verify = verify
        self._transport = transport
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._limiter = RateLimiter(self.rate_limit, clock, sleep)
        # Our secrets, and the login of a proxy from the environment, are masked everywhere.
        self._scrub = Scrubber((*_secrets_of(self.credentials), *_proxy_logins(self.endpoints)))
        self._session: Session | None = None
        self._hosts = tuple(httpx.URL(e).netloc.decode("ascii") for e in self.endpoints)
        self._current = 0  # the endpoint in use; moves on after a connection failure
        self._session_loop: asyncio.AbstractEventLoop | None = None
        # True once the service has answered these credentials with anything but a refusal;
        # until then one request at a time goes out (see the module docstring).
        self._accepted = False
        if transport is None or isinstance(transport, httpx.AsyncHTTPTransport):
            _warn_plain_http(self.endpoints)

    # The single options, read from their groups (callers and tests read them).
    @property
    def concurrency(self) -> int:
        return self.limits.concurrency

    @property
    def rate_limit(self) -> float | None:
        return self.limits.rate_limit

    @property
    def max_body_bytes(self) -> int:
        return self.limits.max_body_bytes

    @property
    def max_attempts(self) -> int:
        return self.retries.max_attempts

    @property
    def backoff_base(self) -> float:
        return self.retries.backoff_base

    @property
    def backoff_max(self) -> float:
        return self.retries.backoff_max

    @property
    def max_retry_after(self) -> float:
        return self.retries.max_retry_after

    @property
    def max_retry_wait(self) -> float:
        return self.retries.max_retry_wait

    @property
    def timeout(self) -> httpx.Timeout:
        return self.timeouts.httpx()

    @property
    def attempt_timeout(self) -> float | None:
        return self.timeouts.attempt

    def __repr__(self) -> str:
        return (
            f"JobsClient(endpoint={self.endpoint!r}, project_id={self.project_id!r}, "
            f"api={self.api!r}, credentials={self.credentials!r})"
        )

    # --- the HTTP session ------------------------------------------------------------

    def _new_session(self) -> Session:
        return open_session(
            self.endpoint,
            transport=self._transport,
            verify=self.verify,
            concurrency=self.concurrency,
            timeout=self.timeout,
        )

    async def __aenter__(self) -> JobsClient:
        """Keep one connection pool open across calls until the block ends."""
        if self._session is None:
            self._session = self._new_session()
            self._session_loop = asyncio.get_running_loop()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pool opened by `async with`."""
        session, self._session, self._session_loop = self._session, None, None
        if session is not None:
            await session.aclose()

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Session]:
        # A pool belongs to the loop that opened it: reuse it only on that loop.
        if self._session is not None and self._session_loop is asyncio.get_running_loop():
            yield self._session
            return
        session = self._new_session()
        try:
            yield session
        finally:
            await session.aclose()

    # --- one request -----------------------------------------------------------------

    def _path(self, job_id: str) -> str:
        try:
            segment = urllib.parse.quote(job_id, safe=_PATH_SAFE)
        except UnicodeEncodeError:
            raise errors.InvalidIdError(
                "job id is not valid Unicode (a lone surrogate); not sent", job_id=job_id
            ) from None
        return self._route(segment)

    def _route(self, segment: str = "{job_id}") -> str:
        if self.api == "cloudimages":
            return f"/v1/cloudimages/job/{segment}"
        return f"/v1/{self.project_id}/jobs/{segment}"

    def _headers(self, url: str, host: str) -> dict[str, str]:
        # X-Project-Id on every route, signed, as the official SDK sends it: it is mandatory
        # for AK/SK requests in multi-project setups (reference, "The gateway's answers").
        headers = {
            "Host": host,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "X-Project-Id": self.project_id,
        }
        return self.credentials.auth_headers("GET", url, headers)

    def _header(self, headers: Mapping[str, str], name: str) -> str | None:
        """A response header as safe text: secrets masked (before the cut), storable, bounded."""
        value = headers.get(name)
        return self._scrub.cut(value, MAX_HEADER_TEXT) if value else None

    def _raw_text(self, body: bytes) -> str:
        """The start of a body as text to keep, secrets masked (before the cut, so no part
        of a secret survives at its end)."""
        window = MAX_RAW_BODY + 12 * max((len(s) for s in self._scrub.secrets), default=0)
        return self._scrub.cut(body[:window].decode("utf-8", "replace"), MAX_RAW_BODY)

    def _time_left(self, batch: _Batch) -> float | None:
        """Seconds this attempt may take: the attempt's deadline, or the batch's if sooner."""
        limit = self.attempt_timeout
        if batch.deadline is not None:
            left = max(batch.deadline - self._clock(), 0.001)
            limit = left if limit is None else min(limit, left)
        return limit

    async def _attempt(
        self, session: Session, job_id: str, batch: _Batch
    ) -> tuple[dict[str, Any], int, str | None]:
        """One GET: `(record, status, request id)`, or the JobsError for what went wrong."""
        path = self._path(job_id)
        current = self._current
        url = f"{self.endpoints[current]}{path}"
        limit = self._time_left(batch)
        try:
            async with asyncio.timeout(limit):
                headers = self._headers(url, self._hosts[current])
                status, response_headers, body = await session.get(
                    url, headers, self.max_body_bytes
                )
        except BodyTooLarge as exc:
            if not 200 <= exc.status < 300:
                # An error answer with a huge body is still that error (a 503 is retried).
                raise errors.error_for_status(exc.status, None, str(exc), job_id=job_id) from None
            raise errors.BodyTooLargeError(
                str(exc), raw_body="", status=exc.status, job_id=job_id
            ) from None
        except UndecodableBody as exc:
            raise BadBodyError(str(exc), raw_body="", status=exc.status, job_id=job_id) from None
        except (httpx.RequestError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            if len(self.endpoints) > 1 and self._current == current:
                self._current = (current + 1) % len(self.endpoints)
            raise self._transport_error(exc, job_id, limit) from None
        request_id = self._header(response_headers, "x-request-id")
        body = _as_utf8(body, response_headers)
        if not 200 <= status < 300:
            raise self._api_error(status, body, response_headers, job_id)
        if status != 200:
            # Read the code first: ECS documents its throttling, Common.0024, as HTTP 202.
            error = self._api_error(status, body, response_headers, job_id)
            if not isinstance(error, errors.UnexpectedStatusError):
                raise error
            raise BadBodyError(
                f"HTTP {status} is not a whole job answer",
                raw_body=self._raw_text(body),
                status=status,
                request_id=request_id,
                job_id=job_id,
            )
        return self._job_record(body, response_headers, request_id, job_id), status, request_id

    def _job_record(
        self, body: bytes, headers: Mapping[str, str], request_id: str | None, job_id: str
    ) -> dict[str, Any]:
        """The record of a 200 when it is the job asked for; else the error it stands for."""
        reason: str | None
        if body.startswith(b"\xef\xbb\xbf"):
            body = body[3:]  # a UTF-8 byte order mark, which JSON parsers refuse
        try:
            record = orjson.loads(body)
        except orjson.JSONDecodeError:
            record, reason = None, "not JSON (or truncated)"
        else:
            reason = _not_a_job(record)
        if reason is not None:
            if isinstance(record, dict) and any(key in record for key in _ERROR_KEYS):
                # An error answer under 200: a throttling or credentials code still counts.
                error = self._api_error(200, body, headers, job_id)
                if not isinstance(error, errors.UnexpectedStatusError):
                    raise error
                reason = f"an error answer ({error.message})"
            raise BadBodyError(
                f"HTTP 200 body is {reason}",
                raw_body=self._raw_text(body),
                status=200,
                request_id=request_id,
                job_id=job_id,
            )
        record = self._scrub.value(record) if self._scrub.could_hold(body) else record
        body_id = record.get("job_id")
        if body_id is None or body_id == "":
            # Some answers omit job_id; the row always carries the id that was asked for.
            return {**record, "job_id": job_id}
        if not isinstance(body_id, str) or body_id.lower() != job_id.lower():
            shown = body_id if isinstance(body_id, str) else orjson.dumps(body_id).decode()
            shown = shown[:100]
            raise errors.MismatchedIdError(
                f"HTTP 200 answer is for job {shown!r}, not the one asked",
                body_job_id=shown,
                raw_body=self._raw_text(body),
                status=200,
                request_id=request_id,
                job_id=job_id,
            )
        return record if body_id == job_id else {**record, "job_id": job_id}

    def _api_error(
        self, status: int, body: bytes, headers: Mapping[str, str], job_id: str
    ) -> errors.ApiError:
        """The ApiError for an error answer, every text in it masked (before any cut) and
        storable."""
        code, message, body_request_id = errors.parse_error_body(body)
        if code is None and message and not body.lstrip().startswith(b"{"):
            # A text body: mask it whole before it is cut, so no part of a secret survives.
            message = self._scrub.cut(self._raw_text(body).strip(), 500) or None
        request_id = self._header(headers, "x-request-id")
        if request_id is None and body_request_id:
            request_id = self._scrub.cut(body_request_id, MAX_HEADER_TEXT)
        code = self._scrub.cut(code, MAX_HEADER_TEXT) if code else None
        message = self._scrub.cut(message, 2000) if message else None
        if errors.error_class(status, code) is errors.NoSuchApiError:
            message = self._no_such_api(message)
        elif self._proxy_answered(headers, body):
            message = f"the proxy {self._proxy_shown()} answered, not the service: {message}"
        return errors.error_for_status(
            status,
            code,
            message,
            request_id,
            job_id=job_id,
            retry_after=errors.parse_retry_after(headers.get("retry-after")),
            clock_skew=errors.clock_skew(headers, time.time()),
        )

    def _no_such_api(self, message: str | None) -> str:
        """The one line for a wrong endpoint or route: which endpoint, which route."""
        where = f"{self.endpoints[self._current]}{self._route()}"
        return (
            f"no such API at {where} ({message or 'not found'}): the endpoint (region, cloud, "
            "service) or the api/route is wrong; no job was looked up"
        )

    def _proxy_shown(self) -> str:
        proxy = self._proxy_url()
        return redact_url(proxy) if proxy else "(unknown)"

    def _proxy_url(self) -> str | None:
        if self._transport is not None:
            return None
        from jobtools.api.sessions import env_proxy

        return env_proxy(self.endpoints[self._current])

    def _proxy_answered(self, headers: Mapping[str, str], body: bytes) -> bool:
        """True when an answer came from a proxy between us and the service: a proxy is set,
        and the answer is no gateway's (no request id, not JSON)."""
        if headers.get("x-request-id") or body.lstrip().startswith(b"{"):
            return False
        return self._proxy_url() is not None

    def _transport_error(self, exc: Exception, job_id: str, limit: float | None) -> JobsError:
        """The one mapping of an httpx or aiohttp failure (no usable answer) to our errors."""
        name = type(exc).__name__
        host = self._hosts[self._current]
        certificate = _certificate_problem(exc)
        if certificate is not None:
            detail = self._scrub.cut(certificate, 300)
            return errors.CertificateError(
                f"the certificate of {host} does not verify ({detail}); give the right CA "
                "bundle with verify= or SSL_CERT_FILE, never retried",
                job_id=job_id,
            )
        if isinstance(exc, aiohttp.ClientHttpProxyError | aiohttp.ClientProxyConnectionError):
            status = getattr(exc, "status", None)
            said = self._scrub.cut(getattr(exc, "message", "") or str(exc), 300)
            what = f"answered {status} {said}" if status else f"failed: {said}"
            return errors.ProxyError(
                f"the proxy {self._proxy_shown()} {what} (for {host})",
                status=status if isinstance(status, int) else None,
                job_id=job_id,
            )
        # aiohttp's timeouts (connect, socket read) are TimeoutErrors; httpx has its own.
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            if not str(exc) and limit is not None:
                # asyncio.timeout's: the whole exchange took too long (e.g. a slow drip).
                return errors.FetchTimeout(f"no whole answer within {limit:g} s", job_id=job_id)
            return errors.FetchTimeout(f"timed out ({name})", job_id=job_id)
        if isinstance(exc, httpx.DecodingError) or isinstance(exc.__cause__, ContentEncodingError):
            return BadBodyError(f"body could not be decoded ({name})", raw_body="", job_id=job_id)
        # Refused, reset, TLS, a broken answer or a body cut short of its Content-Length.
        detail = self._scrub.cut(str(exc), 500) or "connection failed"
        return errors.FetchConnectionError(f"{name}: {detail}", job_id=job_id)

    def _backoff(self, attempt: int, error: JobsError) -> float:
        """Seconds before attempt `attempt + 1`: Retry-After when given, else full jitter."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            # Honour the server's wait, within reason: a batch should not stall for hours.
            return float(min(retry_after, self.max_retry_after))
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        return self._random() * ceiling

    def _note(self, batch: _Batch, error: JobsError | None) -> None:
        """Learn from one answer whether the credentials work and whether the batch should
        stop sending."""
        if error is None or not error.is_retriable:
            batch.failing_since = None  # a final answer: the service is there
        refused = isinstance(error, errors.ApiError) and errors.refuses_credentials(
            error.outcome, error.error_code
        )
        if refused:
            # Credentials not (or no longer) accepted: the first refusal stops the batch. One
            # refusal of credentials that worked only sends the next request out alone.
            was_accepted, self._accepted = self._accepted, False
            if was_accepted or batch.stopped is not None:
                return
        elif _proves_credentials(error):
            self._accepted = True
        if error is None or batch.stopped is not None:
            return
        if refused or error.stops_batch:
            batch.stopped = error
            cause = error.cause if isinstance(error, errors.ApiError) else error.message
            batch.reason = f"not sent: {cause}"
            log.warning("jobtools: the fetch stopped: %s", cause)
        elif error.is_retriable:
            now = self._clock()
            if batch.failing_since is None:
                batch.failing_since = now
            elif now - batch.failing_since >= self.max_retry_wait:
                batch.stopped = error
                batch.reason = (
                    f"not sent: every answer for {self.max_retry_wait:g} s was a failure "
                    f"worth retrying (max_retry_wait; the last: {error.message})"
                )

    async def _admit(self, batch: _Batch) -> asyncio.Event | None:
        """Wait until this request may go out; return the probe's event if it is the probe.

        While the credentials are not known to be accepted, one request is out at a time (the
        probe); the others wait for its answer, then go out at once if it proved them.
        """
        while not self._accepted and batch.stopped is None:
            if batch.probe is None:
                batch.probe = asyncio.Event()
                return batch.probe
            await batch.probe.wait()
        return None

    @staticmethod
    def _release(batch: _Batch, probe: asyncio.Event | None) -> None:
        if probe is not None:
            batch.probe = None
            probe.set()

    async def _get_with_retries(
        self, session: Session, job_id: str, batch: _Batch | None = None
    ) -> FetchResult:
        """Fetch one id with retries; never raises for a failed fetch."""
        batch = batch or _Batch()
        last: JobsError | None = None
        for attempt in range(1, self.max_attempts + 1):
            probe = await self._admit(batch)
            try:
                if batch.stopped is not None:
                    return _not_sent(job_id, batch, attempt - 1)
                if batch.deadline is not None and self._clock() >= batch.deadline:
                    return _past_deadline(job_id, last, attempt - 1)
                await self._limiter.acquire()
                try:
                    record, status, request_id = await self._attempt(session, job_id, batch)
                except JobsError as exc:
                    self._note(batch, exc)
                    last = exc
                else:
                    self._note(batch, None)
                    return FetchResult(
                        job_id, record, Outcome.OK, status, request_id=request_id, attempts=attempt
                    )
            finally:
                self._release(batch, probe)
            assert last is not None
            if not (last.is_retriable and attempt < self.max_attempts and batch.stopped is None):
                return _failure(job_id, last, attempt)
            delay = self._backoff(attempt, last)
            if batch.deadline is not None:
                delay = min(delay, max(batch.deadline - self._clock(), 0.0))
            log.debug(
                "job %s: %s; attempt %d of %d, retrying in %.2fs",
                job_id,
                last.outcome,
                attempt,
                self.max_attempts,
                delay,
            )
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt always returns")

    async def _get_one(self, session: Session, job_id: str, batch: _Batch) -> FetchResult:
        """`_get_with_retries`, with anything unforeseen kept in the id's row."""
        try:
            return await self._get_with_retries(session, job_id, batch)
        except Exception as exc:  # one answer's surprise must not lose the batch
            detail = self._scrub.raw(f"{type(exc).__name__}: {exc}"[:500])
            # No traceback in the log: its text could quote what a server sent.
            log.debug("job %s: unexpected error %s", job_id, detail)
            return FetchResult(job_id, None, Outcome.CLIENT_ERROR, error=detail, attempts=1)

    # --- async API -------------------------------------------------------------------

    async def aget_job(self, job_id: str) -> dict[str, Any]:
        """Fetch one job record (retrying as configured).

        Raises:
            InvalidIdError: before any request, for an unsafe id.
            JobsError: the subclass for what finally went wrong (NotFoundError, …).
        """
        return await self._aget_valid(validate_job_id(job_id))

    async def _aget_valid(self, job_id: str) -> dict[str, Any]:
        """`aget_job` for an id already validated."""
        self._path(job_id)  # an id that cannot be sent is refused here, before any request
        async with self._client() as session:
            result = await self._get_with_retries(session, job_id)
        if result.record is None:
            raise _error_of(result)
        return result.record

    async def afetch_results(
        self,
        job_ids: JobIds,
        *,
        progress: Progressing = None,
        time_limit: float | None = None,
    ) -> list[FetchResult]:
        """Fetch many ids; one `FetchResult` per distinct id, in order of first appearance.

        `time_limit`: seconds for the whole fetch; ids not fetched by then are `timeout` rows.
        """
        return await self._afetch_valid(as_job_ids(job_ids), progress, time_limit)

    async def _afetch_valid(
        self, ids: list[str], progress: Progressing, time_limit: float | None
    ) -> list[FetchResult]:
        """`afetch_results` for ids already validated (by `as_job_ids`): validated once."""
        if time_limit is not None and not time_limit >= 0:
            raise ValueError(f"time_limit must be >= 0 seconds or None, got {time_limit!r}")
        batch = _Batch(deadline=None if time_limit is None else self._clock() + time_limit)
        with ProgressReporter(subscriber(progress, len(ids)), len(ids)) as reporter:
            return await self._fetch_all(ids, reporter, batch)

    async def afetch_jobs(
        self,
        job_ids: JobIds,
        progress: Progressing = None,
        *,
        time_limit: float | None = None,
    ) -> pd.DataFrame:
        """Fetch many ids into the job frame plus `FETCH_COLUMNS` (see `fetch_jobs`)."""
        return await self._afetch_frame(as_job_ids(job_ids), progress, time_limit)

    async def _afetch_frame(
        self, ids: list[str], progress: Progressing, time_limit: float | None
    ) -> pd.DataFrame:
        return results_to_frame(await self._afetch_valid(ids, progress, time_limit))

    async def _fetch_all(
        self, ids: list[str], reporter: ProgressReporter, batch: _Batch
    ) -> list[FetchResult]:
        results: dict[str, FetchResult] = {}
        counts: Counter[str] = Counter()
        pending = iter(ids)

        async def worker(session: Session) -> None:
            # Workers pulling from one iterator: bounded concurrency without one task per id.
            for job_id in pending:
                result = await self._get_one(session, job_id, batch)
                results[job_id] = result
                counts[result.outcome] += 1
                failed = result.outcome != Outcome.OK
                reporter.update(1, note=_summary(counts) if failed else None)

        async with self._client() as session:
            workers = min(self.concurrency, len(ids))
            await asyncio.gather(*(worker(session) for _ in range(workers)))
        return [results[job_id] for job_id in ids]

    # --- sync API --------------------------------------------------------------------

    def get_job(self, job_id: str) -> dict[str, Any]:
        """Fetch one job record; works in scripts and inside a running Jupyter kernel."""
        valid = validate_job_id(job_id)
        return run_sync(lambda: self._aget_valid(valid))

    def fetch_jobs(
        self,
        job_ids: JobIds,
        *,
        progress: Progressing = None,
        time_limit: float | None = None,
    ) -> pd.DataFrame:
        """Fetch many job ids into the typed job frame, one row per distinct id.

        Args:
            job_ids: one id, a list, a Series or Index, or a frame with a `job_id` column
                (see `extract_job_ids` for free text). All are validated before any request.
            progress: True shows a bar (terminal, or notebook widget), None shows one when
                interactive; a callable is called with each `jobtools.progress.ProgressEvent`.
            time_limit: seconds for the whole fetch (None: no limit); ids not fetched by then
                get a `timeout` row.

        Returns:
            A new frame: `JOB_COLUMNS` then `FETCH_COLUMNS`, in the order the ids were given
            (a repeated id is fetched once and appears once). Ids that could not be fetched
            keep their row, with NaN fields and the `outcome`, status and error.
        """
        ids = as_job_ids(job_ids)
        # The display subscribes here, in the caller's thread, so a notebook shows its bar in
        # this cell; the fetch reports to it from wherever it runs.
        on_progress = subscriber(progress, len(ids)) or False
        return run_sync(lambda: self._afetch_frame(ids, on_progress, time_limit))


# --- helpers ------------------------------------------------------------------------


def _credentials(
    credentials: Credentials | None,
    token: str | None,
    ak: str | None,
    sk: str | None,
    security_token: str | None,
) -> Credentials:
    given = [credentials is not None, token is not None, ak is not None or sk is not None]
    if sum(given) > 1:
        raise errors.CredentialsError("give one of credentials=, token= or ak=/sk=")
    if credentials is not None:
        return credentials
    if token is not None:
        return TokenCredentials(token=token)
    if ak is not None or sk is not None:
        if not ak or not sk:
            raise errors.CredentialsError("ak= and sk= go together")
        return AkSkCredentials(ak=ak, sk=sk, security_token=security_token)
    return Credentials.from_env()


_O = TypeVar("_O", Limits, Retries, Timeouts)


def _with(options: _O, **fields: Any) -> _O:
    """`options` (a frozen option group) with the fields given (not None or unset) replaced."""
    given = {name: value for name, value in fields.items() if value is not None}
    given = {name: value for name, value in given.items() if value is not UNSET}
    if "rate_limit" in fields and fields["rate_limit"] is None:
        given["rate_limit"] = None  # rate_limit=None is "no limit", not "not given"
    if "attempt" in fields and fields["attempt"] is None:
        given["attempt"] = None  # attempt_timeout=None is "no limit"
    return dataclasses.replace(options, **given) if given else options


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warn_plain_http(endpoints: Sequence[str]) -> None:
    """Warn once when credentials would go in clear text to another machine."""
    for endpoint in endpoints:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme == "http" and not _is_loopback(url.hostname or ""):
            warnings.warn(
                f"credentials would be sent over plain http:// to {url.hostname}, readable "
                "by anyone on the way; use https://, or http:// only to this machine",
                errors.PlainHttpWarning,
                stacklevel=3,
            )
            return


def _proves_credentials(error: JobsError | None) -> bool:
    """True when an answer shows the service accepted the credentials: a job record, or an
    answer from behind the gateway's checks that is not throttling, a 5xx or a wrong route."""
    if error is None:
        return True
    if isinstance(error, BadBodyError):
        return error.status is not None and 200 <= error.status < 300
    if isinstance(error, errors.ApiError):
        return not (error.is_retriable or error.stops_batch)
    return False


def _certificate_problem(exc: BaseException) -> str | None:
    """What failed when `exc` is a TLS certificate that does not verify, else None."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        # aiohttp's error is also an ssl.CertificateError (the same class as
        # SSLCertVerificationError), without its fields: the one it wraps has them.
        if isinstance(seen, aiohttp.ClientConnectorCertificateError):
            seen = seen.certificate_error
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _charset(content_type: str | None) -> str | None:
    """The `charset` parameter of a Content-Type, lower-case, or None."""
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'").lower() or None
    return None


_UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
# UTF-32's marks first: its little-endian one starts like UTF-16's.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _as_utf8(body: bytes, headers: Mapping[str, str]) -> bytes:
    """`body` as UTF-8, decoded by its declared charset (`application/json;charset=GBK`,
    Latin-1, UTF-16) or a UTF-16/32 byte order mark; unchanged when UTF-8 or undecodable."""
    charset = _charset(headers.get("content-type"))
    if charset is None or charset.startswith("utf-16") or charset.startswith("utf-32"):
        for mark, codec in _BOMS:
            if body.startswith(mark):
                charset = codec
                break
    if charset is None or charset in _UTF8 or not body:
        return body
    try:
        return body.decode(charset).encode("utf-8")
    except (LookupError, UnicodeError):
        return body  # an unknown or wrong charset: read as UTF-8, as before


def _proxy_logins(endpoints: Sequence[str]) -> tuple[str, ...]:
    """The passwords (and their user:password pairs) of the proxies the environment sets."""
    from jobtools.api.sessions import env_proxy

    found: list[str] = []
    for endpoint in endpoints:
        proxy = env_proxy(endpoint)
        parts = urllib.parse.urlsplit(proxy) if proxy else None
        if parts is not None and parts.password:
            password = urllib.parse.unquote(parts.password)
            found += [password, f"{urllib.parse.unquote(parts.username or '')}:{password}"]
    return tuple(found)


def _secrets_of(credentials: Credentials) -> tuple[str, ...]:
    values = [getattr(credentials, name, None) for name in ("token", "sk", "security_token")]
    return tuple(v for v in values if v)


def _not_a_job(record: Any) -> str | None:
    """Why a decoded 200 body is not a job record, or None when it is one."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if "status" not in record:
        return "no 'status' field"
    status = record["status"]
    if not isinstance(status, str) or not _STATUS_WORD.fullmatch(status):
        return f"not a job: its status is {orjson.dumps(status).decode()[:60]}"
    if any(key in record for key in _ERROR_KEYS):
        return "an error answer"
    return None


def _failure(job_id: str, exc: JobsError, attempts: int) -> FetchResult:
    if isinstance(exc, errors.ApiError):
        return FetchResult(
            job_id,
            None,
            exc.outcome,
            exc.status,
            exc.error_code,
            # What stops a batch is said with its cause (wrong AK/SK, expired token...).
            exc.cause if exc.stops_batch else exc.message,
            exc.request_id,
            attempts=attempts,
            exception=exc,
        )
    if isinstance(exc, BadBodyError):
        return FetchResult(
            job_id,
            None,
            exc.outcome,
            exc.status,
            None,
            exc.message,
            exc.request_id,
            exc.raw_body,
            attempts=attempts,
            exception=exc,
        )
    return FetchResult(
        job_id, None, exc.outcome, error=exc.message, attempts=attempts, exception=exc
    )


def _not_sent(job_id: str, batch: _Batch, attempts: int) -> FetchResult:
    """The row of an id the batch stopped sending before it was fetched."""
    stopped = batch.stopped
    assert stopped is not None
    status = stopped.status if isinstance(stopped, errors.ApiError) else None
    code = stopped.error_code if isinstance(stopped, errors.ApiError) else None
    return FetchResult(job_id, None, stopped.outcome, status, code, batch.reason, attempts=attempts)


def _past_deadline(job_id: str, last: JobsError | None, attempts: int) -> FetchResult:
    """The row of an id whose fetch ran out of the batch's time: its last error, if any."""
    if last is not None:
        return _failure(job_id, last, attempts)
    error = "not sent: the fetch's time limit passed first"
    return FetchResult(job_id, None, Outcome.TIMEOUT, error=error, attempts=attempts)


def _error_of(result: FetchResult) -> JobsError:
    """The exception a failed FetchResult stands for (for the single-job API)."""
    if result.exception is not None:
        return result.exception
    if result.outcome == Outcome.BAD_BODY:
        return BadBodyError(
            result.error or "bad body",
            raw_body=result.raw_body or "",
            status=result.http_status,
            request_id=result.request_id,
            job_id=result.job_id,
        )
    if result.http_status is not None:
        return errors.error_for_status(
            result.http_status,
            result.error_code,
            result.error,
            result.request_id,
            job_id=result.job_id,
        )
    cls = errors.FetchTimeout if result.outcome == Outcome.TIMEOUT else errors.FetchConnectionError
    return cls(result.error or result.outcome, job_id=result.job_id)


def _summary(counts: Counter[str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items()) if k != Outcome.OK)


def results_to_frame(results: Iterable[FetchResult]) -> pd.DataFrame:
    """The job frame plus `FETCH_COLUMNS` for fetch results, one row each, in order."""
    rows = list(results)
    try:
        frame = jobs_to_frame([_record_of(r) for r in rows])
    except Exception:
        # One record the frame cannot hold (nested too deep to keep as JSON text…) must not
        # lose the others: find it, and keep its row with the reason instead of its fields.
        rows = _without_unframable(rows)
        frame = jobs_to_frame([_record_of(r) for r in rows])
    values: dict[str, list[Any]] = {
        "outcome": [r.outcome for r in rows],
        "http_status": [r.http_status for r in rows],
        "fetch_error_code": [r.error_code for r in rows],
        "fetch_error": [r.error for r in rows],
        "request_id": [r.request_id for r in rows],
        "raw_body": [r.raw_body for r in rows],
    }
    # In the order and with the dtypes of the contract, after JOB_COLUMNS.
    for column, dtype in FETCH_COLUMNS.items():
        if column == "outcome":
            frame[column] = categorical(values[column], OUTCOMES)
        else:
            frame[column] = pd.array(values[column], dtype=cast(Any, dtype))
    return frame


def _record_of(result: FetchResult) -> Any:
    if result.record is not None:
        return result.record
    return {"job_id": storable_id(result.job_id)}


def _without_unframable(rows: list[FetchResult]) -> list[FetchResult]:
    """`rows` with each record that `jobs_to_frame` refuses replaced by a `client_error`.

    Halves are tried in turn, so finding a few bad records among many costs a few frames.
    """
    try:
        jobs_to_frame([_record_of(r) for r in rows])
    except Exception as exc:
        if len(rows) > 1:
            half = len(rows) // 2
            return _without_unframable(rows[:half]) + _without_unframable(rows[half:])
        row = rows[0]
        error = f"its record could not be made a row ({type(exc).__name__}: {str(exc)[:200]})"
        return [
            FetchResult(
                row.job_id,
                None,
                Outcome.CLIENT_ERROR,
                row.http_status,
                error=error,
                request_id=row.request_id,
                attempts=row.attempts,
            )
        ]
    return rows


def fetch_jobs(
    job_ids: JobIds, *, progress: Progressing = None, **client_options: Any
) -> pd.DataFrame:
    """Fetch job ids into the typed job frame with a one-off `JobsClient(**client_options)`.

    For example `fetch_jobs(ids, region="cn-north-4")`, with credentials from the environment.
    """
    return JobsClient(**client_options).fetch_jobs(job_ids, progress=progress)
