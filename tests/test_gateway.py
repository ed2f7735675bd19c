"""The real gateway's answers (shared/reference/jobs-api.md, "The gateway's answers"), played
on loopback by the simulator or the hostile server: credentials are never tried in bulk, a
wrong route writes no job off, each documented code has its outcome and its one-line cause.
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import time
import warnings

import httpx
import orjson
import pytest
from hostile import Send, hostile, raw_answer

import jobtools
from jobtools import errors
from jobtools.api import auth
from jobtools.api.client import JobsClient
from jobtools.api.options import Limits, Retries, Timeouts
from jobtools.ids import job_id_times, make_job_id
from jobtools.simulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, Faults, ManualClock, Simulator
from jobtools.simulator._gate import AK_LOCKED
from jobtools.simulator._http import _warn_if_exposed
from jobtools.times import epoch_seconds
from jobtools.wait.options import Patience

CONCURRENCIES = [1, 4, 16, 64]


async def no_sleep(seconds: float) -> None:
    """Backoff skipped."""


@pytest.fixture
def sim() -> Simulator:
    """A simulator on the real clock (signatures are dated now) with 80 ended jobs; new for
    each test, so that no test's refused signatures count toward another's AK lock."""
    simulator = Simulator(seed=5)
    simulator.add_jobs(80, finish_within=0.001)
    return simulator


def make_client(url: str, kind: str = "aksk", **options: object) -> JobsClient:
    settings: dict = {
        "endpoint": url,
        "project_id": DEMO_PROJECT_ID,
        "rate_limit": None,
        "sleep": no_sleep,
    }
    if kind == "aksk":
        settings |= {"ak": DEMO_AK, "sk": DEMO_SK}
    else:
        settings["token"] = "demo-token"
    settings.update(options)
    return JobsClient(**settings)


# --- harm first: never lock the user's access key ---


@pytest.mark.parametrize("concurrency", CONCURRENCIES)
def test_a_wrong_sk_reaches_the_gateway_at_most_twice_per_batch(sim, concurrency):
    """A batch with a wrong SK sends at most 2 signatures the gateway refuses, at any
    concurrency; every id keeps its row, and the rows name the cause."""
    many = sim.job_ids
    with sim.serve() as server:
        sim.reset_stats()
        frame = make_client(server.url, sk="WRONG-SK", concurrency=concurrency).fetch_jobs(
            many, progress=False
        )
        stats = sim.stats()
    assert stats.signature_failures <= 2 and stats.requests <= 2
    assert frame["job_id"].tolist() == many and frame["outcome"].eq("auth").all()
    assert frame["fetch_error"].str.contains("wrong AK/SK").all()


@pytest.mark.parametrize("concurrency", CONCURRENCIES)
def test_a_wait_with_a_wrong_sk_reaches_the_gateway_at_most_twice(sim, concurrency):
    """A whole wait with a wrong SK: at most 2 refused signatures, then every job `refused`."""
    with sim.serve() as server:
        sim.reset_stats()
        frame = jobtools.wait_for(
            sim.job_ids[:40],
            client=make_client(server.url, sk="WRONG-SK", concurrency=concurrency),
            timeout=600,
            progress=False,
        )
        stats = sim.stats()
    assert stats.signature_failures <= 2
    assert frame["wait_state"].eq("refused").all()


@pytest.mark.parametrize("concurrency", [4, 64])
def test_a_wrong_token_is_tried_once(sim, concurrency):
    """A wrong token: one request refused, the rest not sent."""
    with sim.serve() as server:
        sim.reset_stats()
        frame = make_client(
            server.url, "token", token="not-the-token", concurrency=concurrency
        ).fetch_jobs(sim.job_ids, progress=False)
        stats = sim.stats()
    assert stats.auth_failures <= 2
    assert frame["fetch_error"].str.contains("token is not valid").all()


def test_good_credentials_fan_out_after_the_first_answer(sim):
    """Accepted credentials: the batch runs at its concurrency (the probe costs nothing)."""
    with sim.serve() as server:
        sim.reset_stats()
        frame = make_client(server.url, concurrency=16).fetch_jobs(sim.job_ids, progress=False)
        stats = sim.stats()
    assert frame["outcome"].eq("ok").all()
    assert stats.signature_failures == 0 and stats.requests == len(sim.job_ids)


def test_the_simulator_locks_an_ak_after_five_failed_signatures():
    """The AK lock as documented: the 6th failure in a row locks the AK for 5 minutes, even
    for good signatures; after them it works again. Our client never gets there."""
    clock = ManualClock(time.time())
    sim = Simulator(clock=clock)
    job = sim.add_job()
    plain = httpx.Client(transport=sim.transport(sleep=lambda s: None))
    url = f"http://sim/v1/{DEMO_PROJECT_ID}/jobs/{job}"

    def get(sk: str) -> httpx.Response:
        now = dt.datetime.fromtimestamp(clock(), dt.UTC)
        return plain.get(url, headers=auth.sign("GET", url, ak=DEMO_AK, sk=sk, now=now))

    answers = [get("WRONG") for _ in range(5)]
    assert [a.json()["error_msg"] for a in answers].count(AK_LOCKED) == 0
    sixth = get("WRONG")
    assert (sixth.status_code, sixth.json()["error_code"]) == (401, "APIGW.0301")
    assert sixth.json()["error_msg"] == AK_LOCKED
    assert get(DEMO_SK).json()["error_msg"] == AK_LOCKED  # locked for everyone
    clock.advance(301)
    assert get(DEMO_SK).status_code == 200
    # A success in between resets the count: 5 failures, a success, 5 failures: no lock.
    for _ in range(5):
        get("WRONG")
    assert get(DEMO_SK).status_code == 200
    assert all(get("WRONG").json()["error_msg"] != AK_LOCKED for _ in range(5))


def test_the_lock_answer_is_named():
    """A locked AK is named as such, with what to do."""
    error = errors.error_for_status(401, "APIGW.0301", AK_LOCKED)
    assert "locked for 5 minutes" in error.cause


# --- clock skew ---


@pytest.mark.parametrize(("minutes", "side"), [(20, "behind"), (-25, "ahead of")])
def test_clock_skew_is_named_from_the_servers_date(minutes, side):
    """A signature refused by a gateway whose clock (its Date header) is 20 min off ours
    says so, instead of only "verify aksk signature fail"."""
    sim = Simulator(clock=ManualClock(time.time() + minutes * 60))
    job = sim.add_job()
    with sim.serve() as server:
        frame = make_client(server.url).fetch_jobs([job, sim.add_job()], progress=False)
    assert frame["outcome"].eq("auth").all()
    assert f"your clock is {abs(minutes)} min {side} the server's" in frame["fetch_error"][0]


# --- a wrong route is not a job that is gone ---


OLD_IDS = [make_job_id(time.time() - 10 * 86400 - i, node=1, jvm=2, counter=i) for i in range(30)]


@pytest.mark.parametrize(("options", "route"), [({"path": "/wrong"}, "/v1/")])
def test_a_wrong_route_stops_the_batch_and_writes_no_job_off(sim, options, route):
    """404 APIGW.0101 (no such API) is a configuration error: one request, one line naming
    the endpoint and route, and no job not_found, gone or expired."""
    with sim.serve() as server:
        url = server.url + options["path"]
        sim.reset_stats()
        frame = make_client(url, concurrency=16).fetch_jobs(OLD_IDS, progress=False)
        fetched = sim.stats().requests
        waited = jobtools.wait_for(
            OLD_IDS, client=make_client(url, concurrency=16), timeout=600, progress=False
        )
    assert fetched == 1
    assert (
        frame["outcome"].eq("http_error").all() and frame["fetch_error_code"].eq("APIGW.0101").all()
    )
    assert frame["fetch_error"].str.contains(f"no such API at {url}{route}").all()
    assert not waited["wait_state"].isin(["gone", "expired"]).any()
    assert waited["wait_state"].eq("gave_up").all() and waited["polls"].le(1).all()


def test_an_unknown_job_is_400_img0023_and_gone():
    """The simulator answers an unknown job 400 IMG.0023 (ECS: Common.0011), as every table
    does; the client reads both as not_found, and an old id ends `expired`."""
    for service, code in (("ims", "IMG.0023"), ("ecs", "Common.0011")):
        sim = Simulator(service=service)
        with sim.serve() as server:
            frame = jobtools.wait_for(
                OLD_IDS[:2] + [make_job_id(time.time(), node=1, jvm=2, counter=9)],
                client=make_client(server.url),
                timeout=60,
                progress=False,
            )
        assert frame["http_status"].eq(400).all() and frame["fetch_error_code"].eq(code).all()
        assert frame["outcome"].eq("not_found").all()
        assert frame["wait_state"].tolist() == ["expired", "expired", "gone"]


# --- each documented code: its outcome and its one line ---


def gateway(code: str, message: str) -> dict:
    return {"error_code": code, "error_msg": message, "request_id": "r"}


def nested(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


DOCUMENTED = [
    # status, body, outcome, the cause said, batch stops
    (401, gateway("APIGW.0301", "verify aksk signature fail"), "auth", "wrong AK/SK", True),
    (401, gateway("APIGW.0301", "decrypt token fail"), "auth", "token is not valid", True),
    (401, gateway("APIGW.0301", "Get secretKey failed,err:ak not exist"), "auth", "(AK)", True),
    (401, gateway("APIG.0301", AK_LOCKED), "auth", "locked for 5 minutes", True),
    (401, gateway("APIGW.0307", "token expires, expires_at: x"), "auth", "expired", True),
    (400, nested("IMG.0030", "Invalid project id or token."), "auth", "project id", True),
    (400, nested("Common.0018", "project id differs"), "auth", "project id", True),
    (401, nested("Common.0013", "invalid token"), "auth", "token is not valid", True),
    (403, nested("IMG.0026", "Invalid role."), "forbidden", "no permission", True),
    (403, gateway("APIGW.0302", "access denied"), "forbidden", "no permission", True),
    (403, gateway("APIGW.0310", "project unavailable"), "forbidden", "unavailable", True),
    (404, gateway("APIGW.0101", "The API does not exist"), "http_error", "no such API", True),
    (400, nested("IMG.0023", "exception during task query"), "not_found", "IMG.0023", False),
    (400, nested("Common.0011", "invalid job ID"), "not_found", "Common.0011", False),
    (202, nested("Common.0024", "exceeds flow over limit"), "throttled", "Common.0024", False),
    (503, nested("Common.1503", "busy"), "throttled", "Common.1503", False),
    (429, nested("Common.1503", "busy"), "throttled", "Common.1503", False),
    (429, gateway("APIGW.0308", "over ratelimit"), "throttled", "APIGW.0308", False),
    (502, gateway("APIGW.0201", "Backend unavailable"), "server_error", "APIGW.0201", False),
    (504, gateway("APIGW.0201", "Backend timeout"), "server_error", "APIGW.0201", False),
    (503, gateway("APIGW.0613", "IAM unavailable"), "server_error", "APIGW.0613", False),
    (403, nested("IMG.0099", "not yours"), "forbidden", "IMG.0099", False),
]


@pytest.mark.parametrize(("status", "body", "outcome", "said", "stops"), DOCUMENTED)
def test_each_documented_answer_has_its_outcome_and_line(sim, status, body, outcome, said, stops):
    """Every answer of the public tables: its outcome, its line, and whether the batch stops
    (a stop never costs more than the one request that showed it)."""
    many = sim.job_ids[:12]
    with hostile(sim, lambda seen: Send(status, body)) as server:
        frame = make_client(server.url, max_attempts=2, concurrency=4).fetch_jobs(
            many, progress=False
        )
    assert frame["job_id"].tolist() == many
    assert frame["outcome"].eq(outcome).all(), frame["outcome"].tolist()
    told = frame["fetch_error"] + " " + frame["fetch_error_code"]
    assert told.str.contains(said, regex=False).all(), told[0]
    if stops:
        assert server.requests == 1
        assert frame["fetch_error"].iloc[1:].str.startswith("not sent: ").all()
    else:
        assert server.requests > 1


def test_a_lone_refusal_after_acceptance_sends_the_next_request_alone(sim):
    """Credentials that worked and then are refused once: the next request goes out alone
    (a probe) and, accepted, the batch goes on."""
    first_refused: list[int] = []

    def play(seen):
        if seen.number == 5:
            first_refused.append(seen.number)
            return Send(401, gateway("APIGW.0301", "verify aksk signature fail"))
        return Send(seen.reply.status, seen.reply.body, seen.reply.headers)

    with hostile(sim, play) as server:
        frame = make_client(server.url, concurrency=1).fetch_jobs(sim.job_ids[:20], progress=False)
    counts = frame["outcome"].value_counts()
    assert counts[counts > 0].to_dict() == {"ok": 19, "auth": 1}


# --- the simulator's documented answers ---


@pytest.mark.parametrize(("cloud", "status"), [("huaweicloud", 503), ("otc", 429)])
def test_common_1503_status_follows_the_cloud(cloud, status):
    """ECS's Common.1503 is 503 on Huawei Cloud and 429 on Open Telekom Cloud."""
    sim = Simulator(cloud=cloud, require_auth=False, faults=Faults(overloaded=1.0))
    job = sim.add_job()
    reply = sim.handle("GET", f"/v1/{DEMO_PROJECT_ID}/jobs/{job}")
    assert (reply.status, orjson.loads(reply.body)["error"]["code"]) == (status, "Common.1503")


