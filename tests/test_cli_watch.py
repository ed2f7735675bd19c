"""`jobtools watch`: --excel, --timeout against --request-timeout, the poll log's faults, and
the morning after: a wait killed in one process, the report written offline by the next."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobtools.cli import main
from jobtools.io import read_jobs

CREDENTIALS = (
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "HUAWEICLOUD_SDK_PROJECT_ID",
    "JOBTOOLS_AUTH_TOKEN",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No credentials in the environment unless a test sets them."""
    for name in CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def watch(live, ids_file: Path, *more: str) -> list[str]:
    """The watch command line for the session's simulator."""
    return [
        "watch",
        str(ids_file),
        "--endpoint",
        live.url,
        "--project-id",
        live.project_id,
        "--rate-limit",
        "0",
        "--no-progress",
        *more,
    ]


def test_watch_out_has_the_excel_mode(simulator_server, env, tmp_path: Path) -> None:
    """watch --out --excel writes a BOM and neutralises formula-like text, as fetch does."""
    live = simulator_server
    env.setenv("JOBTOOLS_AUTH_TOKEN", live.token)
    job = live.simulator.add_job(
        status="FAIL", init_for=0, run_for=0, fail_reason='=HYPERLINK("http://x","y")'
    )
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(job + "\n")
    out = tmp_path / "jobs.csv"
    assert main(watch(live, ids_file, "--out", str(out), "--excel", "--timeout", "0")) == 0
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\"'=HYPERLINK" in data


