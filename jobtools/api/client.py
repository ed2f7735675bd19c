"""The jobs API client: authenticated, retrying, concurrent fetches into the typed job frame.

One async code path does the work (`aget_job`, `afetch_jobs`); the sync methods run it with
`asyncio.run`, or, when an event loop is already running in this thread (a Jupyter kernel),
in a worker thread with its own loop. Every id asked for comes back as a row: a failure is
an `outcome` in the frame, never an exception that aborts the batch.

Nothing a server sends is trusted: a 200 must be a job record for the id asked (else
`bad_body` or `mismatched_id`, both retried), bodies are capped (`too_large`), every attempt
has a deadline for the whole exchange, and our secrets are masked in every value kept. A
batch stops sending, and says so in each remaining row, when no request can succeed: the
credentials were refused (`AUTH_REFUSALS_TO_STOP` in a row), or every answer has been
retriable failures (throttling, 5xx, timeouts...) for `max_retry_wait` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import aiohttp
import httpx
import orjson
import pandas as pd
from aiohttp.http_exceptions import ContentEncodingError

from jobtools import errors
from jobtools._aio import run_sync
from jobtools.api.auth import AkSkCredentials, Credentials, TokenCredentials
from jobtools.api.endpoints import resolve_endpoints
from jobtools.api.scrub import Scrubber
from jobtools.api.sessions import BodyTooLarge, Session, UndecodableBody, open_session
from jobtools.errors import BadBodyError, JobsError
from jobtools.frame import FETCH_COLUMNS, jobs_to_frame
from jobtools.ids import JobIds, as_job_ids, storable_id, validate_job_id, validate_project_id
from jobtools.progress import Progress, progress_bar
from jobtools.schema import OUTCOMES, categorical

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
    "MAX_RAW_BODY",
    "RateLimiter",
    "USER_AGENT",
    "fetch_jobs",
    "results_to_frame",
]

log = logging.getLogger(__name__)

Api = Literal["jobs", "cloudimages"]

DEFAULT_CONCURRENCY = 16
# Below the gateway's default 200 calls/s per API, leaving room for other callers.
DEFAULT_RATE_LIMIT = 150.0
DEFAULT_MAX_ATTEMPTS = 6
# Connect fast or fail; reads may wait on a busy service. (The official SDK: 60 s / 120 s.)
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=30.0)
# One attempt, connecting to the last byte of the body: a server dripping a byte a second
# cannot hold a request longer (the per-read timeout alone would never fire).
DEFAULT_ATTEMPT_TIMEOUT = 60.0
# Job records are small (a few KB; an ECS batch of 500 sub-jobs about 500 KB): a body over
# this, on the wire or decompressed, is not read further.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
# A batch whose every answer has been a retriable failure (throttling, 5xx, timeouts) this
# long stops sending (every id still gets its row): throttling or an outage that never ends
# cannot hold a fetch for hours. The fetch then ends within about this plus one backoff
# (`max_retry_after`, `backoff_max`) plus one attempt (`attempt_timeout`).
DEFAULT_MAX_RETRY_WAIT = 300.0
# Credentials refused this many times in a row (no other answer between): stop sending.
AUTH_REFUSALS_TO_STOP = 3
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
    """What the requests of one fetch share: its deadline, and why it stopped sending."""

    deadline: float | None = None
    stopped: JobsError | None = None
    reason: str = ""
    refusals: int = 0
    failing_since: float | None = None


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
        timeout: seconds for every phase, or an `httpx.Timeout` (default: 10 s connect, 30 s
            per read; the pool timeout bounds waiting for a connection and making it).
        attempt_timeout: seconds for one whole attempt, connecting to the body's last byte
            (default 60; None: no limit beyond `timeout`).
        max_body_bytes: the largest body read, on the wire and decompressed (default 8 MiB);
            a larger one is a `too_large` row.
        max_attempts: tries per id for throttling, 5xx, timeouts, connection errors and bodies
            that are not the job asked for.
        backoff_base, backoff_max: full-jitter backoff, `uniform(0, min(max, base * 2**n))`.
        max_retry_after: the longest `Retry-After` honoured, in seconds.
        max_retry_wait: seconds of nothing but retriable failures (throttling, 5xx, timeouts,
            bad bodies) after which a batch stops sending (default 300); its remaining ids
            are rows with the last failure's outcome (e.g. `throttled`) and "not sent".
        concurrency: requests in flight at once (and the connection pool's size).
        rate_limit: request starts per second (None: unlimited, e.g. for a local simulator).
        verify: TLS verification (on unless turned off), or a path / SSL context.
        transport: an httpx transport: `httpx.MockTransport` in tests, the simulator's
            in-process one, or `httpx.AsyncHTTPTransport()` for httpx's own. Default: aiohttp,
            with proxies from `HTTP(S)_PROXY` / `NO_PROXY`.
        clock, sleep, random: injected time and jitter, so tests never wait.
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
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        attempt_timeout: float | None = DEFAULT_ATTEMPT_TIMEOUT,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        max_retry_after: float = 60.0,
        max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT,
        concurrency: int = DEFAULT_CONCURRENCY,
        rate_limit: float | None = DEFAULT_RATE_LIMIT,
        verify: Any = True,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        random: Callable[[], float] = random.random,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        if api not in ("jobs", "cloudimages"):
            raise ValueError(f"api must be 'jobs' or 'cloudimages', got {api!r}")
        if max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be at least 1024, got {max_body_bytes!r}")
        if attempt_timeout is not None and not attempt_timeout > 0:
            raise ValueError(f"attempt_timeout must be > 0 or None, got {attempt_timeout!r}")
        if not max_retry_wait >= 0:
            raise ValueError(f"max_retry_wait must be >= 0, got {max_retry_wait!r}")
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
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.attempt_timeout = attempt_timeout
        self.max_body_bytes = max_body_bytes
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.max_retry_wait = max_retry_wait
        self.concurrency = concurrency
        self.rate_limit = rate_limit
        self.verify = verify
        self._transport = transport
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._limiter = RateLimiter(rate_limit, clock, sleep)
        self._scrub = Scrubber(_secrets_of(self.credentials))
        self._session: Session | None = None
        self._hosts = tuple(httpx.URL(e).netloc.decode("ascii") for e in self.endpoints)
        self._current = 0  # the endpoint in use; moves on after a connection failure
        self._session_loop: asyncio.AbstractEventLoop | None = None

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
        if self.api == "cloudimages":
            return f"/v1/cloudimages/job/{segment}"
        return f"/v1/{self.project_id}/jobs/{segment}"

    def _headers(self, url: str, host: str) -> dict[str, str]:
        headers = {"Host": host, "Accept": "application/json", "User-Agent": USER_AGENT}
        if self.api == "cloudimages":
            headers["X-Project-Id"] = self.project_id
        return self.credentials.auth_headers("GET", url, headers)

    def _header(self, headers: Mapping[str, str], name: str) -> str | None:
        """A response header as safe text: secrets masked, storable, bounded."""
        value = headers.get(name)
        return self._scrub.raw(value[:MAX_HEADER_TEXT]) if value else None

    def _raw_text(self, body: bytes) -> str:
        """The start of a body as text to keep, secrets masked (before the cut, so no part
        of a secret survives at its end)."""
        window = MAX_RAW_BODY + 12 * max((len(s) for s in self._scrub.secrets), default=0)
        text = self._scrub.raw(body[:window].decode("utf-8", "replace")) or ""
        return text[:MAX_RAW_BODY]

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
        if not 200 <= status < 300:
            raise self._api_error(status, body, response_headers, job_id)
        if status != 200:
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
        """The ApiError for an error answer, every text in it masked and storable."""
        code, message, body_request_id = errors.parse_error_body(body)
        if code is None and message and not body.lstrip().startswith(b"{"):
            # A text body: mask it whole before it is cut, so no part of a secret survives.
            message = self._raw_text(body).strip()[:500] or None
        request_id = self._header(headers, "x-request-id") or body_request_id
        retry_after = errors.parse_retry_after(headers.get("retry-after"))
        return errors.error_for_status(
            status,
            self._scrub.raw(code[:MAX_HEADER_TEXT]) if code else None,
            self._scrub.raw(message),
            self._scrub.raw(request_id[:MAX_HEADER_TEXT]) if request_id else None,
            job_id=job_id,
            retry_after=retry_after,
        )

    def _transport_error(self, exc: Exception, job_id: str, limit: float | None) -> JobsError:
        """The one mapping of an httpx or aiohttp failure (no usable answer) to our errors."""
        name = type(exc).__name__
        # aiohttp's timeouts (connect, socket read) are TimeoutErrors; httpx has its own.
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            if not str(exc) and limit is not None:
                # asyncio.timeout's: the whole exchange took too long (e.g. a slow drip).
                return errors.FetchTimeout(f"no whole answer within {limit:g} s", job_id=job_id)
            return errors.FetchTimeout(f"timed out ({name})", job_id=job_id)
        if isinstance(exc, httpx.DecodingError) or isinstance(exc.__cause__, ContentEncodingError):
            return BadBodyError(f"body could not be decoded ({name})", raw_body="", job_id=job_id)
        # Refused, reset, TLS, a broken answer or a body cut short of its Content-Length.
        detail = self._scrub.raw(str(exc)[:500]) or "connection failed"
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
        """Learn from one answer whether the batch should stop sending."""
        if error is None or not error.is_retriable:
            batch.failing_since = None  # a final answer: the service is there
        if error is None or (isinstance(error, errors.ApiError) and not error.stops_batch):
            batch.refusals = 0  # the credentials worked
        if error is None or batch.stopped is not None:
            return
        if error.stops_batch:
            batch.refusals += 1
            if batch.refusals >= AUTH_REFUSALS_TO_STOP:
                batch.stopped = error
                batch.reason = (
                    f"not sent: the service refused the credentials {batch.refusals} times "
                    f"in a row ({error.message})"
                )
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

    async def _get_with_retries(
        self, session: Session, job_id: str, batch: _Batch | None = None
    ) -> FetchResult:
        """Fetch one id with retries; never raises for a failed fetch."""
        batch = batch or _Batch()
        last: JobsError | None = None
        for attempt in range(1, self.max_attempts + 1):
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
                if exc.is_retriable and attempt < self.max_attempts and batch.stopped is None:
                    delay = self._backoff(attempt, exc)
                    if batch.deadline is not None:
                        delay = min(delay, max(batch.deadline - self._clock(), 0.0))
                    log.debug(
                        "job %s: %s; attempt %d of %d, retrying in %.2fs",
                        job_id,
                        exc.outcome,
                        attempt,
                        self.max_attempts,
                        delay,
                    )
                    await self._sleep(delay)
                    continue
                return _failure(job_id, exc, attempt)
            self._note(batch, None)
            return FetchResult(
                job_id, record, "ok", status, request_id=request_id, attempts=attempt
            )
        raise AssertionError("unreachable: the last attempt always returns")

    async def _get_one(self, session: Session, job_id: str, batch: _Batch) -> FetchResult:
        """`_get_with_retries`, with anything unforeseen kept in the id's row."""
        try:
            return await self._get_with_retries(session, job_id, batch)
        except Exception as exc:  # one answer's surprise must not lose the batch
            detail = self._scrub.raw(f"{type(exc).__name__}: {exc}"[:500])
            # No traceback in the log: its text could quote what a server sent.
            log.debug("job %s: unexpected error %s", job_id, detail)
            return FetchResult(job_id, None, "client_error", error=detail, attempts=1)

    # --- async API -------------------------------------------------------------------

    async def aget_job(self, job_id: str) -> dict[str, Any]:
        """Fetch one job record (retrying as configured).

        Raises:
            InvalidIdError: before any request, for an unsafe id.
            JobsError: the subclass for what finally went wrong (NotFoundError, …).
        """
        job_id = validate_job_id(job_id)
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
        progress: bool | None | Progress = None,
        time_limit: float | None = None,
    ) -> list[FetchResult]:
        """Fetch many ids; one `FetchResult` per distinct id, in order of first appearance.

        `time_limit`: seconds for the whole fetch; ids not fetched by then are `timeout` rows.
        """
        ids = as_job_ids(job_ids)
        if time_limit is not None and not time_limit >= 0:
            raise ValueError(f"time_limit must be >= 0 seconds or None, got {time_limit!r}")
        batch = _Batch(deadline=None if time_limit is None else self._clock() + time_limit)
        bar = _bar(progress, len(ids))
        try:
            return await self._fetch_all(ids, bar, batch)
        finally:
            if bar is not progress:  # close only the bar made here
                bar.close()

    async def afetch_jobs(
        self,
        job_ids: JobIds,
        progress: bool | None | Progress = None,
        *,
        time_limit: float | None = None,
    ) -> pd.DataFrame:
        """Fetch many ids into the job frame plus `FETCH_COLUMNS` (see `fetch_jobs`)."""
        results = await self.afetch_results(job_ids, progress=progress, time_limit=time_limit)
        return results_to_frame(results)

    async def _fetch_all(self, ids: list[str], bar: Progress, batch: _Batch) -> list[FetchResult]:
        results: dict[str, FetchResult] = {}
        counts: Counter[str] = Counter()
        pending = iter(ids)

        async def worker(session: Session) -> None:
            # Workers pulling from one iterator: bounded concurrency without one task per id.
            for job_id in pending:
                result = await self._get_one(session, job_id, batch)
                results[job_id] = result
                counts[result.outcome] += 1
                with contextlib.suppress(Exception):  # a broken bar never costs a row
                    if result.outcome != "ok":
                        bar.set_postfix_str(_summary(counts), refresh=False)
                    bar.update(1)

        async with self._client() as session:
            workers = min(self.concurrency, len(ids))
            await asyncio.gather(*(worker(session) for _ in range(workers)))
        return [results[job_id] for job_id in ids]

    # --- sync API --------------------------------------------------------------------

    def get_job(self, job_id: str) -> dict[str, Any]:
        """Fetch one job record; works in scripts and inside a running Jupyter kernel."""
        validate_job_id(job_id)
        return run_sync(lambda: self.aget_job(job_id))

    def fetch_jobs(
        self, job_ids: JobIds, *, progress: bool | None = None, time_limit: float | None = None
    ) -> pd.DataFrame:
        """Fetch many job ids into the typed job frame, one row per distinct id.

        Args:
            job_ids: one id, a list, a Series or Index, or a frame with a `job_id` column
                (see `extract_job_ids` for free text). All are validated before any request.
            progress: a bar (terminal or notebook widget); None shows one when interactive.
            time_limit: seconds for the whole fetch (None: no limit); ids not fetched by then
                get a `timeout` row.

        Returns:
            A new frame: `JOB_COLUMNS` then `FETCH_COLUMNS`, in the order the ids were given
            (a repeated id is fetched once and appears once). Ids that could not be fetched
            keep their row, with NaN fields and the `outcome`, status and error.
        """
        ids = as_job_ids(job_ids)
        # The bar is made here, in the caller's thread, so a notebook shows it in this cell.
        bar = _bar(progress, len(ids))
        try:
            return run_sync(lambda: self.afetch_jobs(ids, progress=bar, time_limit=time_limit))
        finally:
            bar.close()


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
            exc.message,
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
    return FetchResult(job_id, None, "timeout", error=error, attempts=attempts)


def _error_of(result: FetchResult) -> JobsError:
    """The exception a failed FetchResult stands for (for the single-job API)."""
    if result.exception is not None:
        return result.exception
    if result.outcome == "bad_body":
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
    cls = errors.FetchTimeout if result.outcome == "timeout" else errors.FetchConnectionError
    return cls(result.error or result.outcome, job_id=result.job_id)


def _bar(progress: bool | None | Progress, total: int) -> Progress:
    if progress is None or isinstance(progress, bool):
        return progress_bar(total, progress=progress, desc="jobs")
    return progress


def _summary(counts: Counter[str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items()) if k != "ok")


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
                "client_error",
                row.http_status,
                error=error,
                request_id=row.request_id,
                attempts=row.attempts,
            )
        ]
    return rows


def fetch_jobs(
    job_ids: JobIds, *, progress: bool | None = None, **client_options: Any
) -> pd.DataFrame:
    """Fetch job ids into the typed job frame with a one-off `JobsClient(**client_options)`.

    For example `fetch_jobs(ids, region="cn-north-4")`, with credentials from the environment.
    """
    return JobsClient(**client_options).fetch_jobs(job_ids, progress=progress)
