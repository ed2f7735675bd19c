"""The wait's options in one small frozen group: light, so the CLI reads its defaults from it.

`Patience` is how long a wait keeps at it (shared by `wait_for`, the notebook monitor and
`jobtools watch`); `BACKOFF_FIRST` and `BACKOFF_CAP` are the default schedule's first and
longest intervals (`jobtools.wait.schedule.Backoff`).
"""

from __future__ import annotations

import dataclasses

__all__ = ["BACKOFF_CAP", "BACKOFF_FIRST", "Patience"]

# The default backoff: first look again after 2 s, doubling up to 30 s.
BACKOFF_FIRST = 2.0
BACKOFF_CAP = 30.0


@dataclasses.dataclass(frozen=True, slots=True)
class Patience:
    """How long a wait keeps at it.

    Attributes:
        timeout: seconds; jobs still running then end as `timed_out`. None: no limit.
            Ansible's default for its ECS/EVS waiters (the notebook monitor has none).
        give_up_after: consecutive failed fetches after which a job ends as `gave_up`
            (Ansible gives up after 10 fetch errors in a row).
        payment_patience: seconds a job may stay PENDING_PAYMENT unchanged before its wait
            ends as `awaiting_payment` (nothing moves until someone pays); None: keep waiting.
        retention: seconds the service keeps ended jobs (ECS: about a day): an unknown id
            created longer ago ends as `expired` rather than `gone`.
        early: a job due within this share of its interval joins the current round.
    """

    timeout: float | None = 1800.0
    give_up_after: int = 10
    payment_patience: float | None = 600.0
    retention: float = 86400.0
    early: float = 0.25

    def __post_init__(self) -> None:
        if self.give_up_after < 1:
            raise ValueError(f"give_up_after must be at least 1, got {self.give_up_after}")
        if self.timeout is not None and self.timeout < 0:
            raise ValueError(f"timeout must be >= 0 or None, got {self.timeout}")
        if self.payment_patience is not None and self.payment_patience < 0:
            raise ValueError(f"payment_patience must be >= 0 or None, got {self.payment_patience}")
