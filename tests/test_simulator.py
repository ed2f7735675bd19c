"""The simulator: job life over injected time, auth, errors, faults, and a real server."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pandas as pd
import pytest

import jobtools
from jobtools import parse_job_time
from jobtools.api import auth
from jobtools.cli import main
from jobtools.simulator import (
    DEMO_AK,
    DEMO_PROJECT_ID,
    DEMO_SK,
    DEMO_TOKEN,
    SCENARIOS,
    Faults,
    ManualClock,
    Scenario,
    Simulator,
    SimulatorTransport,
    read_records,
)

SAMPLE = Path(__file__).resolve().parent.parent / "jobtools" / "data" / "sample_jobs.jsonl.gz"
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
LEGACY = re.compile(r"\d{2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2}:\d{2}:\d{3}")
TOKEN = {"X-Auth-Token": DEMO_TOKEN}


def job_path(job_id: str, project_id: str = DEMO_PROJECT_ID) -> str:
    return f"/v1/{project_id}/jobs/{job_id}"


@pytest.fixture
def client(simulator: Simulator) -> httpx.Client:
    return httpx.Client(transport=simulator.transport(), base_url="http://sim", headers=TOKEN)


def signed(url: str, *, sk: str = DEMO_SK, ak: str = DEMO_AK, **kwargs: object) -> dict[str, str]:
    return auth.sign("GET", url, ak=ak, sk=sk, **kwargs)  # type: ignore[arg-type]


# --- the life of a job ----------------------------------------------------------------------


def test_job_goes_init_running_success(simulator, sim_clock, client):
    """A job is INIT, then RUNNING with rising progress and changing tasks, then SUCCESS."""
    job_id = simulator.add_job(init_for=10, run_for=100, entities={"image_name": "web-01"})
    seen = []
    for _ in range(13):
        seen.append(client.get(job_path(job_id)).json())
        sim_clock.advance(10)
    statuses = [r["status"] for r in seen]
    assert statuses == ["INIT"] + ["RUNNING"] * 10 + ["SUCCESS"] * 2
    assert all(r["end_time"] == "" for r in seen[:11])
    assert all(r["error_code"] is None and r["fail_reason"] is None for r in seen)
    percents = [r["entities"]["process_percent"] for r in seen[1:11]]
    assert percents == sorted(percents) and 0 <= percents[0] < percents[-1] < 1
    assert len({r["entities"]["current_task"] for r in seen[1:11]}) > 1
    assert len({r["begin_time"] for r in seen}) == 1
    final = seen[-1]
    assert ISO.fullmatch(final["end_time"])
    assert final["entities"]["image_name"] == "web-01" and final["entities"]["image_id"]
    assert "process_percent" not in final["entities"]
    assert list(final) == [
        "status",
        "entities",
        "job_id",
        "job_type",
        "begin_time",
        "end_time",
        "error_code",
        "fail_reason",
    ]


def test_failed_job_carries_its_reason(simulator, sim_clock, client):
    """A FAIL gives error_code and fail_reason at the top and in the entities, only at the end."""
    job_id = simulator.add_job(
        status="FAIL", run_for=5, error_code="IMG.0015", fail_reason="quota exceeded"
    )
    running = client.get(job_path(job_id)).json()
    sim_clock.advance(6.5)
    failed = client.get(job_path(job_id)).json()
    assert (running["status"], running["fail_reason"]) == ("INIT", None)
    assert (failed["status"], failed["error_code"], failed["fail_reason"]) == (
        "FAIL",
        "IMG.0015",
        "quota exceeded",
    )
    assert failed["entities"]["error_code"] == "IMG.0015"
    assert failed["entities"]["error"] == "quota exceeded"


def test_failure_borrowed_from_loaded_records(sim_clock):
    """A FAIL without a reason borrows one from the failed records loaded."""
    records = read_records(SAMPLE)
    reasons = {r["fail_reason"] for r in records if r["status"] == "FAIL"}
    sim = Simulator(records, clock=sim_clock)
    job_id = sim.add_job(status="FAIL", init_for=0, run_for=1)
    sim_clock.advance(2)
    assert sim.record(job_id)["fail_reason"] in reasons


@pytest.mark.parametrize(("time_format", "pattern"), [("iso", ISO), ("legacy", LEGACY)])
def test_both_time_formats(simulator, sim_clock, time_format, pattern):
    """Times come in the format asked for, and end - begin is the planned duration."""
    job_id = simulator.add_job(init_for=2, run_for=60, time_format=time_format)
    sim_clock.advance(70)
    record = simulator.record(job_id)
    assert pattern.fullmatch(record["begin_time"]) and pattern.fullmatch(record["end_time"])
    duration = parse_job_time(record["end_time"]) - parse_job_time(record["begin_time"])
    assert abs(duration.total_seconds() - 62) < 0.01


def test_progress_route(simulator, sim_clock, client):
    """The cloudimages route adds process_percent, current_task and subJobId, even at the end."""
    job_id = simulator.add_job(status="FAIL", init_for=1, run_for=10)
    headers = {"X-Project-Id": DEMO_PROJECT_ID}
    answers = []
    for step in (0, 5, 20):
        sim_clock.advance(step)
        response = client.get(f"/v1/cloudimages/job/{job_id}", headers=headers)
        assert response.status_code == 200
        answers.append(response.json())
    assert [a["status"] for a in answers] == ["INIT", "RUNNING", "FAIL"]
    for answer in answers:
        assert {"process_percent", "current_task", "subJobId"} <= set(answer["entities"])
    assert len({a["entities"]["subJobId"] for a in answers}) == 1
    assert 0 < answers[2]["entities"]["process_percent"] < 1  # stopped where it failed


def test_progress_route_needs_project_header(simulator, client):
    """Without X-Project-Id the progress route answers 400 IMG.0001."""
    job_id = simulator.add_job()
    response = client.get(f"/v1/cloudimages/job/{job_id}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "IMG.0001"


def test_sample_records_ended_are_served_verbatim(sim_clock):
    """Every ended record of the sample comes back exactly as it is in the file."""
    records = read_records(SAMPLE)
    sim = Simulator(SAMPLE, clock=sim_clock)
    ended = [r for r in records if r["status"] in ("SUCCESS", "FAIL")]
    assert ended and all(sim.record(r["job_id"]) == r for r in ended)


def test_sample_running_records_carry_on_and_end(sim_clock):
    """Running records keep their begin_time, progress from where they were, and end in time."""
    records = [r for r in read_records(SAMPLE) if r["status"] in ("INIT", "RUNNING")]
    sim = Simulator(records, clock=sim_clock, finish_within=60)
    running = next(r for r in records if r["status"] == "RUNNING")
    first = sim.record(running["job_id"])
    sim_clock.advance(1)
    later = sim.record(running["job_id"])
    assert first["begin_time"] == later["begin_time"] == running["begin_time"]
    assert first["entities"]["process_percent"] == running["entities"]["process_percent"]
    assert later["entities"]["process_percent"] >= first["entities"]["process_percent"]
    sim_clock.advance(60)
    assert set(sim.status_counts()) <= {"SUCCESS", "FAIL"}
    ended = sim.record(running["job_id"])
    assert ended["begin_time"] == running["begin_time"] and ended["end_time"]
    assert parse_job_time(ended["end_time"]) > parse_job_time(ended["begin_time"])


def test_generated_batch_ends_within_horizon(simulator, sim_clock):
    """`add_jobs(n, finish_within=30)` makes n new INIT jobs that have all ended 30 s later."""
    ids = simulator.add_jobs(40, finish_within=30)
    assert len(set(ids)) == 40
    assert simulator.status_counts() == {"INIT": 40}
    sim_clock.advance(10)
    assert simulator.status_counts().get("RUNNING", 0) > 0
    sim_clock.advance(20.01)
    counts = simulator.status_counts()
    assert set(counts) <= {"SUCCESS", "FAIL"} and sum(counts.values()) == 40


def test_generated_batch_forced_type_and_status(simulator, sim_clock):
    """A batch can be all of one job type and end in one status."""
    ids = simulator.add_jobs(5, finish_within=10, job_type="imsNativeExportImageJob", status="FAIL")
    sim_clock.advance(11)
    records = [simulator.record(i) for i in ids]
    assert {(r["job_type"], r["status"]) for r in records} == {("imsNativeExportImageJob", "FAIL")}
    assert all(r["fail_reason"] for r in records)


def test_same_seed_same_jobs():
    """Two simulators with one seed and one clock make the same jobs and outcomes."""
    clock = ManualClock(1_730_000_000)
    first, second = Simulator(clock=clock, seed=7), Simulator(clock=clock, seed=7)
    ids = first.add_jobs(20)
    assert second.add_jobs(20) == ids
    clock.advance(1000)
    assert [first.record(i) for i in ids] == [second.record(i) for i in ids]


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ([{"status": "SUCCESS"}], "no job_id"),
        ([{"job_id": "a"}, {"job_id": "a"}], "already served"),
    ],
)
def test_bad_records_are_refused(jobs, message):
    """A record without an id, or an id twice, is a ValueError naming it."""
    with pytest.raises(ValueError, match=message):
        Simulator(jobs)


def test_corrupt_jsonl_names_file_and_line(tmp_path):
    """A corrupt line in a JSONL file is reported with its file and line number."""
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"job_id": "a", "status": "SUCCESS"}\n{oops\n')
    with pytest.raises(ValueError, match=r"jobs\.jsonl:2"):
        Simulator(path)


# --- authentication ------------------------------------------------------------------------


def _auth_cases(now: float) -> dict[str, tuple[dict[str, str], int]]:
    url = f"http://sim{job_path('JOB')}"
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    other = f"http://sim{job_path('OTHER')}"
    return {
        "token": (TOKEN, 200),
        "bad token": ({"X-Auth-Token": "nope"}, 401),
        "nothing": ({}, 401),
        "signature": (signed(url, now=moment), 200),
        "signature, 14 min early": (signed(url, now=moment - dt.timedelta(minutes=14)), 200),
        "signature, 16 min early": (signed(url, now=moment - dt.timedelta(minutes=16)), 401),
        "signature, 16 min late": (signed(url, now=moment + dt.timedelta(minutes=16)), 401),
        "wrong sk": (signed(url, sk="WRONG", now=moment), 401),
        "unknown ak": (signed(url, ak="NOBODY", now=moment), 401),
        "signed for another path": (signed(other, now=moment), 401),
        "not sdk-hmac": ({"Authorization": "Bearer abc"}, 401),
    }


@pytest.mark.parametrize("case", list(_auth_cases(0)))
def test_authentication(simulator, sim_clock, case):
    """Token and AK/SK requests are let in or answered 401 APIGW.0301, as the gateway does."""
    simulator.add_job("JOB")
    headers, expected = _auth_cases(sim_clock())[case]
    plain = httpx.Client(transport=simulator.transport(), base_url="http://sim")
    response = plain.get(job_path("JOB"), headers=headers)
    assert response.status_code == expected
    if expected == 401:
        body = response.json()
        assert body["error_code"] == "APIGW.0301"
        assert body["request_id"] == response.headers["X-Request-Id"]
        assert DEMO_SK not in response.text


def test_security_token_is_required_when_configured(sim_clock):
    """A temporary credential's requests need its X-Security-Token, signed."""
    key = auth.AkSkCredentials(ak="TMPAK", sk="TMPSK", security_token="st-1")
    sim = Simulator(clock=sim_clock, credentials=[key])
    sim.add_job("JOB")
    plain = httpx.Client(transport=sim.transport())
    url = f"http://sim{job_path('JOB')}"
    moment = dt.datetime.fromtimestamp(sim_clock(), dt.UTC)
    assert plain.get(url, headers=key.auth_headers("GET", url, now=moment)).status_code == 200
    bare = auth.sign("GET", url, ak="TMPAK", sk="TMPSK", now=moment)
    assert plain.get(url, headers=bare).status_code == 401


