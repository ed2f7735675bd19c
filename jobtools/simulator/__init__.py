"""A local simulator of the image service's jobs API: no cloud account needed.

    from jobtools.sample import SAMPLE_PATH       # the packaged sample, gzipped JSONL
    from jobtools.simulator import Faults, Simulator
    sim = Simulator(SAMPLE_PATH, faults=Faults(latency=0.05, error_503=0.1))
    ids = sim.add_jobs(20, finish_within=30)      # new jobs that end within 30 s
    ids += sim.add_scenario("regression")         # a realistic batch over the last 6 hours
    with sim.serve() as server:                   # a real HTTP server on 127.0.0.1
        print(server.url, sim.project_id)         # token "demo-token", AK/SK DEMOAK/DEMOSK

Or `httpx.Client(transport=sim.transport())` in-process, or `jobtools serve` in a terminal.

It plays the real service as public examples show it (reference, `jobs-api.md`, "What public
examples show beyond the documents"): job ids in the service's layout holding their creation
time; legacy-format times on a UTC+08:00 clock; `process_percent` a fraction from 0 to 1;
ended jobs deleted `retention` seconds after their end (then 400 `IMG.0023`, as for an
unknown id); PENDING_PAYMENT jobs of ECS and BMS (`add_job(service="ecs",
pending_payment=True)`, then `pay(job_id)`) deleted after 14 days unpaid; the entity
shapes of ECS, EVS, BMS and VPC (EIP) jobs with `service=`, which those services' official
SDK clients parse.

Routes, answered as the service documents them:
- `GET /v1/{project_id}/jobs/{job_id}` (IMS, and ECS, EVS, BMS, EIP on their own hosts)
- `GET /v1/cloudimages/job/{job_id}` (project id in `X-Project-Id`; entities add
  `process_percent`, `current_task`, `subJobId`)
- `GET /_simulator/jobs` lists jobs and their status; `POST /_simulator/jobs?count=N&
  finish_within=S[&job_type=T&status=FAIL]` adds jobs (both outside the real API: no auth,
  no faults).

Jobs go INIT -> RUNNING (`process_percent` rising, `current_task` changing) -> SUCCESS or
FAIL on the injected clock; `end_time` is `""` until they end. Records loaded already ended
are served exactly as they came; INIT and RUNNING ones carry on and end within
`finish_within` seconds (default 300). Tests pass `clock=ManualClock()` and never sleep.

Scenarios (`add_scenario(name, jobs=N)`, `SCENARIOS`, `jobtools serve --scenario NAME --jobs
N`), each stating its truth (`Scenario.truth(now)`): `realistic` and `exports` (no change),
`regression` (two hours ago a new reason), `growing` (an existing reason grows), `one-type`
(a change in one job type only), `outage` (failures rise, then recover); `Scenario(...)` with
`Change(...)`s makes others.

Answers, each as the public error tables give it (reference, "The gateway's answers"):
401 `APIGW.0301` (gateway body) for a missing or unknown token ("decrypt token fail"), an
unknown AK ("Get secretKey failed"), a wrong signature or an `X-Sdk-Date` more than 15
minutes off the simulator's clock; 401 `APIGW.0307` for an expired token
(`expired_tokens=`); the AK lock: the 6th failed signature in a row locks the access key for
5 minutes ("AK access failed to reach the limit,forbidden"); the IMS error table: 400
`IMG.0030` for another project id (in the path or `X-Project-Id`), 403 `IMG.0026` for a
credential without a role (`no_role=`), 400 `IMG.0023` for an unknown or deleted job (400
`Common.0011` with `service="ecs"`; no table gives 404); 400 `IMG.0001` without
`X-Project-Id` on the progress route; 404 `APIGW.0101` for an unknown route. Injected faults:
429 `APIGW.0308`, ECS's `Common.0024` as HTTP 202 and `Common.1503` (503, or 429 with
`cloud="otc"`), 500 `APIGW.0201`, 502/504 `APIGW.0201` (backend unavailable / timed out) and
503 `APIGW.0613`, in the documented body shapes. Every answer carries `X-Request-Id` and a
`Date` from the simulator's clock. PENDING_PAYMENT jobs are ECS's and BMS's only. Serving on
an address beyond loopback warns (`ExposedSimulatorWarning`), louder without auth.
"""

from __future__ import annotations

from jobtools.scenarios import SCENARIOS, Change, Scenario, TrueChange, Truth
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

__all__ = [
    "DEMO_AK",
    "DEMO_PROJECT_ID",
    "DEMO_SK",
    "DEMO_TOKEN",
    "MAX_DATE_SKEW",
    "Change",
    "Faults",
    "ManualClock",
    "Reply",
    "SCENARIOS",
    "Scenario",
    "Simulator",
    "SimulatorServer",
    "SimulatorStats",
    "SimulatorTransport",
    "TrueChange",
    "Truth",
    "demo_credentials",
    "read_records",
    "serve",
]
