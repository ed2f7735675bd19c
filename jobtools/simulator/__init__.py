"""A local simulator of the image service's jobs API: no cloud account needed.

    from jobtools.simulator import Faults, Simulator
    sim = Simulator("data/sample_jobs.jsonl", faults=Faults(latency=0.05, error_503=0.1))
    ids = sim.add_jobs(20, finish_within=30)      # new jobs that end within 30 s
    with sim.serve() as server:                   # a real HTTP server on 127.0.0.1
        print(server.url, sim.project_id)         # token "demo-token", AK/SK DEMOAK/DEMOSK

Or `httpx.Client(transport=sim.transport())` in-process, or `jobtools serve` in a terminal.

Routes, answered as the service documents them (see the reference, `jobs-api.md`):
- `GET /v1/{project_id}/jobs/{job_id}`
- `GET /v1/cloudimages/job/{job_id}` (project id in `X-Project-Id`; entities add
  `process_percent`, `current_task`, `subJobId`)
- `GET /_simulator/jobs` lists jobs and their status; `POST /_simulator/jobs?count=N&
  finish_within=S[&job_type=T&status=FAIL]` adds jobs (both outside the real API: no auth,
  no faults).

Jobs go INIT -> RUNNING (`process_percent` rising, `current_task` changing) -> SUCCESS or
FAIL on the injected clock; `end_time` is `""` until they end. Records loaded already ended
are served exactly as they came; INIT and RUNNING ones carry on and end within
`finish_within` seconds (default 300). Tests pass `clock=ManualClock()` and never sleep.

Answers: 401 `APIGW.0301` (gateway body) for a missing or unknown token, an unknown AK, a
wrong signature or an `X-Sdk-Date` more than 15 minutes off the simulator's clock; 403
`IMG.0030` for another project id; 400 `IMG.0001` without `X-Project-Id` on the progress
route; 404 `IMG.0023` (`{"error": {"code", "message"}}`) for an unknown job; 404 `APIGW.0101`
for an unknown route. Injected faults: 429 `APIGW.0308` (gateway body), 500 `IMG.0500`
(`errorCode`/`errorMsg` body) and 503 `IMG.0503` (`code`/`message` body), so clients meet
each documented error body shape. Every answer carries `X-Request-Id`.
"""

from __future__ import annotations

from jobtools.simulator._clock import ManualClock
from jobtools.simulator._core import Simulator, SimulatorStats
from jobtools.simulator._faults import Faults
from jobtools.simulator._gate import (
    DEMO_AK,
    DEMO_PROJECT_ID,
    DEMO_SK,
    DEMO_TOKEN,
    MAX_DATE_SKEW,
    demo_credentials,
)
from jobtools.simulator._http import SimulatorServer, SimulatorTransport, serve
from jobtools.simulator._records import read_records
from jobtools.simulator._replies import Reply
from jobtools.simulator._scenarios import SCENARIOS, Scenario

__all__ = [
    "DEMO_AK",
    "DEMO_PROJECT_ID",
    "DEMO_SK",
    "DEMO_TOKEN",
    "MAX_DATE_SKEW",
    "Faults",
    "ManualClock",
    "Reply",
    "SCENARIOS",
    "Scenario",
    "Simulator",
    "SimulatorServer",
    "SimulatorStats",
    "SimulatorTransport",
    "demo_credentials",
    "read_records",
    "serve",
]