def test_flow_limit_is_a_202_retried_as_throttling(sim):
    """Common.0024 comes as HTTP 202, as both ECS tables give it, and is retried to the end."""
    with sim.injecting(Faults(flow_limit=0.5)), sim.serve() as server:
        frame = make_client(server.url, max_attempts=30).fetch_jobs(sim.job_ids[:20])
        by_status = sim.stats().by_status
    assert frame["outcome"].eq("ok").all() and by_status.get(202)


def test_an_expired_token_is_apigw_0307():
    """A token the gateway knows but that expired: 401 APIGW.0307, named as expired."""
    sim = Simulator(expired_tokens=["old-token"])
    job = sim.add_job()
    with sim.serve() as server:
        frame = make_client(server.url, "token", token="old-token").fetch_jobs([job])
    assert frame.loc[0, "fetch_error_code"] == "APIGW.0307"
    assert "token has expired" in frame.loc[0, "fetch_error"]


def test_pending_payment_is_for_ecs_and_bms_only():
    """PENDING_PAYMENT is documented for ECS and BMS only."""
    sim = Simulator()
    assert sim.add_job(service="bms", pending_payment=True)
    with pytest.raises(ValueError, match="ecs and bms"):
        sim.add_job(pending_payment=True)


def test_x_project_id_is_sent_and_signed_on_every_route(sim):
    """Both routes carry X-Project-Id, and the signature covers it."""
    for api in ("jobs", "cloudimages"):
        with hostile(sim) as server:
            frame = make_client(server.url, api=api).fetch_jobs(sim.job_ids[:2], progress=False)
        assert frame["outcome"].eq("ok").all()
        for seen in server.seen:
            assert seen.headers["X-Project-Id"] == DEMO_PROJECT_ID
            signed = auth.parse_authorization(seen.headers["Authorization"])[1]
            assert "x-project-id" in signed.split(";")


