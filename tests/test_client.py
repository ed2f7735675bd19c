"""The jobs client, in-process with `httpx.MockTransport` and an injected clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import logging
from collections.abc import Callable

import httpx
import pandas as pd
import pytest

import jobtools
from jobtools import errors
from jobtools.api import auth
from jobtools.api.client import JobsClient, RateLimiter
from jobtools.api.options import Retries
from jobtools.frame import FETCH_COLUMNS, JOB_COLUMNS

PROJECT = "0123456789abcdef0123456789abcdef"
JOB = "ff8080814dbd65d7014dbe0d84db0013"
TOKEN = "SECRET-TOKEN-VALUE-123"
SK = "SECRET-SK-VALUE-456"
STS = "SECRET-STS-VALUE-789"


def record(job_id: str, status: str = "SUCCESS") -> dict:
    """A job response as the service sends it."""
    return {
        "status": status,
        "job_id": job_id,
        "job_type": "imsCreateImageByInstance",
        "begin_time": "2024-11-06T06:19:43.195Z",
        "end_time": "2024-11-06T06:21:43.195Z" if status in ("SUCCESS", "FAIL") else "",
        "error_code": None,
        "fail_reason": None,
        "entities": {"image_id": "e9e91bff-14b6-4a0b-8377-4ed0813e3360"},
    }


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def job_of(request: httpx.Request) -> str:
    """The job id at the end of the request path."""
    return request.url.path.rsplit("/", 1)[1]


def make_client(handler: Callable, fake: FakeTime | None = None, **options) -> JobsClient:
    """A client on a MockTransport, no rate limit, no real sleeping."""
    fake = fake or FakeTime()
    settings = {
        "endpoint": "https://ims.example.test",
        "project_id": PROJECT,
        "token": TOKEN,
        "rate_limit": None,
        "transport": httpx.MockTransport(handler),
        "clock": fake.clock,
        "sleep": fake.sleep,
        "random": lambda: 0.5,
    }
    settings.update(options)
    return JobsClient(**settings)


def ok_handler(request: httpx.Request) -> httpx.Response:
    """Every job exists and succeeded."""
    return httpx.Response(200, json=record(job_of(request)), headers={"X-Request-Id": "req-ok"})


# --- authentication on the wire ----------------------------------------------------------


def test_token_is_sent():
    """Token credentials send X-Auth-Token on the documented path."""
    seen = []

    def handler(request):
        seen.append(request)
        return ok_handler(request)

    make_client(handler).get_job(JOB)
    assert seen[0].url.path == f"/v1/{PROJECT}/jobs/{JOB}"
    assert seen[0].headers["X-Auth-Token"] == TOKEN
    assert "authorization" not in seen[0].headers


@pytest.mark.parametrize("security_token", [None, STS])
def test_aksk_signature_verifies_as_received(security_token):
    """What arrives carries a signature a verifier accepts; the security token is signed."""
    seen = []

    def handler(request):
        seen.append(request)
        return ok_handler(request)

    client = make_client(handler, token=None, ak="AKEXAMPLE", sk=SK, security_token=security_token)
    client.get_job(JOB)
    request = seen[0]
    access, signed, signature = auth.parse_authorization(request.headers["Authorization"])
    assert access == "AKEXAMPLE"
    assert ("x-security-token" in signed.split(";")) is (security_token is not None)
    received = dict(request.headers)
    assert auth.verify_signature(
        SK, "GET", request.url.path, request.url.query.decode(), received, b"", signed, signature
    )
    date = auth.parse_sdk_date(request.headers["X-Sdk-Date"])
    assert abs(dt.datetime.now(dt.UTC) - date) < dt.timedelta(minutes=5)


def test_cloudimages_api_sends_project_header():
    """The newer progress call puts the project id in a signed X-Project-Id header."""
    seen = []

    def handler(request):
        seen.append(request)
        return ok_handler(request)

    client = make_client(handler, api="cloudimages", token=None, ak="AK", sk=SK)
    client.get_job(JOB)
    assert seen[0].url.path == f"/v1/cloudimages/job/{JOB}"
    assert seen[0].headers["X-Project-Id"] == PROJECT
    _, signed, _ = auth.parse_authorization(seen[0].headers["Authorization"])
    assert "x-project-id" in signed.split(";")


# --- errors: every shape and status ------------------------------------------------------

ERROR_BODIES = [
    ({"error_code": "APIGW.0301", "error_msg": "Incorrect IAM", "request_id": "rb"}, "rb"),
    ({"errorCode": "APIGW.0301", "errorMsg": "Incorrect IAM"}, "rh"),
    ({"code": "APIGW.0301", "message": "Incorrect IAM"}, "rh"),
    ({"error": {"code": "APIGW.0301", "message": "Incorrect IAM"}}, "rh"),
]


@pytest.mark.parametrize(("body", "request_id"), ERROR_BODIES)
def test_error_shapes_become_rows(body, request_id):
    """Each documented error body gives the row its code, message and request id."""
    headers = {} if request_id == "rb" else {"X-Request-Id": "rh"}
    frame = make_client(lambda r: httpx.Response(401, json=body, headers=headers)).fetch_jobs(
        [JOB], progress=False
    )
    row = frame.iloc[0]
    assert (row.job_id, row.outcome, row.http_status) == (JOB, "auth", 401)
    assert (row.fetch_error_code, row.request_id) == ("APIGW.0301", request_id)
    # A refusal is said with its cause, then the service's own words.
    assert row.fetch_error.startswith("the service refused the credentials: wrong AK/SK")
    assert row.fetch_error.endswith("(HTTP 401 APIGW.0301: Incorrect IAM)")
    assert pd.isna(row.status) and not row.is_terminal


@pytest.mark.parametrize(
    ("status", "outcome", "exc"),
    [
        (400, "bad_request", errors.BadRequestError),
        (401, "auth", errors.AuthenticationError),
        (403, "forbidden", errors.ForbiddenError),
        (404, "not_found", errors.NotFoundError),
        (405, "http_error", errors.UnexpectedStatusError),
        (429, "throttled", errors.ThrottledError),
        (500, "server_error", errors.InternalServerError),
        (502, "server_error", errors.ServerError),
        (503, "server_error", errors.ServiceUnavailableError),
        (504, "server_error", errors.ServerError),
    ],
)
def test_status_outcomes_and_exceptions(status, outcome, exc):
    """A status becomes its outcome in a frame, and its exception from get_job."""
    body = {"error": {"code": "X.1", "message": "m"}}
    client = make_client(lambda r: httpx.Response(status, json=body), max_attempts=2)
    assert client.fetch_jobs([JOB], progress=False).loc[0, "outcome"] == outcome
    with pytest.raises(exc) as info:
        client.get_job(JOB)
    assert (info.value.status, info.value.error_code, info.value.job_id) == (status, "X.1", JOB)


# --- retries ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retriable_statuses_are_retried(status):
    """A transient status is retried until the job comes back."""
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(status) if len(calls) < 3 else ok_handler(request)

    fake = FakeTime()
    assert make_client(handler, fake).get_job(JOB)["job_id"] == JOB
    assert len(calls) == 3
    # full jitter with random() = 0.5: half of 0.5 * 2**n
    assert fake.sleeps == [0.25, 0.5]


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_never_retried(status):
    """400, 401, 403 and 404 are answered once, with no wait."""
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(status)

    fake = FakeTime()
    frame = make_client(handler, fake).fetch_jobs([JOB], progress=False)
    assert len(calls) == 1 and fake.sleeps == []
    assert frame.loc[0, "http_status"] == status


def test_attempts_are_capped():
    """After max_attempts the last failure is the row's outcome."""
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(503, json={"code": "SYS.503", "message": "busy"})

    frame = make_client(handler, max_attempts=4).fetch_jobs([JOB], progress=False)
    assert len(calls) == 4
    assert frame.loc[0, "outcome"] == "server_error"
    assert frame.loc[0, "fetch_error_code"] == "SYS.503"


