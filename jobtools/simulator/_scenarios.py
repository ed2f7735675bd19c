"""Scenarios: realistic batches to serve, so that "since when?" questions have real answers.

A scenario is a batch of jobs whose begin times are spread over a window before the
simulator's "now": most have ended, a few are still running and go on. It can hold only
chosen job types, a failure regression (from a given time a new reason appears) and slow and
fast tails. `SCENARIOS` names a few; `jobtools serve --scenario NAME` serves one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from jobtools.sample import Regression, generate_jobs


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A batch of jobs relative to the simulator's clock.

    Attributes:
        jobs: how many.
        window: seconds before now over which begin times spread.
        job_types: only these job types (None: the documented mix of IMS job types).
        regression_since: seconds before now from which `regression_share` of the jobs fail
            with `regression_reason` (code `regression_code`), a reason not seen before.
        slow_tail: the share of jobs taking 5 to 20 times their usual time.
        fast_tail: the share ending within seconds.
        running: the share still running now (they go on and end within `finish_within`).
        seed: for the jobs drawn.
    """

    jobs: int = 600
    window: float = 6 * 3600.0
    job_types: tuple[str, ...] | None = None
    regression_since: float | None = None
    regression_code: str = "IMG.0188"
    regression_reason: str = (
        "Failed to upload the image to OBS: the KMS key of bucket {bucket} is disabled."
    )
    regression_share: float = 0.4
    slow_tail: float = 0.04
    fast_tail: float = 0.06
    running: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.jobs < 0 or not self.window > 0:
            raise ValueError("a scenario needs jobs >= 0 and a window > 0 seconds")
        for name in ("regression_share", "slow_tail", "fast_tail", "running"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a share between 0 and 1")
        if self.slow_tail + self.fast_tail > 1:
            raise ValueError("slow_tail + fast_tail must not exceed 1")

    def records(self, now: float) -> list[dict[str, Any]]:
        """The scenario's API records as they read at epoch time `now`."""
        moment = dt.datetime.fromtimestamp(now, dt.UTC)
        regression = None
        if self.regression_since is not None:
            regression = Regression(
                since=moment - dt.timedelta(seconds=self.regression_since),
                error_code=self.regression_code,
                fail_reason=self.regression_reason,
                share=self.regression_share,
            )
        return generate_jobs(
            self.jobs,
            seed=self.seed,
            now=moment,
            window=dt.timedelta(seconds=self.window),
            job_types=self.job_types,
            regression=regression,
            slow_tail=self.slow_tail,
            fast_tail=self.fast_tail,
            running_share=self.running,
        )


SCENARIOS: dict[str, Scenario] = {
    # Six hours of the usual mix, a few slow and fast outliers, a few still running.
    "realistic": Scenario(),
    # Only exports: one job type, so per-type plots have one long tail to look at.
    "exports": Scenario(jobs=300, job_types=("imsNativeExportImageJob",)),
    # The usual mix, but two hours ago a new failure started: 40 % of later jobs hit it.
    "regression": Scenario(regression_since=2 * 3600.0),
}


def scenario(value: Scenario | str) -> Scenario:
    """A scenario, or the one `SCENARIOS` names; ValueError for an unknown name."""
    if isinstance(value, Scenario):
        return value
    try:
        return SCENARIOS[value]
    except KeyError:
        names = ", ".join(SCENARIOS)
        raise ValueError(f"unknown scenario {value!r}: one of {names}") from None
