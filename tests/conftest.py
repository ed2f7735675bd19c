"""Fixtures shared by every test module. Keep these names stable: others' tests use them.

`simulator_server` (session scope)
    ONE real simulator of the jobs API on 127.0.0.1, in a background thread, for the whole
    session (`LiveSimulator`): `.url`, `.project_id`, `.token`, `.ak`, `.sk`, `.simulator`
    (the `jobtools.Simulator` behind it) and `.server`. It serves `data/sample_jobs.jsonl.gz`
    on the real clock (the official SDK signs with the real time), with the demo
    credentials and no faults. It is shared, so a test that changes it puts it back:
    inject faults with `with simulator_server.simulator.injecting(Faults(...)):`, add its
    own jobs with `.simulator.add_job(...)` / `.add_jobs(n)` (new ids never clash), and read
    counters only after its own `reset_stats()`.

`sim_clock` (function scope)
    A `jobtools.ManualClock` set to the real current time: `sim_clock()` reads it,
    `sim_clock.advance(seconds)` moves it. Nothing sleeps.

`simulator` (function scope)
    A cheap in-process `jobtools.Simulator` on `sim_clock`: no jobs (add them with
    `add_job(...)` or `add_jobs(n, finish_within=...)`), demo credentials, no faults, seed 0.
    Talk to it with `httpx.Client(transport=simulator.transport(), base_url="http://sim")`
    (an `AsyncClient` works too). Its X-Sdk-Date check uses `sim_clock`, so sign requests
    with `now=` near `sim_clock()` once the clock has moved more than 15 minutes.

`clock` (function scope)
    `sim_clock` by the name the wait tests use: one clock for the simulator and the waits.

`transport`, `client` (function scope), for a test module that defines a `sim` fixture
    A `CountingTransport` over `sim`'s in-process transport, and a `JobsClient` on it
    (`client_for(sim, transport)`: token auth, no rate limit, 2 attempts, no retry sleep).

`SEED`, `CountingTransport`, `client_for`: import them with `from conftest import ...`.

Tiers: `browser` marks the tests in `test_browser*.py`, `slow` the modules that start a
kernel, a cluster or a process per test (`SLOW_MODULES`) and any test marked by hand.
`make test-fast` runs the rest; `make test` runs everything.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import jobtools.io._jsonl as jsonl_reader
from jobtools.api.client import JobsClient
from jobtools.simulator import (
    DEMO_AK,
    DEMO_PROJECT_ID,
    DEMO_SK,
    DEMO_TOKEN,
    ManualClock,
    Simulator,
    SimulatorServer,
)

SAMPLE_JOBS = Path(__file__).resolve().parent.parent / "jobtools" / "data" / "sample_jobs.jsonl.gz"

# The documented example answer (the reference's "seed"): a SUCCESS whose end_time is "".
SEED = {
    "status": "SUCCESS",
    "entities": {"image_id": "e9e91bff-14b6-4a0b-8377-4ed0813e3360"},
    "job_id": "ff8080814dbd65d7014dbe0d84db0013",
    "job_type": "createImageByInstance",
    "begin_time": "04-Jun-2015 18:11:06:586",
    "end_time": "",
    "error_code": None,
    "fail_reason": None,
}


# Modules whose every test starts a Jupyter kernel, a Dask cluster or a child process.
SLOW_MODULES = frozenset(
    {"test_notebooks", "test_dask", "test_readme", "test_demo", "test_monitor_kernel"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the browser and slow tiers by module, so a new test there is in its tier."""
    for item in items:
        module = item.path.stem
        if module.startswith("test_browser"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
        elif module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@dataclasses.dataclass(frozen=True)
class LiveSimulator:
    """Where the session's simulator listens, and the credentials it accepts."""

    url: str
    project_id: str
    token: str
    ak: str
    sk: str = dataclasses.field(repr=False)
    simulator: Simulator
    server: SimulatorServer


def local_cluster() -> Any:
    """A real Dask cluster for the tests: 2 worker processes on loopback, one thread each,
    1 GiB each, its dashboard on a free port (`None` would still mean 8787)."""
    distributed = pytest.importorskip("distributed")
    return distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        memory_limit="1GiB",
    )


@pytest.fixture(params=["kernel", "python"])
def jsonl_engine(request, monkeypatch) -> str:
    """The test runs under each JSONL engine, as what `engine="auto"` means (a module asks
    for it with `pytestmark = pytest.mark.usefixtures("jsonl_engine")`)."""
    if request.param == "kernel" and not jsonl_reader._scan.BUILT:
        pytest.skip("the JSONL scanner is not built")
    monkeypatch.setenv(jsonl_reader.ENGINE_VARIABLE, request.param)
    return str(request.param)


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[LiveSimulator]:
    """One real loopback server for the whole session (see the module docstring)."""
    simulator = Simulator(SAMPLE_JOBS, seed=0)
    with simulator.serve() as server:
        yield LiveSimulator(
            url=server.url,
            project_id=DEMO_PROJECT_ID,
            token=DEMO_TOKEN,
            ak=DEMO_AK,
            sk=DEMO_SK,
            simulator=simulator,
            server=server,
        )


@pytest.fixture
def sim_clock() -> ManualClock:
    """A manual clock at the real current time."""
    return ManualClock()


@pytest.fixture
def simulator(sim_clock: ManualClock) -> Simulator:
    """An empty in-process simulator on `sim_clock`."""
    return Simulator(clock=sim_clock, seed=0)


@pytest.fixture
def clock(sim_clock: ManualClock) -> ManualClock:
    """The manual clock shared by the simulator and the waits."""
    return sim_clock


class CountingTransport(httpx.AsyncBaseTransport):
    """The simulator's transport, counting requests per job id; `broken` ids answer 503."""

    def __init__(self, sim: Simulator, broken: Iterable[str] = ()) -> None:
        self.inner = sim.transport()
        self.asked: Counter[str] = Counter()
        self.broken = set(broken)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        job_id = request.url.path.rsplit("/", 1)[-1]
        self.asked[job_id] += 1
        if job_id in self.broken:
            return httpx.Response(503, json={"code": "IMG.0503", "message": "busy"})
        return await self.inner.handle_async_request(request)


async def _no_wait(seconds: float) -> None:
    """The client's retry sleep: no waiting in tests."""


def client_for(sim: Simulator, transport: httpx.AsyncBaseTransport) -> JobsClient:
    """A token client of `sim` over `transport`: no rate limit, 2 attempts, no retry sleep."""
    return JobsClient(
        endpoint="http://simulator",
        token=DEMO_TOKEN,
        project_id=sim.project_id,
        transport=transport,
        rate_limit=None,
        max_attempts=2,
        sleep=_no_wait,
    )


@pytest.fixture
def transport(sim: Simulator) -> CountingTransport:
    """Counts the requests to the test module's `sim`."""
    return CountingTransport(sim)


@pytest.fixture
def client(sim: Simulator, transport: CountingTransport) -> JobsClient:
    """A client of the test module's `sim`, through `transport`."""
    return client_for(sim, transport)
