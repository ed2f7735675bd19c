"""Why jobs fail: FAIL jobs grouped by error code and a template of their message.

A `fail_reason` embeds what changes from job to job: ids, numbers, sizes, paths, bucket,
object and image names, addresses, quoted names. `message_templates` masks those with
placeholders (`<id>`, `<n>`, `<size>`, `<path>`, `<url>`, `<ip>`, `"<str>"`, and `<name>` for
image, bucket, file and other names), so messages that differ only in them share one
template, in English or Chinese.

Every mask is a regex that RE2 accepts (no look-arounds, no back-references, no `\\d \\w \\s
\\b`), so `Series.str.replace` runs it inside pyarrow over the whole column at once instead of
falling back to Python's `re` string by string; and it runs once per distinct message.

Each group has a short stable key (`group`), the same for the same error code and template in
any frame, so `failure_rows(frame, key)` leads back to the jobs and `compare_failures` can
line two frames up.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from math import exp, lgamma
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobtools.analysis._engines import embedded_files, is_dask
from jobtools.schema import JobStatus, require
from jobtools.times import to_utc

__all__ = [
    "COMPARE_COLUMNS",
    "FAILURE_GROUP_COLUMNS",
    "TRENDS",
    "compare_failures",
    "failure_groups",
    "failure_keys",
    "failure_rows",
    "message_templates",
]

FAILURE_GROUP_COLUMNS: tuple[str, ...] = (
    "group",
    "error_code",
    "template",
    "count",
    "share",
    "first_begun",
    "last_begun",
    "first_ended",
    "last_ended",
    "job_types",
    "example_job_ids",
)
COMPARE_COLUMNS: tuple[str, ...] = (
    "group",
    "error_code",
    "template",
    "trend",
    "count_before",
    "count_after",
    "rate_before",
    "rate_after",
    "rate_ratio",
    "p_value",
    "p_adjusted",
)
# The order `compare_failures` sorts by: what needs attention first.
TRENDS: tuple[str, ...] = ("new", "growing", "shrinking", "gone", "steady")

NO_MESSAGE = "(no message)"
_TIME_DTYPE = "datetime64[us, UTC]"

# Error codes quoted in a message (IMG.0023, APIGW.0308, Ecs.0005) stay as they are: the masks
# that follow start no match right after this mark (RE2 has no look-behind for "not after IMG.").
# `IMG.0023` becomes `<mark>IMG.<mark>0023<mark>` and the marks are removed at the end.
_MARK = "\x1f"
# The characters of an ASCII name; "-" last so that appending to a class keeps it literal.
_WORD = "A-Za-z0-9_.-"
# The rest of a name, not ending in a dot: "web-01." at the end of a sentence is "web-01".
_TAIL = r"(?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?"

# Disk image formats IMS knows and common file suffixes; longest first, as alternation is ordered.
_FORMATS = (
    "qcow2|qcow|vhdx|vhd|vmdk|zvhd2|zvhd|raw|qed|vdi|iso9660|iso|img|ova|ovf"
    "|tar|tgz|gz|zip|bz2|xz|json|xml|txt|log"
)

# (pattern, replacement), applied in this order: the specific shapes before the general ones.
# First quoted text and URLs, which only messages with a quote or "://" or ".obs." can hold
# (`_QUOTED_OR_URL`): on many distinct messages, these masks run only on those.
_QUOTES_URLS: tuple[tuple[str, str], ...] = (
    # Quoted text is a name or a value the service echoes back.
    (r'"[^"\n]*"', '"<str>"'),
    (r"(^|[^A-Za-z])'[^'\n]*'", r"\1'<str>'"),  # not the apostrophe in "can't"
    (r"“[^”\n]*”", "“<str>”"),
    (r"‘[^’\n]*’", "‘<str>’"),
    (r"「[^」\n]*」", "「<str>」"),
    (r"『[^』\n]*』", "『<str>』"),
    # URLs, obs://bucket/object included, and OBS virtual-host addresses.
    (r"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9._~:/?#@!$&*+=%-]+", "<url>"),
    (r"[A-Za-z0-9][A-Za-z0-9.-]*\.obs\.[A-Za-z0-9.-]+(?:/[A-Za-z0-9._~/%+-]*)?", "<url>"),
)
_QUOTED_OR_URL = r"[\"'“‘「『]|://|\.obs\."
_VALUES: tuple[tuple[str, str], ...] = (
    (
        r"(^|[^A-Za-z0-9_.-])([A-Z][A-Za-z]{1,9})\.([0-9]{4})",
        "\\1" + _MARK + "\\2." + _MARK + "\\3" + _MARK,
    ),
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<id>"),
    (
        r"(^|[^A-Za-z0-9_." + _MARK + r"])[0-9a-fA-F]{16,}",
        r"\1<id>",
    ),  # not the digits of 3.9999999999999996
    (r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?::[0-9]{1,5})?", "<ip>"),
    (r"[A-Za-z]:\\[^ \t\r\n\"',;]+", "<path>"),
    (r"(^|[^A-Za-z0-9_.<>/-])(?:/[A-Za-z0-9._~%+@-]+)+/?", r"\1<path>"),
    # File and object names (disk.vhd, centos7-00042.raw.gz) and bare image formats: values.
    (r"[A-Za-z0-9_~+-][A-Za-z0-9_.~+-]*\.(?i:" + _FORMATS + r")([^A-Za-z0-9]|$)", r"<name>\1"),
    (r"(^|[^A-Za-z0-9_." + _MARK + r"-])(?i:" + _FORMATS + r")([^A-Za-z0-9_]|$)", r"\1<name>\2"),
    (
        r"(^|[^A-Za-z0-9_." + _MARK + r"])[0-9]+(?:\.[0-9]+)? ?"
        r"(?:[KMGTPE]i?B|[kmgtp]i?b|[KMGTPE]|[Bb]ytes?|B|字节)([^A-Za-z]|$)",
        r"\1<size>\2",
    ),
    # A name after the word for what it names, when it has a separator in it: bucket my-bucket.
    (
        r"((?i:image|bucket|object|file|server|instance|volume|snapshot|backup|named|name)"
        r"[ ]*[:=]?[ ]*"
        r"|(?:镜像|桶|对象|文件|服务器|云服务器|云硬盘|快照|备份|名称)[ ]*[:：=为是]?[ ]*)"
        r"[A-Za-z0-9_]+[_.-]" + _TAIL,
        r"\1<name>",
    ),
    # Any other ASCII word with a digit in it is an id or a name: web-01, ecs01, e9e91bff.
    (
        r"(^|[^" + _MARK + _WORD + r"])(?:[A-Za-z_][" + _WORD + r"]*[0-9]|[0-9]+[A-Za-z_])" + _TAIL,
        r"\1<name>",
    ),
    # Numbers, also those glued to Chinese text (镜像3个), which has no word boundary.
    (r"(^|[^A-Za-z0-9_" + _MARK + r"])[0-9]+(?:[.,][0-9]+)*", r"\1<n>"),
    (_MARK, ""),
)
_MASKS = _QUOTES_URLS + _VALUES
# A list of masked values is one value: "<id>, <id>, <id>" -> "<id>".
_LISTS: tuple[tuple[str, str], ...] = tuple(
    (f"{p}(?:(?:[ ]*[,;、，][ ]*|[ ]+){p})+", p)
    for p in ("<id>", "<n>", "<name>", "<size>", "<ip>", "<path>", "<url>")
)
_SPACES: tuple[tuple[str, str], ...] = ((r"[ \t\r\n]+", " "),)


# Below this many distinct texts every mask runs on all of them, without a search first.
_SEARCH_FROM = 2_000
# Distinct messages are masked on up to this many threads, each given at least _PER_THREAD.
_THREADS = min(4, os.cpu_count() or 1)
_PER_THREAD = 50_000


def message_templates(messages: Iterable[object]) -> pd.Series:
    """Mask the parts of each message that vary from job to job; missing stays missing.

    Vectorised, and each distinct message is masked once.

    >>> message_templates(["disk 40GB too small for web-01", "镜像ecs-01失败，重试3次"]).tolist()
    ['disk <size> too small for <name>', '镜像<name>失败，重试<n>次']
    """
    series = messages if isinstance(messages, pd.Series) else pd.Series(list(messages))
    codes, templates = template_codes(series)
    table = np.append(templates.to_numpy(zero_copy_only=False), np.nan)
    return pd.Series(table[codes], index=series.index, dtype="str", name=series.name)


def template_codes(messages: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Each message's template as `(codes, templates)`: `templates[codes[i]]`, -1 if missing.

    Each distinct message is masked once, and the texts are made distinct again after every
    mask: once the ids and numbers are masked, a million distinct messages are a few dozen
    texts, so the later masks cost next to nothing. Every mask runs in Arrow (RE2), which
    lets go of the GIL: many distinct messages are masked in slices on several threads.
    """
    if isinstance(messages.dtype, pd.CategoricalDtype):
        codes = messages.cat.codes.to_numpy().astype(np.int64)
        distinct = pa.array(messages.cat.categories.astype("str").array)
    else:
        values = pa.array(messages.astype("str").array)
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        encoded = pc.dictionary_encode(values)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        distinct = encoded.dictionary
    where, text = distinct_templates(distinct)
    # -1 (missing) stays -1.
    return np.where(codes < 0, -1, where[codes]), text


