"""The `jobtools` command: thin over the library; errors become one line and a non-zero code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

# The library's defaults, read (not repeated) for the options and their help.
from jobtools.api.options import Limits, Retries, Timeouts
from jobtools.outcome import Outcome
from jobtools.progress import ProgressEvent
from jobtools.wait.options import BACKOFF_CAP, BACKOFF_FIRST, Patience

__all__ = ["EXIT_CREDENTIALS", "EXIT_ERROR", "EXIT_PARTIAL", "EXIT_USAGE", "main"]

# Exit codes, as scripts test them (`--help` lists them).
EXIT_ERROR = 1  # bad input, a file not read or written, a library error: one line on stderr
EXIT_USAGE = 2  # argparse's own code for a bad command line
EXIT_PARTIAL = 3  # the output was written, but some ids were not fetched or did not end
EXIT_CREDENTIALS = 4  # credentials refused by the service (401, IMG.0030, 403 IMG.0026)
EXIT_CODES = f"""exit codes:
  0    done: every id fetched, every job ended
  {EXIT_ERROR}    error: bad input, no credentials, a file not read or written (one line on stderr)
  {EXIT_USAGE}    usage: an unknown option, a missing or bad argument
  {EXIT_PARTIAL}    partial: the output was written, but some ids were not fetched or did not end
  {EXIT_CREDENTIALS}    credentials refused by the service (401, or 403 for an invalid role)
  130  interrupted (Ctrl-C)"""
# Without a terminal, fetch and watch print a progress line this often (seconds).
PROGRESS_INTERVAL = 15.0

LIMITS, RETRIES, TIMEOUTS, PATIENCE = Limits(), Retries(), Timeouts(), Patience()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobtools",
        description=__doc__,
        epilog="Data goes to stdout with --out - (fetch, watch), messages to stderr.\n\n"
        + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    _add_fetch(sub)
    _add_watch(sub)
    _add_serve(sub)
    _add_report(sub)
    _add_explain(sub)
    _add_demo(sub)
    # Each subcommand registers itself here: sub.add_parser(...).set_defaults(run=...)
    del sub
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from jobtools.errors import AuthenticationError, ForbiddenError

    args = _parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("jobtools: interrupted", file=sys.stderr)
        return 130
    except (AuthenticationError, ForbiddenError) as exc:
        print(f"jobtools {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_CREDENTIALS
    except (OSError, ValueError) as exc:
        print(f"jobtools {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _version() -> str:
    """The version, and whether the compiled JSONL kernel (optional at install) is there."""
    import importlib.util

    from jobtools import __version__

    kernel = importlib.util.find_spec("jobtools.io._kernel") is not None
    built = (
        "compiled" if kernel else "not built, JSONL is read more slowly (see the README: Install)"
    )
    return f"jobtools {__version__} (JSONL accelerator: {built})"


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
            f"Exit 0 when every id was fetched, {EXIT_PARTIAL} when the jobs were written but "
            f"some ids were not fetched, {EXIT_CREDENTIALS} when the credentials were refused."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_ids_and_client_options(p)
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="where to write the jobs: .csv, .jsonl or .parquet, or - for stdout (--format)",
    )
    _add_format(p)
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument(
        "--concurrency",
        type=int,
        default=LIMITS.concurrency,
        help=f"requests in flight ({LIMITS.concurrency})",
    )
    p.add_argument(
        "--max-attempts",
        type=int,
        default=RETRIES.max_attempts,
        help=f"tries per id ({RETRIES.max_attempts})",
    )
    _add_request_timeout(p)
    p.add_argument("--timeout", action=_Renamed, help=argparse.SUPPRESS, new="--request-timeout")
    _add_excel(p)
    p.set_defaults(run=_run_fetch)


def _run_fetch(args: argparse.Namespace) -> int:
    from jobtools._aio import run_sync
    from jobtools.errors import ROLE_CODES

    out = _output(args.out, args.force, excel=args.excel, fmt=args.format)
    ids = _read_ids(args.ids_file)
    client = _client(args, concurrency=args.concurrency, max_attempts=args.max_attempts)
    if args.no_progress or sys.stderr.isatty():
        frame = client.fetch_jobs(ids, progress=False if args.no_progress else None)
    else:
        # No terminal (a log file, CI, nohup): a line every PROGRESS_INTERVAL, not a bar.
        count = _CountingBar(len(ids))
        with _Ticker("fetch", count.line):
            frame = run_sync(lambda: client.afetch_jobs(ids, progress=count))
    _write_out(frame, out, excel=args.excel, fmt=args.format)
    counts = frame["outcome"].value_counts(sort=False)
    summary = ", ".join(f"{name} {int(n)}" for name, n in counts.items() if n)
    where = "stdout" if out is None else out
    print(f"jobtools fetch: {len(frame)} jobs to {where} ({summary})", file=sys.stderr)
    outcome = frame["outcome"].astype("str")
    role = frame["fetch_error_code"].isin(list(ROLE_CODES))
    if bool((outcome.eq(Outcome.AUTH) | (outcome.eq(Outcome.FORBIDDEN) & role)).any()):
        return EXIT_CREDENTIALS
    return 0 if bool(outcome.eq(Outcome.OK).all()) else EXIT_PARTIAL


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
            f"Exit 0 when every job ended, {EXIT_PARTIAL} when some did not (timed out, unknown "
            f"to the service, or not fetchable), {EXIT_CREDENTIALS} when the credentials were "
            "refused; failed jobs are a result, not an error."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_ids_and_client_options(p)
    p.add_argument(
        "--timeout",
        type=float,
        default=PATIENCE.timeout,
        metavar="S",
        help="seconds the whole command may take: jobs not ended by then are timed_out "
        f"({PATIENCE.timeout:g}); 0 = look once",
    )
    _add_request_timeout(p)
    p.add_argument("--log", metavar="FILE", help="SQLite poll log to write and resume from")
    p.add_argument(
        "--out", metavar="FILE", help="write the final jobs here (.csv, .jsonl; - for stdout)"
    )
    _add_format(p)
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    _add_excel(p)
    p.add_argument(
        "--first",
        type=float,
        default=BACKOFF_FIRST,
        help=f"first interval in seconds ({BACKOFF_FIRST:g})",
    )
    p.add_argument(
        "--cap",
        type=float,
        default=BACKOFF_CAP,
        help=f"longest interval in seconds ({BACKOFF_CAP:g})",
    )
    p.add_argument(
        "--adaptive", action="store_true", help="look again when jobs of the type usually end"
    )
    p.add_argument(
        "--give-up-after",
        type=int,
        default=PATIENCE.give_up_after,
        help=f"fetch errors in a row to give up ({PATIENCE.give_up_after})",
    )
    p.set_defaults(run=_run_watch)


def _run_watch(args: argparse.Namespace) -> int:
    import contextlib
    import warnings

    from jobtools.schema import WaitState
    from jobtools.wait.poll import summarize, wait_for
    from jobtools.wait.polllog import PollLog, PollLogWarning
    from jobtools.wait.schedule import Adaptive, Backoff

    out = _output(args.out, args.force, excel=args.excel, fmt=args.format) if args.out else None
    ids = _read_ids(args.ids_file)
    backoff = Backoff(first=args.first, cap=args.cap)
    # No terminal: no bar, but a line every PROGRESS_INTERVAL with the last round's counts.
    lines = not args.no_progress and not sys.stderr.isatty()
    rounds = _Rounds(len(ids))
    # Opened first: a log that cannot be written is one clear error before any polling.
    log = PollLog(args.log) if args.log else None
    try:
        with warnings.catch_warnings():
            # A log that fails while writing (a full disk) is one line; the wait goes on.
            warnings.simplefilter("always", PollLogWarning)
            warnings.showwarning = _one_line_warning("watch")
            with _Ticker("watch", rounds.line) if lines else contextlib.nullcontext():
                frame = wait_for(
                    ids,
                    client=_client(args),
                    patience=Patience(timeout=args.timeout, give_up_after=args.give_up_after),
                    log=log,
                    schedule=Adaptive(fallback=backoff) if args.adaptive else backoff,
                    on_round=rounds.see,
                    progress=False if args.no_progress or lines else None,
                )
    finally:
        if log is not None:
            log.close()
    if args.out:
        _write_out(frame, out, excel=args.excel, fmt=args.format, log=args.log)
    where = {None: "", "-": " to stdout"}.get(args.out, f" to {out}")
    print(f"jobtools watch: {summarize(frame)}{where}", file=sys.stderr)
    if bool(frame["wait_state"].eq(WaitState.REFUSED).any()):
        return EXIT_CREDENTIALS
    return 0 if bool(frame["wait_state"].eq(WaitState.DONE).all()) else EXIT_PARTIAL


def _add_serve(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the local simulator of the jobs API (no cloud account needed)",
        description=(
            "Serve GET /v1/{project_id}/jobs/{job_id} and GET /v1/cloudimages/job/{job_id} on "
            "a local port, from a JSONL/JSON file of job records and/or new jobs that start "
            "now and end within --finish-within seconds. Requests need X-Auth-Token or an "
            "SDK-HMAC-SHA256 signature. Credentials: the flags, else HUAWEICLOUD_SDK_AK / "
            "HUAWEICLOUD_SDK_SK / HUAWEICLOUD_SDK_PROJECT_ID / JOBTOOLS_AUTH_TOKEN, else the "
            "demo ones (token demo-token, AK DEMOAK, SK DEMOSK). Ctrl-C stops it."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port, 0 = any free one (8080)")
    p.add_argument(
        "--jobs",
        metavar="FILE|N",
        help="job records to serve (default: the packaged sample of 2,000 jobs); 'none' = "
        "none; with --scenario, a number N: only the scenario, with N jobs",
    )
    p.add_argument("--new-jobs", type=int, default=0, metavar="N", help="new jobs to add (0)")
    p.add_argument(
        "--scenario",
        metavar="NAME",
        help="add a realistic batch whose truth is known: realistic, exports, regression, "
        "growing, one-type or outage (see jobtools.simulator.SCENARIOS)",
    )
    p.add_argument(
        "--retention",
        type=float,
        metavar="S",
        help="delete ended jobs S seconds after they end, then 404 (ECS: about 86400)",
    )
    p.add_argument(
        "--finish-within",
        type=float,
        default=300.0,
        metavar="S",
        help="seconds within which new and running jobs end (300)",
    )
    p.add_argument("--ids-out", metavar="FILE", help="write the new jobs' ids (or all) here")
    p.add_argument("--seed", type=int, default=0, help="for jobs, outcomes and faults (0)")
    p.add_argument("--project-id", help="the project id to serve")
    p.add_argument("--token", help="the X-Auth-Token to accept")
    p.add_argument("--ak", help="the access key to accept")
    p.add_argument("--sk", help="its secret key (prefer HUAWEICLOUD_SDK_SK: argv is visible)")
    p.add_argument("--no-auth", action="store_true", help="accept requests with no credentials")
    faults = p.add_argument_group("faults (shares are 0..1, drawn per request)")
    faults.add_argument("--latency", type=float, default=0.0, help="seconds added to answers")
    faults.add_argument("--jitter", type=float, default=0.0, help="up to this many more seconds")
    faults.add_argument("--error-500", type=float, default=0.0, help="share answered 500")
    faults.add_argument("--error-503", type=float, default=0.0, help="share answered 503")
    faults.add_argument("--fail-rate", type=float, default=0.0, help="share 500/503, half each")
    faults.add_argument("--throttle", type=float, default=0.0, help="share answered 429")
    faults.add_argument(
        "--flow-limit", type=float, default=0.0, help="share answered ECS's 400 Common.0024"
    )
    faults.add_argument(
        "--overloaded", type=float, default=0.0, help="share answered ECS's 503 Common.1503"
    )
    faults.add_argument("--rate-limit", type=float, help="429 above this many requests/s")
    faults.add_argument("--malformed", type=float, default=0.0, help="share of bodies not a job")
    faults.add_argument("--truncated", type=float, default=0.0, help="share of bodies cut short")
    faults.add_argument("--retry-after", type=float, help="Retry-After seconds on 429/503")
    p.add_argument("-v", "--verbose", action="store_true", help="log each request line")
    p.set_defaults(run=_run_serve)


def _serve_credentials(args: argparse.Namespace) -> tuple[str, list[Any], list[str], str]:
    """The project id, credentials and banner lines from flags, environment or demo defaults."""
    import os

    from jobtools.api import auth
    from jobtools.simulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, DEMO_TOKEN

    env = os.environ
    project_id = args.project_id or env.get(auth.ENV_PROJECT_ID) or DEMO_PROJECT_ID
    token = args.token or env.get(auth.ENV_TOKEN) or DEMO_TOKEN
    ak = args.ak or env.get(auth.ENV_AK) or DEMO_AK
    sk = args.sk or env.get(auth.ENV_SK) or DEMO_SK
    if (ak == DEMO_AK) != (sk == DEMO_SK):
        raise ValueError(f"give both an AK and an SK ({auth.ENV_AK}, {auth.ENV_SK}), or neither")
    # Only the demo values are printed: they are documented and open nothing else.
    token_shown = token if token == DEMO_TOKEN else "(given)"
    sk_shown = sk if sk == DEMO_SK else "(given)"
    credentials = [
        auth.TokenCredentials(token=token, project_id=project_id),
        auth.AkSkCredentials(ak=ak, sk=sk, project_id=project_id),
    ]
    lines = [
        f"  project id  {project_id}",
        f"  token       {token_shown}  (header X-Auth-Token)",
        f"  AK / SK     {ak} / {sk_shown}  (SDK-HMAC-SHA256)",
    ]
    return project_id, credentials, lines, token_shown


def _run_serve(args: argparse.Namespace) -> int:
    import signal
    import threading
    import time
    import warnings
    from pathlib import Path

    from jobtools.sample import SAMPLE_PATH
    from jobtools.simulator import Faults, Simulator

    faults = Faults(
        latency=args.latency,
        jitter=args.jitter,
        error_500=args.error_500 + args.fail_rate / 2,
        error_503=args.error_503 + args.fail_rate / 2,
        throttle=args.throttle,
        flow_limit=args.flow_limit,
        overloaded=args.overloaded,
        rate_limit=args.rate_limit,
        malformed=args.malformed,
        truncated=args.truncated,
        retry_after=args.retry_after,
    )
    project_id, credentials, auth_lines, token_shown = _serve_credentials(args)
    source, size = args.jobs, None
    if args.scenario and source and source.isdigit() and not Path(source).exists():
        source, size = "none", int(source)  # --jobs N: the scenario alone, with N jobs
    if source is None and SAMPLE_PATH.is_file():
        source = str(SAMPLE_PATH)
    sim = Simulator(
        None if source in (None, "none") else source,
        project_id=project_id,
        credentials=credentials,
        require_auth=not args.no_auth,
        faults=faults,
        seed=args.seed,
        finish_within=args.finish_within,
        retention=args.retention,
    )
    loaded = len(sim.job_ids)
    new_ids = sim.add_jobs(args.new_jobs) if args.new_jobs else []
    if args.scenario:
        new_ids += sim.add_scenario(args.scenario, jobs=size)
    if args.ids_out:
        Path(args.ids_out).write_text("".join(f"{i}\n" for i in new_ids or sim.job_ids))
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if args.verbose else None
    if threading.current_thread() is threading.main_thread():
        # `kill` stops it as cleanly as Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    with warnings.catch_warnings():  # --host beyond loopback: one line, louder with --no-auth
        warnings.showwarning = _one_line_warning("serve")
        server = sim.serve(args.host, args.port, log=log)
    with server:
        jobs = f"{loaded} from {source}" if loaded else "none loaded"
        if new_ids:
            jobs += f", {len(new_ids)} new (ending within {args.finish_within:g} s)"
        if args.scenario:
            jobs += f", scenario {args.scenario}"
        example = sim.job_ids[0] if sim.job_ids else "{job_id}"
        print(f"jobtools simulator on {server.url}  (Ctrl-C to stop)", flush=True)
        for line in [
            f"  jobs        {jobs}",
            *(["  auth        none required (--no-auth)"] if args.no_auth else auth_lines),
            f"  faults      {faults.describe()}",
            f"  try         curl -H 'X-Auth-Token: {token_shown}' "
            f"{server.url}/v1/{project_id}/jobs/{example}",
        ]:
            print(line, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            stats = sim.stats()
            print(f"jobtools simulator stopped after {stats.requests} requests", flush=True)
    return 0


def _add_report(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="write a report folder (CSV tables, PNG plots, manifest) for a file of jobs",
        description=(
            "Read the jobs in INPUT (anything read_jobs accepts: .json, .jsonl/.ndjson, a CSV "
            "written by jobtools, a poll log written by watch --log, or a folder of them) and "
            "write to FOLDER: jobs.csv, failures.csv (failure groups), summary.csv (per job "
            "type), rates.csv, the plots as PNG, with --xlsx report.xlsx, and manifest.json. "
            "Reading a poll log needs no network and no credentials. A text file of job ids "
            "is not jobs yet: run fetch or watch on it first. A FOLDER that is not empty is "
            "refused unless --force."
        ),
    )
    p.add_argument(
        "input", metavar="INPUT", help="a job file, a poll log (--log of watch), or a folder"
    )
    p.add_argument("--out", required=True, metavar="FOLDER", help="the report folder")
    p.add_argument("--force", action="store_true", help="replace the report in a non-empty FOLDER")
    _add_excel(p)
    p.add_argument(
        "--xlsx",
        action="store_true",
        help="also write report.xlsx: the tables as sheets, date cells, native charts",
    )
    p.add_argument("--no-csv", action="store_true", help="write no CSV files (needs --xlsx)")
    p.add_argument(
        "--tz",
        default="UTC",
        metavar="ZONE",
        help="time zone of the report's times and days, e.g. Asia/Shanghai (UTC)",
    )
    p.add_argument(
        "--since", metavar="TIME", help="only jobs begun at or after TIME (in --tz if naive)"
    )
    p.add_argument("--until", metavar="TIME", help="only jobs begun before TIME (in --tz if naive)")
    p.add_argument("--period", default="1D", help="period of the rates: 1h, 1D, 1W, ... (1D)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG files")
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip unreadable records, CSV lines broken by a stray quote and unreadable files "
        "(listed in manifest.json and named on stderr) instead of stopping",
    )
    p.set_defaults(run=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jobtools.analysis.summary import jobs_between
    from jobtools.report import write_report
    from jobtools.times import to_offset, to_utc, to_zone

    out = Path(args.out)
    # Checked before reading, so a large input is never read only to be refused.
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise ValueError(f"{out} is not empty; use --force to replace its report")
    _writable_folder(out)
    to_offset(args.period)
    zone = to_zone(args.tz)
    if args.no_csv and not args.xlsx:
        raise ValueError("--no-csv leaves nothing to write: add --xlsx")
    bounds = {"since": args.since, "until": args.until}
    filters = {name: to_utc(value, name, tz=zone) for name, value in bounds.items() if value}
    _refuse_text_log(args.input)
    frame = _read_report_input(args.input, skip_bad=args.skip_bad)
    read = len(frame)
    # e.g. `[1, 2, 3]`: JSON, but not one job record in it (every record has a job_id).
    no_jobs = read > 0 and bool(frame["job_id"].isna().all())
    if filters:
        frame = jobs_between(frame, filters.get("since"), filters.get("until"))
    if no_jobs:
        raise ValueError(f"{args.input} holds no job records (none of its {read:,} has a job_id)")
    write_report(
        frame,
        out,
        excel=args.excel,
        xlsx=args.xlsx,
        csv=not args.no_csv,
        tz=zone,
        overwrite=args.force,
        period=args.period,
        plot=not args.no_plots,
        inputs=[args.input],
        filters=filters,
    )
    kept = f"{len(frame):,} of {read:,} jobs" if filters else f"{read:,} jobs"
    print(f"jobtools report: {kept} to {out}", file=sys.stderr)
    from jobtools.analysis.findings import findings

    print(findings(frame, tz=zone).text())
    return 0


def _writable_folder(out: Any) -> None:
    """A report folder can be made (its temporary folder beside it, too): checked up front."""
    import os

    existing = out.parent if not out.exists() else out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK) or (
        out.exists() and not os.access(out.parent, os.W_OK | os.X_OK)
    ):
        raise ValueError(f"cannot write the report folder {out}: permission denied")


def _refuse_text_log(source: str) -> None:
    """A console log or a list of ids is not a file of jobs: say what to run first."""
    from pathlib import Path

    from jobtools.io._polllog import is_poll_log
    from jobtools.io.files import readable_suffix

    path = Path(source)
    if not path.is_file() or readable_suffix(path) or is_poll_log(path):
        return
    raise ValueError(
        f"{source} is not a file of jobs (.json, .jsonl, .csv or a poll log); if it is a log "
        f"or a list of job ids, fetch the jobs first: `jobtools fetch {source} --endpoint ... "
        f"--out jobs.csv` or `jobtools watch {source} --endpoint ... --log poll.db`, then "
        "report on jobs.csv or poll.db"
    )


def _read_report_input(source: str, *, skip_bad: bool) -> Any:
    """read_jobs, strict unless skip_bad; skipped records are announced in one line."""
    import warnings

    from jobtools.io import CorruptInputError, CorruptInputWarning, read_jobs

    try:
        with warnings.catch_warnings():
            # Announced below in one line, and listed in the manifest.
            warnings.simplefilter("ignore", CorruptInputWarning)
            frame = read_jobs(
                source,
                errors="warn" if skip_bad else "raise",
                on_bad_lines="skip" if skip_bad else "error",
                on_bad_files="skip" if skip_bad else "error",
            )
    except CorruptInputError as exc:
        first = exc.problems[0]
        raise ValueError(
            f"{len(exc.problems)} unreadable record(s) in {source}, the first at "
            f"{first['file']}:{first['line']} ({first['error']}); --skip-bad reports the rest"
        ) from None
    for bad in frame.attrs.get("skipped_files") or []:
        print(
            f"jobtools report: warning: skipped the unreadable file {bad['file']}: {bad['error']}",
            file=sys.stderr,
        )
    skipped = frame.attrs.get("corrupt_lines") or []
    if skipped:
        first = skipped[0]
        print(
            f"jobtools report: warning: skipped {len(skipped)} unreadable record(s), the first "
            f"at {first['file']}:{first['line']}; listed in manifest.json",
            file=sys.stderr,
        )
    return frame


def _add_explain(sub: Any) -> None:
    p = sub.add_parser(
        "explain",
        help="say in plain words whether failures changed, since when and why (findings)",
        description=(
            "Read the jobs in INPUT (as report does) and print only the findings: each change "
            "of the failure rate over the jobs' begin time, since when, and the reason and job "
            "types behind it, or that nothing changed."
        ),
    )
    p.add_argument("input", metavar="INPUT", help="a job file, a poll log, or a folder")
    p.add_argument("--tz", default="UTC", metavar="ZONE", help="time zone of the times (UTC)")
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language (en)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable records")
    p.set_defaults(run=_run_explain)


def _run_explain(args: argparse.Namespace) -> int:
    from jobtools.analysis.findings import findings

    _refuse_text_log(args.input)
    frame = _read_report_input(args.input, skip_bad=args.skip_bad)
    print(findings(frame, tz=args.tz).text(lang=args.lang))
    return 0


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the analyst's path end to end against the local simulator",
        description=(
            "Start the simulator on loopback with the sample jobs, fetch them over HTTP, wait "
            "for the running ones and write the report into a folder named at the end."
        ),
    )
    p.add_argument("--out", help="report folder (default: out/demo-<UTC time>)")
    p.add_argument("--no-progress", action="store_true", help="show no progress bars")
    _add_excel(p)
    p.add_argument("--xlsx", action="store_true", help="also write report.xlsx")
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from jobtools.demo import run_demo

    run_demo(
        args.out, progress=False if args.no_progress else None, excel=args.excel, xlsx=args.xlsx
    )
    return 0


def _add_ids_and_client_options(p: argparse.ArgumentParser) -> None:
    """IDS_FILE and where and how to reach the service: shared by `fetch` and `watch`."""
    p.add_argument("ids_file", metavar="IDS_FILE", help="file of job ids, or - for stdin")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--endpoint", help="base URL, e.g. http://127.0.0.1:8080 (simulator)")
    where.add_argument(
        "--region", help="e.g. cn-north-4, for https://ims.{region}.myhuaweicloud.com"
    )
    p.add_argument("--service", default="ims", help="ims (default), ecs, evs, bms or vpc")
    p.add_argument(
        "--cloud",
        choices=("huaweicloud", "huaweicloud-eu", "otc", "otc-swiss"),
        help="whose hosts --region names (huaweicloud: *.myhuaweicloud.com)",
    )
    p.add_argument("--api", choices=("jobs", "cloudimages"), default="jobs")
    p.add_argument(
        "--project-id", help="project id (default: HUAWEICLOUD_SDK_PROJECT_ID)", default=None
    )
    p.add_argument(
        "--rate-limit",
        type=float,
        default=LIMITS.rate_limit,
        help=f"requests per second, 0 = none ({LIMITS.rate_limit:g})",
    )
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    limits = p.add_argument_group("limits against a misbehaving service")
    limits.add_argument(
        "--attempt-timeout",
        type=float,
        default=TIMEOUTS.attempt,
        metavar="S",
        help=f"seconds one attempt may take from connect to the last byte ({TIMEOUTS.attempt:g})",
    )
    limits.add_argument(
        "--max-body-bytes",
        type=int,
        default=LIMITS.max_body_bytes,
        metavar="N",
        help="largest answer taken, on the wire and decompressed; larger is too_large "
        f"({LIMITS.max_body_bytes / 2**20:g} MiB)",
    )
    limits.add_argument(
        "--max-retry-wait",
        type=float,
        default=RETRIES.max_retry_wait,
        metavar="S",
        help="seconds of throttling or outage waited out before the ids left are given up "
        f"({RETRIES.max_retry_wait:g})",
    )


def _add_excel(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--excel",
        action="store_true",
        help="CSV for Excel: UTF-8 with a BOM, formula-like text cells prefixed with '",
    )


def _add_request_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--request-timeout",
        type=float,
        default=TIMEOUTS.read,
        metavar="S",
        help=f"seconds one request may wait for the service's answer ({TIMEOUTS.read:g}); "
        "--timeout, where a command has it, is the whole command's limit",
    )


def _timeouts(args: argparse.Namespace) -> Timeouts:
    """`--request-timeout` (connecting at most 10 s of it) and `--attempt-timeout`."""
    import dataclasses

    seconds = args.request_timeout
    if not seconds > 0:
        raise ValueError(f"--request-timeout must be more than 0, got {seconds:g}")
    return dataclasses.replace(Timeouts.per_request(seconds), attempt=args.attempt_timeout)


class _Renamed(argparse.Action):
    """An option that was renamed: one clear error naming the new one."""

    def __init__(self, *args: Any, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(*args, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        parser.error(
            f"{self.option_strings[0]} is now {self.new} (seconds per request); "
            "--timeout is the whole command's limit, on the commands that wait"
        )


def _one_line_warning(command: str) -> Any:
    """A `warnings.showwarning` that prints one line naming the command, no source line."""

    def show(message: Any, *args: Any, **kwargs: Any) -> None:
        print(f"jobtools {command}: warning: {message}", file=sys.stderr)

    return show


def _client(args: argparse.Namespace, **options: Any) -> Any:
    """The `JobsClient` the shared options describe; credentials come from the environment."""
    from jobtools.api.client import JobsClient

    return JobsClient(
        endpoint=args.endpoint,
        region=args.region,
        service=args.service,
        cloud=args.cloud,
        api=args.api,
        project_id=args.project_id,
        limits=Limits(rate_limit=args.rate_limit or None, max_body_bytes=args.max_body_bytes),
        retries=Retries(max_retry_wait=args.max_retry_wait),
        timeouts=_timeouts(args),
        verify=not args.insecure,
        **options,
    )


def _read_ids(ids_file: str) -> list[str]:
    """The ids in IDS_FILE; near misses (marked as job ids, but not) are said in one line."""
    import warnings
    from pathlib import Path

    from jobtools.ids import NearMissWarning, RejoinedIdWarning, extract_job_ids
    from jobtools.io._csv import EncodingGuessWarning

    # A path is decoded as read_jobs decodes CSVs (UTF-16 from Notepad, GB18030, ...).
    source: Any = sys.stdin.read() if ids_file == "-" else Path(ids_file)
    said = (NearMissWarning, RejoinedIdWarning, EncodingGuessWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = extract_job_ids(source, strict=True)
    for warning in caught:
        if issubclass(warning.category, NearMissWarning):
            print(f"jobtools: skipped: {warning.message}", file=sys.stderr)
        elif issubclass(warning.category, said):
            print(f"jobtools: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return ids


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=("csv", "jsonl"),
        help="the format of --out - (csv); a file's is its extension",
    )


class _Ticker:
    """While open, prints `jobtools COMMAND: <line()>` to stderr every PROGRESS_INTERVAL."""

    def __init__(self, command: str, line: Any) -> None:
        import threading
        import time

        self.command, self.line, self.started = command, line, time.monotonic()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="jobtools-progress", daemon=True)

    def __enter__(self) -> _Ticker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()

    def _run(self) -> None:
        import time

        while not self.stopped.wait(PROGRESS_INTERVAL):
            elapsed = int(time.monotonic() - self.started)
            clock = f"{elapsed // 60}:{elapsed % 60:02d}"
            print(f"jobtools {self.command}: {clock} {self.line()}", file=sys.stderr, flush=True)


class _CountingBar:
    """A subscriber to the fetch's progress events that only counts, read by the ticker."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.postfix = total, 0, ""

    def __call__(self, event: ProgressEvent) -> None:
        self.done, self.postfix = event.done, event.note

    def line(self) -> str:
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        more = f", {self.postfix}" if self.postfix else ""
        return f"{self.done:,} of {self.total:,} ids answered{share}{more}"