def test_backoff_is_capped_exponential_full_jitter():
    """Waits are random() * min(backoff_max, base * 2**n)."""
    fake = FakeTime()
    client = make_client(
        lambda r: httpx.Response(500),
        fake,
        max_attempts=7,
        backoff_base=1.0,
        backoff_max=8.0,
        random=lambda: 1.0,
    )
    client.fetch_jobs([JOB], progress=False)
    assert fake.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", 7.0), ("0", 0.0), ("1.5", 1.5), ("3600", 60.0), ("soon", 0.25)],
)
def test_retry_after_is_honoured(retry_after, expected):
    """Retry-After in seconds sets the wait (capped by max_retry_after; junk is ignored)."""
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": retry_after})
        return ok_handler(request)

    fake = FakeTime()
    make_client(handler, fake).get_job(JOB)
    assert fake.sleeps == [expected]


def test_retry_after_http_date():
    """Retry-After as an HTTP date waits until then."""
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    value = email.utils.format_datetime(later, usegmt=True)
    assert 25 < errors.parse_retry_after(value) <= 30
    past = email.utils.format_datetime(later - dt.timedelta(days=1), usegmt=True)
    assert errors.parse_retry_after(past) == 0.0


@pytest.mark.parametrize(
    ("exception", "outcome"),
    [
        (httpx.ConnectTimeout("connect timed out"), "timeout"),
        (httpx.ReadTimeout("read timed out"), "timeout"),
        (httpx.PoolTimeout("pool"), "timeout"),
        (httpx.ConnectError("refused"), "connection_error"),
        (httpx.ReadError("reset"), "connection_error"),
        (httpx.RemoteProtocolError("peer closed connection"), "connection_error"),
    ],
)
def test_timeouts_and_connection_errors_are_retried(exception, outcome):
    """Timeouts and broken connections are retried, then become an outcome row."""
    calls = []

    def handler(request):
        calls.append(request)
        raise exception

    frame = make_client(handler, max_attempts=3).fetch_jobs([JOB], progress=False)
    assert len(calls) == 3
    row = frame.iloc[0]
    assert (row.job_id, row.outcome) == (JOB, outcome)
    assert pd.isna(row.http_status)
    assert isinstance(row.fetch_error, str) and row.fetch_error