def test_past_the_counter_ids_move_to_the_next_millisecond():
    """`serve --new-jobs 100000` (which refused to start past 65,536): more ids at one moment
    than the 16-bit counter holds stay unique and in the real layout (the ids alone: making
    100,000 whole jobs takes ~20 s here)."""
    sim = Simulator(seed=2)
    made = [sim._new_id(1_700_000_000.0) for _ in range(100_000)]
    assert len(set(made)) == 100_000
    seconds = epoch_seconds(job_id_times(made[::997]))
    assert ((seconds >= 1_700_000_000) & (seconds < 1_700_000_000 + 60)).all()


@pytest.mark.parametrize(
    ("host", "auth_on", "said"),
    [("0.0.0.0", True, "other machines"), ("0.0.0.0", False, "WITHOUT")],
)
def test_serving_beyond_loopback_warns(host, auth_on, said):
    """`serve --host 0.0.0.0` warns; louder with --no-auth. Loopback is quiet."""
    with pytest.warns(errors.ExposedSimulatorWarning, match=said):
        _warn_if_exposed(host, auth_on)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_exposed("127.0.0.1", False)
        _warn_if_exposed("::1", False)


# --- the network as users have it ---


def test_credentials_over_plain_http_to_another_host_warn():
    """A token over plain http:// to another machine warns; loopback does not."""
    with pytest.warns(errors.PlainHttpWarning, match="10.1.2.3"):
        JobsClient(endpoint="http://10.1.2.3:8080", project_id=DEMO_PROJECT_ID, token="t-123")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        JobsClient(endpoint="http://127.0.0.1:8080", project_id=DEMO_PROJECT_ID, token="t-123")
        JobsClient(endpoint="http://localhost:1", project_id=DEMO_PROJECT_ID, token="t-123")
        JobsClient(endpoint="https://10.1.2.3", project_id=DEMO_PROJECT_ID, token="t-123")


