"""Scenarios: realistic batches to serve, each stating in code what truly happened in it.

A scenario is a batch of jobs that all began inside a window before the simulator's "now"
(at a steady rate), each taking as long as its job type takes: most have ended, the ones
whose duration reaches past "now" are still running, and go on. It can hold only chosen job
types, slow and fast tails, and `changes` in the failures: from a moment on (and, if it
recovers, until a later one), a share of the jobs begun then (of some job types, or all)
fail with one reason, new or one the service already gives.

`Scenario.truth(now)` says what a correct analysis finds: each change's moment on the
clock of when jobs began, its reason and code, the job types it hits, whether it recovered,
and the failure rates before and during it. `SCENARIOS` names a few; `jobtools serve
--scenario NAME --jobs N` serves one with N jobs (`jobtools.simulator.Simulator.add_scenario`),
`python -m jobtools.sample --scenario NAME --n N` writes one to a file.

Scenarios are generated batches and their truth, nothing more: this module needs only the
sample generator, so the generator's command, the simulator, tests and notebooks share it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from jobtools.sample import Batch, Regression, generate_batch, job_kinds, usual_failures

__all__ = ["SCENARIOS", "Change", "Scenario", "TrueChange", "Truth", "scenario"]


@dataclasses.dataclass(frozen=True)
class Change:
    """A change in the failures, its times in seconds before the scenario's "now".

    Attributes:
        since: from when (on the clock of when jobs begin).
        error_code: the code of the reason.
        fail_reason: its text; `{placeholders}` (`{bucket}`, `{region}`, `{request_id}`…)
            are filled per job as the usual reasons' are.
        share: the share of the jobs begun since then (of `job_types`) that fail with it.
        until: when it stopped (the failures recovered); None: it is still going on.
        job_types: the only job types it hits; None: all of them.
    """

    since: float
    error_code: str
    fail_reason: str
    share: float = 0.4
    until: float | None = None
    job_types: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValueError(f"a change's share must be in (0, 1], got {self.share!r}")
        if self.until is not None and not self.until < self.since:
            raise ValueError("a change's `until` must be fewer seconds before now than `since`")


@dataclasses.dataclass(frozen=True)
class TrueChange:
    """What truly changed: what `jobtools.findings` should find for one `Change`.

    Attributes:
        at: the moment the failure rate changed (UTC, on the clock of when jobs began).
        ended_at: when it recovered (UTC), None while it is still going on.
        error_code: the reason's code.
        fail_reason: the reason's template, placeholders unfilled.
        new: whether the reason is new (the batch never gave it before `at`).
        job_types: the job types it hits.
        rate_before: the expected failure rate of ended jobs begun before `at`.
        rate_after: the expected failure rate of ended jobs begun during the change.
    """

    at: dt.datetime
    ended_at: dt.datetime | None
    error_code: str
    fail_reason: str
    new: bool
    job_types: tuple[str, ...]
    rate_before: float
    rate_after: float


@dataclasses.dataclass(frozen=True)
class Truth:
    """A scenario's truth at one "now": its changes (none: no change) and its usual rate."""

    changes: tuple[TrueChange, ...]
    rate: float
    begin: dt.datetime
    end: dt.datetime


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A batch of jobs relative to the simulator's clock.

    Attributes:
        jobs: how many.
        window: seconds before now over which begin times spread (all begin inside it).
        job_types: only these job types (None: the documented mix of IMS job types).
        changes: changes in the failures (none: the failure rate is the same throughout).
        slow_tail: the share of jobs taking 5 to 20 times their usual time.
        fast_tail: the share ending within seconds.
        seed: for the jobs drawn.
    """

    jobs: int = 600
    window: float = 6 * 3600.0
    job_types: tuple[str, ...] | None = None
    changes: tuple[Change, ...] = ()
    slow_tail: float = 0.04
    fast_tail: float = 0.06
    seed: int = 0

    def __post_init__(self) -> None:
        if self.jobs < 0 or not self.window > 0:
            raise ValueError("a scenario needs jobs >= 0 and a window > 0 seconds")
        for name in ("slow_tail", "fast_tail"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a share between 0 and 1")
        if self.slow_tail + self.fast_tail > 1:
            raise ValueError("slow_tail + fast_tail must not exceed 1")
        if any(change.since > self.window for change in self.changes):
            raise ValueError("a change must begin inside the scenario's window")

    def sized(self, jobs: int | None = None, *, seed: int | None = None) -> Scenario:
        """The same scenario with `jobs` jobs (and another `seed`); None keeps its own."""
        return dataclasses.replace(
            self,
            jobs=self.jobs if jobs is None else jobs,
            seed=self.seed if seed is None else seed,
        )

    def options(self, now: dt.datetime) -> dict[str, Any]:
        """`jobtools.sample.generate_jobs`'s keyword options for this scenario at `now`."""

        def moment(seconds: float | None) -> dt.datetime | None:
            return None if seconds is None else now - dt.timedelta(seconds=seconds)

        regressions = [
            Regression(
                since=now - dt.timedelta(seconds=change.since),
                error_code=change.error_code,
                fail_reason=change.fail_reason,
                share=change.share,
                until=moment(change.until),
                job_types=change.job_types,
            )
            for change in self.changes
        ]
        return {
            "window": dt.timedelta(seconds=self.window),
            "job_types": self.job_types,
            "regression": regressions,
            "slow_tail": self.slow_tail,
            "fast_tail": self.fast_tail,
            # All begin inside the window; those not ended by now are running.
            "running_share": None,
        }

    def batch(self, now: float) -> Batch:
        """The records as they read at epoch time `now`, and how the running ones will end."""
        moment = dt.datetime.fromtimestamp(now, dt.UTC)
        return generate_batch(self.jobs, self.seed, moment, **self.options(moment))

    def records(self, now: float) -> list[dict[str, Any]]:
        """The scenario's API records as they read at epoch time `now`."""
        return self.batch(now).records

    def truth(self, now: float) -> Truth:
        """What truly happens in this scenario played at epoch time `now`.

        Expected rates come from the job types' shares and failure rates (a change of
        share s turns a job that would succeed into a failure with probability s), so a
        batch of a few hundred jobs lands near them, not on them.
        """
        moment = dt.datetime.fromtimestamp(now, dt.UTC)
        kinds = job_kinds(self.job_types)
        total = sum(kind.weight for kind in kinds)
        usual = usual_failures()

        def rate(seconds_before: float) -> float:
            """The expected failure rate of jobs begun `seconds_before` now."""
            expected = 0.0
            for kind in kinds:
                success = 1 - kind.fail_rate
                for change in self.changes:
                    active = change.since >= seconds_before > (change.until or 0.0)
                    hits = change.job_types is None or kind.name in change.job_types
                    if active and hits:
                        success *= 1 - change.share
                expected += kind.weight / total * (1 - success)
            return expected

        changes = []
        for number, change in enumerate(self.changes):
            earlier = self.changes[:number]
            new = change.error_code not in usual and all(
                c.error_code != change.error_code for c in earlier
            )
            types = change.job_types or tuple(kind.name for kind in kinds)
            changes.append(
                TrueChange(
                    at=moment - dt.timedelta(seconds=change.since),
                    ended_at=None
                    if change.until is None
                    else moment - dt.timedelta(seconds=change.until),
                    error_code=change.error_code,
                    fail_reason=change.fail_reason,
                    new=new,
                    job_types=tuple(sorted(types)),
                    rate_before=rate(change.since + 1e-3),
                    rate_after=rate(change.since - 1e-3),
                )
            )
        changes.sort(key=lambda c: c.at)
        return Truth(
            changes=tuple(changes),
            rate=rate(self.window + 1),
            begin=moment - dt.timedelta(seconds=self.window),
            end=moment,
        )