def test_another_project_is_refused(simulator, client):
    """A project id other than the simulator's gets 400 IMG.0030, as the IMS error table says."""
    job_id = simulator.add_job()
    response = client.get(job_path(job_id, "f" * 32))
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "IMG.0030", "message": "Invalid project id or token."}
    }


def test_no_auth_mode(sim_clock):
    """With require_auth=False no credentials are needed."""
    sim = Simulator(clock=sim_clock, require_auth=False)
    job_id = sim.add_job()
    plain = httpx.Client(transport=sim.transport(), base_url="http://sim")
    assert plain.get(job_path(job_id)).status_code == 200


def test_secrets_stay_out_of_reprs():
    """Neither the simulator nor its credentials show a secret in their repr."""
    key = auth.AkSkCredentials(ak="AKAKAKAKAKAKAKAK", sk="SUPERSECRET")
    sim = Simulator(credentials=[key, auth.TokenCredentials(token="TOPSECRETTOKEN")])
    assert "SUPERSECRET" not in repr(sim) and "TOPSECRETTOKEN" not in repr(sim)


# --- routes and errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        (job_path("unknown"), 400, {"error": {"code": "IMG.0023"}}),
        ("/v1/nothing/here", 404, {"error_code": "APIGW.0101"}),
        (job_path("unknown") + "/", 404, {"error_code": "APIGW.0101"}),
    ],
)
def test_not_found(client, path, status, body):
    """Unknown jobs get the image service's 400 IMG.0023 (no table gives 404); unknown routes
    the gateway's 404 APIGW.0101."""
    response = client.get(path)
    assert response.status_code == status
    data = response.json()
    for key, value in body.items():
        assert (
            data[key] == value
            if not isinstance(value, dict)
            else data[key]["code"] == value["code"]
        )