def test_recovers_after_a_timeout():
    """One timeout then an answer is simply ok."""
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow")
        return ok_handler(request)

    assert make_client(handler).fetch_jobs([JOB], progress=False).loc[0, "outcome"] == "ok"


def test_get_job_raises_timeout():
    """get_job raises FetchTimeout (a TimeoutError) when every attempt timed out."""

    def handler(request):
        raise httpx.ReadTimeout("slow")

    with pytest.raises(TimeoutError):
        make_client(handler, max_attempts=2).get_job(JOB)


def test_default_timeouts_are_set():
    """Connect and read timeouts have finite defaults and can be set."""
    client = make_client(ok_handler, transport=None)
    assert client.timeout.connect == 10.0 and client.timeout.read == 30.0
    custom = make_client(ok_handler, timeout=httpx.Timeout(5.0, connect=1.0))
    assert (custom.timeout.connect, custom.timeout.read) == (1.0, 5.0)


# --- bad bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"<html>gateway</html>",
        b'{"status": "SUCCESS", "job_id": "ff80',
        b"",
        b"[1, 2, 3]",
        b'{"job_id": "x", "job_type": "t"}',
        b"null",
    ],
)
def test_bad_bodies_keep_raw_text(body):
    """A 200 that is not a job record is a bad_body row holding the raw text, retried."""
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, content=body, headers={"X-Request-Id": "rq"})

    frame = make_client(handler).fetch_jobs([JOB], progress=False)
    row = frame.iloc[0]
    assert (row.job_id, row.outcome, row.http_status, row.request_id) == (
        JOB,
        "bad_body",
        200,
        "rq",
    )
    assert row.raw_body == body.decode() or (body == b"" and row.raw_body in ("", None))
    assert len(calls) == Retries().max_attempts


def test_get_job_raises_bad_body():
    """get_job raises BadBodyError with the raw text."""
    client = make_client(lambda r: httpx.Response(200, text="oops"))
    with pytest.raises(errors.BadBodyError) as info:
        client.get_job(JOB)
    assert info.value.raw_body == "oops"


def test_unknown_status_is_kept():
    """An unknown status value is a normal ok row, never dropped."""
    client = make_client(lambda r: httpx.Response(200, json=record(job_of(r), "WEIRD")))
    row = client.fetch_jobs([JOB], progress=False).iloc[0]
    assert (row.outcome, row.status, row.is_terminal) == ("ok", "WEIRD", False)