class _Rounds:
    """The last round of a wait, for the ticker's line."""

    def __init__(self, total: int) -> None:
        self.total, self.snapshot = total, None

    def see(self, snapshot: Any) -> None:
        self.snapshot = snapshot

    def line(self) -> str:
        snap = self.snapshot
        if snap is None:
            return f"first round under way ({self.total:,} jobs)"
        counts = ", ".join(f"{k} {v:,}" for k, v in snap.counts.items())
        return (
            f"round {snap.round}: {snap.finished:,} of {snap.total:,} jobs ended "
            f"({counts}), {snap.waiting:,} waiting"
        )


def _output(path: str, force: bool, *, excel: bool = False, fmt: str | None = None) -> Any:
    """The output path, checked before any work so a long run never ends in a refusal:
    a suffix write_jobs writes, an existing folder, a file (not a folder), writable.
    `-` is stdout (None), in `fmt`: CSV or JSONL."""
    import os
    from pathlib import Path

    from jobtools.io.files import CSV_SUFFIXES, LINES_SUFFIXES
    from jobtools.io.parquet import PARQUET_SUFFIXES

    if path == "-":
        if excel and fmt not in (None, "csv"):
            raise ValueError("--excel writes a CSV; --format is jsonl")
        return None
    if fmt:
        raise ValueError("--format applies to --out - only; a file's format is its extension")
    out = Path(path)
    suffixes = sorted(CSV_SUFFIXES | LINES_SUFFIXES | PARQUET_SUFFIXES)
    if path.endswith(("/", os.sep)) or out.is_dir():
        raise ValueError(f"{out} is a folder; --out takes a file ({', '.join(suffixes)})")
    if out.suffix.lower() not in suffixes:
        hint = " (a workbook comes from `jobtools report --xlsx`)" if out.suffix == ".xlsx" else ""
        raise ValueError(f"cannot write {out}: --out must end in {', '.join(suffixes)}{hint}")
    if excel and out.suffix.lower() != ".csv":
        raise ValueError(f"--excel writes a CSV; {out} is not a .csv file")
    if out.exists() and not force:
        raise ValueError(f"{out} exists; use --force to overwrite it")
    if not out.parent.is_dir():
        raise ValueError(f"no such directory: {out.parent}")
    if not os.access(out.parent, os.W_OK | os.X_OK) or (
        out.exists() and not os.access(out, os.W_OK)
    ):
        raise ValueError(f"cannot write {out}: permission denied")
    return out