def test_every_answer_has_a_request_id(simulator, client):
    """200, 401, 400s and injected 500s all carry a fresh X-Request-Id."""
    job_id = simulator.add_job()
    responses = [
        client.get(job_path(job_id)),
        client.get(job_path(job_id), headers={"X-Auth-Token": "bad"}),
        client.get(job_path(job_id, "0" * 32)),
        client.get(job_path("nope")),
    ]
    with simulator.injecting(Faults(error_500=1.0)):
        responses.append(client.get(job_path(job_id)))
    assert [r.status_code for r in responses] == [200, 401, 400, 400, 500]
    ids = [r.headers["X-Request-Id"] for r in responses]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_admin_routes_list_and_add(simulator, client):
    """`/_simulator/jobs` lists jobs and adds new ones, outside the real API."""
    created = client.post("/_simulator/jobs", params={"count": 3, "finish_within": 5})
    assert created.status_code == 201
    ids = created.json()["job_ids"]
    listed = client.get("/_simulator/jobs").json()["jobs"]
    assert [j["job_id"] for j in listed] == ids == simulator.job_ids
    bad = client.post("/_simulator/jobs", params={"count": "x"})
    assert bad.status_code == 400


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "status", "shape", "name"),
    [
        (Faults(error_500=1.0), 500, {"error_code": "APIGW.0201"}, "500"),
        (Faults(error_503=1.0), 503, {"code": "APIGW.0613"}, "503"),
        (Faults(bad_gateway=1.0), 502, {"error_code": "APIGW.0201"}, "502"),
        (Faults(gateway_timeout=1.0), 504, {"error_code": "APIGW.0201"}, "504"),
        (Faults(throttle=1.0), 429, {"error_code": "APIGW.0308"}, "throttle"),
        (Faults(flow_limit=1.0), 202, {"error": {"code": "Common.0024"}}, "flow_limit"),
        (Faults(overloaded=1.0), 503, {"error": {"code": "Common.1503"}}, "overloaded"),
    ],
)
def test_error_faults(simulator, client, faults, status, shape, name):
    """Injected 500, 503, 429 and ECS's throttling answers use the documented body shapes."""
    job_id = simulator.add_job()
    with simulator.injecting(faults):
        response = client.get(job_path(job_id))
    assert response.status_code == status
    data = response.json()
    if "error" in shape:
        assert data["error"]["code"] == shape["error"]["code"] and data["error"]["message"]
    else:
        assert {k: data[k] for k in shape} == shape
    assert "Retry-After" not in response.headers
    assert simulator.stats().faults == {name: 1}