_HOUR = 3600.0

SCENARIOS: dict[str, Scenario] = {
    # Six hours of the usual mix, a few slow and fast outliers, a few still running: the
    # failure rate is the same all along (no change).
    "realistic": Scenario(),
    # Only exports: one job type, so per-type plots have one long tail to look at. No change.
    "exports": Scenario(jobs=300, job_types=("imsNativeExportImageJob",)),
    # Two hours ago a new reason appeared: 40 % of the jobs begun since fail with it, across
    # all job types in proportion to their volume. Still going on.
    "regression": Scenario(
        changes=(
            Change(
                since=2 * _HOUR,
                error_code="IMG.0188",
                fail_reason=(
                    "Failed to upload the image to OBS: the KMS key of bucket {bucket} is disabled."
                ),
            ),
        ),
    ),
    # An existing reason grows: three hours ago OBS downloads began to fail (an OBS
    # slowdown), and IMG.0106, a failure about one job in a hundred had, hit a quarter.
    "growing": Scenario(
        jobs=1000,
        seed=1,
        changes=(
            Change(
                since=3 * _HOUR,
                error_code="IMG.0106",
                fail_reason=usual_failures()["IMG.0106"],
                share=0.25,
            ),
        ),
    ),
    # One job type only: from two and a half hours ago, half of the images created from a
    # server (imsCreateImageByInstance, about a third of the jobs) fail with a new reason.
    "one-type": Scenario(
        jobs=1000,
        seed=2,
        changes=(
            Change(
                since=2.5 * _HOUR,
                error_code="IMG.0212",
                fail_reason=(
                    "Creating a snapshot of the system disk of server {server_id} failed: "
                    "the EVS snapshot quota is used up."
                ),
                share=0.5,
                job_types=("imsCreateImageByInstance",),
            ),
        ),
    ),
    # Failures rise, then recover: from four to two hours ago OBS timed out (a new reason,
    # in Chinese) for half the jobs; the jobs begun since are as before.
    "outage": Scenario(
        seed=3,
        changes=(
            Change(
                since=4 * _HOUR,
                until=2 * _HOUR,
                error_code="IMG.0199",
                fail_reason="访问 OBS 桶 {bucket} 超时：服务暂时不可用（请求 {request_id}）。",
                share=0.5,
            ),
        ),
    ),
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
