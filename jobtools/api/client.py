"""The jobs API client: authenticated, retrying, concurrent fetches into the typed job frame.

One async code path does the work (`aget_job`, `afetch_jobs`); the sync methods run it with
`asyncio.run`, or, when an event loop is already running in this thread (a Jupyter kernel),
in a worker thread with its own loop. Every id asked for comes back as a row: a failure is
an `outcome` in the frame, never an exception that aborts the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, cast

import aiohttp
import httpx
import orjson
import pandas as pd
from aiohttp.http_exceptions import ContentEncodingError

from jobtools import errors
from jobtools._aio import run_sync
from jobtools.api.auth import AkSkCredentials, Credentials, TokenCredentials
from jobtools.api.sessions import Session, open_session
from jobtools.errors import BadBodyError, JobsError
from jobtools.frame import FETCH_COLUMNS, jobs_to_frame
from jobtools.ids import as_job_ids, validate_job_id, validate_project_id
from jobtools.progress import Progress, progress_bar
from jobtools.schema import OUTCOMES, categorical

__all__ = [
    "Api",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_ATTEMPTS",
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
MAX_RAW_BODY = 65_536
USER_AGENT = "jobtools"


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
        region: e.g. `cn-north-4`; the endpoint is `https://{service}.{region}.myhuaweicloud.com`
            unless `HUAWEICLOUD_SDK_REGION_{SERVICE}_{REGION}` overrides it, as in the SDK.
        endpoint: a base URL instead of a region (a simulator: `http://127.0.0.1:8080`).
        project_id: defaults to the credentials' project id, then `HUAWEICLOUD_SDK_PROJECT_ID`.
        credentials / token / ak, sk, security_token: how to authenticate; with none of them,
            `Credentials.from_env()`.
        service: `ims` (default), `ecs`, `evs`, `bms` or `vpc`, for the region's endpoint.
        api: `jobs` (default, `/v1/{project_id}/jobs/{id}`) or `cloudimages`
            (`/v1/cloudimages/job/{id}` with `X-Project-Id`, IMS only).
        timeout: seconds for every phase, or an `httpx.Timeout` (default: 10 s connect, 30 s
            read; the pool timeout bounds waiting for a connection and making it).
        max_attempts: tries per id for 429, 500, 502, 503, 504, timeouts and connection errors.
        backoff_base, backoff_max: full-jitter backoff, `uniform(0, min(max, base * 2**n))`.
        max_retry_after: the longest `Retry-After` honoured, in seconds.
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
        endpoint: str | None = None,
        project_id: str | None = None,
        credentials: Credentials | None = None,
        token: str | None = None,
        ak: str | None = None,
        sk: str | None = None,
        security_token: str | None = None,
        service: str = "ims",
        api: Api = "jobs",
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        max_retry_after: float = 60.0,
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
        self.credentials = _credentials(credentials, token, ak, sk, security_token)
        self.endpoint = _endpoint(region, endpoint, service)
        project = project_id or getattr(self.credentials, "project_id", None)
        project = project or os.environ.get("HUAWEICLOUD_SDK_PROJECT_ID", "").strip() or None
        if project is None:
            raise errors.CredentialsError(
                "no project id: pass project_id= or set HUAWEICLOUD_SDK_PROJECT_ID"
            )
        self.project_id = validate_project_id(project)
        self.api = api
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.concurrency = concurrency
        self.rate_limit = rate_limit
        self.verify = verify
        self._transport = transport
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._limiter = RateLimiter(rate_limit, clock, sleep)
        self._secrets = _secrets_of(self.credentials)
        self._secret_bytes = tuple(secret.encode() for secret in self._secrets)
        self._session: Session | None = None
        self._host = httpx.URL(self.endpoint).netloc.decode("ascii")
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
        if self.api == "cloudimages":
            return f"/v1/cloudimages/job/{job_id}"
        return f"/v1/{self.project_id}/jobs/{job_id}"

    def _headers(self, url: str) -> dict[str, str]:
        headers = {"Host": self._host, "Accept": "application/json", "User-Agent": USER_AGENT}
        if self.api == "cloudimages":
            headers["X-Project-Id"] = self.project_id
        return self.credentials.auth_headers("GET", url, headers)

    def _scrub(self, text: str | None) -> str | None:
        # A server could echo a header back; our secrets never leave in a message or file.
        if text:
            for secret in self._secrets:
                if secret in text:
                    text = text.replace(secret, "****")
        return text

    def _scrub_bytes(self, body: bytes) -> bytes:
        for secret in self._secret_bytes:
            if secret in body:
                body = body.replace(secret, b"****")
        return body

    async def _attempt(
        self, session: Session, job_id: str
    ) -> tuple[dict[str, Any], int, str | None]:
        """One GET: `(record, status, request id)`, or the JobsError for what went wrong."""
        path = self._path(job_id)
        url = f"{self.endpoint}{path}"
        try:
            status, headers, body = await session.get(path, self._headers(url))
        except (httpx.RequestError, aiohttp.ClientError, TimeoutError) as exc:
            raise self._transport_error(exc, job_id) from None
        body = self._scrub_bytes(body)
        if not 200 <= status < 300:
            raise errors.error_from_response(status, body, headers, job_id=job_id)
        request_id = headers.get("x-request-id")
        try:
            record = orjson.loads(body)
        except orjson.JSONDecodeError:
            record = None
            reason = "not JSON (or truncated)"
        else:
            reason = "not a JSON object" if not isinstance(record, dict) else "no 'status' field"
        if not isinstance(record, dict) or "status" not in record:
            raw = body[:MAX_RAW_BODY].decode("utf-8", "replace")
            raise BadBodyError(
                f"HTTP {status} body is {reason}",
                raw_body=raw,
                status=status,
                request_id=request_id,
                job_id=job_id,
            )
        return record, status, request_id

    def _transport_error(self, exc: Exception, job_id: str) -> JobsError:
        """The one mapping of an httpx or aiohttp failure (no usable answer) to our errors."""
        name = type(exc).__name__
        # aiohttp's timeouts (connect, socket read) are TimeoutErrors; httpx has its own.
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            return errors.FetchTimeout(f"timed out ({name})", job_id=job_id)
        if isinstance(exc, httpx.DecodingError) or isinstance(exc.__cause__, ContentEncodingError):
            return BadBodyError(f"body could not be decoded ({exc})", raw_body="", job_id=job_id)
        # Refused, reset, TLS, a broken answer or a body cut short of its Content-Length.
        detail = self._scrub(str(exc)) or "connection failed"
        return errors.FetchConnectionError(f"{name}: {detail}", job_id=job_id)

    def _backoff(self, attempt: int, error: JobsError) -> float:
        """Seconds before attempt `attempt + 1`: Retry-After when given, else full jitter."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            # Honour the server's wait, within reason: a batch should not stall for hours.
            return float(min(retry_after, self.max_retry_after))
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return self._random() * ceiling

    async def _get_with_retries(self, session: Session, job_id: str) -> FetchResult:
        """Fetch one id with retries; never raises for a failed fetch."""
        for attempt in range(1, self.max_attempts + 1):
            await self._limiter.acquire()
            try:
                record, status, request_id = await self._attempt(session, job_id)
            except JobsError as exc:
                if exc.is_retriable and attempt < self.max_attempts:
                    delay = self._backoff(attempt, exc)
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
            if record.get("job_id") != job_id:
                # Some answers omit job_id; the row always carries the id that was asked for.
                record = {**record, "job_id": job_id}
            return FetchResult(
                job_id, record, "ok", status, request_id=request_id, attempts=attempt
            )
        raise AssertionError("unreachable: the last attempt always returns")

    # --- async API -------------------------------------------------------------------

    async def aget_job(self, job_id: str) -> dict[str, Any]:
        """Fetch one job record (retrying as configured).

        Raises:
            InvalidIdError: before any request, for an unsafe id.
            JobsError: the subclass for what finally went wrong (NotFoundError, …).
        """
        job_id = validate_job_id(job_id)
        async with self._client() as session:
            result = await self._get_with_retries(session, job_id)
        if result.record is None:
            raise _error_of(result)
        return result.record

    async def afetch_results(
        self, job_ids: Any, *, progress: bool | None | Progress = None
    ) -> list[FetchResult]:
        """Fetch many ids; one `FetchResult` per distinct id, in order of first appearance."""
        ids = as_job_ids(job_ids)
        bar = _bar(progress, len(ids))
        try:
            return await self._fetch_all(ids, bar)
        finally:
            if bar is not progress:  # close only the bar made here
                bar.close()

    async def afetch_jobs(
        self, job_ids: Any, progress: bool | None | Progress = None
    ) -> pd.DataFrame:
        """Fetch many ids into the job frame plus `FETCH_COLUMNS` (see `fetch_jobs`)."""
        return results_to_frame(await self.afetch_results(job_ids, progress=progress))

    async def _fetch_all(self, ids: list[str], bar: Progress) -> list[FetchResult]:
        results: dict[str, FetchResult] = {}
        counts: Counter[str] = Counter()
        pending = iter(ids)

        async def worker(session: Session) -> None:
            # Workers pulling from one iterator: bounded concurrency without one task per id.
            for job_id in pending:
                result = await self._get_with_retries(session, job_id)
                results[job_id] = result
                counts[result.outcome] += 1
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

    def fetch_jobs(self, job_ids: Any, *, progress: bool | None = None) -> pd.DataFrame:
        """Fetch many job ids into the typed job frame, one row per distinct id.

        Args:
            job_ids: one id, a list, a Series or Index, or a frame with a `job_id` column
                (see `extract_job_ids` for free text). All are validated before any request.
            progress: a bar (terminal or notebook widget); None shows one when interactive.

        Returns:
            A new frame: `JOB_COLUMNS` then `FETCH_COLUMNS`, in the order the ids were given
            (a repeated id is fetched once and appears once). Ids that could not be fetched
            keep their row, with NaN fields and the `outcome`, status and error.
        """
        ids = as_job_ids(job_ids)
        # The bar is made here, in the caller's thread, so a notebook shows it in this cell.
        bar = _bar(progress, len(ids))
        try:
            return run_sync(lambda: self.afetch_jobs(ids, progress=bar))
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