@pytest.mark.parametrize(
    "faults", [Faults(throttle=1.0, retry_after=2), Faults(error_503=1.0, retry_after=2)]
)
def test_retry_after_when_asked(simulator, client, faults):
    """429 and 503 carry Retry-After when the faults say so."""
    job_id = simulator.add_job()
    with simulator.injecting(faults):
        assert client.get(job_path(job_id)).headers["Retry-After"] == "2"


def test_rate_limit(simulator, sim_clock, client):
    """Above N requests in a second of the simulator clock, requests get 429 until it passes."""
    job_id = simulator.add_job()
    with simulator.injecting(Faults(rate_limit=5)):
        first = [client.get(job_path(job_id)).status_code for _ in range(8)]
        sim_clock.advance(1.01)
        later = client.get(job_path(job_id)).status_code
    assert first == [200] * 5 + [429] * 3
    assert later == 200
    assert simulator.stats().faults == {"rate_limit": 3}


def test_malformed_bodies(simulator, client):
    """Malformed answers are 200s whose body is not JSON or has no status."""
    job_id = simulator.add_job()
    with simulator.injecting(Faults(malformed=1.0)):
        bodies = [client.get(job_path(job_id)) for _ in range(20)]
    assert all(r.status_code == 200 for r in bodies)
    kinds = set()
    for response in bodies:
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            kinds.add("not json")
        else:
            assert "status" not in data
            kinds.add("no status")
    assert kinds == {"not json", "no status"}


def test_truncated_bodies(simulator, client):
    """Truncated answers are a strict prefix of the real JSON, with a matching Content-Length."""
    job_id = simulator.add_job()
    whole = client.get(job_path(job_id)).content
    with simulator.injecting(Faults(truncated=1.0)):
        cut = [client.get(job_path(job_id)) for _ in range(10)]
    for response in cut:
        assert response.status_code == 200
        assert whole.startswith(response.content) and len(response.content) < len(whole)
        assert int(response.headers["Content-Length"]) == len(response.content)
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(response.content)