def test_missing_job_id_in_record_is_filled():
    """A record without job_id (some services omit it) keeps the id asked for."""
    body = {"status": "RUNNING", "entities": {"process_percent": 0.5}}
    row = make_client(lambda r: httpx.Response(200, json=body)).fetch_jobs([JOB]).iloc[0]
    assert (row.job_id, row.status, row.process_percent) == (JOB, "RUNNING", 0.5)


# --- many ids ---------------------------------------------------------------------------


def test_frame_contract_order_and_duplicates():
    """One row per distinct id, in the order asked, with the contract columns and dtypes."""
    missing = "0" * 32
    calls = []

    def handler(request):
        calls.append(job_of(request))
        if job_of(request) == missing:
            return httpx.Response(404, json={"error_code": "IMG.0024", "error_msg": "gone"})
        return ok_handler(request)

    ids = ["c" * 32, missing, "a" * 32, "c" * 32, "b" * 32]
    frame = make_client(handler, concurrency=3).fetch_jobs(ids, progress=False)
    assert list(frame.columns) == [*JOB_COLUMNS, *FETCH_COLUMNS]
    assert frame["job_id"].tolist() == ["c" * 32, missing, "a" * 32, "b" * 32]
    assert sorted(calls) == sorted(set(ids))
    assert frame["outcome"].tolist() == ["ok", "not_found", "ok", "ok"]
    assert frame.loc[0, "request_id"] == "req-ok"
    assert str(frame["status"].dtype) == "category"
    assert str(frame["outcome"].dtype) == "category"
    assert str(frame["http_status"].dtype) == "Int64"
    assert frame["is_terminal"].tolist() == [True, False, True, True]


def test_empty_input_gives_empty_frame():
    """No ids: an empty frame with every column, and no request."""
    frame = make_client(lambda r: pytest.fail("no request expected")).fetch_jobs([])
    assert list(frame.columns) == [*JOB_COLUMNS, *FETCH_COLUMNS] and frame.empty


@pytest.mark.parametrize(
    "ids",
    [
        [JOB, "bad/id"],
        [JOB, ""],
        [JOB, "a" * 65],
        [JOB, "../etc"],
        [JOB, "a?b"],
        [JOB, "a#b"],
        [JOB, "a%2e"],
        [JOB, "a b"],
        [JOB, "a\x01"],
        pd.Series([JOB, None]),
    ],
)
def test_invalid_ids_refused_before_any_request(ids):
    """One bad id fails the call with a ValueError before anything is sent."""
    client = make_client(lambda r: pytest.fail("no request expected"))
    with pytest.raises(ValueError, match="job id"):
        client.fetch_jobs(ids, progress=False)
    with pytest.raises(ValueError, match="job id"):
        client.get_job(ids[1] if isinstance(ids, list) else None)


@pytest.mark.parametrize("project", ["", "p/x", "..", "p?x", "p" * 65])
def test_invalid_project_id(project):
    """Project ids are validated when the client is made."""
    with pytest.raises(ValueError, match="project id"):
        make_client(ok_handler, project_id=project or " ")


def test_concurrency_is_bounded():
    """No more requests are in flight than `concurrency`, and all of them overlap."""
    in_flight = 0
    peak = 0

    async def handler(request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):  # yield to the loop so others can start; no time passes
            await asyncio.sleep(0)
        in_flight -= 1
        return ok_handler(request)

    ids = [f"{i:032x}" for i in range(40)]
    frame = make_client(handler, concurrency=7).fetch_jobs(ids, progress=False)
    assert peak == 7
    assert frame["outcome"].eq("ok").all()


def test_rate_limiter_spaces_requests():
    """The limiter spaces request starts 1/rate apart using the injected clock."""
    fake = FakeTime()
    limiter = RateLimiter(4.0, fake.clock, fake.sleep)

    async def take(n):
        for _ in range(n):
            await limiter.acquire()

    asyncio.run(take(4))
    assert fake.sleeps == [0.25, 0.25, 0.25]
    assert fake.now == 0.75


