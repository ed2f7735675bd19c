"""`jobtools fetch IDS_FILE --out FILE.csv`, run as `main([...])` against the loopback simulator."""

from __future__ import annotations

import io

import pytest

from jobtools.cli import EXIT_PARTIAL, main
from jobtools.io import read_jobs

UNKNOWN = "ffffffffffffffffffffffffffffffff"


@pytest.fixture
def env(monkeypatch):
    """No credentials in the environment unless a test sets them."""
    for name in (
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "HUAWEICLOUD_SDK_SECURITY_TOKEN",
        "HUAWEICLOUD_SDK_PROJECT_ID",
        "JOBTOOLS_AUTH_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def args(live, ids_file, out, *more):
    """The command line for the session's simulator."""
    return [
        "fetch",
        str(ids_file),
        "--out",
        str(out),
        "--endpoint",
        live.url,
        "--project-id",
        live.project_id,
        "--rate-limit",
        "0",
        "--no-progress",
        *more,
    ]


def one_error_line(capsys) -> str:
    """stderr holds exactly one line, and no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("kind", ["token", "aksk"])
def test_fetch_writes_every_id(simulator_server, env, tmp_path, capsys, kind):
    """Every id in the file comes back as a row of the CSV, with token or AK/SK from env."""
    live = simulator_server
    if kind == "token":
        env.setenv("JOBTOOLS_AUTH_TOKEN", live.token)
    else:
        env.setenv("HUAWEICLOUD_SDK_AK", live.ak)
        env.setenv("HUAWEICLOUD_SDK_SK", live.sk)
    ids = live.simulator.job_ids[:25]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("# my jobs\n" + "\n".join(ids) + "\n")
    out = tmp_path / "jobs.csv"
    assert main(args(live, ids_file, out)) == 0
    assert "25 jobs" in one_error_line(capsys)
    frame = read_jobs(out)
    assert frame["job_id"].tolist() == ids
    assert frame["outcome"].eq("ok").all()


def test_partial_failure_exits_3_with_rows(simulator_server, env, tmp_path, capsys):
    """An unknown id is a not_found row; the file is written and the exit code is 3."""
    live = simulator_server
    env.setenv("JOBTOOLS_AUTH_TOKEN", live.token)
    known = live.simulator.job_ids[0]
    ids_file = tmp_path / "log.txt"
    ids_file.write_text(f"12:00 created job {known}\n12:01 created job {UNKNOWN}\n")
    out = tmp_path / "jobs.csv"
    assert main(args(live, ids_file, out)) == EXIT_PARTIAL
    assert "not_found 1" in one_error_line(capsys)
    frame = read_jobs(out)
    assert frame["job_id"].tolist() == [known, UNKNOWN]
    assert frame["outcome"].tolist() == ["ok", "not_found"]
    assert frame.loc[1, "fetch_error_code"] == "IMG.0023"


def test_refuses_to_overwrite_without_force(simulator_server, env, tmp_path, capsys):
    """An existing file is left alone unless --force; the refusal comes before any fetch."""
    live = simulator_server
    env.setenv("JOBTOOLS_AUTH_TOKEN", live.token)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(live.simulator.job_ids[0] + "\n")
    out = tmp_path / "jobs.csv"
    out.write_text("precious")
    live.simulator.reset_stats()
    assert main(args(live, ids_file, out)) == 1
    assert "use --force" in one_error_line(capsys)
    assert out.read_text() == "precious"
    assert live.simulator.stats().requests == 0
    assert main(args(live, ids_file, out, "--force")) == 0
    assert read_jobs(out)["outcome"].tolist() == ["ok"]


def test_reads_ids_from_stdin(simulator_server, env, tmp_path, capsys, monkeypatch):
    """IDS_FILE '-' reads standard input."""
    live = simulator_server
    env.setenv("JOBTOOLS_AUTH_TOKEN", live.token)
    ids = live.simulator.job_ids[:3]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(ids)))
    out = tmp_path / "jobs.csv"
    assert main(args(live, "-", out)) == 0
    assert read_jobs(out)["job_id"].tolist() == ids


def test_excel_csv_has_bom(simulator_server, env, tmp_path):
    """--excel writes UTF-8 with a byte order mark."""
    live = simulator_server
    env.setenv("JOBTOOLS_AUTH_TOKEN", live.token)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(live.simulator.job_ids[0])
    out = tmp_path / "jobs.csv"
    assert main(args(live, ids_file, out, "--excel")) == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize(
    ("content", "setup", "message"),
    [
        (None, None, "No such file"),
        ("", None, "no job ids found"),
        ("good-id\nbad/id\n", None, "'bad/id'"),
        ("plain words, nothing like an id\n", None, "no job ids found"),
        ("abc\n", "no-credentials", "HUAWEICLOUD_SDK_AK"),
        ("abc\n", "missing-dir", "no such directory"),
    ],
)
def test_bad_input_is_one_line(simulator_server, env, tmp_path, capsys, content, setup, message):
    """Bad input gives one clear line on stderr and exit code 1, never a traceback."""
    live = simulator_server
    if setup != "no-credentials":
        env.setenv("JOBTOOLS_AUTH_TOKEN", live.token)
    ids_file = tmp_path / "ids.txt"
    if content is not None:
        ids_file.write_text(content)
    out = tmp_path / ("nowhere/jobs.csv" if setup == "missing-dir" else "jobs.csv")
    assert main(args(live, ids_file, out)) == 1
    line = one_error_line(capsys)
    assert line.startswith("jobtools fetch: error:") and message in line
    assert not out.exists()


def test_endpoint_or_region_is_required(env, tmp_path):
    """Without --endpoint or --region, argparse refuses (usage, exit code 2)."""
    with pytest.raises(SystemExit) as info:
        main(["fetch", str(tmp_path / "ids.txt"), "--out", str(tmp_path / "o.csv")])
    assert info.value.code == 2


def test_limits_reach_the_client(simulator_server, env, tmp_path, capsys):
    """--max-body-bytes caps answers: a job whose record is larger is a too_large row."""
    import json

    live = simulator_server
    env.setenv("JOBTOOLS_AUTH_TOKEN", live.token)
    sizes = {i: len(json.dumps(live.simulator.record(i))) for i in live.simulator.job_ids}
    small = [i for i, size in sizes.items() if size < 600][:3]
    large = [i for i, size in sizes.items() if size > 1400][:2]
    assert small and large
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(small + large) + "\n")
    out = tmp_path / "jobs.csv"
    limits = ["--max-body-bytes", "1024", "--attempt-timeout", "20", "--max-retry-wait", "30"]
    assert main(args(live, ids_file, out, *limits)) == EXIT_PARTIAL
    assert "too_large 2" in one_error_line(capsys)
    outcomes = read_jobs(out)["outcome"].astype(str).tolist()
    assert outcomes == ["ok"] * len(small) + ["too_large"] * len(large)


def test_near_misses_are_said_in_plain_words(simulator_server, env, tmp_path, capsys):
    """A value marked as a job id but a character short: one plain line, the rest fetched."""
    live = simulator_server
    env.setenv("JOBTOOLS_AUTH_TOKEN", live.token)
    known = live.simulator.job_ids[0]
    ids_file = tmp_path / "log.txt"
    ids_file.write_text(f"created job_id={known}\nretry job_id={known[:-1]}\n")
    out = tmp_path / "jobs.csv"
    assert main(args(live, ids_file, out)) == 0
    err = capsys.readouterr().err
    assert "jobtools: skipped: 1 value(s) marked as job ids are not job ids" in err
    assert "Warning" not in err and "warnings.warn" not in err
    assert read_jobs(out)["job_id"].tolist() == [known]


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("jobs.xlsx", "must end in"),
        ("jobs.txt", "must end in"),
        ("folder/", "is a folder"),
        ("jobs.jsonl --excel", "--excel writes a CSV"),
    ],
)
def test_a_bad_out_is_refused_before_any_request(env, tmp_path, capsys, out, message):
    """--out jobs.xlsx, jobs.txt, a folder, or --excel for JSONL: refused at once, no request."""
    (tmp_path / "folder").mkdir()
    ids = tmp_path / "ids.txt"
    ids.write_text("ff8080814dbd65d7014dbe0d84db0013\n")
    # Port 9 (discard) on loopback: any request would fail, so a refusal shows none was made.
    name, *more = out.split()
    argv = ["fetch", str(ids), "--out", str(tmp_path / name), "--endpoint", "http://127.0.0.1:9"]
    argv += more
    env.setenv("JOBTOOLS_AUTH_TOKEN", "t")
    env.setenv("HUAWEICLOUD_SDK_PROJECT_ID", "p")
    assert main([*argv, "--no-progress"]) == 1
    assert message in one_error_line(capsys)


def test_an_ids_file_in_utf16_is_read(simulator_server, env, tmp_path, capsys):
    """Notepad's "Unicode" ids file: every id fetched."""
    env.setenv("JOBTOOLS_AUTH_TOKEN", simulator_server.token)
    ids = tmp_path / "ids.txt"
    ids.write_bytes("\n".join(simulator_server.simulator.job_ids[:3]).encode("utf-16"))
    assert main(args(simulator_server, ids, tmp_path / "jobs.csv")) == 0
    assert len(read_jobs(tmp_path / "jobs.csv")) == 3


def test_a_full_disk_at_out_says_where_a_copy_went(simulator_server, env, tmp_path, capsys):
    """Writing --out fails (no space): no half file there, a copy in the temp folder, named."""
    import errno
    import tempfile

    import jobtools.io

    real = jobtools.io.write_jobs
    target_dir = tmp_path / "out"
    target_dir.mkdir()

    def full_beside_target(frame, path, **kwargs):
        if path.parent == target_dir:
            path.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(frame, path, **kwargs)

    env.setattr(jobtools.io, "write_jobs", full_beside_target)
    env.setenv("JOBTOOLS_AUTH_TOKEN", simulator_server.token)
    env.setattr(tempfile, "tempdir", str(tmp_path))
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(simulator_server.simulator.job_ids[:3]) + "\n")
    assert main(args(simulator_server, ids, target_dir / "jobs.csv")) == 1
    line = one_error_line(capsys)
    assert "No space left" in line and "a copy was saved to" in line
    assert list(target_dir.iterdir()) == []
    copy = line.rsplit("a copy was saved to ", 1)[1].strip()
    assert len(read_jobs(copy)) == 3
