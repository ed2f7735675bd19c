"""Fixtures shared by every test module. Keep these names stable: others' tests use them.

`simulator_server` (session scope)
    ONE real simulator of the jobs API on 127.0.0.1, in a background thread, for the whole
    session (`LiveSimulator`): `.url`, `.project_id`, `.token`, `.ak`, `.sk`, `.simulator`
    (the `jobtools.Simulator` behind it) and `.server`. It serves `data/sample_jobs.jsonl`
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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobtools.simulator import (
    DEMO_AK,
    DEMO_PROJECT_ID,
    DEMO_SK,
    DEMO_TOKEN,
    ManualClock,
    Simulator,
    SimulatorServer,
)

SAMPLE_JOBS = Path(__file__).resolve().parent.parent / "data" / "sample_jobs.jsonl"


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
