"""The archive questions on 2.5M, 5M and 10M records: jobtools beside DuckDB and plain pandas.

    .venv/bin/python benchmarks/bench_archive.py [--sizes 2500000,5000000,10000000]
        [--repeat 3] [--engines jobtools,dask,duckdb,pandas] [--workers 2] [--limit-gib 6]

The archive of each size is made once (`_archive_data.py`: the sample generator's kind of
records, made by column, appended a day at a time with `write_archive`; `benchmarks/_data/`,
not committed). Then each engine answers the same questions over the same Parquet files, each
(engine, size) in its own process, best of `--repeat` runs taken in turns:

* `summary_by_type` (counts, success rate, duration percentiles per job type);
* `rates_over_time` by day, and by day and job type (`groupby="job_type"`), on the begin
  clock (jobtools' default: a finished job counts in the period it began in);
* `failure_groups` (failures by error code and message template);
* `findings` (jobtools only: DuckDB has no such question).

Engines: **jobtools**: `read_jobs_dask` of the archive with no scheduler chosen, so the
`jobtools[archive]` extra's DuckDB answers over the files in this process; **dask**: the
same frame on a `LocalCluster` of `--workers` worker processes, one thread each (each
worker's peak memory and what it spilled to disk); **duckdb**: SQL an analyst would write
over the files (the same masks as `failure_groups`, each distinct message masked once);
**pandas**: `read_jobs` of the whole archive, then jobtools' pandas functions (its read
included; stopped past `--limit-gib`).

Printed: seconds per question with the ratio to DuckDB, peak memory (per worker, per process),
seconds per million records from size to size (linear growth keeps it flat), and whether the
answers agree (counts and groups exactly; Dask's percentiles within its stated 0.5 %). The
figures also go to `benchmarks/_data/bench_archive.json`.
"""

from __future__ import annotations

import argparse
import inspect
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _archive_data import DATA, make  # noqa: E402

_GIB = 2**30
ENGINES = ("jobtools", "dask", "duckdb", "pandas")
# Dask's own limit per worker, above the 1 GB target so that the target is measured.
WORKER_LIMIT = "2GiB"


# --- answers made comparable --------------------------------------------------------------


def _summary_answer(table: pd.DataFrame) -> list[list[Any]]:
    table = table.sort_values("job_type")
    columns = ["job_type", "count", "success", "fail", "running", "p50_s", "p90_s", "p99_s"]
    return [[_plain(v) for v in row] for row in table[columns].itertuples(index=False)]


def _rates_answer(table: pd.DataFrame) -> list[list[Any]]:
    # The period first: jobtools' index, DuckDB's column.
    table = (table.set_index("period") if "period" in table.columns else table).reset_index()
    first = table.columns[0]
    table[first] = pd.to_datetime(table[first], utc=True).dt.strftime("%Y-%m-%d")
    keys = [c for c in table.columns if c in (first, "job_type")]
    columns = [*keys, "started", "success", "fail"]
    # Periods with nothing in them: pandas keeps them as zeros, SQL leaves them out.
    busy = table[["started", "success", "fail"]].sum(axis=1) > 0
    rows = table.loc[busy, columns].sort_values(keys)
    return [[_plain(v) for v in row] for row in rows.itertuples(index=False)]


def _groups_answer(table: pd.DataFrame) -> list[list[Any]]:
    rows = table[["error_code", "template", "count"]].sort_values(["error_code", "template"])
    return [[_plain(v) for v in row] for row in rows.itertuples(index=False)]


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


# --- the engines, each run in a child process ---------------------------------------------


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _warm() -> None:
    import jobtools.analysis._dask  # noqa: F401
    import jobtools.io.dask  # noqa: F401


def _spilled(dask_worker: Any) -> int:
    """Bytes this worker spilled to disk (distributed's SpillBuffer counts them)."""
    total = getattr(getattr(dask_worker, "data", None), "spilled_total", None)
    return int(getattr(total, "disk", 0) or 0)


