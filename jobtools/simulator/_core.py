"""The simulator's core: its jobs, routes, faults and counters, with no transport."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import email.utils
import math
import os
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

import orjson

from jobtools import scenarios
from jobtools.api import auth
from jobtools.ids import make_job_id, validate_project_id
from jobtools.scenarios import Scenario
from jobtools.schema import JobStatus
from jobtools.simulator import _plans, _services
from jobtools.simulator._faults import FaultDice, Faults
from jobtools.simulator._gate import DEMO_PROJECT_ID, Gate, demo_credentials
from jobtools.simulator._records import epochs, read_records
from jobtools.simulator._replies import (
    CLOUD_NAMES,
    Reply,
    broken_body,
    fault_reply,
    ims_error,
    job_not_found,
    json_headers,
    json_reply,
    no_route,
    throttled,
    unauthorized,
)

if TYPE_CHECKING:
    from jobtools.simulator._http import SimulatorServer, SimulatorTransport

DEFAULT_HORIZON = 300.0  # seconds within which generated and running jobs end
# A yearly/monthly order never paid is cleaned up after about 14 days (reference, "Statuses").
PENDING_RETENTION = 14 * 86400.0
# The service deletes ended ECS jobs about a day later (reference): `retention=DAY` plays it.
DAY = 86400.0
# The node address of the seed's id (`ff808081…`): the ids made here share its layout.
ID_NODE = 0xFF808081

# The services whose jobs can await payment: ECS and BMS (yearly/monthly orders).
_PAYING_SERVICES = frozenset({"ecs", "bms"})

# What a job id in a path may look like before the query fails (32 hex, a UUID, or a short
# word of id characters, as other tools' ids are).
_QUERYABLE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.~-]{0,63}")

JobsSource = int | str | os.PathLike[str] | Iterable[Mapping[str, Any]]


@dataclasses.dataclass(frozen=True)
class SimulatorStats:
    """What the simulator has answered since it started (or since `reset_stats()`).

    `max_in_flight` is the most requests a transport had open at once: over a real server,
    it shows that requests overlapped rather than queued. `signature_failures` counts the
    refused signatures of known access keys (what the gateway's AK lock counts, the lock's
    own answers included); `auth_failures` every request refused for its credentials.
    """

    requests: int
    in_flight: int
    max_in_flight: int
    by_status: Mapping[int, int]
    faults: Mapping[str, int]
    signature_failures: int = 0
    auth_failures: int = 0


class Simulator:
    """The jobs API of the image service, in memory.

    Args:
        jobs: the jobs to serve: None (none yet), a number to generate, a `.jsonl`/`.json`
            path (gzipped or not: `jobtools.sample.SAMPLE_PATH`), or API records. More can be
            added with `add_jobs` / `add_job`.
        clock: seconds since the epoch (default `time.time`); jobs move and X-Sdk-Date is
            checked against it, so tests pass a `ManualClock` and never sleep.
        project_id: the one project the simulator knows.
        credentials: the `jobtools.api.auth` credentials it accepts (tokens and AK/SK pairs);
            default: the demo token and the demo AK/SK.
        require_auth: False serves anyone (handy with curl).
        faults: what goes wrong, and how often (see `Faults`).
        seed: makes generated jobs, outcomes and faults reproducible.
        finish_within: seconds within which running and generated jobs end.
        retention: seconds after its end that an ended job is deleted (then 400, as the
            service answers); None keeps ended jobs for ever. ECS deletes them after about a
            day (`DAY`).
        no_role: tokens or access keys that authenticate but hold no role for the service:
            their requests get 403 `IMG.0026`.
        expired_tokens: tokens the gateway knows but that have expired: 401 `APIGW.0307`.
        service: whose error table unknown jobs are answered from: `ims` (400 `IMG.0023`,
            default) or `ecs`, `evs`, `bms`, `vpc` (400 `Common.0011`).
        cloud: `huaweicloud` (default) or `huaweicloud-eu`: ECS's `Common.1503` is a 503;
            `otc` or `otc-swiss` (Open Telekom Cloud): a 429.

    AK/SK requests meet the gateway's AK lock: more than 5 failed signatures in a row lock
    the access key for 5 minutes (every request with it is refused meanwhile).
    """

    def __init__(
        self,
        jobs: JobsSource | None = None,
        *,
        clock: Callable[[], float] | None = None,
        project_id: str = DEMO_PROJECT_ID,
        credentials: auth.Credentials | Iterable[auth.Credentials] | None = None,
        require_auth: bool = True,
        faults: Faults | None = None,
        seed: int = 0,
        finish_within: float = DEFAULT_HORIZON,
        retention: float | None = None,
        no_role: Iterable[str] = (),
        expired_tokens: Iterable[str] = (),
        service: str = "ims",
        cloud: str = "huaweicloud",
    ) -> None:
        if cloud not in CLOUD_NAMES:
            raise ValueError(f"unknown cloud {cloud!r}: one of {', '.join(CLOUD_NAMES)}")
        self.service = _services.service(service).name
        self.cloud = cloud
        if not finish_within > 0:
            raise ValueError(f"finish_within must be > 0 seconds, got {finish_within!r}")
        if retention is not None and not retention >= 0:
            raise ValueError(f"retention must be >= 0 seconds or None, got {retention!r}")
        self.retention = retention
        self._no_role = frozenset(no_role)
        self.clock: Callable[[], float] = clock or time.time
        self.project_id = validate_project_id(project_id)
        self.require_auth = require_auth
        self.faults = faults or Faults()
        self.seed = seed
        self.finish_within = float(finish_within)
        self._gate = Gate(
            demo_credentials(project_id) if credentials is None else credentials, expired_tokens
        )
        self._plans: dict[str, _plans.JobPlan] = {}
        self._failures: dict[str, list[tuple[str, str]]] = {"": []}
        self._bodies: dict[tuple[str, bool], bytes] = {}  # ended jobs never change
        self._rng = random.Random(f"jobs:{seed}")
        self._issued: set[str] = set()  # ids made, installed or not yet
        # Like a service node: one address, one JVM start, a counter (UUIDHexGenerator layout).
        self._jvm = self._rng.getrandbits(32)
        self._counter = self._rng.getrandbits(16)
        self._dice = FaultDice(seed, self.clock)
        self._lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self.reset_stats()
        if jobs is not None:
            self.add_jobs(jobs)

    def __repr__(self) -> str:
        return (
            f"Simulator(jobs={len(self._plans)}, project_id={self.project_id!r}, "
            f"faults={self.faults.describe()!r})"
        )

    # --- jobs ---------------------------------------------------------------------------

    @property
    def job_ids(self) -> list[str]:
        """Every job id served, in the order added."""
        return list(self._plans)

    def add_jobs(
        self,
        jobs: JobsSource,
        *,
        finish_within: float | None = None,
        job_type: str | None = None,
        status: str | None = None,
    ) -> list[str]:
        """Add jobs and return their ids.

        `jobs` is a number of new jobs (made by `jobtools.sample.generate_jobs`, starting now
        in INIT and ending within `finish_within` seconds, optionally all of `job_type` and
        ending in `status`), a `.jsonl`/`.json` path (gzipped or not), or API records (served
        as they are once ended; INIT and RUNNING ones go on and end within `finish_within`).

        Raises:
            ValueError: for a record without a job id, or an id already served.
        """
        horizon = self.finish_within if finish_within is None else float(finish_within)
        if not horizon > 0:
            raise ValueError(f"finish_within must be > 0 seconds, got {finish_within!r}")
        if status is not None and status not in (JobStatus.SUCCESS, JobStatus.FAIL):
            raise ValueError(f"status must be SUCCESS or FAIL, got {status!r}")
        if isinstance(jobs, bool):
            raise TypeError("jobs must be a count, a path or records, not a bool")
        if isinstance(jobs, int):
            return self._add_generated(jobs, horizon, job_type, status)
        records = read_records(jobs) if isinstance(jobs, str | os.PathLike) else list(jobs)
        return self._add_records(records, horizon)

    def add_scenario(self, scenario: Scenario | str, *, jobs: int | None = None) -> list[str]:
        """Add a scenario's batch (a `Scenario` or a name in `SCENARIOS`), relative to now.

        Its ended jobs are served as they were made; its running ones go on and end within
        `finish_within` seconds, as the scenario drew them. `jobs` sizes it (default: its own).
        """
        chosen = scenarios.scenario(scenario).sized(jobs)
        now = self.clock()
        batch = chosen.batch(now)
        # Running jobs end as the scenario drew them, so that its failure rates hold.
        return self._add_records(batch.records, self.finish_within, at=now, endings=batch.endings)

    def _add_records(
        self,
        records: list[Any],
        horizon: float,
        *,
        at: float | None = None,
        endings: _plans.Endings | None = None,
    ) -> list[str]:
        for number, record in enumerate(records):
            job_id = record.get("job_id") if isinstance(record, Mapping) else None
            if not isinstance(job_id, str) or not job_id:
                raise ValueError(f"record {number} has no job_id: {str(record)[:80]}")
        now = self.clock()
        times = list(
            zip(
                epochs([r.get("begin_time") for r in records]),
                epochs([r.get("end_time") for r in records]),
                strict=True,
            )
        )
        with self._lock:
            self._merge_failures(_plans.failures_by_type(records))
            plans = _plans.plans_from_records(
                records,
                times,
                now,
                seed=self.seed,
                horizon=horizon,
                failures=self._failures,
                at=at,
                endings=endings,
            )
            return self._install(plans)

    def add_job(
        self,
        job_id: str | None = None,
        *,
        job_type: str | None = None,
        status: str = JobStatus.SUCCESS,
        init_for: float = 1.0,
        run_for: float = 10.0,
        error_code: str | None = None,
        fail_reason: str | None = None,
        entities: Mapping[str, Any] | None = None,
        time_format: str = "iso",
        service: str = "ims",
        pending_payment: bool = False,
    ) -> str:
        """Add one job starting now: INIT for `init_for` s, RUNNING for `run_for` s, then `status`.

        A FAIL without `error_code`/`fail_reason` borrows a failure from the loaded records.
        `entities` are known from the start (e.g. `image_name`); `time_format` is `iso` or
        `legacy`. `service` (ims, ecs, evs, bms, vpc) gives the job that service's job type
        and entity shape. With `pending_payment` the job stays PENDING_PAYMENT (an unpaid
        yearly/monthly order) until `pay(job_id)`; unpaid, it is deleted after 14 days.
        Returns the job id (a new one in the service's layout when not given).
        """
        if status not in (JobStatus.SUCCESS, JobStatus.FAIL):
            raise ValueError(f"status must be SUCCESS or FAIL, got {status!r}")
        if time_format not in ("iso", "legacy"):
            raise ValueError(f"time_format must be 'iso' or 'legacy', got {time_format!r}")
        if not (init_for >= 0 and run_for >= 0):
            raise ValueError(f"init_for and run_for must be >= 0, got {init_for!r}, {run_for!r}")
        if pending_payment and service not in _PAYING_SERVICES:
            # PENDING_PAYMENT is documented for ECS and BMS only (reference, "More services").
            raise ValueError(f"pending_payment is for ecs and bms jobs, not {service!r}")
        spec = _services.service(service)
        kind = job_type or (spec.job_types[0] if spec.job_types else "imsNativeExportImageJob")
        now = self.clock()
        with self._lock:
            job_id = job_id or self._new_id(now)
            error = (error_code, fail_reason) if error_code or fail_reason else None
            wait = math.inf if pending_payment else 0.0
            plan = _plans.planned_job(
                job_id,
                kind,
                rng=_plans.job_rng(self.seed, job_id),
                begin=now,
                start=now + wait + init_for,
                end=now + wait + init_for + run_for,
                failures=self._failures,
                status=status,
                error=error,
                base=entities,
                style=time_format,
                service=service,
                sub_ids=[self._new_id(now) for _ in range(3)],
                pending_until=now + wait if pending_payment else -math.inf,
            )
            return self._install([plan])[0]

    def pay(self, job_id: str, *, init_for: float = 1.0, run_for: float = 10.0) -> None:
        """Pay a PENDING_PAYMENT job's order: it starts now (INIT, RUNNING, then its end).

        Raises:
            KeyError: for an unknown job; ValueError for a job that is not awaiting payment.
        """
        now = self.clock()
        with self._lock:
            plan = self._plans[job_id]
            if not plan.pending_until > now:
                raise ValueError(f"job {job_id} is not awaiting payment")
            start = now + init_for
            self._plans[job_id] = _plans.paid(plan, now, start, start + run_for)

    def _add_generated(
        self, count: int, horizon: float, job_type: str | None, status: str | None
    ) -> list[str]:
        from jobtools.sample import generate_jobs

        if count < 0:
            raise ValueError(f"cannot add {count} jobs")
        now = self.clock()
        with self._lock:
            templates = generate_jobs(
                count,
                seed=self._rng.randrange(2**31),
                now=dt.datetime.fromtimestamp(now, dt.UTC),
            )
            self._merge_failures(_plans.failures_by_type(templates))
            plans = []
            for template in templates:
                # A new job: its id holds the time it was made, now.
                job_id = self._new_id(now)
                kind = job_type or template["job_type"]
                final = status or template["status"]
                terminal = final in (JobStatus.SUCCESS, JobStatus.FAIL)
                rng = _plans.job_rng(self.seed, job_id)
                init_for, total = _plans.durations(rng, horizon)
                keep_error = final == template["status"] == JobStatus.FAIL
                plans.append(
                    _plans.planned_job(
                        job_id,
                        kind,
                        rng=rng,
                        begin=now,
                        start=now + init_for,
                        end=now + total,
                        failures=self._failures,
                        status=final if terminal else None,
                        error=(template["error_code"], template["fail_reason"])
                        if keep_error
                        else None,
                        base=template["entities"],
                        style=_plans.time_style(template["begin_time"]),
                    )
                )
            return self._install(plans)

    def _merge_failures(self, pool: Mapping[str, list[tuple[str, str]]]) -> None:
        for job_type, pairs in pool.items():
            self._failures.setdefault(job_type, []).extend(pairs)

    def _new_id(self, created: float) -> str:
        """A job id as the service makes them, holding `created` a millisecond or two late.

        In every public example the id's time is 1-3 ms after the job's `begin_time`. The
        16-bit counter wraps every 65,536 ids: an id already made moves to the next
        millisecond, so any number of jobs made at once get unique ids in the real layout.
        """
        later = created + self._rng.uniform(0.001, 0.003)
        while True:
            self._counter = (self._counter + 1) & 0xFFFF
            job_id = make_job_id(later, node=ID_NODE, jvm=self._jvm, counter=self._counter)
            if job_id not in self._issued and job_id not in self._plans:
                self._issued.add(job_id)
                return job_id
            later += 0.001

    def gone(self, plan: _plans.JobPlan, now: float) -> bool:
        """True when the service has deleted this job by `now` (then it answers 400 IMG.0023)."""
        if plan.pending_until > now:
            return now >= plan.begin + PENDING_RETENTION
        return self.retention is not None and now >= plan.end + self.retention

    def _install(self, plans: Sequence[_plans.JobPlan]) -> list[str]:
        ids = [plan.job_id for plan in plans]
        clashes = [i for i in ids if i in self._plans] or [
            i for i, n in Counter(ids).items() if n > 1
        ]
        if clashes:
            raise ValueError(f"job id already served: {clashes[0]}")
        for plan in plans:
            self._plans[plan.job_id] = plan
        return ids

    def record(self, job_id: str, *, progress: bool = False) -> dict[str, Any]:
        """What the API answers for `job_id` now, with no auth and no faults (KeyError if unknown).

        `progress=True` gives the `GET /v1/cloudimages/job/{id}` form.
        """
        now = self.clock()
        plan = self._plans[job_id]
        if self.gone(plan, now):
            raise KeyError(f"job {job_id} was deleted by the service (retention)")
        return plan.record_at(now, progress_route=progress)

    def status_counts(self) -> dict[str, int]:
        """How many jobs are in each status now."""
        now = self.clock()
        return dict(Counter(str(plan.status_at(now)) for plan in self._plans.values()))

    # --- transports ----------------------------------------------------------------------

    def transport(self, **kwargs: Any) -> SimulatorTransport:
        """An httpx transport answering in-process, for `httpx.Client` and `AsyncClient` alike.

        Keyword arguments go to `SimulatorTransport` (`sleep=`, `async_sleep=`).
        """
        from jobtools.simulator._http import SimulatorTransport

        return SimulatorTransport(self, **kwargs)

    def serve(self, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> SimulatorServer:
        """Serve on a real socket in a background thread; see `jobtools.simulator.serve`."""
        from jobtools.simulator._http import serve

        return serve(self, host, port, **kwargs)

    # --- faults and statistics -----------------------------------------------------------

    @contextlib.contextmanager
    def injecting(self, faults: Faults) -> Iterator[Simulator]:
        """Use `faults` inside the block, then restore the previous ones."""
        previous, self.faults = self.faults, faults
        try:
            yield self
        finally:
            self.faults = previous

    def stats(self) -> SimulatorStats:
        """A snapshot of the counters."""
        with self._stats_lock:
            return SimulatorStats(
                requests=self._requests,
                in_flight=self._in_flight,
                max_in_flight=self._max_in_flight,
                by_status=dict(self._by_status),
                faults=dict(self._fault_counts),
                signature_failures=self._gate.signature_failures - self._signatures_before,
                auth_failures=self._auth_failures,
            )

    def reset_stats(self) -> None:
        """Zero the counters (requests still in flight stay counted as in flight)."""
        with self._stats_lock:
            self._requests = 0
            self._in_flight = getattr(self, "_in_flight", 0)
            self._max_in_flight = self._in_flight
            self._by_status: Counter[int] = Counter()
            self._fault_counts: Counter[str] = Counter()
            self._auth_failures = 0
            gate = getattr(self, "_gate", None)
            self._signatures_before = gate.signature_failures if gate is not None else 0

    def count_in_flight(self, change: int) -> None:
        """A transport opens (+1) or closes (-1) a request, for `stats().max_in_flight`."""
        with self._stats_lock:
            self._in_flight += change
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count a request as open for the duration of the block."""
        self.count_in_flight(+1)
        try:
            yield
        finally:
            self.count_in_flight(-1)

    def _count(self, status: int, fault: str | None) -> None:
        with self._stats_lock:
            self._requests += 1
            self._by_status[status] += 1
            if fault:
                self._fault_counts[fault] += 1

    # --- requests ---------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Reply:
        """Answer one request. `path` is the raw (percent-encoded) path, `query` the raw query.

        Never sleeps: the added latency is the transports' to apply (see `respond`).
        """
        return self.respond(method, path, query, headers, body)[0]

    def respond(
        self,
        method: str,
        path: str,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[Reply, float]:
        """`(reply, seconds to wait before sending it)`."""
        faults = self.faults  # one consistent set for this request, even if swapped meanwhile
        request_id = uuid.uuid4().hex
        lower = {k.lower(): v for k, v in (headers or {}).items()}
        reply, fault = self._route(method.upper(), path, query, lower, body, request_id, faults)
        self._count(reply.status, fault)
        # Every answer carries the gateway's clock (a client names a skew from it).
        reply.headers.setdefault("Date", email.utils.formatdate(self.clock(), usegmt=True))
        return reply, self._dice.delay(faults)

    def _route(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        request_id: str,
        faults: Faults,
    ) -> tuple[Reply, str | None]:
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == "_simulator" and parts[2] == "jobs":
            return self._admin(method, query, request_id), None
        route = None
        if method == "GET" and len(parts) == 5 and parts[0] == "" and parts[1] == "v1":
            if parts[2] == "cloudimages" and parts[3] == "job":
                route = ("progress", headers.get("x-project-id"), unquote(parts[4]))
            elif parts[3] == "jobs":
                route = ("jobs", unquote(parts[2]), unquote(parts[4]))
        if route is None:
            return no_route(request_id), None
        if self._dice.over_rate(faults.rate_limit):
            return throttled(request_id, faults), "rate_limit"
        if self.require_auth:
            refusal = self._gate.check(method, path, query, headers, body, self.clock())
            if refusal is not None:
                with self._stats_lock:
                    self._auth_failures += 1
                return unauthorized(refusal.code, refusal.message, request_id), None
        kind, project_id, job_id = route
        if kind == "jobs" and headers.get("x-project-id") not in (None, project_id):
            project_id = headers["x-project-id"]  # a header naming another project: IMG.0030
        if project_id is None:
            message = "The X-Project-Id header is missing."
            return ims_error(400, "IMG.0001", message, request_id), None
        # The IMS error table (reference, "Statuses, retention, errors, throttling"): 400
        # IMG.0030 for a project id that is not the token's, 403 IMG.0026 without a role,
        # 400 IMG.0023 when the job query itself fails (here: an id no job can have).
        if project_id != self.project_id:
            return ims_error(400, "IMG.0030", "Invalid project id or token.", request_id), None
        if self._no_role and self._gate.identity(headers) in self._no_role:
            return ims_error(403, "IMG.0026", "Invalid role.", request_id), None
        failed = self._dice.status(faults)
        if failed is not None:
            return fault_reply(failed, request_id, faults, self.cloud), failed
        if not _QUERYABLE.fullmatch(job_id):
            message = f"An exception occurred during the job query: invalid job id {job_id!r}."
            return ims_error(400, "IMG.0023", message[:200], request_id), None
        plan = self._plans.get(job_id)
        if plan is None or self.gone(plan, self.clock()):
            # A deleted job and one that never was answer alike: the service keeps nothing.
            return job_not_found(job_id, request_id, self.service), None
        payload = self._body(plan, kind == "progress")
        broken, shape = self._dice.body(faults)
        if broken:
            return broken_body(broken, shape, payload, job_id, request_id), broken
        return Reply(200, json_headers(request_id), payload), None

    def _body(self, plan: _plans.JobPlan, progress: bool) -> bytes:
        now = self.clock()
        key = (plan.job_id, progress)
        cached = self._bodies.get(key)
        if cached is not None:
            return cached
        body = orjson.dumps(plan.record_at(now, progress_route=progress))
        if now >= plan.end:
            self._bodies[key] = body
        return body

    def _admin(self, method: str, query: str, request_id: str) -> Reply:
        """`/_simulator/jobs`, outside the real API: GET lists jobs, POST adds some."""
        if method == "GET":
            now = self.clock()
            jobs = [
                {"job_id": i, "status": str(p.status_at(now))} for i, p in list(self._plans.items())
            ]
            return json_reply(200, {"jobs": jobs}, request_id)
        if method != "POST":
            return no_route(request_id, "Use GET or POST on /_simulator/jobs.")
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        try:
            within = float(params["finish_within"]) if "finish_within" in params else None
            ids = self.add_jobs(
                int(params.get("count", "1")),
                finish_within=within,
                job_type=params.get("job_type"),
                status=params.get("status"),
            )
        except ValueError as exc:
            return ims_error(400, "IMG.0001", str(exc), request_id)
        return json_reply(201, {"job_ids": ids}, request_id)