def test_rate_limit_applies_to_fetches():
    """A client's rate limit makes n requests take (n - 1) / rate of injected time."""
    fake = FakeTime()
    ids = [f"{i:032x}" for i in range(10)]
    make_client(ok_handler, fake, rate_limit=5.0, concurrency=4).fetch_jobs(ids, progress=False)
    assert fake.now == pytest.approx(9 / 5.0)


@pytest.mark.parametrize("rate", [0, -1.0])
def test_rate_limit_must_be_positive(rate):
    """A zero or negative rate is refused (None means unlimited)."""
    with pytest.raises(ValueError, match="rate_limit"):
        make_client(ok_handler, rate_limit=rate)


# --- sync, async, notebook --------------------------------------------------------------


def test_sync_fetch_inside_a_running_loop():
    """fetch_jobs works where an event loop already runs (as in a Jupyter cell)."""
    client = make_client(ok_handler)

    async def cell():
        return client.fetch_jobs([JOB], progress=False), client.get_job(JOB)

    frame, one = asyncio.run(cell())
    assert frame.loc[0, "outcome"] == "ok" and one["job_id"] == JOB


def test_async_api():
    """afetch_jobs(ids, progress=False) and aget_job work on a shared pool in `async with`."""
    client = make_client(ok_handler)

    async def main():
        async with client:
            frame = await client.afetch_jobs([JOB, "a" * 32], progress=False)
            one = await client.aget_job(JOB)
        return frame, one

    frame, one = asyncio.run(main())
    assert frame["outcome"].tolist() == ["ok", "ok"] and one["job_id"] == JOB


def test_module_level_fetch_jobs():
    """jobtools.fetch_jobs takes the client's options."""
    frame = jobtools.fetch_jobs(
        [JOB],
        progress=False,
        endpoint="https://ims.example.test",
        project_id=PROJECT,
        token=TOKEN,
        transport=httpx.MockTransport(ok_handler),
    )
    assert frame.loc[0, "outcome"] == "ok"


class RecordingBar:
    """A Progress that records what it was told."""

    def __init__(self):
        self.n = 0
        self.postfix = ""
        self.closed = False

    def update(self, n=1):
        self.n += n

    def set_postfix_str(self, s="", refresh=True):
        self.postfix = s

    def close(self):
        self.closed = True


def test_progress_object_is_updated_and_left_open():
    """A caller's bar gets one update per id and failure counts; the caller closes it."""

    def handler(request):
        return httpx.Response(404) if job_of(request).startswith("0") else ok_handler(request)

    bar = RecordingBar()
    ids = ["0" * 32, "a" * 32, "b" * 32]
    asyncio.run(make_client(handler).afetch_jobs(ids, progress=bar))
    assert bar.n == 3 and bar.postfix == "not_found=1" and not bar.closed


def test_a_progress_callable_is_told_each_answer_and_the_end():
    """`progress=` a callable subscribes it: one event an id, the counts, then a last one."""

    def handler(request):
        return httpx.Response(404) if job_of(request).startswith("0") else ok_handler(request)

    events = []
    make_client(handler).fetch_jobs(["0" * 32, "a" * 32, "b" * 32], progress=events.append)
    assert [e.done for e in events] == [1, 2, 3, 3] and events[-1].closed
    assert {e.total for e in events} == {3} and events[-1].note == "not_found=1"


# --- configuration ----------------------------------------------------------------------


def test_region_endpoint_and_env_override(monkeypatch):
    """A region gives the service's public endpoint unless the SDK's variable overrides it."""
    client = make_client(ok_handler, endpoint=None, region="cn-north-4")
    assert client.endpoint == "https://ims.cn-north-4.myhuaweicloud.com"
    ecs = make_client(ok_handler, endpoint=None, region="ap-southeast-1", service="ecs")
    assert ecs.endpoint == "https://ecs.ap-southeast-1.myhuaweicloud.com"
    monkeypatch.setenv("HUAWEICLOUD_SDK_REGION_IMS_CN_NORTH_4", "https://ims.internal:8443/")
    assert make_client(ok_handler, endpoint=None, region="cn-north-4").endpoint == (
        "https://ims.internal:8443"
    )
    otc = make_client(ok_handler, endpoint=None, region="eu-de", cloud="otc")
    assert otc.endpoint == "https://ims.eu-de.otc.t-systems.com"


