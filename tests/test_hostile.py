"""The client against hostile servers on real loopback sockets (see `tests/hostile.py`).

Each test plays one way a server can lie, stall, flood or leak, and checks the promise:
a row for every id asked, a clear outcome, bounded time and memory, no secret kept.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import sqlite3
import zlib

import pandas as pd
import pytest
from hostile import (
    Drip,
    Endless,
    HostileServer,
    Seen,
    Send,
    honest,
    hostile,
    raw_answer,
)

import jobtools
from jobtools import errors
from jobtools.api import auth
from jobtools.api.client import AUTH_REFUSALS_TO_STOP, JobsClient
from jobtools.io import write_jobs
from jobtools.simulator import DEMO_PROJECT_ID, Simulator

# Secrets with the characters JSON and URLs escape, so every encoding is exercised.
TOKEN = "tok/SECRET+token=0042"
SK = "sk/SECRET+key=9876"
STS = "sts/SECRET+session=1234"
AK = "HOSTILEAK"
SECRETS = (TOKEN, SK, STS)


@pytest.fixture(scope="module")
def sim() -> Simulator:
    """A simulator accepting the secrets above, with jobs that have all ended."""
    credentials = [
        auth.TokenCredentials(token=TOKEN, project_id=DEMO_PROJECT_ID),
        auth.AkSkCredentials(ak=AK, sk=SK, security_token=STS, project_id=DEMO_PROJECT_ID),
    ]
    simulator = Simulator(credentials=credentials, seed=3)
    simulator.add_jobs(60, finish_within=0.001)
    return simulator


@pytest.fixture
def ids(sim: Simulator) -> list[str]:
    return sim.job_ids[:8]


async def no_sleep(seconds: float) -> None:
    """Backoff skipped (the server's real time still passes)."""


def client(server: HostileServer, kind: str = "token", **options: object) -> JobsClient:
    settings: dict = {
        "endpoint": server.url,
        "project_id": DEMO_PROJECT_ID,
        "rate_limit": None,
        "sleep": no_sleep,
        "concurrency": 4,
    }
    if kind == "token":
        settings["token"] = TOKEN
    else:
        settings.update(ak=AK, sk=SK, security_token=STS)
    settings.update(options)
    return JobsClient(**settings)


def fetch(
    sim: Simulator, play, job_ids: list[str], **options
) -> tuple[HostileServer, pd.DataFrame]:
    with hostile(sim, play) as server:
        frame = client(server, **options).fetch_jobs(job_ids, progress=False)
    return server, frame


def first_twisted(twist):
    """A play that twists the first answer for each id, then answers honestly."""
    done: set[str] = set()

    def play(seen: Seen):
        if seen.job_id in done:
            return honest(seen)
        done.add(seen.job_id)
        return twist(seen)

    return play


# --- answers that must not be trusted ------------------------------------------------------


def test_answer_for_another_job_is_mismatched_id(sim, ids):
    """A 200 naming another job is `mismatched_id` (retried), keeping the body's id."""
    other = sim.job_ids[-1]

    def play(seen):
        record = {**seen.record(), "job_id": other}
        return Send(200, record)

    server, frame = fetch(sim, play, ids[:3], max_attempts=2)
    assert frame["job_id"].tolist() == ids[:3]
    assert frame["outcome"].eq("mismatched_id").all()
    assert frame["status"].isna().all()  # the other job's status is not this one's
    assert frame["fetch_error"].str.contains(other).all()
    assert frame["raw_body"].str.contains(other).all()
    assert server.requests == 6


@pytest.mark.parametrize(
    "answer",
    [
        Send(200, {"status": "error"}),
        Send(200, {"status": 401}),
        Send(200, {"status": "SUCCESS", "error": {"code": "X.1", "message": "no"}}),
        Send(200, {"error_code": "IMG.0500", "error_msg": "failed"}),
        Send(200, b"<html>gateway</html>"),
        Send(200, b'{"status": "SUCCESS", "job_id": "'),
    ],
    ids=["status-error", "status-401", "error-inside", "error-under-200", "html", "cut"],
)
def test_bodies_that_are_not_a_job_are_bad_body_and_retried(sim, ids, answer):
    """Error-shaped or non-job 200s are never ok; the retry then gets the real record."""
    server, frame = fetch(sim, first_twisted(lambda seen: answer), ids[:2])
    assert frame["outcome"].eq("ok").all() and frame["status"].notna().all()
    assert server.requests == 4

    _, frame = fetch(sim, lambda seen: answer, ids[:1], max_attempts=2)
    assert frame["outcome"].tolist() == ["bad_body"]
    assert frame["raw_body"].notna().all()


def test_partial_answer_206_is_not_ok(sim, ids):
    """A 206 carrying a real record is not a whole answer."""
    _, frame = fetch(sim, lambda s: Send(206, s.reply.body), ids[:1], max_attempts=2)
    assert (frame.iloc[0].outcome, frame.iloc[0].http_status) == ("bad_body", 206)


# --- errors and throttling in every shape ------------------------------------------------

THROTTLING = [
    (429, {"error_code": "APIGW.0308", "error_msg": "throttled"}),
    (400, {"error_code": "Common.0024", "error_msg": "exceeds flow over limit"}),
    (403, {"error": {"code": "Common.0024", "message": "exceeds flow over limit"}}),
    (200, {"error_code": "Common.0024", "error_msg": "exceeds flow over limit"}),
    (503, {"code": "Common.1503", "message": "service busy"}),
]


@pytest.mark.parametrize(("status", "body"), THROTTLING)
def test_every_throttling_shape_is_retried_as_throttling(sim, ids, status, body):
    """APIGW.0308, Common.0024 under any status and Common.1503 are throttling, retried."""
    server, frame = fetch(sim, first_twisted(lambda seen: Send(status, body)), ids[:2])
    assert frame["outcome"].eq("ok").all()
    assert server.requests == 4

    _, frame = fetch(sim, lambda seen: Send(status, body), ids[:1], max_attempts=2)
    row = frame.iloc[0]
    assert (row.outcome, row.http_status) == ("throttled", status)
    assert row.fetch_error_code in ("APIGW.0308", "Common.0024", "Common.1503")


@pytest.mark.parametrize(
    ("status", "code", "outcome", "stops"),
    [
        (400, "IMG.0030", "auth", True),
        (400, "IMG.0023", "not_found", False),
        (403, "IMG.0026", "forbidden", True),
        (401, "APIGW.0301", "auth", True),
        (404, "IMG.0023", "not_found", False),
    ],
)
def test_ims_error_codes_are_classified(sim, status, code, outcome, stops):
    """IMS's codes get their outcome; credential and role refusals stop the batch."""
    many = sim.job_ids[:20]
    body = {"error": {"code": code, "message": "refused"}}
    server, frame = fetch(sim, lambda seen: Send(status, body), many, concurrency=2)
    assert frame["job_id"].tolist() == many
    assert frame["outcome"].eq(outcome).all()
    assert frame["fetch_error_code"].eq(code).all()
    if stops:
        assert server.requests <= AUTH_REFUSALS_TO_STOP + 2
        assert frame["fetch_error"].str.startswith("not sent").sum() >= len(many) - 5
    else:
        assert server.requests == len(many)


@pytest.mark.parametrize("kind", ["token", "aksk"])
def test_wrong_credentials_fail_fast(sim, kind):
    """A wrong SK or token: a handful of requests, then every other id says why, unsent."""
    many = sim.job_ids[:50]
    wrong = {"token": "not-the-token"} if kind == "token" else {"sk": "not-the-sk"}
    with hostile(sim) as server:
        frame = client(server, kind, concurrency=4, **wrong).fetch_jobs(many, progress=False)
    assert frame["job_id"].tolist() == many
    assert frame["outcome"].eq("auth").all()
    assert frame["fetch_error_code"].eq("APIGW.0301").all()
    assert server.requests <= AUTH_REFUSALS_TO_STOP + 4
    unsent = frame["fetch_error"].str.startswith("not sent: the service refused")
    assert unsent.sum() == len(many) - server.requests


def test_a_wait_on_wrong_credentials_ends_refused(sim):
    """A wait whose fetches are refused ends in its first round, `refused`, not polling on."""
    many = sim.job_ids[:10]
    with hostile(sim) as server:
        frame = jobtools.wait_for(
            many, client=client(server, token="wrong"), timeout=600, progress=False
        )
    assert frame["wait_state"].eq("refused").all()
    assert frame["polls"].eq(1).all()


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (Send(429, {"error_code": "APIGW.0308", "error_msg": "slow down"}), "throttled"),
        (Send(503, {"code": "IMG.0503", "message": "down"}), "server_error"),
        (Send(200, b"<html>maintenance</html>"), "bad_body"),
    ],
)
def test_never_ending_failures_end_in_bounded_time_with_every_row(sim, answer, outcome):
    """Throttling, 5xx or bad bodies without end stop the batch after `max_retry_wait`."""
    many = sim.job_ids[:60]
    server, frame = fetch(sim, lambda seen: answer, many, max_retry_wait=0.3, max_attempts=1000)
    assert frame["job_id"].tolist() == many
    assert frame["outcome"].eq(outcome).all()
    assert frame["fetch_error"].str.contains("max_retry_wait").any()
    assert server.requests < 1000 * len(many)