def test_a_proxys_own_error_page_names_the_proxy_without_its_login(sim, monkeypatch):
    """A proxy answering with its own page (no request id, not JSON) is named, its login
    masked, and its password in the page too."""
    page = b"<html>Access Denied by proxy; login user:pr0xy-PASSWORD rejected</html>"
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    with hostile(sim, lambda seen: Send(407, page, {"Content-Type": "text/html"})) as proxy:
        proxy_url = proxy.url.replace("http://", "http://user:pr0xy-PASSWORD@")
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        with pytest.warns(errors.PlainHttpWarning):
            client = make_client("http://ims.example.test", "token", token="demo-token")
        frame = client.fetch_jobs(sim.job_ids[:3], progress=False)
    text = frame.to_json(date_format="iso")
    assert "pr0xy-PASSWORD" not in text and "pr0xy-PA" not in text
    assert frame["fetch_error"][0].startswith("the proxy http://****@127.0.0.1")


@pytest.mark.slow  # 1-2 s on a quiet machine: left out of make test-fast
def test_secrets_are_masked_before_any_cut(sim):
    """A token echoed where a request id or an error text is cut leaves none of it behind."""
    token = "tok-" + "S" * 12 + "-9z8y7x6w5v"
    credentials = [auth.TokenCredentials(token=token, project_id=DEMO_PROJECT_ID)]
    local = Simulator(credentials=credentials)
    job = local.add_job()
    for cut in range(180, 205):
        long_id = "r" * cut + token
        answer = Send(500, "e" * (500 - cut) + token, {"X-Request-Id": long_id})
        with hostile(local, lambda seen, a=answer: a) as server:
            frame = make_client(server.url, "token", token=token, max_attempts=1).fetch_jobs(
                [job], progress=False
            )
        text = frame.to_json(date_format="iso")
        assert token[:8] not in text and token[-8:] not in text, cut