def test_timeout_is_the_whole_command_and_request_timeout_one_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--timeout is the whole wait on watch; fetch's old --timeout says what it is now."""
    with pytest.raises(SystemExit):
        main(["watch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--timeout S seconds the whole command may take" in text
    assert "--request-timeout S seconds one request may wait" in text
    with pytest.raises(SystemExit) as exit_:
        main(["fetch", "ids.txt", "--endpoint", "http://x", "--out", "x.csv", "--timeout", "5"])
    assert exit_.value.code == 2
    assert "--timeout is now --request-timeout" in capsys.readouterr().err


def test_a_read_only_log_is_one_line_before_any_polling(
    simulator_server, env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log that cannot be written stops watch at once, with one line and exit 1."""
    live = simulator_server
    env.setenv("JOBTOOLS_AUTH_TOKEN", live.token)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(live.simulator.job_ids[0] + "\n")
    log = tmp_path / "poll.db"
    assert main(watch(live, ids_file, "--log", str(log), "--timeout", "0")) == 0
    capsys.readouterr()
    if subprocess.run(["chattr", "+i", str(log)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        live.simulator.reset_stats()
        assert main(watch(live, ids_file, "--log", str(log), "--timeout", "0")) == 1
        assert live.simulator.stats().requests == 0
    finally:
        subprocess.run(["chattr", "-i", str(log)], check=True)
    err = capsys.readouterr().err
    assert err.startswith("jobtools watch: error: cannot write poll log") and "readonly" in err
    assert err.count("\n") == 1


def _rounds(log: Path) -> int:
    """Rounds committed to the log so far, read without disturbing the writer."""
    if not log.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{log}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT count(*) FROM rounds").fetchone()[0])
    except sqlite3.Error:
        return 0


def _stop(process: subprocess.Popen[str]) -> None:
    """Stop a child: SIGTERM, then SIGKILL after 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
    if process.stdout:
        process.stdout.close()


@pytest.mark.slow
def test_the_morning_after(tmp_path: Path) -> None:
    """A wait in one process is killed; the next process, with no server and no credentials,
    reads the log and writes the workbook with a row for every id of the wait."""
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    python = [sys.executable, "-m", "jobtools"]
    ids_file = tmp_path / "ids.txt"
    server = subprocess.Popen(
        [*python, "serve", "--port", "0", "--jobs", "none", "--new-jobs", "30",
         "--finish-within", "900", "--ids-out", str(ids_file)],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    log = tmp_path / "poll.db"
    errors = tmp_path / "watch.err"
    waiting = None
    try:
        banner = server.stdout.readline() if server.stdout else ""
        url = banner.split(" on ")[1].split()[0]
        with errors.open("wb") as err:
            waiting = subprocess.Popen(
                [*python, "watch", str(ids_file), "--endpoint", url, "--log", str(log),
                 "--timeout", "3600", "--no-progress", "--rate-limit", "0"],
                env={**env, "JOBTOOLS_AUTH_TOKEN": "demo-token",
                     "HUAWEICLOUD_SDK_PROJECT_ID": "0d3a6f8c2b9e4a71b5c8e2f4a6d9b3c1"},
                stderr=err,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while _rounds(log) < 2 and waiting.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert waiting.poll() is None, errors.read_text()
    finally:
        # SIGKILL the wait (no chance to tidy up: as a crashed kernel), SIGTERM the server
        # (SIGINT is ignored by a process started in the background by a shell), and never
        # wait without a bound: a test that cannot stop a child kills it.
        if waiting is not None:
            waiting.kill()
            waiting.wait(timeout=30)
        _stop(server)
    assert _rounds(log) >= 2

    out = tmp_path / "report"
    done = subprocess.run(
        [*python, "report", str(log), "--out", str(out), "--xlsx", "--tz", "Asia/Shanghai",
         "--no-plots"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    import openpyxl

    ids = ids_file.read_text().split()
    book = openpyxl.load_workbook(out / "report.xlsx", read_only=True)
    rows = list(book["jobs"].iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in rows] == ids
    frame = read_jobs(log)
    assert frame["job_id"].tolist() == ids
    assert frame["polls"].ge(1).all() and frame["job_type"].notna().all()
    assert set(frame["wait_state"].astype(str)) <= {"waiting", "done"}


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A real 128 KiB filesystem (tmpfs), to fill up; skipped where mounting is not allowed."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_line_and_the_jobs_still_reach_out(
    simulator_server, env, tmp_path: Path, tiny_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log's disk fills up during the wait: one warning line, and --out has every job."""
    live = simulator_server
    env.setenv("JOBTOOLS_AUTH_TOKEN", live.token)
    ids = live.simulator.job_ids[:400]  # their records (~0.5 KB each) fill 128 KiB at once
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    out = tmp_path / "jobs.csv"
    log = str(tiny_disk / "poll.db")
    # One look (--timeout 0): some sample jobs run for minutes; exit 2 says they did not end.
    assert main(watch(live, ids_file, "--log", log, "--out", str(out), "--timeout", "0")) in (0, 2)
    err = capsys.readouterr().err.strip().splitlines()
    warnings = [line for line in err if "warning" in line]
    assert len(warnings) == 1, err
    assert warnings[0].startswith("jobtools watch: warning: poll log ")
    assert "full" in warnings[0] and "Traceback" not in "\n".join(err)
    assert read_jobs(out)["job_id"].tolist() == ids


@pytest.mark.parametrize("out", ["jobs.xlsx", "jobs.txt", "missing/jobs.csv"])
def test_a_bad_out_is_refused_before_the_first_poll(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str
) -> None:
    """A 30-minute watch never ends in a refusal: --out is checked before any request."""
    ids = tmp_path / "ids.txt"
    ids.write_text("ff8080814dbd65d7014dbe0d84db0013\n")
    env.setenv("JOBTOOLS_AUTH_TOKEN", "t")
    env.setenv("HUAWEICLOUD_SDK_PROJECT_ID", "p")
    argv = ["watch", str(ids), "--endpoint", "http://127.0.0.1:9", "--out", str(tmp_path / out)]
    assert main([*argv, "--no-progress"]) == 1
    err = capsys.readouterr().err
    # One line and exit 1: a watch that had polled would have gone on (port 9 refuses).
    assert err.startswith("jobtools watch: error:") and err.count("\n") == 1