def test_requests_move_to_the_next_endpoint_after_a_connection_failure():
    """With several endpoints (the SDK's list), a connection failure moves on to the next."""
    hosts = []

    def handler(request):
        hosts.append(request.url.host)
        if request.url.host == "down.test":
            raise httpx.ConnectError("refused")
        return ok_handler(request)

    client = make_client(handler, endpoint="https://down.test,https://up.test", concurrency=1)
    frame = client.fetch_jobs([JOB, "a" * 32], progress=False)
    assert frame["outcome"].eq("ok").all()
    assert hosts == ["down.test", "up.test", "up.test"]


# --- a batch that cannot succeed stops sending --------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication"}),
        (400, {"error": {"code": "IMG.0030", "message": "invalid token"}}),
        (403, {"error": {"code": "IMG.0026", "message": "invalid role"}}),
    ],
)
def test_refused_credentials_stop_the_batch(status, body):
    """After AUTH_REFUSALS_TO_STOP refusals in a row nothing more is sent; every row stays."""
    from jobtools.api.client import AUTH_REFUSALS_TO_STOP

    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(status, json=body)

    ids = [f"{i:032x}" for i in range(1500)]
    frame = make_client(handler, concurrency=1).fetch_jobs(ids, progress=False)
    assert len(calls) == AUTH_REFUSALS_TO_STOP
    assert frame["job_id"].tolist() == ids
    assert frame["http_status"].eq(status).all()
    assert frame["fetch_error"].iloc[-1].startswith("not sent: the service refused")


def test_one_refusal_between_answers_does_not_stop_the_batch():
    """A lone 401 among good answers is that id's row; the batch goes on."""

    def handler(request):
        if job_of(request) == "0" * 32:
            return httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": "x"})
        return ok_handler(request)

    ids = [f"{i:032x}" for i in range(1, 20)] + ["0" * 32] + [f"{i:032x}" for i in range(20, 40)]
    frame = make_client(handler, concurrency=1).fetch_jobs(ids, progress=False)
    assert frame["outcome"].value_counts()[["ok", "auth"]].tolist() == [39, 1]


def test_never_ending_throttling_ends_within_the_documented_bound():
    """1,000 ids at Retry-After 60 end within max_retry_wait + max_retry_after (fake clock)."""
    fake = FakeTime()
    calls = []

    def handler(request):
        calls.append(fake.now)
        body = {"error_code": "APIGW.0308", "error_msg": "throttled"}
        return httpx.Response(429, json=body, headers={"Retry-After": "60"})

    ids = [f"{i:032x}" for i in range(1000)]
    client = make_client(handler, fake, concurrency=16)
    frame = client.fetch_jobs(ids, progress=False)
    assert frame["job_id"].tolist() == ids and frame["outcome"].eq("throttled").all()
    bound = client.max_retry_wait + client.max_retry_after
    assert fake.now <= bound
    assert len(calls) < 16 * 10


def test_time_limit_ends_a_fetch_with_every_row():
    """`time_limit` (fake clock): ids not fetched in time are `timeout` rows, not sent."""
    fake = FakeTime()

    def handler(request):
        return httpx.Response(503, json={"code": "IMG.0503", "message": "busy"})

    ids = [f"{i:032x}" for i in range(50)]
    client = make_client(handler, fake, concurrency=2, backoff_base=5.0)
    frame = client.fetch_jobs(ids, progress=False, time_limit=30)
    assert frame["job_id"].tolist() == ids
    assert fake.now <= 30
    assert set(frame["outcome"]) <= {"server_error", "timeout"}
    assert frame["fetch_error"].str.startswith("not sent: the fetch's time limit").any()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"endpoint": None}, "region"),
        ({"endpoint": "ftp://x"}, "endpoint"),
        ({"endpoint": None, "region": "cn/../x"}, "region"),
        ({"ak": "AK", "sk": SK}, "one of"),
        ({"token": None, "ak": "AK"}, "together"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"concurrency": 0}, "concurrency"),
        ({"api": "v9"}, "api"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
        ({"attempt_timeout": 0}, "attempt_timeout"),
        ({"max_retry_wait": -1}, "max_retry_wait"),
        ({"endpoint": "https://u:p@x.test"}, "user info"),
    ],
)
def test_bad_configuration(options, match):
    """Bad options are a ValueError naming the option."""
    with pytest.raises(ValueError, match=match):
        make_client(ok_handler, **options)


