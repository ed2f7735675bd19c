"""The client's options in three small frozen groups, as httpx has `Timeout` and `Limits`.

    Limits    how much at once: requests in flight, request starts per second, body size
    Retries   how often and how long to try again: attempts, backoff, Retry-After, the
              batch's patience with nothing but failures
    Timeouts  how long one request may take: connect, each read, the pool, the whole attempt

`JobsClient(limits=..., retries=..., timeouts=...)` takes them; the single keywords
(`concurrency=`, `max_attempts=`, `attempt_timeout=`…) still work and override the group's
field. The CLI's defaults and help texts are read from the defaults here, so there is one
place to change one.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # httpx is imported where it is used: the CLI reads defaults from here
    import httpx

__all__ = ["Limits", "Retries", "Timeouts", "UNSET", "Unset"]


class Unset(enum.Enum):
    """The type of `UNSET`: a keyword not given (where None means "no limit")."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """How much at once.

    Attributes:
        concurrency: requests in flight (and the connection pool's size).
        rate_limit: request starts per second; None for no limit (e.g. a local simulator).
            The default stays under the gateway's 200 calls/s per API, leaving room for
            other callers.
        max_body_bytes: the largest body read, on the wire and decompressed; a larger one is a
            `too_large` row (job records are a few KB, an ECS batch of 500 sub-jobs ~500 KB).
    """

    concurrency: int = 16
    rate_limit: float | None = 150.0
    max_body_bytes: int = 8 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency!r}")
        if self.rate_limit is not None and not self.rate_limit > 0:
            raise ValueError(f"rate_limit must be positive or None, got {self.rate_limit!r}")
        if self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class Retries:
    """How often and how long to try again.

    Attributes:
        max_attempts: tries per id for throttling, 5xx, timeouts, connection errors and bodies
            that are not the job asked for.
        backoff_base, backoff_max: full-jitter backoff, `uniform(0, min(max, base * 2**n))`.
        max_retry_after: the longest `Retry-After` honoured, in seconds.
        max_retry_wait: seconds of nothing but retriable failures after which a batch stops
            sending (every id still gets its row): throttling or an outage that never ends
            cannot hold a fetch for hours.
    """

    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    max_retry_after: float = 60.0
    max_retry_wait: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts!r}")
        if not self.max_retry_wait >= 0:
            raise ValueError(f"max_retry_wait must be >= 0, got {self.max_retry_wait!r}")
        for name in ("backoff_base", "backoff_max", "max_retry_after"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class Timeouts:
    """How long one request may take, in seconds (None: no limit).

    Attributes:
        connect: making a connection (the official SDK: 60; ours fails faster).
        read: each read of the answer (a busy service may be slow to answer).
        pool: waiting for a free connection of the pool, and making it.
        attempt: one whole attempt, connecting to the body's last byte: a server dripping a
            byte a second cannot hold a request longer (the per-read timeout would never fire).
    """

    connect: float | None = 10.0
    read: float | None = 30.0
    pool: float | None = 30.0
    attempt: float | None = 60.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "pool", "attempt"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name}_timeout must be > 0 seconds or None, got {value!r}")

    @classmethod
    def of(cls, timeout: Any, attempt: float | None = None) -> Timeouts:
        """From the old `timeout=` forms: seconds for every phase, None, or an `httpx.Timeout`.

        >>> Timeouts.of(5.0).read
        5.0
        """
        import httpx

        if isinstance(timeout, Timeouts):
            return timeout if attempt is None else dataclasses.replace(timeout, attempt=attempt)
        default = cls().attempt if attempt is None else attempt
        if isinstance(timeout, httpx.Timeout):
            return cls(timeout.connect, timeout.read, timeout.pool, default)
        return cls(timeout, timeout, timeout, default)

    @classmethod
    def per_request(cls, seconds: float) -> Timeouts:
        """One request may wait `seconds` for the answer; connecting takes at most 10 s of it
        (the CLI's `--request-timeout`)."""
        if not seconds > 0:
            raise ValueError(f"a request timeout must be more than 0 s, got {seconds:g}")
        default = cls()
        connect = default.connect if default.connect is not None else seconds
        return cls(min(connect, seconds), seconds, seconds, default.attempt)

    def httpx(self) -> httpx.Timeout:
        """The per-phase limits as an `httpx.Timeout` (writes as long as reads)."""
        import httpx

        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read, pool=self.pool)
