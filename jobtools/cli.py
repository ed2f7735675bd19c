"""The `jobtools` command: thin over the library; errors become one line and a non-zero code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobtools", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_fetch(sub)
    _add_watch(sub)
    # Each subcommand registers itself here: sub.add_parser(...).set_defaults(run=...)
    del sub
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("jobtools: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        print(f"jobtools {args.command}: error: {exc}", file=sys.stderr)
        return 1


def _add_fetch(sub: Any) -> None:
    p = sub.add_parser(
        "fetch",
        help="fetch job records for the ids in a file into a CSV",
        description=(
            "Fetch the job record of every id in IDS_FILE and write them as a CSV, one row "
            "per id with its fetch outcome. IDS_FILE ('-' for stdin) holds one id per line, "
            "a CSV with a job_id column, or free text (logs, pasted tables) to pull ids from. "
            "Credentials come from the environment only: HUAWEICLOUD_SDK_AK and "
            "HUAWEICLOUD_SDK_SK (plus HUAWEICLOUD_SDK_SECURITY_TOKEN), or JOBTOOLS_AUTH_TOKEN. "
            "Exit 0 when every id was fetched, 2 when the CSV was written but some were not."
        ),
    )
    p.add_argument("ids_file", metavar="IDS_FILE", help="file of job ids, or - for stdin")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="where to write the jobs")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--endpoint", help="base URL, e.g. http://127.0.0.1:8080 (simulator)")
    where.add_argument(
        "--region", help="e.g. cn-north-4, for https://ims.{region}.myhuaweicloud.com"
    )
    p.add_argument("--service", default="ims", help="ims (default), ecs, evs, bms or vpc")
    p.add_argument("--api", choices=("jobs", "cloudimages"), default="jobs")
    p.add_argument(
        "--project-id", help="project id (default: HUAWEICLOUD_SDK_PROJECT_ID)", default=None
    )
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight (16)")
    p.add_argument(
        "--rate-limit", type=float, default=150.0, help="requests per second, 0 = none (150)"
    )
    p.add_argument("--max-attempts", type=int, default=6, help="tries per id (6)")
    p.add_argument("--timeout", type=float, default=30.0, help="read timeout in seconds (30)")
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_fetch)


def _run_fetch(args: argparse.Namespace) -> int:
    from pathlib import Path

    import httpx

    from jobtools.client import JobsClient
    from jobtools.ids import job_ids_from_text
    from jobtools.io import write_jobs

    out = Path(args.out)
    # Checked before fetching, so a long fetch never ends in a refusal to write.
    if out.exists() and not args.force:
        raise ValueError(f"{out} exists; use --force to overwrite it")
    if not out.parent.is_dir():
        raise ValueError(f"no such directory: {out.parent}")
    if args.ids_file == "-":
        text = sys.stdin.read()
    else:
        text = Path(args.ids_file).read_text(encoding="utf-8-sig", errors="replace")
    ids = job_ids_from_text(text)
    client = JobsClient(
        endpoint=args.endpoint,
        region=args.region,
        service=args.service,
        api=args.api,
        project_id=args.project_id,
        concurrency=args.concurrency,
        rate_limit=args.rate_limit or None,
        max_attempts=args.max_attempts,
        timeout=httpx.Timeout(args.timeout, connect=min(10.0, args.timeout)),
        verify=not args.insecure,
    )
    frame = client.fetch_jobs(ids, progress=False if args.no_progress else None)
    write_jobs(frame, out)
    counts = frame["outcome"].value_counts(sort=False)
    summary = ", ".join(f"{name} {int(n)}" for name, n in counts.items() if n)
    print(f"jobtools fetch: {len(frame)} jobs to {out} ({summary})", file=sys.stderr)
    return 0 if bool(frame["outcome"].eq("ok").all()) else 2


def _add_watch(sub: Any) -> None:
    p = sub.add_parser(
        "watch",
        help="wait for the jobs in a file to end, with a progress bar",
        description=(
            "Poll every job id in IDS_FILE until each has ended (SUCCESS or FAIL) or the "
            "timeout passes, showing a progress bar; only jobs not yet ended are queried "
            "again, with capped backoff. IDS_FILE ('-' for stdin) holds one id per line, a "
            "CSV with a job_id column, or free text. With --log, every observation goes to a "
            "SQLite file and a watch started again on it resumes, skipping ended jobs. "
            "Credentials come from the environment only: HUAWEICLOUD_SDK_AK and "
            "HUAWEICLOUD_SDK_SK (plus HUAWEICLOUD_SDK_SECURITY_TOKEN), or JOBTOOLS_AUTH_TOKEN. "
            "Exit 0 when every job ended, 2 when some did not (timed out, unknown to the "
            "service, or not fetchable); failed jobs are a result, not an error."
        ),
    )
    p.add_argument("ids_file", metavar="IDS_FILE", help="file of job ids, or - for stdin")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--endpoint", help="base URL, e.g. http://127.0.0.1:8080 (simulator)")
    where.add_argument(
        "--region", help="e.g. cn-north-4, for https://ims.{region}.myhuaweicloud.com"
    )
    p.add_argument("--service", default="ims", help="ims (default), ecs, evs, bms or vpc")
    p.add_argument("--api", choices=("jobs", "cloudimages"), default="jobs")
    p.add_argument(
        "--project-id", help="project id (default: HUAWEICLOUD_SDK_PROJECT_ID)", default=None
    )
    p.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds to wait in all (1800); 0 = once"
    )
    p.add_argument("--log", metavar="FILE", help="SQLite poll log to write and resume from")
    p.add_argument("--out", metavar="FILE.csv", help="write the final jobs here")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--first", type=float, default=2.0, help="first interval in seconds (2)")
    p.add_argument("--cap", type=float, default=30.0, help="longest interval in seconds (30)")
    p.add_argument(
        "--adaptive", action="store_true", help="look again when jobs of the type usually end"
    )
    p.add_argument(
        "--give-up-after", type=int, default=10, help="fetch errors in a row to give up (10)"
    )
    p.add_argument(
        "--rate-limit", type=float, default=150.0, help="requests per second, 0 = none (150)"
    )
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_watch)


def _run_watch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jobtools.client import JobsClient
    from jobtools.ids import job_ids_from_text
    from jobtools.poll import Adaptive, Backoff, summarize, wait_for

    out = Path(args.out) if args.out else None
    # Checked before waiting, so a long wait never ends in a refusal to write.
    if out is not None and out.exists() and not args.force:
        raise ValueError(f"{out} exists; use --force to overwrite it")
    if out is not None and not out.parent.is_dir():
        raise ValueError(f"no such directory: {out.parent}")
    if args.ids_file == "-":
        text = sys.stdin.read()
    else:
        text = Path(args.ids_file).read_text(encoding="utf-8-sig", errors="replace")
    ids = job_ids_from_text(text)
    backoff = Backoff(first=args.first, cap=args.cap)
    client = JobsClient(
        endpoint=args.endpoint,
        region=args.region,
        service=args.service,
        api=args.api,
        project_id=args.project_id,
        rate_limit=args.rate_limit or None,
        verify=not args.insecure,
    )
    frame = wait_for(
        ids,
        client=client,
        timeout=args.timeout,
        log=args.log,
        schedule=Adaptive(fallback=backoff) if args.adaptive else backoff,
        give_up_after=args.give_up_after,
        progress=False if args.no_progress else None,
    )
    if out is not None:
        from jobtools.io import write_jobs

        write_jobs(frame, out)
    where = f" to {out}" if out is not None else ""
    print(f"jobtools watch: {summarize(frame)}{where}", file=sys.stderr)
    return 0 if bool(frame["wait_state"].eq("done").all()) else 2