def test_credentials_and_project_from_env(monkeypatch):
    """With no credentials given, the official SDK's variables are used."""
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", "AKENV")
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", PROJECT)
    client = make_client(ok_handler, token=None, project_id=None)
    assert isinstance(client.credentials, auth.AkSkCredentials)
    assert client.project_id == PROJECT


def test_no_project_id(monkeypatch):
    """A missing project id is a clear error naming the variable."""
    monkeypatch.delenv("HUAWEICLOUD_SDK_PROJECT_ID", raising=False)
    with pytest.raises(ValueError, match="HUAWEICLOUD_SDK_PROJECT_ID"):
        make_client(ok_handler, project_id=None)


# --- secrets ----------------------------------------------------------------------------


def test_secrets_never_in_repr_errors_logs_or_rows(caplog):
    """Token, secret key and security token stay out of reprs, errors, logs and the frame."""
    caplog.set_level(logging.DEBUG)

    def echo(request):
        # A misbehaving server that echoes the credentials it received in its error body.
        text = (
            f"bad {request.headers.get('X-Auth-Token')} {request.headers.get('X-Security-Token')}"
        )
        if job_of(request).startswith("0"):
            return httpx.Response(200, text=text)
        return httpx.Response(503, json={"code": "E", "message": text})

    clients = [
        make_client(echo, max_attempts=2),
        make_client(echo, max_attempts=2, token=None, ak="AK", sk=SK, security_token=STS),
    ]
    for client in clients:
        frame = client.fetch_jobs(["0" * 32, "a" * 32], progress=False)
        with pytest.raises(errors.JobsError) as info:
            client.get_job("a" * 32)
        texts = [repr(client), str(client), str(info.value), repr(info.value), caplog.text]
        texts += [frame.to_csv(), repr(client.credentials)]
        for text in texts:
            for secret in (TOKEN, SK, STS):
                assert secret not in text
    assert "retrying" in caplog.text  # the log did record the retries


# --- over real loopback sockets: the session's simulator ---------------------------------


async def no_sleep(seconds: float) -> None:
    """Retry waits skipped: the retries still happen, nothing waits."""


def live_client(live, **options) -> JobsClient:
    """A client for the session's simulator, token by default."""
    settings = {
        "endpoint": live.url,
        "project_id": live.project_id,
        "token": live.token,
        "rate_limit": None,
        "concurrency": 8,
        "sleep": no_sleep,
    }
    settings.update(options)
    return JobsClient(**settings)


@pytest.mark.parametrize("api", ["jobs", "cloudimages"])
@pytest.mark.parametrize("kind", ["token", "aksk"])
def test_loopback_fetch(simulator_server, kind, api):
    """Token and AK/SK fetches over a real socket give every job, typed, in order."""
    live = simulator_server
    ids = live.simulator.job_ids[:60]
    creds = (
        {"token": live.token} if kind == "token" else {"token": None, "ak": live.ak, "sk": live.sk}
    )
    frame = live_client(live, api=api, **creds).fetch_jobs(ids, progress=False)
    assert frame["job_id"].tolist() == ids
    assert frame["outcome"].eq("ok").all(), frame["fetch_error"].dropna().tolist()[:3]
    assert frame["status"].notna().all()
    assert frame["request_id"].notna().all()
    expected = [live.simulator.record(i)["job_type"] for i in ids]
    assert frame["job_type"].tolist() == expected
    if api == "cloudimages":
        assert frame["process_percent"].notna().any()


def test_loopback_not_found_and_auth_rows(simulator_server):
    """404 and 401 answers over the wire become outcome rows with code and request id."""
    live = simulator_server
    known = live.simulator.job_ids[0]
    unknown = "ffffffffffffffffffffffffffffffff"
    frame = live_client(live).fetch_jobs([known, unknown], progress=False)
    assert frame["outcome"].tolist() == ["ok", "not_found"]
    missing = frame.iloc[1]
    assert (missing.http_status, missing.fetch_error_code) == (400, "IMG.0023")
    assert isinstance(missing.request_id, str) and missing.request_id

    for creds in ({"token": "wrong-token"}, {"token": None, "ak": live.ak, "sk": "wrong-sk"}):
        denied = live_client(live, **creds).fetch_jobs([known, unknown], progress=False)
        assert denied["outcome"].tolist() == ["auth", "auth"]
        assert denied["fetch_error_code"].tolist() == ["APIGW.0301", "APIGW.0301"]
        # One request with credentials never accepted; the other id is not sent.
        assert denied["request_id"].notna().tolist() == [True, False]
    with pytest.raises(errors.NotFoundError):
        live_client(live).get_job(unknown)