def _write_out(
    frame: Any, out: Any, *, excel: bool, fmt: str | None = None, log: str | None = None
) -> None:
    """`frame` to `out` through a temporary file beside it, renamed: never half a file.

    When that fails (a full disk), a copy goes to the system's temporary folder and the
    error says where (or that the poll log holds the jobs). `out` None is stdout, in `fmt`
    (CSV by default), and nothing else goes there.
    """
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from jobtools.io import write_jobs

    if out is None:
        # Written by the same writer as a file (same bytes), then copied to stdout.
        with tempfile.TemporaryDirectory(prefix="jobtools-") as folder:
            path = write_jobs(frame, Path(folder) / f"jobs.{fmt or 'csv'}", excel=excel)
            with path.open("rb") as data:
                sys.stdout.flush()
                shutil.copyfileobj(data, sys.stdout.buffer)
                sys.stdout.buffer.flush()
        return
    partial = out.with_name(f".{out.name}.partial{out.suffix}")
    try:
        write_jobs(frame, partial, excel=excel)
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        where = ""
        try:
            fd, name = tempfile.mkstemp(prefix="jobtools-", suffix=out.suffix)
            os.close(fd)
            write_jobs(frame, Path(name), excel=excel)
            where = f"; a copy was saved to {name}"
        except OSError:
            if log:
                where = f"; every observation is in the poll log {log}"
        raise OSError(f"cannot write {out} ({exc.strerror or exc}){where}") from None
