"""Findings: did the failure rate change, since when, and what drove it, in plain words.

`findings(frame)` looks at the jobs that ended (SUCCESS or FAIL) in the order they *began*
(the moment a job fails for a new reason is when it began: long jobs end hours later, so an
end-time clock smears a sharp change into a slow rise) and returns a `Findings`: the changes
of the failure rate (`.changes`), what drove each (`.drivers`), sentences in English or
Chinese (`.text()`), one line (`.headline()`), Markdown, HTML and a picture.

The method, and why
-------------------
Each ended job is a Bernoulli trial (failed or not) whose probability may change at a few
unknown moments. The jobs are counted per begin-time bin (`binned_counts`: power-of-two
milliseconds, at most `MAX_BINS` bins, so a million jobs cost one pass and the scan is over
at most 2,048 positions, and a Dask frame is counted per partition and combined exactly).

* Detection: binary segmentation with the binomial likelihood ratio. For a stretch, the
  log-likelihood ratio of "one rate" against "one rate before k, another after" is computed
  for every split k at once from cumulative sums (vectorised, O(bins)); the largest one is
  the candidate. Splits leaving fewer than `min_jobs` ended jobs on a side are not
  considered (tiny edges make huge chance ratios).
* Significance, honest about multiple testing: the largest of thousands of ratios is not a
  chi-squared variable. Its distribution under "no change" is simulated by permutation (the
  stretch's failures dealt out again over its jobs, `permutations` times, conditioned on
  their number: an exact test under exchangeability) and the same maximum taken over the
  same splits; a Gumbel law (the limit of such maxima, Darling-Erdos) is fitted to those
  maxima so that small p-values are smooth instead of stuck at 1 / (permutations + 1).
  `p_value` is therefore the chance of a split at least this strong *anywhere* in the
  stretch. A split is kept when `p_value < alpha` and the rates differ by at least
  `min_delta`; since the whole frame is tested first, a frame with no change reports one
  with probability `alpha`.
* Each change is then placed again within the stretch between its neighbours (binary
  segmentation misplaces a change when a rise and a recovery are close), tested again there,
  and dropped if it no longer passes.
* Interval for the moment: a parametric bootstrap of the two-rate model of that stretch
  (`permutations` replicates) gives the spread of the estimated split in jobs; the 99 %
  interval of the moment is read off it (`at_low`, `at_high`: the begin times of the jobs
  on either side of its ends, so a perfectly placed split still covers the true moment).
  99 % rather than 95 %: the model is fitted to the same jobs, so its jump is a little larger
  than the true one and its replicates place the split too well; a 95 % interval covered
  the true moment in only 88 to 94 % of simulated batches.

* The latest jobs are left out while many of them still run (`_unfinished_tail`): the ones
  that have ended are the quick ones, and failures are often quick, so their rate would read
  as a rise that is not there. The sentences say from when jobs were left out.

`benchmarks/bench_findings.py` measures the promises over many seeds: "no change" on batches
with none, found and covered for a change from 10 % to 20 %.

Why not a library: the Python change-point libraries (`ruptures` and the like) minimise a
penalised cost; none has a binomial cost, and a penalty is not a p-value. SciPy (not used
here) would only give the chi-squared tail, the wrong law for a maximum over many splits.
The whole method is a few dozen lines of NumPy over cumulative sums.

Drivers: for each change, the failures after it are compared with what the rate before it
predicts, by job type, failure reason (the masked template and key of `failure_groups`),
error code and, where the frame has them, region and project: `excess` is how many more
failures a value had than expected, `share` its part of the change's excess.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobtools.analysis import failures
from jobtools.analysis._engines import embedded_files, is_dask
from jobtools.schema import JobStatus, require
from jobtools.times import to_zone

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "CHANGE_COLUMNS",
    "DRIVER_COLUMNS",
    "DRIVER_DIMENSIONS",
    "MAX_BINS",
    "Findings",
    "binned_counts",
    "findings",
]

CHANGE_COLUMNS: tuple[str, ...] = (
    "at",
    "at_low",
    "at_high",
    "rate_before",
    "rate_after",
    "jobs_before",
    "jobs_after",
    "failed_before",
    "failed_after",
    "excess",
    "p_value",
    "ended_at",
)
DRIVER_COLUMNS: tuple[str, ...] = (
    "change",
    "dimension",
    "value",
    "label",
    "excess",
    "share",
    "new",
    "failed_before",
    "failed_after",
    "jobs_before",
    "jobs_after",
)
# The dimensions drivers are sought in; region and project only where the frame has them.
DRIVER_DIMENSIONS: tuple[str, ...] = ("reason", "job_type", "error_code", "region", "project")
_OPTIONAL = ("region", "project")
# Dimensions whose values hold jobs of their own (a job type has successes too); a reason or
# an error code exists only among the failures.
_VOLUME = ("job_type", "region", "project")

# The scan runs over at most this many begin-time bins (power-of-two milliseconds wide).
MAX_BINS = 2048
_KEYS = ("job_type", "group", "error_code", "template", "region", "project")
_EMPTY = ""
_NO_FIRST, _NO_LAST = np.iinfo(np.int64).max, np.iinfo(np.int64).min
_TIME = "datetime64[us, UTC]"
_Z95 = 1.959963984540054


# --- counting -------------------------------------------------------------------------------


def _width(low_ms: int, high_ms: int, width: int = 1) -> int:
    """The narrowest power-of-two width (ms), from `width` up, giving at most MAX_BINS bins."""
    while high_ms // width - low_ms // width + 1 > MAX_BINS:
        width *= 2
    return width


def _count_chunk(part: pd.DataFrame) -> pd.DataFrame:
    """One partition's ended jobs counted per (begin-time bin, job type, reason, ...)."""
    status = part["status"]
    failed = status.eq(JobStatus.FAIL).fillna(False).to_numpy(dtype=bool)
    began = part["begin_time"].notna().to_numpy()
    ended = failed | status.eq(JobStatus.SUCCESS).fillna(False).to_numpy(dtype=bool)
    # Jobs still going on (INIT, RUNNING, PENDING_PAYMENT...): counted per bin only, so that
    # `findings` can leave out the latest jobs while too many of them have not ended yet.
    running = status.notna().to_numpy() & ~ended & began
    ended &= began
    if not ended.any():
        return _empty_counts()
    ms = _epoch_ms(part["begin_time"][ended])
    running_ms = _epoch_ms(part["begin_time"][running])
    both = np.concatenate([ms, running_ms])
    width = _width(int(both.min()), int(both.max()))
    fails = failures._failures(part[ended & failed])
    # One integer key per row, mixed-radix over the codes of each key (a reason's code and
    # template follow from its group, so they are not keys): one factorize, no multi-key sort.
    bins = ms // width
    key = bins - bins.min()
    uniques: dict[str, np.ndarray] = {}
    codes: dict[str, np.ndarray] = {}
    for name in ("job_type", "group", *_OPTIONAL):
        if name == "group":
            # The failures come in the order of the rows: they are the ended rows that failed.
            group_codes, found = pd.factorize(fails["group"])
            codes[name] = np.zeros(len(ms), dtype=np.int64)
            codes[name][failed[ended]] = group_codes + 1
            uniques[name] = np.append(np.array([_EMPTY], dtype=object), np.asarray(found))
        elif name in part:
            codes[name], uniques[name] = _codes(part[name][ended])
        else:
            codes[name], uniques[name] = np.zeros(len(ms), np.int64), np.array([_EMPTY], object)
        key = key * len(uniques[name]) + codes[name]
    row, combos = pd.factorize(key, sort=False)
    # Each combination's keys read back off its number, last key first.
    out = pd.DataFrame(index=np.arange(len(combos)))
    rest = np.asarray(combos, dtype=np.int64)
    for name in reversed(("job_type", "group", *_OPTIONAL)):
        rest, code = np.divmod(rest, len(uniques[name]))
        out[name] = uniques[name][code]
    out.insert(0, "bin", rest + bins.min())
    _, first_failure = np.unique(codes["group"][failed[ended]], return_index=True)
    labels = fails.iloc[first_failure].set_index("group")
    for name in ("error_code", "template"):
        out[name] = labels[name].reindex(out["group"]).to_numpy(dtype=object)
    out["ended"] = np.bincount(row, minlength=len(combos))
    out["fail"] = np.bincount(row, weights=failed[ended], minlength=len(combos)).astype(np.int64)
    # The first and last begin time of each bin (what the times of a change are read from).
    offset = bins - bins.min()
    first = np.full(int(offset.max()) + 1, _NO_FIRST)
    last = np.full(int(offset.max()) + 1, _NO_LAST)
    np.minimum.at(first, offset, ms)
    np.maximum.at(last, offset, ms)
    out["first"] = first[out["bin"].to_numpy() - bins.min()]
    out["last"] = last[out["bin"].to_numpy() - bins.min()]
    out["running"] = 0
    out["width"] = width
    for name in ("error_code", "template"):
        out[name] = out[name].where(out[name].notna(), _EMPTY)
    if len(running_ms):
        # One row per bin of running jobs: no keys, no ended jobs, times that min/max ignore.
        running_bins, counts = np.unique(running_ms // width, return_counts=True)
        extra = pd.DataFrame({"bin": running_bins, "running": counts})
        extra = extra.assign(ended=0, fail=0, first=_NO_FIRST, last=_NO_LAST, width=width)
        out = pd.concat([out, extra.assign(**dict.fromkeys(_KEYS, _EMPTY))], ignore_index=True)
    return _typed_counts(out)


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and the text each stands for; missing is `""` (categories used as they are)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.int64)
        text = np.asarray(values.cat.categories.astype("str"), dtype=object)
    else:
        codes, found = pd.factorize(values.astype("str"))
        text = np.asarray(found, dtype=object)
    # Missing (-1) becomes the last code, standing for "".
    return np.where(codes < 0, len(text), codes), np.append(text, _EMPTY)