def test_fault_shares_are_per_request(simulator, client):
    """A 30 % share of 503 hits about 30 % of requests, and retrying one job gets through."""
    job_id = simulator.add_job()
    with simulator.injecting(Faults(error_503=0.3, malformed=0.1)):
        statuses = Counter(client.get(job_path(job_id)).status_code for _ in range(1000))
    assert 230 < statuses[503] < 370
    assert statuses[200] == 1000 - statuses[503]
    faults = simulator.stats().faults
    assert faults["503"] == statuses[503] and 40 < faults["malformed"] < 110


def test_faults_are_reproducible(sim_clock):
    """The same seed gives the same sequence of faults."""

    def run() -> list[int]:
        sim = Simulator(clock=sim_clock, seed=3, faults=Faults(error_500=0.2, throttle=0.2))
        sim.add_job("JOB")
        plain = httpx.Client(transport=sim.transport(), base_url="http://sim", headers=TOKEN)
        return [plain.get(job_path("JOB")).status_code for _ in range(50)]

    assert run() == run()


def test_latency_is_applied_by_the_transport(simulator, client):
    """The transport waits latency plus up to jitter; `handle` itself never waits."""
    job_id = simulator.add_job()
    waits: list[float] = []
    transport = SimulatorTransport(simulator, sleep=waits.append)
    sleepy = httpx.Client(transport=transport, base_url="http://sim", headers=TOKEN)
    with simulator.injecting(Faults(latency=0.05, jitter=0.01)):
        for _ in range(20):
            sleepy.get(job_path(job_id))
        simulator.handle("GET", job_path(job_id), "", TOKEN)
    assert len(waits) == 20 and all(0.05 <= w <= 0.06 for w in waits)


def test_async_transport(simulator):
    """The same transport serves an httpx.AsyncClient, sleeping with the async sleep."""
    job_id = simulator.add_job()
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    async def fetch() -> list[int]:
        transport = SimulatorTransport(simulator, async_sleep=fake_sleep)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sim", headers=TOKEN
        ) as c:
            responses = await asyncio.gather(*(c.get(job_path(job_id)) for _ in range(5)))
        return [r.status_code for r in responses]

    with simulator.injecting(Faults(latency=0.1)):
        assert asyncio.run(fetch()) == [200] * 5
    assert waits == [0.1] * 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"latency": -1},
        {"error_500": 1.5},
        {"error_500": 0.6, "error_503": 0.6},
        {"malformed": 0.7, "truncated": 0.7},
        {"rate_limit": 0},
        {"retry_after": -1},
    ],
)
def test_bad_faults_are_refused(kwargs):
    """Out-of-range fault settings raise ValueError naming the setting."""
    with pytest.raises(ValueError):
        Faults(**kwargs)


# --- over real sockets -------------------------------------------------------------------------


def test_server_answers_signed_requests(simulator_server):
    """Over loopback, a signed request (Host with the port) and a token request both work."""
    job_id = simulator_server.simulator.job_ids[0]
    url = f"{simulator_server.url}{job_path(job_id)}"
    key = auth.AkSkCredentials(ak=simulator_server.ak, sk=simulator_server.sk)
    with httpx.Client() as plain:
        by_key = plain.get(url, headers=key.auth_headers("GET", url))
        by_token = plain.get(url, headers={"X-Auth-Token": simulator_server.token})
    assert by_key.status_code == by_token.status_code == 200
    assert by_key.json() == by_token.json() == simulator_server.simulator.record(job_id)


def test_server_overlaps_slow_requests(simulator_server):
    """20 requests with 0.2 s latency are in flight together, not one after another."""
    sim = simulator_server.simulator
    job_id = sim.job_ids[0]
    url = f"{simulator_server.url}{job_path(job_id)}"
    headers = {"X-Auth-Token": simulator_server.token}
    limits = httpx.Limits(max_connections=20)
    with sim.injecting(Faults(latency=0.2)), httpx.Client(limits=limits) as plain:
        sim.reset_stats()
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            statuses = list(
                pool.map(lambda _: plain.get(url, headers=headers).status_code, range(20))
            )
        stats = sim.stats()
    assert statuses == [200] * 20
    assert stats.requests == 20 and stats.max_in_flight >= 10


def test_server_stops_and_logs_no_secrets():
    """A server started and stopped refuses connections after; its log holds no credentials."""
    lines: list[str] = []
    sim = Simulator()
    job_id = sim.add_job()
    with sim.serve(log=lines.append) as server:
        url = f"{server.url}{job_path(job_id)}"
        headers = signed(url)
        with httpx.Client() as plain:
            assert plain.get(url, headers=headers).status_code == 200
            assert plain.get(url, headers=TOKEN).status_code == 200
    with pytest.raises(httpx.ConnectError), httpx.Client() as plain:
        plain.get(url, headers=TOKEN)
    signature = headers["Authorization"].rsplit("=", 1)[1]
    assert len(lines) == 2
    assert not any(s in line for line in lines for s in (DEMO_SK, DEMO_TOKEN, signature))