def test_loopback_faults_are_retried_to_the_end(simulator_server):
    """With 30 % 503 and 20 % 429 injected, every id still comes back ok."""
    from jobtools.simulator import Faults

    live = simulator_server
    ids = live.simulator.job_ids[:50]
    with live.simulator.injecting(Faults(error_503=0.3, throttle=0.2)):
        frame = live_client(live, max_attempts=25).fetch_jobs(ids, progress=False)
    assert frame["outcome"].eq("ok").all()


@pytest.mark.parametrize("fault", ["malformed", "truncated"])
def test_loopback_bad_bodies(simulator_server, fault):
    """Malformed and truncated bodies over the wire are bad_body rows keeping the text."""
    from jobtools.simulator import Faults

    live = simulator_server
    ids = live.simulator.job_ids[:5]
    with live.simulator.injecting(Faults(**{fault: 1.0})):
        frame = live_client(live).fetch_jobs(ids, progress=False)
    assert frame["outcome"].eq("bad_body").all()
    assert frame["raw_body"].str.len().gt(0).all()
    assert frame["job_id"].tolist() == ids


def test_loopback_transports_agree(simulator_server):
    """aiohttp (the default) and httpx's own transport give the same frame for ended jobs."""
    live = simulator_server
    first = live_client(live).fetch_jobs(live.simulator.job_ids[:80], progress=False)
    ended = first.loc[first["is_terminal"], "job_id"].tolist()
    ours = live_client(live).fetch_jobs(ended, progress=False)
    theirs = live_client(live, transport=httpx.AsyncHTTPTransport()).fetch_jobs(
        ended, progress=False
    )
    columns = [c for c in ours.columns if c != "request_id"]
    pd.testing.assert_frame_equal(ours[columns], theirs[columns])


def test_loopback_sync_fetch_inside_running_loop(simulator_server):
    """The sync API over real sockets works where a loop already runs (a notebook cell)."""
    live = simulator_server
    ids = live.simulator.job_ids[:10]

    async def cell():
        return live_client(live).fetch_jobs(ids, progress=False)

    assert asyncio.run(cell())["outcome"].eq("ok").all()


def test_in_process_simulator_transport(simulator):
    """The simulator's in-process transport serves the client too (no socket, no sleep)."""
    ids = simulator.add_jobs(5, finish_within=60)
    client = make_client(
        None,
        endpoint="http://sim",
        project_id=simulator.project_id,
        token=None,
        ak="DEMOAK",
        sk="DEMOSK",
        transport=simulator.transport(async_sleep=no_sleep),
    )
    frame = client.fetch_jobs(ids, progress=False)
    assert frame["outcome"].eq("ok").all() and frame["job_id"].tolist() == ids


@pytest.mark.slow
def test_fetch_in_a_real_jupyter_kernel(simulator_server):
    """In a real kernel (a loop already running) fetch_jobs works and shows a widget bar."""
    import nbformat
    from nbclient import NotebookClient

    live = simulator_server
    ids = live.simulator.job_ids[:20]
    source = (
        "import asyncio, sys, jobtools\n"
        "asyncio.get_running_loop()  # a loop runs here, as in any notebook\n"
        f"frame = jobtools.fetch_jobs({ids!r}, endpoint={live.url!r}, "
        f"project_id={live.project_id!r}, token={live.token!r}, rate_limit=None)\n"
        "print(len(frame), frame['outcome'].eq('ok').all(), 'tqdm.notebook' in sys.modules)\n"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "20 True True" in text
    widgets = [o for o in outputs if o.get("output_type") == "display_data"]
    assert any("application/vnd.jupyter.widget-view+json" in o["data"] for o in widgets)