# --- bounded memory and time -------------------------------------------------------------


def test_slow_drip_is_cut_by_the_attempt_deadline(sim, ids):
    """One byte every 50 ms holds no request past `attempt_timeout`; the batch goes on."""
    slow = ids[0]

    def play(seen):
        if seen.job_id == slow:
            return Drip(seen.reply.body, every=0.05)
        return honest(seen)

    _, frame = fetch(sim, play, ids[:3], attempt_timeout=0.3, max_attempts=2)
    assert frame["outcome"].tolist() == ["timeout", "ok", "ok"]
    assert "no whole answer within 0.3 s" in frame.iloc[0].fetch_error


def test_a_fetch_time_limit_bounds_the_batch(sim, ids):
    """`time_limit` ends a fetch whose answers never come; every id keeps its row."""
    with hostile(sim, lambda seen: Drip(seen.reply.body, every=0.2)) as server:
        frame = client(server).fetch_jobs(ids, progress=False, time_limit=0.3)
    assert frame["job_id"].tolist() == ids
    assert frame["outcome"].eq("timeout").all()


def test_a_waits_deadline_bounds_its_fetches(sim, ids):
    """A wait with a 0.4 s timeout ends although every answer drips for seconds."""
    with hostile(sim, lambda seen: Drip(seen.reply.body, every=0.2)) as server:
        frame = jobtools.wait_for(
            ids[:2], client=client(server, max_attempts=1), timeout=0.4, progress=False
        )
    assert frame["wait_state"].eq("timed_out").all()
    assert frame["outcome"].eq("timeout").all()