def _raw_exchange(url: str, data: bytes) -> bytes:
    """Send raw bytes to the server and read until it closes the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_server_pipelined_requests_answered_in_order(simulator_server):
    """Two requests sent at once on one connection get their answers in order, then it closes."""
    job_id = simulator_server.simulator.job_ids[0]
    first = f"GET {job_path(job_id)} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {DEMO_TOKEN}\r\n\r\n"
    second = "GET /v1/x/jobs/y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    raw = _raw_exchange(simulator_server.url, (first + second).encode())
    statuses = re.findall(rb"HTTP/1\.1 (\d{3})", raw)
    assert statuses == [b"200", b"401"]
    assert job_id.encode() in raw.split(b"HTTP/1.1 401")[0]


CHUNKED = b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"garbage\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\n\r\n", b"400"),  # HTTP/1.1 requires Host
        (b"GET /v1/x/jobs/y HTTP/1.0\r\n\r\n", b"401"),
        (b"POST /_simulator/jobs?count=0 HTTP/1.1\r\nHost: x\r\n" + CHUNKED, b"201"),
    ],
)
def test_server_answers_raw_requests_then_closes(simulator_server, request_bytes, status):
    """Malformed requests get 400, HTTP/1.0 and chunked ones an answer, then the socket closes."""
    raw = _raw_exchange(simulator_server.url, request_bytes)
    # aiohttp answers what it cannot parse, and HTTP/1.0 requests, in HTTP/1.0.
    assert re.match(rb"HTTP/1\.[01] " + status + rb" ", raw)


@pytest.mark.slow  # a child process: `make test` runs it, `make test-fast` does not
def test_serve_command_runs_and_stops_on_ctrl_c(tmp_path):
    """`jobtools serve` prints its URL and credentials, serves, and stops cleanly on SIGINT."""
    ids_file = tmp_path / "ids.txt"
    command = [sys.executable, "-m", "jobtools", "serve", "--port", "0", "--jobs", "none"]
    command += ["--new-jobs", "2", "--ids-out", str(ids_file), "--latency", "0.01"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first).group()
        banner = [proc.stdout.readline() for _ in range(6)]
        job_id = ids_file.read_text().split()[0]
        response = httpx.get(f"{url}{job_path(job_id)}", headers=TOKEN)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert response.status_code == 200 and response.json()["job_id"] == job_id
    assert any("demo-token" in line for line in banner)
    assert any("DEMOAK / DEMOSK" in line for line in banner)
    assert proc.returncode == 0, err
    assert "stopped after 1 requests" in out


@pytest.mark.slow  # a child process: `make test` runs it, `make test-fast` does not
def test_serve_command_takes_credentials_from_the_environment(tmp_path):
    """With HUAWEICLOUD_SDK_AK/SK set, `serve` accepts those keys only and never prints the SK."""
    env = {**os.environ, "HUAWEICLOUD_SDK_AK": "ENVAK", "HUAWEICLOUD_SDK_SK": "ENV-SECRET-SK"}
    command = [sys.executable, "-m", "jobtools", "serve", "--port", "0", "--jobs", "none"]
    command += ["--new-jobs", "1", "--ids-out", str(tmp_path / "ids.txt")]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        banner = [proc.stdout.readline() for _ in range(7)]
        url = re.search(r"http://127\.0\.0\.1:\d+", banner[0]).group()
        job_url = url + job_path((tmp_path / "ids.txt").read_text().split()[0])
        with httpx.Client() as plain:
            by_env = plain.get(job_url, headers=signed(job_url, ak="ENVAK", sk="ENV-SECRET-SK"))
            by_demo = plain.get(job_url, headers=signed(job_url))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert (by_env.status_code, by_demo.status_code) == (200, 401)
    assert "ENV-SECRET-SK" not in "".join(banner) + out + err
    assert any("ENVAK / (given)" in line for line in banner)


def test_port_in_use_is_an_error(simulator_server):
    """Serving on a port already taken raises OSError at once."""
    with pytest.raises(OSError):
        Simulator().serve(port=simulator_server.server.port)


def test_serve_command_refuses_bad_faults(capsys):
    """A bad fault flag is one line on stderr and exit code 1, before anything is served."""
    assert main(["serve", "--port", "0", "--jobs", "none", "--error-500", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error_500" in err


# --- as the real service: ids, times, progress, retention, payment, errors, services -------


def test_new_ids_carry_their_creation_time(simulator, sim_clock):
    """New job ids are 32 hex in the service's layout, holding a time 1-3 ms after begin_time."""
    ids = [simulator.add_job(), *simulator.add_jobs(5)]
    for job_id in ids:
        record = simulator.record(job_id)
        assert re.fullmatch(r"ff808081[0-9a-f]{24}", job_id)
        created = jobtools.job_id_time(job_id)
        gap = created - parse_job_time(record["begin_time"])
        assert pd.Timedelta(0) <= gap <= pd.Timedelta(milliseconds=4)