def test_a_secret_in_an_over_long_header_line_is_masked_where_the_parser_cuts_it(sim):
    """aiohttp quotes 100 characters of a header line over 8 KiB in its error: wherever the
    token falls in it, none of it reaches the row."""
    token = "tok-" + "S" * 12 + "-9z8y7x6w5v"
    local = Simulator(credentials=[auth.TokenCredentials(token=token, project_id=DEMO_PROJECT_ID)])
    job = local.add_job()
    for before in range(60, 120, 3):
        line = b"X-Echo: " + b"a" * before + token.encode() + b"b" * 9000
        answer = raw_answer("200 OK", b"{}", line)
        with hostile(local, lambda seen, a=answer: a) as server:
            frame = make_client(server.url, "token", token=token, max_attempts=1).fetch_jobs(
                [job], progress=False
            )
        error = frame.loc[0, "fetch_error"]
        assert frame.loc[0, "outcome"] == "connection_error"
        assert not any(token[i : i + 4] in error for i in range(len(token) - 3)), before


@pytest.mark.parametrize(
    ("charset", "encode"),
    [
        ("GBK", lambda text: text.encode("gbk")),
        ("ISO-8859-1", lambda text: text.encode("latin-1", "replace")),
        ("UTF-16", lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le")),
        ("UTF-16LE", lambda text: text.encode("utf-16-le")),
    ],
)
def test_bodies_in_another_charset_are_read_by_it(sim, charset, encode):
    """`application/json;charset=GBK` (Latin-1, UTF-16): a FAIL keeps its status and reason."""
    reason = {"GBK": "镜像导出失败: 磁盘错误", "ISO-8859-1": "Échec de l'export"}.get(
        charset, "镜像导出失败: Échec"
    )

    def play(seen):
        record = {**seen.record(), "status": "FAIL", "fail_reason": reason}
        body = encode(orjson.dumps(record).decode())
        return Send(200, body, {"Content-Type": f"application/json;charset={charset}"})

    with hostile(sim, play) as server:
        frame = make_client(server.url).fetch_jobs(sim.job_ids[:4], progress=False)
    assert frame["outcome"].eq("ok").all(), frame["fetch_error"].tolist()
    assert frame["status"].eq("FAIL").all() and frame["fail_reason"].eq(reason).all()


# --- options ---


def test_option_groups_and_the_old_keywords_agree():
    """Limits, Retries and Timeouts set the client; a single keyword overrides its field."""
    client = JobsClient(
        endpoint="https://x.test",
        project_id=DEMO_PROJECT_ID,
        token="t-123",
        limits=Limits(concurrency=3, rate_limit=None),
        retries=Retries(max_attempts=2),
        timeouts=Timeouts(read=5.0, attempt=None),
        max_attempts=4,
    )
    assert (client.concurrency, client.rate_limit, client.max_attempts) == (3, None, 4)
    assert (client.timeout.read, client.attempt_timeout) == (5.0, None)
    old = JobsClient(
        endpoint="https://x.test",
        project_id=DEMO_PROJECT_ID,
        token="t-123",
        timeout=7.0,
        concurrency=2,
        rate_limit=None,
    )
    assert (old.timeout.connect, old.concurrency, old.rate_limit) == (7.0, 2, None)
    assert old.attempt_timeout == Timeouts().attempt
    given = JobsClient(
        endpoint="https://x.test",
        project_id=DEMO_PROJECT_ID,
        token="t-123",
        timeout=Timeouts(attempt=5),
    )
    assert given.attempt_timeout == 5 and given.timeout.read == Timeouts().read
    with pytest.raises(dataclasses.FrozenInstanceError):
        old.limits.concurrency = 5  # type: ignore[misc]


def test_the_cli_reads_its_defaults_from_the_option_groups():
    """`jobtools fetch` and `watch` repeat no default: they read the groups'."""
    from jobtools.cli import _parser

    fetch = _parser().parse_args(["fetch", "ids.txt", "--endpoint", "http://x", "--out", "o"])
    assert (fetch.concurrency, fetch.max_attempts) == (Limits().concurrency, Retries().max_attempts)
    assert (fetch.rate_limit, fetch.request_timeout) == (Limits().rate_limit, Timeouts().read)
    watch = _parser().parse_args(["watch", "ids.txt", "--endpoint", "http://x"])
    assert (watch.timeout, watch.give_up_after) == (Patience().timeout, Patience().give_up_after)