def _epoch_ms(times: pd.Series) -> np.ndarray:
    """UTC times as whole milliseconds since the epoch (floored)."""
    naive = pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None)
    return np.asarray(naive.to_numpy().astype("datetime64[ms]").astype(np.int64))


def _combine_counts(parts: pd.DataFrame) -> pd.DataFrame:
    """Counts of several partitions as one: bins widened to the widest, then summed."""
    if not len(parts):
        return _empty_counts()
    width = int(parts["width"].max())
    bins = parts["bin"].to_numpy() // (width // parts["width"].to_numpy())
    width = _width(int(bins.min()) * width, int(bins.max()) * width, width)
    parts = parts.assign(
        bin=(parts["bin"].to_numpy() * parts["width"].to_numpy()) // width, width=width
    )
    grouped = parts.groupby(["bin", *_KEYS], sort=False).agg(
        ended=("ended", "sum"),
        fail=("fail", "sum"),
        running=("running", "sum"),
        first=("first", "min"),
        last=("last", "max"),
        width=("width", "max"),
    )
    return _typed_counts(grouped.reset_index())


def _typed_counts(counts: pd.DataFrame) -> pd.DataFrame:
    out = counts.loc[:, ["bin", *_KEYS, "ended", "fail", "running", "first", "last", "width"]]
    ints = {c: "int64" for c in ("bin", "ended", "fail", "running", "first", "last", "width")}
    return out.astype({**ints, **{k: object for k in _KEYS}})