def gzip_bomb(size: int) -> bytes:
    """`size` zero bytes, gzipped (about size / 1000 on the wire)."""
    return gzip.compress(b"\0" * size, compresslevel=9)


@pytest.mark.parametrize(
    "flood",
    [
        Endless(),  # chunked, never ends
        Endless(total=1 << 30, declare=True),  # announces 1 GB
        Endless(chunks=(gzip_bomb(50 << 20),), encoding="gzip"),  # 50 MB from ~50 KB
        Endless(chunks=(zlib.compress(b" " * (20 << 20)),), encoding="deflate"),
    ],
    ids=["endless", "declared-1GB", "gzip-bomb", "deflate-bomb"],
)
def test_bodies_over_the_cap_are_too_large_and_the_batch_goes_on(sim, ids, flood):
    """Over `max_body_bytes` on the wire or inflated: that row says so, the others are ok."""
    big = ids[0]
    play = lambda seen: flood if seen.job_id == big else honest(seen)  # noqa: E731
    server, frame = fetch(sim, play, ids[:3], max_body_bytes=1 << 20)
    assert frame["outcome"].tolist() == ["too_large", "ok", "ok"]
    assert "over 1,048,576 bytes" in frame.iloc[0].fetch_error
    assert sum(s.job_id == big for s in server.seen) == 1  # never retried


