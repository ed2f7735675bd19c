"""Job statuses, and which of them end a job."""

from __future__ import annotations

import enum

__all__ = ["JobStatus", "STATUS_ORDER", "TERMINAL_STATUSES", "is_terminal"]


class JobStatus(enum.StrEnum):
    """A status the service documents. Anything else is kept as it came, as unknown."""

    INIT = "INIT"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    PENDING_PAYMENT = "PENDING_PAYMENT"

    @property
    def is_terminal(self) -> bool:
        """True when the job has ended and will not change again."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCESS, JobStatus.FAIL})

# The order of the categories in a frame's `status` column; unknown values follow.
STATUS_ORDER: tuple[str, ...] = tuple(JobStatus)


def is_terminal(status: object) -> bool:
    """True for SUCCESS and FAIL; False for anything else, unknown values included."""
    return status in TERMINAL_STATUSES