def _empty_counts() -> pd.DataFrame:
    columns = ["bin", *_KEYS, "ended", "fail", "running", "first", "last", "width"]
    return _typed_counts(pd.DataFrame({c: [] for c in columns}))


def binned_counts(frame: Any) -> pd.DataFrame:
    """The ended jobs counted per begin-time bin and job type, reason, error code, region, project.

    One row per combination present: `bin` (begin time in ms // `width`), the keys (`""` for
    none: a SUCCESS row has no reason), `ended` and `fail` counts, and the `first` and `last`
    begin time in the bin (ms since the epoch). A Dask frame is counted per partition and the
    counts combined, then computed once; the result equals the pandas frame's.
    """
    require(frame, ("status", "begin_time", "job_type"), "findings")
    wanted = [
        c
        for c in (
            *("job_id", "job_type", "status", "begin_time", "end_time"),
            *("error_code", "fail_reason", "entity_error", "entity_error_code", *_OPTIONAL),
        )
        if c in frame.columns
    ]
    parts = frame[wanted]  # only what is counted is read (or copied)
    if is_dask(frame):
        files = embedded_files(frame)
        if files is not None:
            from jobtools.analysis import _duckdb

            counted = _duckdb.binned_counts(files, [c for c in _OPTIONAL if c in frame.columns])
            if counted is not None:
                return counted
        combined = parts.reduction(
            _count_chunk,
            aggregate=_combine_counts,
            combine=_combine_counts,
            meta=_empty_counts(),
        )
        counts: pd.DataFrame = combined.compute()
        return _combine_counts(counts)  # also the pandas path's last step, for equal answers
    return _combine_counts(_count_chunk(parts))