def test_an_error_answer_over_the_cap_keeps_its_status(sim, ids):
    """A 503 with an endless body is still a (retried) 503, not `too_large`."""

    def flood(seen):
        return Send(503, b"x" * (2 << 20))

    server, frame = fetch(sim, first_twisted(flood), ids[:2], max_body_bytes=1 << 20)
    assert frame["outcome"].eq("ok").all()
    assert server.requests == 4
    _, frame = fetch(sim, flood, ids[:1], max_body_bytes=1 << 20, max_attempts=2)
    assert (frame.outcome[0], frame.http_status[0]) == ("server_error", 503)


def test_a_byte_order_mark_before_the_json_is_read(sim, ids):
    """A UTF-8 BOM before a job record does not make it a bad body."""
    _, frame = fetch(sim, lambda seen: Send(200, b"\xef\xbb\xbf" + seen.reply.body), ids[:2])
    assert frame["outcome"].eq("ok").all()


def test_gzip_answer_within_the_cap_is_read(sim, ids):
    """A gzip body the server sends unasked is decoded (within the cap)."""

    def play(seen):
        return Send(200, gzip.compress(seen.reply.body), {"Content-Encoding": "gzip"})

    _, frame = fetch(sim, play, ids[:2])
    assert frame["outcome"].eq("ok").all()


# --- one bad value never loses the batch ---------------------------------------------------


def test_non_utf8_request_id_is_kept_readable(sim, ids, tmp_path):
    """An X-Request-Id that is not UTF-8 becomes U+FFFD; the row and the CSV survive."""

    def play(seen):
        return raw_answer("200 OK", seen.reply.body, b"X-Request-Id: r-\xff\xfe-\xc3(")

    _, frame = fetch(sim, play, ids[:2])
    assert frame["outcome"].eq("ok").all()
    assert frame.iloc[0].request_id.startswith("r-\ufffd")
    write_jobs(frame, tmp_path / "jobs.csv")
    write_jobs(frame, tmp_path / "jobs.jsonl")


def test_odd_ids_each_get_their_row(sim, ids, tmp_path):
    """Non-ASCII ids are sent percent-encoded, a lone surrogate is refused in its row."""
    odd = ["jöb-ünïcode", "id\ud800x", "工作-1", ids[0]]
    _, frame = fetch(sim, honest, odd)
    # The non-ASCII ones were sent and answered (the service refuses or does not know them).
    assert frame["outcome"].tolist()[1:] == ["invalid_id", frame.outcome[2], "ok"]
    assert {frame.outcome[0], frame.outcome[2]} <= {"not_found", "bad_request"}
    assert frame["http_status"].notna().tolist() == [True, False, True, True]
    assert frame["job_id"].tolist() == ["jöb-ünïcode", "id\\ud800x", "工作-1", ids[0]]
    write_jobs(frame, tmp_path / "jobs.csv")


def test_an_exception_handling_one_answer_stays_in_its_row(sim, ids, monkeypatch):
    """Whatever goes wrong with one answer is that id's `client_error`; the rest are ok."""
    original = JobsClient._job_record

    def broken(self, body, headers, request_id, job_id):
        if job_id == ids[1]:
            raise RuntimeError("surprise")
        return original(self, body, headers, request_id, job_id)

    monkeypatch.setattr(JobsClient, "_job_record", broken)
    _, frame = fetch(sim, honest, ids[:3])
    assert frame["outcome"].tolist() == ["ok", "client_error", "ok"]
    assert frame.iloc[1].fetch_error == "RuntimeError: surprise"


@pytest.mark.parametrize(
    "record",
    [
        {"status": "SUCCESS", "entities": [1, 2], "begin_time": 17, "fail_reason": ["x"]},
        {"status": "SUCCESS", "entities": {"process_percent": "half", "sub_jobs": "none"}},
        {"status": "RUNNING", "job_type": {"a": 1}, "error_code": 5, "end_time": True},
        {"status": "FAIL", "entities": {"sub_jobs_result": [None, 3, {"status": []}]}},
        {"status": "SUCCESS", "extra": {"deep": [[[[[[[[1e308]]]]]]]]}, "n": 2**70, "m": -0.0},
    ],
)
def test_odd_records_never_break_the_frame(sim, ids, record):
    """Fields of the wrong type in one record leave every row in place."""
    odd = ids[0]

    def play(seen):
        if seen.job_id == odd:
            return Send(200, json.dumps({**record, "job_id": odd}).encode())
        return honest(seen)

    _, frame = fetch(sim, play, ids[:3])
    assert frame["job_id"].tolist() == ids[:3]
    assert frame["outcome"].eq("ok").all()