def _endpoint(region: str | None, endpoint: str | None, service: str) -> str:
    if endpoint:
        url = httpx.URL(endpoint)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"endpoint must be an http(s) URL, got {endpoint!r}")
        return endpoint.rstrip("/")
    if not region:
        raise ValueError("give region= (e.g. 'cn-north-4') or endpoint=")
    if not all(c.isalnum() or c == "-" for c in region):
        raise ValueError(f"region looks wrong: {region!r}")
    override = f"HUAWEICLOUD_SDK_REGION_{service}_{region}".upper().replace("-", "_")
    return os.environ.get(override, f"https://{service}.{region}.myhuaweicloud.com").rstrip("/")


def _secrets_of(credentials: Credentials) -> tuple[str, ...]:
    values = [getattr(credentials, name, None) for name in ("token", "sk", "security_token")]
    return tuple(v for v in values if v and len(v) >= 4)


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
        )
    return FetchResult(job_id, None, exc.outcome, error=exc.message, attempts=attempts)


def _error_of(result: FetchResult) -> JobsError:
    """The exception a failed FetchResult stands for (for the single-job API)."""
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
    frame = jobs_to_frame(
        [r.record if r.record is not None else {"job_id": r.job_id} for r in rows]
    )
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


def fetch_jobs(
    job_ids: Any, *, progress: bool | None = None, **client_options: Any
) -> pd.DataFrame:
    """Fetch job ids into the typed job frame with a one-off `JobsClient(**client_options)`.

    For example `fetch_jobs(ids, region="cn-north-4")`, with credentials from the environment.
    """
    return JobsClient(**client_options).fetch_jobs(job_ids, progress=progress)