def _jobtools_questions(frame: Any) -> dict[str, Callable[[], Any]]:
    import jobtools

    questions: dict[str, Callable[[], Any]] = {
        "summary_by_type": lambda: _summary_answer(jobtools.summary_by_type(frame)),
        "rates_by_day": lambda: _rates_answer(jobtools.rates_over_time(frame, "1D")),
    }
    if "groupby" in inspect.signature(jobtools.rates_over_time).parameters:
        questions["rates_by_type"] = lambda: _rates_answer(
            jobtools.rates_over_time(frame, "1D", groupby="job_type")  # type: ignore[call-arg]
        )
    questions["failure_groups"] = lambda: _groups_answer(jobtools.failure_groups(frame))
    if hasattr(jobtools, "findings"):
        questions["findings"] = lambda: len(jobtools.findings(frame).changes)
    return questions


def run_jobtools(archive: str, repeat: int) -> dict[str, Any]:
    """jobtools on one machine: the archive's Dask frame, no scheduler chosen (DuckDB answers)."""
    import jobtools
    from jobtools.analysis._engines import embedded_files

    frame = jobtools.read_jobs_dask(archive)
    if embedded_files(frame) is None:
        raise SystemExit("jobtools[archive] is not installed: DuckDB is not there to answer")
    import jobtools.analysis._duckdb  # noqa: F401  (its import, not timed: DuckDB's start is not)

    result = _timed(_jobtools_questions(frame), repeat)
    result["partitions"] = frame.npartitions
    return result


def run_dask(archive: str, repeat: int, workers: int) -> dict[str, Any]:
    """jobtools on a Dask cluster: `--workers` worker processes of one thread each."""
    import distributed

    import jobtools

    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=WORKER_LIMIT,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        frame = jobtools.read_jobs_dask(archive)
        # A session's workers have the modules loaded: not timed, as DuckDB's start is not.
        client.run(_warm)
        result = _timed(_jobtools_questions(frame), repeat)
        result["worker_peak_gib"] = sorted(p / _GIB for p in client.run(_peak_rss).values())
        result["spilled_bytes"] = sum(client.run(_spilled).values())
        result["partitions"] = frame.npartitions
    return result


def run_pandas(archive: str, repeat: int) -> dict[str, Any]:
    import jobtools

    start = time.perf_counter()
    frame = jobtools.read_jobs(archive)
    read = time.perf_counter() - start
    result = _timed(_jobtools_questions(frame), repeat)
    result["read_s"] = read
    result["seconds"] += read
    return result


def _duckdb_masks(column: str) -> str:
    """failure_groups' masks as nested DuckDB regexp_replace calls (RE2, as in jobtools)."""
    from jobtools.analysis.failures import _LISTS, _MASKS, _SPACES

    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    expression = column
    for pattern, replacement in _MASKS + _LISTS + _SPACES:
        expression = (
            f"regexp_replace({expression}, {literal(pattern)}, {literal(replacement)}, 'g')"
        )
    return f"trim({expression})"