def test_legacy_times_are_written_in_utc_plus_eight(simulator, sim_clock):
    """A legacy-format job writes its times on a UTC+08:00 clock, eight hours ahead of its id."""
    job_id = simulator.add_job(time_format="legacy")
    begin = simulator.record(job_id)["begin_time"]
    assert LEGACY.fullmatch(begin)
    as_utc = parse_job_time(begin, legacy_tz="UTC")
    assert abs(as_utc - jobtools.job_id_time(job_id) - pd.Timedelta(hours=8)) < pd.Timedelta(
        milliseconds=4
    )


def test_progress_is_a_fraction(simulator, sim_clock):
    """process_percent goes from 0 to 1, never beyond, on both routes."""
    job_id = simulator.add_job(init_for=0, run_for=100)
    seen = []
    for _ in range(12):
        seen.append(simulator.record(job_id, progress=True)["entities"]["process_percent"])
        sim_clock.advance(10)
    assert seen == sorted(seen) and 0 <= seen[0] < 0.2 and seen[-1] == 1.0


def test_ended_jobs_are_deleted_after_the_retention(sim_clock):
    """With retention=R an ended job answers 400 IMG.0023 from R seconds after its end."""
    sim = Simulator(clock=sim_clock, retention=3600)
    client = httpx.Client(transport=sim.transport(), base_url="http://sim", headers=TOKEN)
    job_id = sim.add_job(init_for=0, run_for=10)
    sim_clock.advance(10 + 3599)
    assert client.get(job_path(job_id)).status_code == 200
    sim_clock.advance(1)
    gone = client.get(job_path(job_id))
    assert gone.status_code == 400 and gone.json()["error"]["code"] == "IMG.0023"
    with pytest.raises(KeyError):
        sim.record(job_id)