# --- the scan -------------------------------------------------------------------------------


class _Scan:
    """Binary segmentation of per-bin (ended, failed) counts by the binomial likelihood ratio."""

    def __init__(
        self, n: np.ndarray, f: np.ndarray, *, min_jobs: int, permutations: int, seed: int
    ):
        self.n, self.f = n.astype(np.int64), f.astype(np.int64)
        self.min_jobs, self.permutations = min_jobs, permutations
        self.rng = np.random.default_rng(seed)
        self.tested: dict[tuple[int, int], tuple[int, float, float] | None] = {}
        total = int(self.n.sum())
        # x log x for every count 0..total: the likelihoods become lookups.
        x = np.arange(total + 1, dtype=np.float64)
        self.xlogx = np.zeros(total + 1)
        self.xlogx[1:] = x[1:] * np.log(x[1:])

    def ratios(self, n: np.ndarray, f: np.ndarray) -> np.ndarray:
        """2 log LR of a split after each bin but the last (rows of `f` are replicates).

        -inf where a side has fewer than `min_jobs` jobs.
        """
        t = self.xlogx
        cn, cf = np.cumsum(n)[:-1], np.cumsum(f, axis=-1)[..., :-1]
        big_n, big_f = int(n.sum()), f.sum(axis=-1, keepdims=True)
        rn, rf = big_n - cn, big_f - cf
        whole = t[big_f] + t[big_n - big_f] - t[big_n]
        ll = t[cf] + t[cn - cf] - t[cn] + t[rf] + t[rn - rf] - t[rn]
        out = 2.0 * (ll - whole)
        ok = (cn >= self.min_jobs) & (rn >= self.min_jobs)
        return np.where(ok, np.maximum(out, 0.0), -np.inf)

    def best(self, lo: int, hi: int) -> tuple[int, float, float] | None:
        """The best split of bins [lo, hi) as (first bin after it, 2 log LR, p-value)."""
        if (lo, hi) not in self.tested:
            self.tested[lo, hi] = self._best(lo, hi)
        return self.tested[lo, hi]

    def _best(self, lo: int, hi: int) -> tuple[int, float, float] | None:
        n, f = self.n[lo:hi], self.f[lo:hi]
        if hi - lo < 2 or n.sum() < 2 * self.min_jobs:
            return None
        lr = self.ratios(n, f)
        k = int(np.argmax(lr))
        if not np.isfinite(lr[k]):
            return None
        return lo + k + 1, float(lr[k]), self.p_value(n, f, float(lr[k]))

    def p_value(self, n: np.ndarray, f: np.ndarray, observed: float) -> float:
        """P(max 2 log LR >= observed) under no change: permutations, Gumbel tail."""
        total = int(f.sum())
        if total == 0 or total == int(n.sum()):
            return 1.0
        maxima = []
        for size in _blocks(self.permutations, max(1, 4_000_000 // len(n))):
            draws = self.rng.multivariate_hypergeometric(n, total, size=size, method="marginals")
            maxima.append(self.ratios(n, draws).max(axis=1))
        null = np.concatenate(maxima)
        return _gumbel_tail(null, observed)

    def interval(self, lo: int, k: int, hi: int) -> tuple[int, int]:
        """A 99 % bootstrap interval of the split, as (first bin, last bin) it may fall after."""
        n, f = self.n[lo:hi], self.f[lo:hi]
        split = k - lo
        before = f[:split].sum() / n[:split].sum()
        after = f[split:].sum() / n[split:].sum()
        rates = np.where(np.arange(len(n)) < split, before, after)
        found = []
        for size in _blocks(self.permutations, max(1, 4_000_000 // len(n))):
            draws = self.rng.binomial(n, rates, size=(size, len(n)))
            found.append(np.argmax(self.ratios(n, draws), axis=1) + 1)
        splits = np.concatenate(found)
        # In jobs, not bins (bins hold different numbers of jobs): the error of the estimate.
        jobs = np.concatenate([[0], np.cumsum(n)])
        errors = jobs[splits] - jobs[split]
        low_err, high_err = np.quantile(errors, [0.005, 0.995])
        low = int(np.searchsorted(jobs, jobs[split] - high_err, side="right")) - 1
        high = int(np.searchsorted(jobs, jobs[split] - low_err, side="left"))
        return lo + max(low, 1), lo + min(max(high, 1), len(n) - 1)


def _blocks(total: int, size: int) -> list[int]:
    return [min(size, total - start) for start in range(0, total, size)]


def _gumbel_tail(null: np.ndarray, observed: float) -> float:
    """P(X >= observed) for a Gumbel law fitted to `null` by its moments."""
    scale = float(np.std(null)) * math.sqrt(6) / math.pi
    if not scale > 0:
        return float(np.mean(null >= observed))
    loc = float(np.mean(null)) - 0.5772156649 * scale
    return float(-np.expm1(-np.exp(-(observed - loc) / scale)))


def _segment(
    scan: _Scan, *, alpha: float, min_delta: float, max_changes: int
) -> list[tuple[int, float]]:
    """Binary segmentation, then each split placed again between its neighbours."""
    bins = len(scan.n)
    splits: dict[int, float] = {}
    todo = [(0, bins)]
    while todo and len(splits) < max_changes:
        lo, hi = todo.pop(0)
        best = scan.best(lo, hi)
        if best is None:
            continue
        k, _, p = best
        if p < alpha and _delta(scan, lo, k, hi) >= min_delta:
            splits[k] = p
            todo += [(lo, k), (k, hi)]
    # Refine: each split within the stretch of its neighbours, until nothing moves or drops.
    for _ in range(5):
        order = sorted(splits)
        moved: dict[int, float] = {}
        for i in range(len(order)):
            lo = order[i - 1] if i else 0
            hi = order[i + 1] if i + 1 < len(order) else bins
            best = scan.best(lo, hi)
            if best is None:
                continue
            k2, _, p = best
            if p < alpha and _delta(scan, lo, k2, hi) >= min_delta:
                moved[k2] = min(p, moved.get(k2, 1.0))
        if sorted(moved) == order:
            return sorted(moved.items())
        splits = moved
    return sorted(splits.items())


def _delta(scan: _Scan, lo: int, k: int, hi: int) -> float:
    before = scan.f[lo:k].sum() / scan.n[lo:k].sum()
    after = scan.f[k:hi].sum() / scan.n[k:hi].sum()
    return float(abs(after - before))


# --- the result ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Findings:
    """What changed in the failure rate of a job frame, since when, and what drove it.

    Made by `findings(frame)`; see that function and the module docstring for the method.
    """

    changes: pd.DataFrame
    drivers: pd.DataFrame
    method: dict[str, Any]
    tz: tzinfo
    overall: dict[str, Any]
    series: pd.DataFrame = field(repr=False)
    reasons: pd.DataFrame = field(repr=False)
    counts: pd.DataFrame = field(repr=False)

    def reason_by_type(self, change: int, group: str) -> pd.DataFrame:
        """After `change`: per job type, the jobs that ended and the failures of `group`."""
        after = self.counts[self.counts["segment"].eq(change + 1).to_numpy()]
        ended = after.groupby("job_type", sort=False)["ended"].sum()
        mine = after[after["group"].eq(group).to_numpy()]
        fail = mine.groupby("job_type", sort=False)["fail"].sum()
        return pd.DataFrame({"ended": ended, "fail": fail.reindex(ended.index).fillna(0)})

    def text(self, lang: str = "en") -> str:
        """The findings as plain sentences, in English (`"en"`) or Simplified Chinese (`"zh"`)."""
        from jobtools.analysis import _findings_text

        return _findings_text.text(self, lang)

    def headline(self, lang: str = "en") -> str:
        """The findings in one line (for the live monitor and the terminal)."""
        from jobtools.analysis import _findings_text

        return _findings_text.headline(self, lang)

    def to_markdown(self, lang: str = "en") -> str:
        """The sentences, then the changes and the drivers as Markdown tables."""
        from jobtools.analysis import _findings_text

        return _findings_text.markdown(self, lang)

    def plot(self, ax: Axes | None = None) -> Axes:
        """The failure rate over begin time, each change marked and its interval shaded."""
        from jobtools.views._findings_plot import plot_findings

        return plot_findings(self, ax=ax)

    def _repr_html_(self) -> str:
        from jobtools.analysis import _findings_text

        return _findings_text.html_view(self, _picture(self))

    def __repr__(self) -> str:
        return f"Findings({self.headline()!r})"


def _picture(found: Findings) -> str | None:
    """The plot as an inline PNG (data URI), or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency of the plots
        return None
    fig, ax = plt.subplots(figsize=(9, 3.6), layout="constrained")
    try:
        found.plot(ax=ax)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --- findings() -----------------------------------------------------------------------------


def findings(
    frame: Any,
    *,
    tz: str | tzinfo | None = None,
    alpha: float = 0.01,
    min_jobs: int = 30,
    min_delta: float = 0.01,
    max_changes: int = 8,
    permutations: int = 199,
    seed: int = 0,
) -> Findings:
    """Did the failure rate of `frame`'s jobs change, since when, and what drove it.

    Args:
        frame: a job frame, pandas or Dask (`read_jobs_dask`): counted into begin-time bins
            per partition and computed once.
        tz: the zone the sentences and the picture speak in (default UTC); the times in
            `.changes` are UTC.
        alpha: the p-value under which a change is reported. A frame with no change reports
            one with about this probability.
        min_jobs: the fewest ended jobs on either side of a change.
        min_delta: the smallest difference of the failure rates (0 to 1) worth reporting.
        max_changes: at most this many changes.
        permutations: the simulations behind each p-value and interval.
        seed: for those simulations: the same frame gives the same findings.

    Returns:
        a `Findings`; `.changes` (`CHANGE_COLUMNS`), `.drivers` (`DRIVER_COLUMNS`).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if min_jobs < 1 or permutations < 19:
        raise ValueError("findings needs min_jobs >= 1 and permutations >= 19")
    zone = to_zone(tz)
    counts = binned_counts(frame)
    width = int(counts["width"].max()) if len(counts) else 1
    dimensions = [d for d in DRIVER_DIMENSIONS if d not in _OPTIONAL or d in frame.columns]
    every_bin = _series(counts)
    cut = _unfinished_tail(every_bin)
    tail = every_bin.iloc[cut:]
    series = every_bin.iloc[:cut]
    series = series[series["ended"].to_numpy() > 0].reset_index(drop=True)
    last_bin = int(every_bin["bin"].iloc[cut]) if cut < len(every_bin) else None
    judged = counts["ended"].to_numpy() > 0
    if last_bin is not None:
        judged &= counts["bin"].to_numpy() < last_bin
    counts = counts[judged].reset_index(drop=True)
    n, f = series["ended"].to_numpy(), series["fail"].to_numpy()
    splits: list[tuple[int, float]] = []
    scan = None
    if len(series) >= 2:
        scan = _Scan(n, f, min_jobs=min_jobs, permutations=permutations, seed=seed)
        splits = _segment(scan, alpha=alpha, min_delta=min_delta, max_changes=max_changes)
    intervals = []
    bounds = [0, *(k for k, _ in splits), len(series)]
    for i, (k, _) in enumerate(splits):
        assert scan is not None
        intervals.append(scan.interval(bounds[i], k, bounds[i + 2]))
    changes = _changes(series, splits, intervals)
    position = np.searchsorted(series["bin"].to_numpy(), counts["bin"].to_numpy())
    counts = counts.assign(segment=np.searchsorted(bounds[1:-1], position, side="right"))
    # "New" is judged before the earliest moment the change may have begun (its interval's
    # start), so that a slightly late estimate does not call a new reason "grown".
    drivers = _drivers(counts, changes, dimensions, [low for low, _ in intervals], position)
    total_n, total_f = int(n.sum()), int(f.sum())
    method = {
        "name": "binary segmentation of the failure rate over begin time (binomial likelihood)",
        "clock": "begin_time",
        "test": "max likelihood ratio over all splits, null by permutation, Gumbel tail",
        "interval": "parametric bootstrap, 99 %",
        "alpha": alpha,
        "min_jobs": min_jobs,
        "min_delta": min_delta,
        "max_changes": max_changes,
        "permutations": permutations,
        "seed": seed,
        "bin_ms": width,
    }
    overall = {
        "jobs": total_n,
        "failed": total_f,
        "rate": total_f / total_n if total_n else float("nan"),
        "interval": _wilson(total_f, total_n),
        "start": _ms_time(int(series["first"].min())) if len(series) else pd.NaT,
        "end": _ms_time(int(series["last"].max())) if len(series) else pd.NaT,
        # The latest jobs, left out while too many of them have not ended (see below).
        "unjudged_from": pd.NaT if last_bin is None else _ms_time(last_bin * width),
        "unjudged_to": pd.NaT if not len(tail) else _ms_time((int(tail["bin"].max()) + 1) * width),
        "unjudged_running": int(tail["running"].sum()),
        "unjudged_ended": int(tail["ended"].sum()),
    }
    reasons = (
        counts[counts["group"] != _EMPTY]
        .groupby("group", sort=False)[["error_code", "template"]]
        .first()
    )
    return Findings(
        changes=changes,
        drivers=drivers,
        method=method,
        tz=zone,
        overall=overall,
        series=series,
        reasons=reasons,
        counts=counts,
    )


def _series(counts: pd.DataFrame) -> pd.DataFrame:
    """Per begin-time bin: ended, failed and running jobs, first and last begin (ms), in order."""
    grouped = counts.groupby("bin", sort=True).agg(
        ended=("ended", "sum"),
        fail=("fail", "sum"),
        running=("running", "sum"),
        first=("first", "min"),
        last=("last", "max"),
    )
    return grouped.reset_index()


def _unfinished_tail(series: pd.DataFrame, share: float = 0.1, chunk: int = 20) -> int:
    """The first bin of the latest stretch in which many jobs are still running.

    The latest jobs that have ended are the quick ones, and failures are often quick: their
    failure rate runs high until the others end, a rise that is not there. Walking back from
    the latest jobs, `chunk` jobs at a time, while more than `share` of them (and over twice
    the share of the whole frame: jobs stuck everywhere are no tail) have not ended, marks
    the stretch left out. `len(series)` when there is none.
    """
    running, ended = series["running"].to_numpy(), series["ended"].to_numpy()
    total = int(running.sum() + ended.sum())
    if not running.any() or not total:
        return len(series)
    threshold = max(share, 2 * running.sum() / total)
    i, start = len(series) - 1, len(series)
    while i >= 0:
        late = jobs = 0
        while i >= 0 and jobs < chunk:
            late, jobs, i = late + running[i], jobs + running[i] + ended[i], i - 1
        if late <= threshold * jobs:
            break
        start = i + 1
    return start


def _ms_time(ms: int | np.ndarray | Sequence[int]) -> Any:
    values = pd.to_datetime(np.asarray(ms, dtype=np.int64), unit="ms", utc=True)
    return values.as_unit("us") if isinstance(values, pd.DatetimeIndex) else values


def _wilson(failed: int, jobs: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (95 %): good for small counts and near 0."""
    if not jobs:
        return (float("nan"), float("nan"))
    p = failed / jobs
    centre = (p + z * z / (2 * jobs)) / (1 + z * z / jobs)
    half = z * math.sqrt(p * (1 - p) / jobs + z * z / (4 * jobs * jobs)) / (1 + z * z / jobs)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _changes(
    series: pd.DataFrame, splits: list[tuple[int, float]], intervals: list[tuple[int, int]]
) -> pd.DataFrame:
    n, f = series["ended"].to_numpy(), series["fail"].to_numpy()
    first, last = series["first"].to_numpy(), series["last"].to_numpy()
    bounds = [0, *(k for k, _ in splits), len(series)]
    rows = []
    for i, (k, p) in enumerate(splits):
        lo, hi = bounds[i], bounds[i + 2]
        nb, fb = int(n[lo:k].sum()), int(f[lo:k].sum())
        na, fa = int(n[k:hi].sum()), int(f[k:hi].sum())
        low, high = intervals[i]
        rows.append(
            {
                "at": first[k],
                # The interval runs from the last job before its earliest split to the first
                # job after its latest, so that it holds the moment between the two.
                "at_low": last[low - 1],
                "at_high": first[high],
                "rate_before": fb / nb,
                "rate_after": fa / na,
                "jobs_before": nb,
                "jobs_after": na,
                "failed_before": fb,
                "failed_after": fa,
                "excess": fa - na * fb / nb,
                "p_value": p,
            }
        )
    out = pd.DataFrame(rows, columns=[c for c in CHANGE_COLUMNS if c != "ended_at"])
    for column in ("at", "at_low", "at_high"):
        out[column] = _ms_time(out[column].to_numpy(dtype=np.int64))
    # A change ended when the next one goes the other way (a rise, then the recovery).
    up = (out["rate_after"] > out["rate_before"]).to_numpy()
    reverses = np.append(up[1:] != up[:-1], False) if len(out) else np.array([], dtype=bool)
    out["ended_at"] = out["at"].shift(-1).where(reverses)
    return out.astype(
        {
            "at": _TIME,
            "at_low": _TIME,
            "at_high": _TIME,
            "ended_at": _TIME,
            **{c: "float64" for c in ("rate_before", "rate_after", "excess", "p_value")},
            **{c: "int64" for c in ("jobs_before", "jobs_after", "failed_before", "failed_after")},
        }
    )


def _drivers(
    counts: pd.DataFrame,
    changes: pd.DataFrame,
    dimensions: list[str],
    starts: list[int],
    position: np.ndarray,
) -> pd.DataFrame:
    """Per change and dimension: each value's failures after against what before predicts."""
    frames = []
    for i, change in enumerate(changes.to_dict("records")):
        before = counts[counts["segment"].eq(i).to_numpy()]
        after = counts[counts["segment"].eq(i + 1).to_numpy()]
        history = counts[position < starts[i]]
        total = float(change["excess"])
        for dim in dimensions:
            key = "group" if dim == "reason" else dim
            part = _driver_rows(dim, key, before, after, history, change)
            part.insert(0, "change", i)
            part["share"] = part["excess"] / total if total else np.nan
            frames.append(part)
    if not frames:
        return _typed_drivers(pd.DataFrame({c: [] for c in DRIVER_COLUMNS}))
    out = pd.concat(frames, ignore_index=True)
    # What drives the change first: the largest share, reasons before the other dimensions.
    rank = {d: r for r, d in enumerate(DRIVER_DIMENSIONS)}
    out["_rank"] = out["dimension"].map(rank)
    out = out[out["value"] != _EMPTY]
    out = out[(out["share"].abs() >= 0.05) | out["new"]]
    out = out.sort_values(["change", "share", "_rank"], ascending=[True, False, True])
    return _typed_drivers(out.drop(columns="_rank").reset_index(drop=True))


def _driver_rows(
    dim: str,
    key: str,
    before: pd.DataFrame,
    after: pd.DataFrame,
    history: pd.DataFrame,
    change: Any,
) -> pd.DataFrame:
    sums = {}
    for side, part in (("before", before), ("after", after)):
        grouped = part.groupby(key, sort=False)[["ended", "fail"]].sum()
        sums[f"jobs_{side}"], sums[f"failed_{side}"] = grouped["ended"], grouped["fail"]
    table = pd.DataFrame(sums).fillna(0).astype("int64")
    if dim in _VOLUME:
        # A job type's failures after against its own rate before (the overall rate for a
        # type too small before to have one of its own).
        own = table["failed_before"] / table["jobs_before"].where(table["jobs_before"] >= 10)
        expected = table["jobs_after"] * own.fillna(change["rate_before"])
        seen = history.groupby(key, sort=False)["ended"].sum()
    else:
        # A reason's failures per ended job, after against before: jobs are all the jobs.
        table = table[table.index != _EMPTY]
        table["jobs_before"], table["jobs_after"] = change["jobs_before"], change["jobs_after"]
        expected = change["jobs_after"] * table["failed_before"] / change["jobs_before"]
        seen = history.groupby(key, sort=False)["fail"].sum()
    table["excess"] = table["failed_after"] - expected
    table["new"] = seen.reindex(table.index).fillna(0).to_numpy() == 0
    table = table.rename_axis("value").reset_index()
    table.insert(0, "dimension", dim)
    if dim == "reason":
        labels = after.groupby("group", sort=False)[["error_code", "template"]].first()
        labels = pd.concat(
            [labels, before.groupby("group", sort=False)[["error_code", "template"]].first()]
        )
        labels = labels[~labels.index.duplicated()]
        found = labels.reindex(table["value"])
        table["label"] = (found["error_code"] + " '" + found["template"] + "'").to_numpy()
    else:
        table["label"] = table["value"]
    return table


def _typed_drivers(drivers: pd.DataFrame) -> pd.DataFrame:
    out = drivers.loc[:, list(DRIVER_COLUMNS)]
    return out.astype(
        {
            "change": "int64",
            "dimension": "str",
            "value": "str",
            "label": "str",
            "excess": "float64",
            "share": "float64",
            "new": "bool",
            **{c: "int64" for c in ("failed_before", "failed_after", "jobs_before", "jobs_after")},
        }
    )