def run_duckdb(archive: str, repeat: int) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET TimeZone = 'UTC'")
    source = f"read_parquet('{archive}/day=*/*.parquet', union_by_name = true)"
    con.execute(f"SELECT count(*) FROM {source}")  # its start, not timed
    summary = f"""
        SELECT job_type,
            count(*) AS count,
            count(*) FILTER (status = 'SUCCESS') AS success,
            count(*) FILTER (status = 'FAIL') AS fail,
            count(*) FILTER (status IS NOT NULL AND NOT is_terminal) AS running,
            quantile_cont(duration_s, 0.5) FILTER (status = 'SUCCESS') AS p50_s,
            quantile_cont(duration_s, 0.9) FILTER (status = 'SUCCESS') AS p90_s,
            quantile_cont(duration_s, 0.99) FILTER (status = 'SUCCESS') AS p99_s
        FROM {source} GROUP BY job_type ORDER BY count DESC, job_type"""

    def rates(by: str) -> str:
        keys = "period" + (f", {by}" if by else "")
        return f"""
            WITH began AS (
                SELECT date_trunc('day', begin_time) AS period{", " + by if by else ""},
                    count(*) AS started
                FROM {source} WHERE begin_time IS NOT NULL GROUP BY ALL),
            ended AS (
                SELECT date_trunc('day', begin_time) AS period{", " + by if by else ""},
                    count(*) FILTER (status = 'SUCCESS') AS success,
                    count(*) FILTER (status = 'FAIL') AS fail
                FROM {source}
                WHERE end_time IS NOT NULL AND is_terminal AND begin_time IS NOT NULL
                GROUP BY ALL)
            SELECT {keys}, coalesce(started, 0) AS started, coalesce(success, 0) AS success,
                coalesce(fail, 0) AS fail
            FROM began FULL JOIN ended USING ({keys}) ORDER BY {keys}"""

    groups = f"""
        WITH fails AS (
            SELECT job_id, job_type, coalesce(error_code, entity_error_code) AS error_code,
                coalesce(nullif(trim(fail_reason), ''), entity_error) AS message,
                coalesce(end_time, begin_time) AS seen
            FROM {source} WHERE status = 'FAIL'),
        templates AS (
            SELECT message, {_duckdb_masks("message")} AS template
            FROM (SELECT DISTINCT message FROM fails WHERE message IS NOT NULL))
        SELECT error_code, coalesce(template, '(no message)') AS template, count(*) AS count,
            min(seen) AS first_seen, max(seen) AS last_seen,
            string_agg(DISTINCT job_type, ', ' ORDER BY job_type) AS job_types,
            max_by(job_id, seen, 3) AS examples
        FROM fails LEFT JOIN templates USING (message)
        GROUP BY ALL ORDER BY count DESC"""

    def query(sql: str, answer: Callable[[pd.DataFrame], Any]) -> Callable[[], Any]:
        return lambda: answer(con.execute(sql).df())

    questions = {
        "summary_by_type": query(summary, _summary_answer),
        "rates_by_day": query(rates(""), _rates_answer),
        "rates_by_type": query(rates("job_type"), _rates_answer),
        "failure_groups": query(groups, _groups_answer),
    }
    return _timed(questions, repeat)


def _timed(questions: dict[str, Callable[[], Any]], repeat: int) -> dict[str, Any]:
    """Each question, best of `repeat`, and its answer."""
    best: dict[str, float] = {}
    answers: dict[str, Any] = {}
    for _ in range(repeat):
        for name, ask in questions.items():
            start = time.perf_counter()
            answers[name] = ask()
            seconds = time.perf_counter() - start
            best[name] = min(best.get(name, seconds), seconds)
    return {"question_s": best, "seconds": sum(best.values()), "answers": answers}


def _child(engine: str, archive: str, repeat: int, workers: int) -> None:
    if engine == "jobtools":
        result = run_jobtools(archive, repeat)
    elif engine == "dask":
        result = run_dask(archive, repeat, workers)
    elif engine == "duckdb":
        result = run_duckdb(archive, repeat)
    else:
        result = run_pandas(archive, repeat)
    result["peak_gib"] = _peak_rss() / _GIB
    print(json.dumps(result, default=str), flush=True)