def test_a_record_the_frame_cannot_hold_is_a_client_error_row(sim, ids):
    """Entities nested deeper than JSON text allows: that row says so, the others are ok."""
    odd = ids[1]
    deep: object = "x"
    for _ in range(300):
        deep = [deep]

    def play(seen):
        if seen.job_id == odd:
            return Send(200, json.dumps({"status": "SUCCESS", "job_id": odd, "x": deep}).encode())
        return honest(seen)

    _, frame = fetch(sim, play, ids[:4])
    assert frame["job_id"].tolist() == ids[:4]
    assert frame["outcome"].tolist() == ["ok", "client_error", "ok", "ok"]
    assert "could not be made a row" in frame.iloc[1].fetch_error


# --- no secret in any file ---------------------------------------------------------------


def encodings(secret: str) -> list[str]:
    """`secret` as a server may echo it: plain, JSON-escaped, \\u-escaped, %-encoded (once
    and twice), HTML entities, \\x escapes, base64."""
    return [
        secret,
        secret.replace("/", "\\/"),
        "".join(f"\\u{ord(c):04x}" for c in secret),
        "".join(f"\\u{ord(c):04X}" for c in secret),
        "".join(f"%{ord(c):02X}" for c in secret),
        "".join(f"%25{ord(c):02X}" for c in secret),
        "".join(f"&#{ord(c)};" for c in secret),
        "".join(f"\\x{ord(c):02x}" for c in secret),
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(b"a:" + secret.encode()).decode(),  # as in a Basic auth header
        base64.urlsafe_b64encode(b"user:" + secret.encode()).decode(),
    ]


def echoes() -> str:
    """Every secret in every encoding, as raw JSON string content."""
    return " | ".join(form for secret in SECRETS for form in encodings(secret))


