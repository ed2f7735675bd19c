"""Fisher's exact test in `compare_failures` (math.lgamma, no scipy at run time) against scipy's."""

from __future__ import annotations

import math
import random

import pytest
from scipy.stats import fisher_exact

from jobtools.analysis.failures import _fisher


def scipy_p(fail_before: int, fail_after: int, jobs_before: int, jobs_after: int) -> float:
    table = [[fail_before, jobs_before - fail_before], [fail_after, jobs_after - fail_after]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


@pytest.mark.parametrize(
    "counts",
    [
        (0, 0, 10, 10),  # nothing failed: p = 1
        (5, 5, 10, 10),  # the mode itself
        (3, 3, 3, 3),  # every job failed
        (0, 10, 10, 10),  # as far apart as can be
        (1, 9, 1000, 1000),
        (12, 40, 5000, 4000),  # a symmetric tie on the other side is counted
        (7, 7, 700, 700),
        (0, 1, 1, 1),
        (30000, 30500, 5_000_000, 5_000_000),  # millions of jobs: a few thousand terms
    ],
)
def test_fisher_matches_scipy_on_chosen_tables(counts: tuple[int, int, int, int]) -> None:
    """Edges, ties and large counts give scipy's two-sided p-value."""
    assert _fisher(*counts) == pytest.approx(scipy_p(*counts), rel=1e-6, abs=1e-300)


def test_fisher_matches_scipy_on_random_tables() -> None:
    """500 random tables of 1 to 5,000 jobs a side agree with scipy to 1e-6."""
    rng = random.Random(7)
    for _ in range(500):
        jobs_before, jobs_after = rng.randint(1, 5000), rng.randint(1, 5000)
        counts = (rng.randint(0, jobs_before), rng.randint(0, jobs_after), jobs_before, jobs_after)
        assert _fisher(*counts) == pytest.approx(scipy_p(*counts), rel=1e-6, abs=1e-300), counts


def test_fisher_without_ended_jobs_on_a_side_is_nan() -> None:
    """No ended job in a window: no test (NaN), as compare_failures documents."""
    assert math.isnan(_fisher(0, 3, 0, 10))