def distinct_templates(distinct: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """`template_codes` of distinct messages (none missing): `(where, templates)`."""
    text = distinct.cast(pa.large_string())
    threads = min(_THREADS, max(1, len(text) // _PER_THREAD))
    if threads == 1:
        where, text = _templates(text)
    else:
        bounds = np.linspace(0, len(text), threads + 1).astype(np.int64)
        slices = [text.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        with ThreadPoolExecutor(threads) as pool:
            done = list(pool.map(_templates, slices))
        offsets = np.cumsum([0, *(len(t) for _, t in done[:-1])])
        where = np.concatenate([w + o for (w, _), o in zip(done, offsets, strict=True)])
        where, text = _distinct(where, pa.concat_arrays([t for _, t in done]))
    return where, text


def _templates(text: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Distinct messages masked: `(where, templates)`, message i's template `where[i]`."""
    where = np.arange(len(text), dtype=np.int64)
    text = _masked(text, _QUOTED_OR_URL, _QUOTES_URLS)
    for pattern, replacement in _VALUES:
        masked = pc.replace_substring_regex(text, pattern=pattern, replacement=replacement)
        # Made distinct again when a mask changed some text (its length is a cheap sign).
        if _size(masked) != _size(text):
            where, masked = _distinct(where, masked)
        text = masked
    text = _replaced(_masked(text, "<", _LISTS), _SPACES)
    return _distinct(where, pc.utf8_trim_whitespace(text))


def _masked(text: pa.Array, needs: str, masks: tuple[tuple[str, str], ...]) -> pa.Array:
    """`text` through `masks`, only where it matches the regex `needs`, once it is long."""
    if len(text) < _SEARCH_FROM:
        return _replaced(text, masks)
    hit = pc.match_substring_regex(text, needs)
    if not (pc.sum(hit).as_py() or 0):
        return text
    return pc.replace_with_mask(text, hit, _replaced(text.filter(hit), masks))


def _replaced(text: pa.Array, masks: tuple[tuple[str, str], ...]) -> pa.Array:
    for pattern, replacement in masks:
        text = pc.replace_substring_regex(text, pattern=pattern, replacement=replacement)
    return text


def _size(text: pa.Array) -> int:
    return int(pc.sum(pc.binary_length(text)).as_py() or 0)


def _distinct(where: np.ndarray, text: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """`text` made distinct again, `where` following it."""
    encoded = pc.dictionary_encode(text)
    return encoded.indices.to_numpy()[where], encoded.dictionary


def _group_key(error_code: str, template: str) -> str:
    """A short key that is the same for the same code and template in any frame or session."""
    digest = hashlib.blake2b(f"{error_code}\x00{template}".encode(), digest_size=5)
    return "f" + digest.hexdigest()


def _failures(frame: pd.DataFrame) -> pd.DataFrame:
    """The FAIL rows with their code, template, key and the time they were seen.

    `gid` numbers the groups of this frame (0, 1, ...): the cheap thing to group by.
    """
    needed = ("job_id", "job_type", "status", "error_code", "fail_reason", "begin_time", "end_time")
    require(frame, needed, "failure analysis")
    fail = frame[frame["status"].eq(JobStatus.FAIL).fillna(False).astype(bool)]
    # The top-level fields are the documented ones; entities hold the same for some services.
    reason = fail["fail_reason"].astype("str")  # text, also from a categorical column
    message = reason.where(reason.str.strip() != "")
    message = message.fillna(fail["entity_error"]) if "entity_error" in fail else message
    code = fail["error_code"].astype("str")
    if "entity_error_code" in fail:
        code = code.fillna(fail["entity_error_code"].astype("str"))
    template_of, templates = template_codes(message)
    template_text = templates.to_numpy(zero_copy_only=False).astype(object)
    missing = np.flatnonzero(template_text == NO_MESSAGE)
    if not len(missing):
        template_text, missing = np.append(template_text, NO_MESSAGE), np.array([len(templates)])
    template_of = np.where(template_of < 0, missing[0], template_of)
    code_of, codes = pd.factorize(code)  # -1 for a missing code
    code_text = np.append(np.asarray(codes, dtype=object), np.nan)  # [-1]: missing
    # One number per (code, template) pair, by integers: no million joined strings. A missing
    # code makes a negative number, its template's own.
    pair_of = code_of.astype(np.int64) * len(template_text) + template_of
    gid, pairs = pd.factorize(pair_of)
    pair_code = code_text[pairs // len(template_text)]
    pair_template = template_text[pairs % len(template_text)]
    keys = np.array(
        [
            _group_key("" if pd.isna(c) else c, t)
            for c, t in zip(pair_code, pair_template, strict=True)
        ],
        dtype=object,
    )
    # A code twice (differently typed) would be two pairs with one key.
    gid, keys = _merged_keys(gid, keys)
    job_type = fail["job_type"]
    return pd.DataFrame(
        {
            # Categories, not a million strings: a key, code and template per group.
            "group": pd.Categorical.from_codes(gid, pd.Index(keys, dtype="str")),
            "gid": gid,
            "error_code": pd.Categorical.from_codes(code_of, pd.Index(codes, dtype="str")),
            "template": pd.Categorical.from_codes(
                template_of, pd.Index(template_text, dtype="str")
            ),
            # A job fails when it ends; begin_time stands in when end_time is missing.
            "seen": fail["end_time"].fillna(fail["begin_time"]),
            "begun": fail["begin_time"],
            "ended": fail["end_time"],
            "job_type": job_type
            if isinstance(job_type.dtype, pd.CategoricalDtype)
            else job_type.astype("str"),
            "job_id": fail["job_id"],
        },
        index=fail.index,
    )


def _merged_keys(gid: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group numbers that share a key made one."""
    key_of, distinct = pd.factorize(keys)
    if len(distinct) == len(keys):
        return gid, keys
    return key_of[gid], np.asarray(distinct, dtype=object)


def failure_keys(frame: pd.DataFrame) -> pd.Series:
    """The failure group key of every row (missing for rows that did not FAIL), on frame's index.

    `frame.assign(group=failure_keys(frame))` labels the jobs without changing `frame`.
    """
    keys = _failures(frame)["group"].astype("str")
    return keys.reindex(frame.index).rename("group")


def failure_rows(frame: pd.DataFrame, group: str | Iterable[str]) -> pd.DataFrame:
    """The rows of `frame` in one failure group (or several), as a new frame.

    Args:
        group: a key from the `group` column of `failure_groups`, or several keys.
    """
    wanted = [group] if isinstance(group, str) else list(group)
    keys = failure_keys(frame)
    return frame[keys.isin(wanted).to_numpy()].copy()


def _group_counts(fails: pd.DataFrame) -> pd.DataFrame:
    """Per failure group (of `_failures` rows): code, template, count, first and last times."""
    by_gid = fails.groupby("gid", sort=False)
    groups = by_gid.agg(
        group=("group", "first"),
        error_code=("error_code", "first"),
        template=("template", "first"),
        count=("job_id", "size"),
        first_begun=("begun", "min"),
        last_begun=("begun", "max"),
        first_ended=("ended", "min"),
        last_ended=("ended", "max"),
    )
    text = {"group": "str", "error_code": "str", "template": "str"}
    return groups.astype(text).set_index("group")


def _latest(fails: pd.DataFrame, examples: int) -> pd.DataFrame:
    """Per group, its latest `examples` rows (by `seen`, then `job_id`, both descending).

    Sorted by numbers first; only the rows that tie with a group's last example on `seen`
    are sorted by `job_id` too, so a million failures are not sorted by their text.
    """
    if not examples or fails.empty:
        return fails.iloc[:0]
    seen = pd.DatetimeIndex(fails["seen"]).asi8  # NaT: the smallest
    gid = fails["gid"].to_numpy()
    order = np.lexsort((~seen, gid))  # by group, latest first
    sorted_gid, sorted_seen = gid[order], seen[order]
    starts = np.flatnonzero(np.r_[True, sorted_gid[1:] != sorted_gid[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    # Each group's `examples`-th latest time (or its earliest, when it has fewer rows).
    last = np.minimum(starts + examples - 1, np.r_[starts[1:], len(order)] - 1)
    cutoff = np.repeat(sorted_seen[last], np.diff(np.r_[starts, len(order)]))
    candidates = fails.iloc[order[(rank < examples) | (sorted_seen == cutoff)]]
    latest = candidates.sort_values(
        ["gid", "seen", "job_id"], ascending=[True, False, False], na_position="last"
    )
    head: pd.DataFrame = latest.groupby("gid", sort=False).head(examples)
    return head


def failure_groups(frame: pd.DataFrame, *, examples: int = 3) -> pd.DataFrame:
    """FAIL jobs grouped by error code and message template, biggest group first.

    Returns a new frame with the columns `FAILURE_GROUP_COLUMNS`: `group` (a key for
    `failure_rows`), `error_code`, `template`, `count`, `share` (of all FAIL jobs, 0 to 1),
    `first_begun` and `last_begun` (the begin times of its first and last job, UTC),
    `first_ended` and `last_ended` (their end times), `job_types` (sorted, comma-separated)
    and `example_job_ids` (the latest `examples` jobs, comma-separated).

    Both clocks, named: a reason appears when its first job *began* (`first_begun`, the clock
    `jobs_between`, `compare_failures(at=)` and `findings` cut on, so splitting there labels the
    group "new"); its first failure was seen when that job ended (`first_ended`), often hours
    later for long jobs.

    A Dask frame gives the same result, templates made per partition (see `analysis._dask`).
    """
    if is_dask(frame):
        files = embedded_files(frame)
        if files is not None:
            from jobtools.analysis import _duckdb

            return _duckdb.failure_groups(files, examples)
        from jobtools.analysis import _dask

        return _dask.failure_groups(frame, examples=examples)
    fails = _failures(frame)
    if fails.empty:
        return _empty_groups()
    groups = _group_counts(fails)
    groups["share"] = groups["count"] / len(fails)
    job_types = (
        fails[["group", "job_type"]]
        .dropna()
        .drop_duplicates()
        .astype("str")
        .sort_values(["group", "job_type"])
        .groupby("group")["job_type"]
        .agg(", ".join)
    )
    latest = _latest(fails, examples)
    by_group = latest["group"].astype("str")
    example_ids = latest.groupby(by_group, sort=False)["job_id"].agg(", ".join)
    groups["job_types"] = job_types.reindex(groups.index).astype("str")
    groups["example_job_ids"] = example_ids.reindex(groups.index).astype("str")
    groups = groups.reset_index()
    groups = groups.sort_values(
        ["count", "error_code", "template"], ascending=[False, True, True], na_position="last"
    )
    return _typed_groups(groups.reset_index(drop=True))


def _typed_groups(groups: pd.DataFrame) -> pd.DataFrame:
    """The columns in their documented order and dtypes, for full and empty results alike."""
    out = groups.loc[:, list(FAILURE_GROUP_COLUMNS)]
    return out.astype(
        {
            "group": "str",
            "error_code": "str",
            "template": "str",
            "count": "int64",
            "share": "float64",
            "first_begun": _TIME_DTYPE,
            "last_begun": _TIME_DTYPE,
            "first_ended": _TIME_DTYPE,
            "last_ended": _TIME_DTYPE,
            "job_types": "str",
            "example_job_ids": "str",
        }
    )


def _empty_groups() -> pd.DataFrame:
    return _typed_groups(pd.DataFrame({c: [] for c in FAILURE_GROUP_COLUMNS}))


def _ended(frame: pd.DataFrame) -> int:
    """The jobs that ended (SUCCESS or FAIL): the denominator of a window's rates.

    Written for any frame engine: a Dask frame's count is computed here.
    """
    status = frame["status"]
    done = status.eq(JobStatus.SUCCESS) | status.eq(JobStatus.FAIL)
    total = done.fillna(False).astype(bool).sum()
    return int(total.compute() if hasattr(total, "compute") else total)


def compare_failures(
    before: pd.DataFrame,
    after: pd.DataFrame | None = None,
    *,
    at: datetime | str | None = None,
    alpha: float = 0.05,
    min_count: int = 5,
) -> pd.DataFrame:
    """Which failure groups are new, growing, shrinking, gone or steady from `before` to `after`.

    `before` and `after` are job frames (two time windows, two releases). A group is compared
    by its rate per job: its failures over the jobs that ended (SUCCESS or FAIL) in that
    window, so windows of different sizes compare fairly and one group growing does not make
    the others look as if they shrank. Each group's two counts go through Fisher's exact test
    (two-sided), and the p-values are adjusted for the number of groups tested (Holm), so a
    batch split in two halves comes out steady instead of a handful of chance "trends".

    A group is labelled by its change only when the adjusted p-value is below `alpha` and it
    has at least `min_count` failures in the two windows together: `new` (none before),
    `gone` (none after), `growing`, `shrinking`; every other group is `steady`.

    Or one frame and `at`, a moment (a `findings(frame).changes["at"]`, a group's
    `first_begun`, a string `pd.Timestamp` reads, naive meaning UTC): the jobs that *began*
    before it against those that began at or after it, the clock of `jobs_between` and
    `findings`, so a group whose first job began at `at` comes out "new". Jobs with no begin
    time are in neither.

    Returns a new frame with the columns `COMPARE_COLUMNS`: the counts, `rate_before` and
    `rate_after` (0 to 1), `rate_ratio` (after over before; inf for a new group), `p_value`
    (Fisher) and `p_adjusted` (Holm; NaN for a group under `min_count`, not tested). Sorted by
    `TRENDS` order, then by the count after. `attrs["windows"]` holds each window's overall
    numbers, `{"before": {"ended", "fail", "failure_rate"}, "after": {...}, "p_value"}`.
    Either side may be a Dask frame: its groups and its count of ended jobs are computed by
    Dask, and the test runs on those counts.

    Raises:
        ValueError: an input is not a job frame (the rates need every ended job, not only
            the failure groups), or `alpha` is not between 0 and 1.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if (after is None) == (at is None):
        raise ValueError("compare_failures takes two frames, or one frame and at=, not both")
    if at is not None:
        before, after = _split_at(before, to_utc(at, "at"))
    assert after is not None
    for name, data in (("before", before), ("after", after)):
        if "status" not in data.columns:
            raise ValueError(
                f"{name}: compare_failures needs a job frame (with status), since the rates "
                "are over every job that ended, not a frame of failure groups"
            )
    keep = ["group", "error_code", "template", "count"]
    old = failure_groups(before, examples=0)[keep]
    new = failure_groups(after, examples=0)[keep]
    ended = {"before": _ended(before), "after": _ended(after)}
    merged = old.merge(new, on="group", how="outer", suffixes=("_before", "_after"))
    out = pd.DataFrame({"group": merged["group"]})
    for column in ("error_code", "template"):
        out[column] = merged[f"{column}_after"].fillna(merged[f"{column}_before"])
    for side in ("before", "after"):
        out[f"count_{side}"] = merged[f"count_{side}"].fillna(0).astype("int64")
        jobs = ended[side]
        out[f"rate_{side}"] = out[f"count_{side}"] / jobs if jobs else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rate_ratio"] = out["rate_after"] / out["rate_before"]
    pairs = zip(out["count_before"].tolist(), out["count_after"].tolist(), strict=True)
    out["p_value"] = [_fisher(a, b, ended["before"], ended["after"]) for a, b in pairs]
    tested = (out["count_before"] + out["count_after"] >= min_count).to_numpy()
    out["p_adjusted"] = np.nan
    out.loc[tested, "p_adjusted"] = _holm(out.loc[tested, "p_value"].to_numpy())
    changed = (out["p_adjusted"] < alpha).to_numpy()
    up = (out["rate_after"] > out["rate_before"]).to_numpy()
    trend = np.select(
        [
            changed & out["count_before"].eq(0).to_numpy(),
            changed & out["count_after"].eq(0).to_numpy(),
            changed & up,
            changed & ~up,
        ],
        ["new", "gone", "growing", "shrinking"],
        default="steady",
    )
    out["trend"] = pd.Categorical(trend, categories=TRENDS)
    out = out.sort_values(
        ["trend", "count_after", "count_before", "group"], ascending=[True, False, False, True]
    )
    result = (
        out.loc[:, list(COMPARE_COLUMNS)]
        .reset_index(drop=True)
        .astype({"group": "str", "error_code": "str", "template": "str"})
    )
    fails = {"before": int(old["count"].sum()), "after": int(new["count"].sum())}
    result.attrs["windows"] = _windows(fails, ended)
    return result


def _split_at(frame: Any, moment: pd.Timestamp) -> tuple[Any, Any]:
    """The jobs that began before `moment`, and those that began at or after it (any engine)."""
    if "begin_time" not in frame.columns:
        raise ValueError("compare_failures(at=) needs a job frame with begin_time")
    began = frame["begin_time"]
    # A boolean Series, not an array: a Dask frame is filtered partition by partition.
    return frame[(began < moment).fillna(False)], frame[(began >= moment).fillna(False)]


def _fisher(fail_before: int, fail_after: int, jobs_before: int, jobs_after: int) -> float:
    """Fisher's exact two-sided p-value of two failure counts out of the jobs that ended.

    As `scipy.stats.fisher_exact` (the tests compare them): the probability, with the
    margins fixed, of every table no more likely than the one seen. The hypergeometric
    terms fall away from the mode on both sides, so only those within e^40 of the
    observed one are summed: a few thousand at most, even for millions of jobs.
    """
    if not jobs_before or not jobs_after:
        return float("nan")
    fails = fail_before + fail_after
    jobs = max(jobs_before, fail_before) + max(jobs_after, fail_after)
    row = max(jobs_before, fail_before)
    lo, hi = max(0, fails - (jobs - row)), min(row, fails)
    const = (
        lgamma(row + 1)
        + lgamma(jobs - row + 1)
        + lgamma(fails + 1)
        + lgamma(jobs - fails + 1)
        - lgamma(jobs + 1)
    )

    def log_p(x: int) -> float:
        rest = jobs - row - fails + x
        return (
            const - lgamma(x + 1) - lgamma(row - x + 1) - lgamma(fails - x + 1) - lgamma(rest + 1)
        )

    # Ties within a relative 1e-7 count as "no more likely" (scipy's tolerance).
    limit = log_p(fail_before) + 1e-7
    mode = min(max((row + 1) * (fails + 1) // (jobs + 2), lo), hi)
    total = 0.0
    for step, start, end in ((-1, mode, lo), (1, mode + 1, hi)):
        x = _first_below(log_p, limit, start, end, step)
        while x is not None and (end - x) * step >= 0 and log_p(x) > limit - 40:
            total += exp(log_p(x))
            x += step
    return min(total, 1.0)


def _first_below(log_p: Any, limit: float, start: int, end: int, step: int) -> int | None:
    """The first x from `start` towards `end` with log_p(x) <= limit (log_p falls that way)."""
    if (end - start) * step < 0:
        return None
    if log_p(start) <= limit:
        return start
    if log_p(end) > limit:
        return None
    inside, outside = start, end  # log_p(inside) > limit >= log_p(outside)
    while abs(outside - inside) > 1:
        middle = (inside + outside) // 2
        if log_p(middle) > limit:
            inside = middle
        else:
            outside = middle
    return outside


def _holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment: each p-value times the number of tests not yet passed."""
    n = len(p_values)
    if not n:
        return p_values
    order = np.argsort(p_values, kind="stable")
    scaled = np.maximum.accumulate(p_values[order] * (n - np.arange(n)))
    adjusted = np.empty(n)
    adjusted[order] = np.minimum(scaled, 1.0)
    return adjusted


def _windows(fails: dict[str, int], ended: dict[str, int]) -> dict[str, Any]:
    """Each window's jobs that ended, its FAIL jobs and failure rate, and the test between."""
    out: dict[str, Any] = {
        side: {
            "ended": ended[side],
            "fail": fails[side],
            "failure_rate": fails[side] / ended[side] if ended[side] else float("nan"),
        }
        for side in ("before", "after")
    }
    out["p_value"] = _fisher(fails["before"], fails["after"], ended["before"], ended["after"])
    return out