def run(engine: str, archive: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One engine in a child process, stopped if its memory passes `--limit-gib`."""
    command = [sys.executable, __file__, "--child", engine, str(archive)]
    command += ["--repeat", "1", "--workers", str(args.workers)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    process, peak, killed = psutil.Process(child.pid), 0, False
    while child.poll() is None:
        try:
            rss = process.memory_info().rss
        except psutil.NoSuchProcess:
            break
        peak = max(peak, rss)
        if rss > args.limit_gib * _GIB:
            child.kill()
            killed = True
        time.sleep(0.1)
    out, _ = child.communicate()
    if killed or child.returncode != 0:
        return {"finished": False, "peak_gib": peak / _GIB}
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return {"finished": True, **result}


# --- the report -------------------------------------------------------------------------


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each question's best time over the runs; the highest peaks; the last answers."""
    done = [r for r in runs if r["finished"]]
    if not done:
        return {"finished": False, "peak_gib": max(r["peak_gib"] for r in runs)}
    best = dict(done[-1])
    best["question_s"] = {q: min(r["question_s"][q] for r in done) for q in done[-1]["question_s"]}
    best["seconds"] = sum(best["question_s"].values()) + min(r.get("read_s", 0) for r in done)
    best["read_s"] = min(r.get("read_s", 0) for r in done)
    best["peak_gib"] = max(r["peak_gib"] for r in done)
    if "worker_peak_gib" in best:
        best["worker_peak_gib"] = max((r["worker_peak_gib"] for r in done), key=max)
        best["spilled_bytes"] = max(r["spilled_bytes"] for r in done)
    best["runs"] = len(done)
    return best


def _agree(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, bool]:
    """Per question both answered: the same counts and groups, percentiles within 0.5 %."""
    out = {}
    for name in set(ours) & set(theirs):
        a, b = ours[name], theirs[name]
        if name == "summary_by_type":
            out[name] = len(a) == len(b) and all(
                x[:5] == y[:5] and all(_close(p, q) for p, q in zip(x[5:], y[5:], strict=True))
                for x, y in zip(a, b, strict=True)
            )
        else:
            out[name] = a == b
    return out


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 0.005 * abs(b) + 0.002


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2500000,5000000,10000000")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--repeat", type=int, default=3, help="best of (1 on a loaded machine)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit-gib", type=float, default=6.0)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.repeat, args.workers)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    results: dict[str, Any] = {}
    for n in sizes:
        archive = make(n)
        # Repeats taken in turns (A B C, A B C, ...), each run in a fresh process: on a shared
        # machine whose load swings, each engine meets the same swings.
        runs: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
        for _ in range(args.repeat):
            for engine in engines:
                runs[engine].append(run(engine, archive, args))
        results[str(n)] = by_engine = {e: _best(runs[e]) for e in engines}
        _show(n, by_engine, args.repeat)
    _show_growth(sizes, results, engines)
    (DATA / "bench_archive.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


def _show(n: int, by_engine: dict[str, dict[str, Any]], repeat: int) -> None:
    print(f"\n{n:,} records, best of {repeat} (seconds; ratio = engine / DuckDB):", flush=True)
    done = {e: r for e, r in by_engine.items() if r["finished"]}
    for engine, r in by_engine.items():
        if not r["finished"]:
            print(f"  {engine:9} did not finish (peak {r['peak_gib']:.2f} GiB)")
    questions = list(dict.fromkeys(q for r in done.values() for q in r["question_s"]))
    duck = done.get("duckdb", {}).get("question_s", {})
    print("  " + f"{'question':16}" + "".join(f"{e:>18}" for e in done))
    for q in questions:
        cells = []
        for r in done.values():
            s = r["question_s"].get(q)
            ratio = f" ({s / duck[q]:.2f}x)" if s is not None and q in duck else ""
            cells.append("-" if s is None else f"{s:.2f}{ratio}")
        print("  " + f"{q:16}" + "".join(f"{c:>18}" for c in cells))
    for engine, r in done.items():
        memory = f"process peak {r['peak_gib']:.2f} GiB"
        if "worker_peak_gib" in r:
            peaks = ", ".join(f"{p:.2f}" for p in r["worker_peak_gib"])
            spilled = r["spilled_bytes"] / 2**20
            memory += f", workers {peaks} GiB, spilled {spilled:.0f} MiB"
        total = f"{r['seconds']:.1f} s in all" + (
            f" (read {r['read_s']:.1f} s)" if r.get("read_s") else ""
        )
        if duck and engine != "duckdb":
            common = set(r["question_s"]) & set(duck)
            mine = sum(r["question_s"][q] for q in common) + r.get("read_s", 0)
            total += f"; {mine / sum(duck[q] for q in common):.2f}x DuckDB on its questions"
        print(f"  {engine:9} {total}; {memory}", flush=True)
    # Dask's estimated percentiles are compared within 0.5 % of the exact ones.
    for ours, other in (("jobtools", "pandas"), ("jobtools", "duckdb"), ("dask", "pandas")):
        if ours in done and other in done:
            agree = _agree(done[ours]["answers"], done[other]["answers"])
            print(f"  answers, {ours} vs {other}: {agree}", flush=True)


def _show_growth(sizes: list[int], results: dict[str, Any], engines: list[str]) -> None:
    print("\nseconds per million records (flat = linear):")
    for engine in engines:
        cells = []
        for n in sizes:
            r = results[str(n)][engine]
            cells.append(f"{r['seconds'] / (n / 1e6):.2f}" if r["finished"] else "-")
        print(f"  {engine:9} " + "  ".join(cells))


if __name__ == "__main__":
    raise SystemExit(main())
