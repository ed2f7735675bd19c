"""The command line as shells expect it: --version, data on stdout with `--out -`, messages on
stderr, exit codes a script can tell apart, progress lines without a terminal."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

import jobtools.cli
from jobtools import __version__, read_jobs
from jobtools.cli import EXIT_CREDENTIALS, EXIT_ERROR, EXIT_PARTIAL, EXIT_USAGE, main
from jobtools.sample import SAMPLE_PATH
from jobtools.simulator import DEMO_PROJECT_ID, DEMO_TOKEN, Faults, Simulator

UNKNOWN = "ffffffffffffffffffffffffffffffff"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Only the token the simulator accepts in the environment."""
    for name in (
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "HUAWEICLOUD_SDK_SECURITY_TOKEN",
        "HUAWEICLOUD_SDK_PROJECT_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBTOOLS_AUTH_TOKEN", DEMO_TOKEN)
    return monkeypatch


def fetch(url: str, ids_file: Path, *more: str) -> list[str]:
    return ["fetch", str(ids_file), "--endpoint", url, "--project-id", DEMO_PROJECT_ID, *more]


def test_version_names_the_version_and_the_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the version (and whether the JSONL accelerator is built) to stdout."""
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"jobtools {__version__} (JSONL accelerator: ")


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """--help (top level, fetch, watch) lists every exit code a script may test."""
    for argv in (["--help"], ["fetch", "--help"], ["watch", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = capsys.readouterr().out
        for code in (EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_CREDENTIALS, 130):
            assert f"\n  {code} " in text, (argv, text)


def test_exit_codes_are_distinct() -> None:
    """Usage, error, partial success and refused credentials are four different codes."""
    assert len({EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_CREDENTIALS}) == 4


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_out_dash_writes_the_data_to_stdout_and_messages_to_stderr(
    simulator_server, env, tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes], fmt: str
) -> None:
    """`--out - --format F`: stdout holds only the jobs (read back equal), stderr the summary."""
    live = simulator_server
    ids = live.simulator.job_ids[:5] + [UNKNOWN]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    code = main(fetch(live.url, ids_file, "--out", "-", "--format", fmt, "--no-progress"))
    assert code == EXIT_PARTIAL  # the unknown id
    captured = capfdbinary.readouterr()
    data = tmp_path / f"stdout.{fmt}"
    data.write_bytes(captured.out)
    assert read_jobs(data)["job_id"].tolist() == ids
    err = captured.err.decode()
    assert err.startswith("jobtools fetch: 6 jobs to stdout") and err.count("\n") == 1


def test_format_is_refused_with_a_file(simulator_server, env, tmp_path: Path) -> None:
    """--format applies to stdout only: a file's format is its extension."""
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(simulator_server.simulator.job_ids[0] + "\n")
    argv = ["--out", str(tmp_path / "jobs.csv"), "--format", "jsonl", "--no-progress"]
    assert main(fetch(simulator_server.url, ids_file, *argv)) == EXIT_ERROR


def test_refused_credentials_have_their_own_exit_code(
    simulator_server, env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A token the service refuses (401): the CSV is written, exit code 4."""
    env.setenv("JOBTOOLS_AUTH_TOKEN", "not-the-token")
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(simulator_server.simulator.job_ids[:3]) + "\n")
    out = tmp_path / "jobs.csv"
    argv = fetch(simulator_server.url, ids_file, "--out", str(out), "--no-progress")
    assert main(argv) == EXIT_CREDENTIALS
    assert read_jobs(out)["outcome"].eq("auth").all()
    assert "not-the-token" not in capsys.readouterr().err


def test_fetch_without_a_terminal_prints_progress_lines(
    env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """stderr is not a TTY here: no bar, but a line every PROGRESS_INTERVAL while it runs."""
    monkeypatch.setattr(jobtools.cli, "PROGRESS_INTERVAL", 0.05)
    sim = Simulator(SAMPLE_PATH, faults=Faults(latency=0.1), seed=0)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(sim.job_ids[:6]) + "\n")
    with sim.serve() as server:
        argv = ["--out", str(tmp_path / "jobs.csv"), "--concurrency", "1", "--rate-limit", "0"]
        assert main(fetch(server.url, ids_file, *argv)) == 0
    lines = capsys.readouterr().err.splitlines()
    ticks = [line for line in lines if "ids answered" in line]
    assert ticks and all(re.match(r"jobtools fetch: \d+:\d\d \d", line) for line in ticks), lines
    assert "of 6 ids answered" in ticks[-1]
    assert "\r" not in "".join(lines)  # no terminal bar


def test_watch_without_a_terminal_prints_progress_lines(
    env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """watch says, at a steady interval, how far the wait is: the last round's counts."""
    monkeypatch.setattr(jobtools.cli, "PROGRESS_INTERVAL", 0.05)
    sim = Simulator(seed=0)
    ids = [sim.add_job(init_for=0, run_for=0.6) for _ in range(3)]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    with sim.serve() as server:
        argv = ["watch", str(ids_file), "--endpoint", server.url]
        argv += ["--project-id", DEMO_PROJECT_ID, "--first", "0.2", "--cap", "0.2"]
        assert main([*argv, "--timeout", "20"]) == 0
    lines = capsys.readouterr().err.splitlines()
    ticks = [line for line in lines if re.match(r"jobtools watch: \d+:\d\d ", line)]
    assert any("jobs ended" in line for line in ticks), lines
    assert lines[-1].startswith("jobtools watch: 3 jobs: done 3")


@pytest.mark.parametrize("content", ["[1, 2, 3]", '["a", "b"]', "[[1], [2]]"])
def test_report_refuses_a_file_with_no_job_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    """A JSON array of numbers is not three jobs: one line, exit 1, no report."""
    source = tmp_path / "jobs.json"
    source.write_text(content)
    out = tmp_path / "report"
    assert main(["report", str(source), "--out", str(out), "--no-plots"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "holds no job records" in err and err.count("\n") == 1
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    ("name", "missing", "module", "extra"),
    [
        ("read_jobs_dask", "dask", "jobtools.io.dask", "dask"),
        ("JobMonitor", "ipywidgets", "jobtools.views.monitor", "notebook"),
    ],
)
def test_a_name_whose_extra_is_missing_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, name: str, missing: str, module: str, extra: str
) -> None:
    """Without Dask, jobtools.read_jobs_dask names the `dask` extra; without the widgets,
    jobtools.JobMonitor names the `notebook` extra."""
    import jobtools

    monkeypatch.setitem(sys.modules, missing, None)  # as if not installed
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(ModuleNotFoundError, match=rf"pip install 'jobtools\[{extra}\]'"):
        getattr(jobtools, name)


def test_stdout_jsonl_lines_are_the_api_records(
    simulator_server, env, tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    """JSONL on stdout is one record per line, ready for `jq`."""
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(simulator_server.simulator.job_ids[:2]) + "\n")
    argv = ["--out", "-", "--format", "jsonl", "--no-progress"]
    assert main(fetch(simulator_server.url, ids_file, *argv)) == 0
    lines = capfdbinary.readouterr().out.decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["job_id"] for r in records] == simulator_server.simulator.job_ids[:2]
    assert pd.read_json(io.StringIO("\n".join(lines)), lines=True).shape[0] == 2