def test_pending_payment_until_paid(simulator, sim_clock):
    """An unpaid order stays PENDING_PAYMENT; paid, it runs and ends; unpaid 14 days, it is gone."""
    unpaid, later = (simulator.add_job(service="ecs", pending_payment=True) for _ in range(2))
    sim_clock.advance(3 * 86400)
    assert simulator.record(unpaid)["status"] == "PENDING_PAYMENT"
    assert simulator.record(unpaid)["entities"] == {} and simulator.record(unpaid)["end_time"] == ""
    simulator.pay(later, init_for=1, run_for=5)
    statuses = []
    for _ in range(4):
        statuses.append(simulator.record(later)["status"])
        sim_clock.advance(2)
    assert statuses[0] == "INIT" and statuses[-1] == "SUCCESS"
    with pytest.raises(ValueError, match="not awaiting payment"):
        simulator.pay(later)
    sim_clock.advance(11 * 86400)
    with pytest.raises(KeyError):
        simulator.record(unpaid)


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (job_path("ff8080814dbd65d7014dbe0d84db0013", "f" * 32), 400, "IMG.0030"),
        (job_path("a" * 65), 400, "IMG.0023"),
        (job_path("%2E%2E"), 400, "IMG.0023"),
        (job_path("ff8080814dbd65d7014dbe0d84db0013"), 400, "IMG.0023"),
    ],
)
def test_ims_error_table(simulator, client, path, status, code):
    """The IMS error table: IMG.0030 for another project, IMG.0023 when the query fails."""
    response = client.get(path)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_a_credential_without_a_role_is_forbidden(sim_clock):
    """A token that authenticates but holds no role gets 403 IMG.0026."""
    sim = Simulator(
        clock=sim_clock,
        credentials=[auth.TokenCredentials(token="viewer"), auth.TokenCredentials(token="t")],
        no_role=["viewer"],
    )
    job_id = sim.add_job()
    client = httpx.Client(transport=sim.transport(), base_url="http://sim")
    refused = client.get(job_path(job_id), headers={"X-Auth-Token": "viewer"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "IMG.0026")
    assert client.get(job_path(job_id), headers={"X-Auth-Token": "t"}).status_code == 200


# Entity shapes by service, as their API references and official SDK models have them.
SERVICE_SHAPES = [
    ("ims", "SUCCESS", {"image_id"}),
    ("ecs", "SUCCESS", {"sub_jobs", "sub_jobs_total"}),
    ("ecs", "FAIL", {"sub_jobs", "sub_jobs_total"}),
    ("bms", "SUCCESS", {"sub_jobs", "sub_jobs_total"}),
    ("evs", "SUCCESS", {"volume_id", "volume_type", "size", "name", "sub_jobs"}),
    ("vpc", "SUCCESS", {"sub_jobs"}),
]


@pytest.mark.parametrize(("service", "status", "keys"), SERVICE_SHAPES)
def test_service_entity_shapes(simulator, sim_clock, service, status, keys):
    """Each service's jobs carry that service's entities, and the frame finds the resource."""
    job_id = simulator.add_job(service=service, status=status, init_for=0, run_for=1)
    sim_clock.advance(2)
    record = simulator.record(job_id)
    assert set(record["entities"]) == keys
    row = jobtools.jobs_to_frame([record]).iloc[0]
    if status == "FAIL":
        assert row["entity_error"] == record["fail_reason"]  # from the failed sub-job
    else:
        assert isinstance(row["resource_id"], str) and len(row["resource_id"]) >= 36


def test_unknown_service_is_a_clear_error(simulator):
    """A service the simulator does not play is one ValueError naming the ones it does."""
    with pytest.raises(ValueError, match="ecs"):
        simulator.add_job(service="rds")


# --- scenarios --------------------------------------------------------------------------------


def test_scenario_spreads_begin_times_over_the_window(sim_clock):
    """A scenario's jobs began over its window; most ended, some still run and then end."""
    sim = Simulator(clock=sim_clock, finish_within=60)
    ids = sim.add_scenario(Scenario(jobs=300, window=6 * 3600, slow_tail=0, seed=4))
    frame = jobtools.jobs_to_frame([sim.record(i) for i in ids])
    now = pd.Timestamp(sim_clock(), unit="s", tz="UTC")
    age = (now - frame["begin_time"]).dt.total_seconds()
    assert age.min() >= 0 and age.quantile(0.95) < 6 * 3600
    assert age.max() - age.min() > 4 * 3600
    assert frame["is_terminal"].mean() > 0.8 and (~frame["is_terminal"]).any()
    assert (frame["begin_time"] - frame["created_at"]).abs().max() < pd.Timedelta(seconds=1)
    sim_clock.advance(61)
    assert set(sim.status_counts()) <= {"SUCCESS", "FAIL"}


def test_regression_scenario_has_a_start(sim_clock):
    """In `regression`, the new failure appears only in jobs begun after its start time."""
    sim = Simulator(clock=sim_clock)
    ids = sim.add_scenario("regression")
    frame = jobtools.jobs_to_frame([sim.record(i) for i in ids])
    new = frame["fail_reason"].str.contains("KMS key", na=False)
    since = pd.Timestamp(sim_clock() - 2 * 3600, unit="s", tz="UTC")
    assert new.sum() > 20
    assert (frame.loc[new, "begin_time"] >= since).all()
    assert frame.loc[~new & (frame["begin_time"] >= since), "status"].eq("SUCCESS").any()


@pytest.mark.parametrize("name", ["realistic", "exports", "regression"])
def test_named_scenarios(sim_clock, name):
    """Each named scenario loads; `exports` holds only exports."""
    sim = Simulator(clock=sim_clock)
    ids = sim.add_scenario(name)
    assert len(ids) == SCENARIOS[name].jobs
    if name == "exports":
        types = {sim.record(i)["job_type"] for i in ids}
        assert types == {"imsNativeExportImageJob"}


def test_unknown_scenario_is_a_clear_error(simulator):
    """An unknown scenario name is a ValueError listing the known ones."""
    with pytest.raises(ValueError, match="realistic"):
        simulator.add_scenario("nope")


@pytest.mark.slow  # a child process: `make test` runs it, `make test-fast` does not
def test_serve_command_plays_a_scenario(tmp_path):
    """`jobtools serve --scenario regression --retention 86400` serves the batch on loopback."""
    ids_file = tmp_path / "ids.txt"
    command = [sys.executable, "-m", "jobtools", "serve", "--port", "0", "--jobs", "none"]
    command += ["--scenario", "regression", "--retention", "86400", "--ids-out", str(ids_file)]
    command += ["--flow-limit", "0.0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = [proc.stdout.readline() for _ in range(7)]
        url = re.search(r"http://127\.0\.0\.1:\d+", banner[0]).group()
        ids = ids_file.read_text().split()
        with httpx.Client(headers=TOKEN) as plain:
            records = [plain.get(f"{url}{job_path(i)}").json() for i in ids[:50]]
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert len(ids) == SCENARIOS["regression"].jobs
    assert any("scenario regression" in line for line in banner)
    frame = jobtools.jobs_to_frame(records)
    assert frame["created_at"].notna().all() and frame["status"].notna().all()