def leaks(text: str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """The forms of `secrets` found in `text` (also after JSON-unescaping it, or cut)."""
    found = [form for secret in secrets for form in encodings(secret) if form in text]
    with_unescaped = text.replace("\\/", "/")
    found += [s for s in secrets if s in with_unescaped]
    found += [s for s in secrets if s.lower() in text.lower()]
    # A secret cut where a text is shortened leaks its part: its first or last 8 characters.
    found += [part for s in secrets for part in (s[:8], s[-8:]) if part in text]
    return found


def echo_play(seen: Seen):
    """Echo every secret (and the request's own auth headers) in every place."""
    sent = " ".join(v for k, v in seen.headers.items() if k.lower().startswith("x-"))
    raw = echoes()
    n = seen.number % 4
    headers = {"X-Request-Id": f"rid {raw[:150]}"}
    if n == 1:  # the first answer accepts the credentials, so the batch fans out
        raw = raw.replace("\\x", "\\\\x")  # valid JSON: the \x forms arrive once decoded
        fields = [
            f'"status": "FAIL", "job_id": "{seen.job_id}", "job_type": "{raw}"',
            f'"fail_reason": "{raw} {sent}", "odd_field": ["{raw}"]',
            f'"entities": {{"note": "{raw}", "{TOKEN}": 1}}',
        ]
        body = "{" + ", ".join(fields) + "}"
        return Send(200, body.encode(), headers)
    if n == 0:
        return Send(
            401, f'{{"error_code": "APIGW.0301", "error_msg": "{raw} {sent}"}}'.encode(), headers
        )
    if n == 2:
        # The secrets straddle where a kept raw body is cut (64 KiB).
        return Send(200, f"<html>{'x' * 65_520}{raw} {sent}</html>".encode(), headers)
    # ... and where an error text is cut (500 characters).
    return Send(500, f"{'x' * 490}{raw} {sent}".encode(), headers)


@pytest.mark.parametrize("kind", ["token", "aksk"])
def test_echoed_secrets_reach_no_value_file_or_message(sim, tmp_path, kind, caplog):
    """A server echoing every secret in every encoding leaves none in rows, files or logs."""
    caplog.set_level(logging.DEBUG)
    held = (TOKEN,) if kind == "token" else (SK, STS)  # what the client can know to mask
    many = sim.job_ids[:12]
    with hostile(sim, echo_play) as server:
        fetcher = client(server, kind, max_attempts=1)
        frame = fetcher.fetch_jobs(many, progress=False)
        with pytest.raises(errors.JobsError) as raised:
            for job_id in many:
                fetcher.get_job(job_id)
        log_path = tmp_path / "poll.db"
        waited = jobtools.wait_for(
            many,
            client=client(server, kind, max_attempts=1),
            timeout=0,
            log=log_path,
            progress=False,
        )
    assert set(frame["outcome"]) >= {"ok", "bad_body", "server_error"}
    assert not leaks(frame.to_json(date_format="iso"), held), "frame"
    assert not leaks(repr(frame.to_dict("records")), held), "frame values"
    assert not leaks(str(raised.value) + repr(raised.value), held), "exception"
    assert not leaks(caplog.text, held), "log"

    write_jobs(frame, tmp_path / "jobs.csv")
    write_jobs(frame, tmp_path / "jobs.jsonl")
    write_jobs(waited, tmp_path / "waited.csv")
    report = jobtools.write_report(frame, tmp_path / "report", plot=False)
    files = [tmp_path / "jobs.csv", tmp_path / "jobs.jsonl", tmp_path / "waited.csv"]
    files += sorted(report.glob("*.csv")) + [report / "manifest.json"]
    for path in files:
        text = path.read_text(encoding="utf-8-sig")
        assert not leaks(text, held), path.name
    # The poll log: every table, every value.
    with sqlite3.connect(log_path) as db:
        tables = [row[0] for row in db.execute("select name from sqlite_master where type='table'")]
        dump = "\n".join(repr(db.execute(f"select * from {t}").fetchall()) for t in tables)
    assert not leaks(dump, held), "poll log"
    assert not leaks(log_path.read_bytes().decode("utf-8", "replace"), held), "poll log bytes"


def test_cli_fetch_with_a_wrong_sk_writes_every_row_after_a_few_requests(
    sim, tmp_path, monkeypatch, capsys
):
    """`jobtools fetch` as a new user with a wrong SK: a CSV of every id, a few requests."""
    from jobtools.cli import main
    from jobtools.io import read_jobs

    many = sim.job_ids[:60]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(many))
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", "wrong-secret-key")
    with hostile(sim) as server:
        out = tmp_path / "jobs.csv"
        argv = ["fetch", str(ids_file), "--endpoint", server.url, "--no-progress"]
        code = main([*argv, "--project-id", DEMO_PROJECT_ID, "--out", str(out)])
    assert code == 4  # refused credentials
    assert server.requests <= AUTH_REFUSALS_TO_STOP + 16  # the default concurrency in flight
    frame = read_jobs(out)
    assert frame["job_id"].tolist() == many and frame["outcome"].eq("auth").all()
    assert "wrong-secret-key" not in out.read_text() + capsys.readouterr().err


@pytest.mark.parametrize("fault", ["throttle", "flow_limit", "overloaded"])
def test_the_simulators_throttling_shapes_are_retried_to_the_end(sim, fault):
    """The simulator's own 429 APIGW.0308, 400 Common.0024 and 503 Common.1503 (issue 10):
    retried as throttling until every id is ok; none ends as bad_request or bad_body."""
    from jobtools.simulator import Faults

    many = sim.job_ids[:30]
    with sim.injecting(Faults(**{fault: 0.5})), hostile(sim) as server:
        frame = client(server, max_attempts=30).fetch_jobs(many, progress=False)
        seen = {s.reply.status for s in server.seen}
    assert frame["outcome"].eq("ok").all()
    assert seen - {200}  # the faults were really served
