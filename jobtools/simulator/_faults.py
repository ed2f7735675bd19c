"""Fault injection: latency, 500/503/429 answers and the other throttling shapes, a rate limit,
malformed and truncated bodies.

Every request draws afresh from one seeded generator, so a fault hits a share of requests,
never the same job every time: a retry eventually succeeds, and a run can be reproduced.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import random
import threading
from collections.abc import Callable

# The faults that replace the answer, drawn in this order; and the names stats() counts.
_STATUS_FAULTS = (
    "throttle",
    "error_500",
    "error_503",
    "flow_limit",
    "overloaded",
    "bad_gateway",
    "gateway_timeout",
)
_FAULT_NAMES = {"throttle": "throttle", "error_500": "500", "error_503": "503"} | {
    "flow_limit": "flow_limit",
    "overloaded": "overloaded",
    "bad_gateway": "502",
    "gateway_timeout": "504",
}


@dataclasses.dataclass(frozen=True)
class Faults:
    """What the simulator does wrong, and how often. Shares are per request, in [0, 1].

    Attributes:
        latency: seconds added to every answer (applied by the transports, never by `handle`).
        jitter: up to this many more seconds, uniformly drawn per request.
        error_500: share of requests answered 500 (the gateway's `APIGW.0201`).
        error_503: share answered 503 (the gateway's `APIGW.0613`).
        throttle: share answered 429 (`APIGW.0308`), whatever the request rate.
        flow_limit: share answered ECS's `Common.0024` ("exceeds flow over limit": too many
            concurrent requests, retry later), as HTTP 202 in the `{"error": {...}}` shape, as
            documented: a client must read the code, not the status, to see it is throttled.
        overloaded: share answered ECS's `Common.1503` (`{"error": {...}}` shape): 503 on
            Huawei Cloud, 429 on Open Telekom Cloud (the simulator's `cloud=`).
        bad_gateway: share answered 502 `APIGW.0201` (the backend is unavailable).
        gateway_timeout: share answered 504 `APIGW.0201` (the backend timed out).
        rate_limit: requests per second (simulator clock) above which requests get 429.
        malformed: share of 200 answers whose body is not a job (HTML, or JSON with no status).
        truncated: share of 200 answers whose JSON is cut short (Content-Length still right).
        retry_after: seconds sent as `Retry-After` on 429 and 503 (none by default, as the
            gateway documents none).
    """

    latency: float = 0.0
    jitter: float = 0.0
    error_500: float = 0.0
    error_503: float = 0.0
    throttle: float = 0.0
    flow_limit: float = 0.0
    overloaded: float = 0.0
    rate_limit: float | None = None
    malformed: float = 0.0
    truncated: float = 0.0
    retry_after: float | None = None
    bad_gateway: float = 0.0
    gateway_timeout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("latency", "jitter"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
        for name in (*_STATUS_FAULTS, "malformed", "truncated"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1, got {value!r}")
        if sum(getattr(self, name) for name in _STATUS_FAULTS) > 1.0:
            raise ValueError(f"{' + '.join(_STATUS_FAULTS)} must not exceed 1")
        if self.malformed + self.truncated > 1.0:
            raise ValueError("malformed + truncated must not exceed 1")
        if self.rate_limit is not None and not self.rate_limit > 0:
            raise ValueError(f"rate_limit must be > 0 requests per second, got {self.rate_limit!r}")
        if self.retry_after is not None and not self.retry_after >= 0:
            raise ValueError(f"retry_after must be >= 0 seconds, got {self.retry_after!r}")

    def describe(self) -> str:
        """One line for humans, naming only the faults that are on."""
        parts = []
        if self.latency or self.jitter:
            parts.append(
                f"latency {self.latency:g} s"
                + (f" + up to {self.jitter:g} s" if self.jitter else "")
            )
        for name, label in (
            ("error_500", "500"),
            ("error_503", "503"),
            ("throttle", "429"),
            ("flow_limit", "202 Common.0024"),
            ("overloaded", "Common.1503"),
            ("bad_gateway", "502 APIGW.0201"),
            ("gateway_timeout", "504 APIGW.0201"),
            ("malformed", "malformed body"),
            ("truncated", "truncated body"),
        ):
            if getattr(self, name):
                parts.append(f"{label} {getattr(self, name):.0%}")
        if self.rate_limit is not None:
            parts.append(f"429 above {self.rate_limit:g} req/s")
        if self.retry_after is not None:
            parts.append(f"Retry-After {self.retry_after:g} s")
        return ", ".join(parts) or "none"


class FaultDice:
    """Draws each request's fate from one seeded generator, thread-safely."""

    def __init__(self, seed: object, clock: Callable[[], float]) -> None:
        self._rng = random.Random(f"faults:{seed}")
        self._clock = clock
        self._lock = threading.Lock()
        self._recent: collections.deque[float] = collections.deque()

    def over_rate(self, limit: float | None) -> bool:
        """True when `limit` requests were already let through in the last second."""
        if limit is None:
            return False
        now = self._clock()
        with self._lock:
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            if len(self._recent) >= limit:
                return True
            self._recent.append(now)
            return False

    def status(self, faults: Faults) -> str | None:
        """The fault (`throttle`, `500`, `503`, `502`, `504`, `flow_limit`, `overloaded`) for a
        request that should fail, else None."""
        shares = [(name, getattr(faults, name)) for name in _STATUS_FAULTS]
        if not any(share for _, share in shares):
            return None
        with self._lock:
            draw = self._rng.random()
        for name, share in shares:
            if draw < share:
                return _FAULT_NAMES[name]
            draw -= share
        return None

    def body(self, faults: Faults) -> tuple[str | None, float]:
        """`("malformed" | "truncated" | None, a uniform draw to shape it)`."""
        if not (faults.malformed or faults.truncated):
            return None, 0.0
        with self._lock:
            draw, shape = self._rng.random(), self._rng.random()
        if draw < faults.malformed:
            return "malformed", shape
        if draw < faults.malformed + faults.truncated:
            return "truncated", shape
        return None, 0.0

    def delay(self, faults: Faults) -> float:
        """Seconds to wait before answering."""
        if not faults.jitter:
            return faults.latency
        with self._lock:
            return faults.latency + self._rng.uniform(0.0, faults.jitter)
