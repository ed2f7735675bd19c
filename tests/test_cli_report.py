from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from jobtools.cli import main
from jobtools.report import REPORT_FILES

SAMPLE = Path(__file__).resolve().parent.parent / "jobtools" / "data" / "sample_jobs.jsonl.gz"
BOM = b"\xef\xbb\xbf"


def one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    """stderr is one line starting with the command's name, with no traceback."""
    err = capsys.readouterr().err
    assert err.startswith("jobtools report: error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


@pytest.fixture
def small_input(tmp_path: Path) -> Path:
    """The first 200 jobs of the sample, as a JSONL file."""
    path = tmp_path / "jobs.jsonl"
    lines = gzip.decompress(SAMPLE.read_bytes()).decode().splitlines()[:200]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow  # end to end (or a fuzz): `make test` runs it, `make test-fast` not
def test_report_of_the_sample_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The committed sample gives a full report and a one-line summary on stderr."""
    out = tmp_path / "report"
    assert main(["report", str(SAMPLE), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"] == [str(SAMPLE)]
    assert manifest["rows"]["failures.csv"] >= 10
    assert capsys.readouterr().err.startswith("jobtools report: ")


def test_since_until_excel_and_period(
    tmp_path: Path, small_input: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--since/--until narrow the jobs and are recorded; --excel writes a BOM; --period applies."""
    out = tmp_path / "report"
    args = ["report", str(small_input), "--out", str(out), "--no-plots", "--excel"]
    args += ["--since", "2024-10-20", "--until", "2024-10-27T00:00:00+08:00", "--period", "1h"]
    assert main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["filters"] == {
        "since": "2024-10-20T00:00:00.000Z",
        "until": "2024-10-26T16:00:00.000Z",
    }
    assert 0 < manifest["rows"]["jobs.csv"] < 200
    assert manifest["period"] == "1h" and manifest["excel"] is True
    assert (out / "failures.csv").read_bytes().startswith(BOM)
    assert not list(out.glob("*.png"))
    err = capsys.readouterr().err
    assert f"of 200 jobs to {out}" in err


def test_existing_report_needs_force(
    tmp_path: Path, small_input: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A non-empty --out is refused, and left as it was, unless --force is given."""
    out = tmp_path / "report"
    out.mkdir()
    (out / "jobs.csv").write_text("mine")
    args = ["report", str(small_input), "--out", str(out), "--no-plots"]
    assert main(args) == 1
    one_line_error(capsys, "--force", str(out))
    assert (out / "jobs.csv").read_text() == "mine"
    assert main([*args, "--force"]) == 0
    assert (out / "jobs.csv").read_text() != "mine"


@pytest.mark.parametrize(
    ("make_input", "extra", "words"),
    [
        (lambda d: d / "missing.jsonl", [], ["missing.jsonl"]),
        (lambda d: _write(d / "bad.json", "{not json"), [], ["bad.json"]),
        (lambda d: _write(d / "jobs.jsonl", "{}\n"), ["--since", "last tuesday"], ["since"]),
        (lambda d: _write(d / "jobs.jsonl", "{}\n"), ["--period", "often"], ["often"]),
        (
            lambda d: _write(d / "jobs.jsonl", "{}\n"),
            ["--since", "2024-11-02", "--until", "2024-11-01"],
            ["before"],
        ),
    ],
    ids=["missing-input", "corrupt-json", "bad-since", "bad-period", "empty-window"],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_input: object,
    extra: list[str],
    words: list[str],
) -> None:
    """Bad input, times or periods give one clear line on stderr and exit code 1."""
    source = make_input(tmp_path)  # type: ignore[operator]
    out = tmp_path / "report"
    assert main(["report", str(source), "--out", str(out), "--no-plots", *extra]) == 1
    one_line_error(capsys, *words)
    assert not out.exists() or not any(out.iterdir())


def test_unreadable_records_stop_the_report_unless_skipped(
    tmp_path: Path, small_input: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A corrupt line is an error naming file and line; --skip-bad reports the rest and says so."""
    lines = small_input.read_text(encoding="utf-8").splitlines()
    source = _write(tmp_path / "broken.jsonl", "\n".join([lines[0], "{oops", *lines[1:]]) + "\n")
    out = tmp_path / "report"
    assert main(["report", str(source), "--out", str(out), "--no-plots"]) == 1
    one_line_error(capsys, f"{source}:2", "--skip-bad")
    assert not out.exists()
    assert main(["report", str(source), "--out", str(out), "--no-plots", "--skip-bad"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("jobtools report: warning: skipped 1 unreadable record(s)")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rows"]["jobs.csv"] == 200
    skipped = manifest["skipped_input_records"]
    assert skipped["count"] == 1 and skipped["records"][0]["line"] == 2


def test_out_that_is_a_file_is_refused(
    tmp_path: Path, small_input: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out naming an existing file is an error, and the file is untouched."""
    target = _write(tmp_path / "report", "keep")
    assert main(["report", str(small_input), "--out", str(target), "--force"]) == 1
    one_line_error(capsys, "not a folder")
    assert target.read_text() == "keep"


def test_a_report_csv_is_valid_input_again(
    tmp_path: Path, small_input: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The jobs.csv of one report is an INPUT for the next, with the same counts."""
    first, second = tmp_path / "one", tmp_path / "two"
    assert main(["report", str(small_input), "--out", str(first), "--no-plots"]) == 0
    assert main(["report", str(first / "jobs.csv"), "--out", str(second), "--no-plots"]) == 0
    for name in ("summary.csv", "failures.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "content", "more", "words"),
    [
        ("batch.log", "2024-11-05 10:00 submitted job ff80808f7f1b2c3d4e5f60718293a4b5\n", [],
         ["not a file of jobs", "jobtools fetch", "jobtools watch"]),
        ("jobs.jsonl", None, ["--no-csv"], ["--no-csv", "--xlsx"]),
        ("jobs.jsonl", None, ["--tz", "Mars/Olympus"], ["not a time zone", "Mars/Olympus"]),
    ],
    ids=["a console log", "nothing to write", "an unknown zone"],
)  # fmt: skip
def test_what_is_not_a_report_is_one_line(
    tmp_path: Path,
    small_input: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | None,
    more: list[str],
    words: list[str],
) -> None:
    """A text log says to fetch or watch first; --no-csv alone and a bad --tz are refused."""
    source = small_input if content is None else tmp_path / name
    if content is not None:
        source.write_text(content, encoding="utf-8")
    out = tmp_path / "report"
    assert main(["report", str(source), "--out", str(out), *more]) == 1
    one_line_error(capsys, *words)
    assert not out.exists()


def test_xlsx_and_tz_from_the_command_line(
    tmp_path: Path, small_input: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--xlsx writes report.xlsx; --tz names the zone in the manifest; --since is in that zone."""
    out = tmp_path / "report"
    argv = ["report", str(small_input), "--out", str(out), "--xlsx", "--no-plots",
            "--tz", "Asia/Shanghai", "--since", "2024-10-20"]  # fmt: skip
    assert main(argv) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["time_zone"] == "Asia/Shanghai"
    # Midnight in Beijing is 16:00 UTC the day before.
    assert manifest["filters"]["since"] == "2024-10-19T16:00:00.000Z"
    assert (out / "report.xlsx").read_bytes()[:2] == b"PK"


@pytest.mark.parametrize("command", ["fetch", "watch", "report", "demo"])
def test_every_command_that_writes_a_csv_for_people_takes_excel(command: str) -> None:
    """--excel is on fetch, watch, report and demo; the report-writing ones take --xlsx too."""
    from jobtools.cli import _parser

    required = {
        "fetch": ["ids.txt", "--endpoint", "http://x", "--out", "x.csv"],
        "watch": ["ids.txt", "--endpoint", "http://x"],
        "report": ["jobs.csv", "--out", "r"],
        "demo": [],
    }[command]
    args = _parser().parse_args([command, *required, "--excel"])
    assert args.excel is True
    if command in ("report", "demo"):
        assert _parser().parse_args([command, *required, "--xlsx"]).xlsx is True


def test_a_report_that_fails_midway_leaves_no_folder(
    tmp_path: Path,
    small_input: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full disk while the plots are drawn: no report folder, no half-written files left."""
    import errno

    from jobtools import report

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report, "_write_plots", full)
    out = tmp_path / "report"
    assert main(["report", str(small_input), "--out", str(out)]) == 1
    one_line_error(capsys, "No space left")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [small_input.name]


def test_a_workbook_too_big_splits_its_jobs_sheet(
    tmp_path: Path, small_input: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More jobs than a sheet holds (here made 50): the jobs go on several sheets."""
    import openpyxl

    from jobtools import workbook

    monkeypatch.setattr(workbook, "MAX_ROWS", 50)
    out = tmp_path / "report"
    assert main(["report", str(small_input), "--out", str(out), "--xlsx", "--no-plots"]) == 0
    names = openpyxl.load_workbook(out / "report.xlsx", read_only=True).sheetnames
    assert {"jobs", "jobs 2", "jobs 3", "jobs 4", "jobs 5"} <= set(names)


def test_force_replaces_the_report_and_keeps_other_files(
    tmp_path: Path, small_input: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--force into a folder with a note of the analyst's: the note stays, the report is new."""
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "manifest.json").write_text("{}")
    assert main(["report", str(small_input), "--out", str(out), "--no-plots", "--force"]) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "manifest.json").read_text())["rows"]["jobs.csv"] == 200
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_skip_bad_reads_a_folder_past_a_stray_quote_and_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--skip-bad: a CSV line with a runaway quote and an unreadable Parquet file are named."""
    folder = tmp_path / "in"
    folder.mkdir()
    rows = [f"j{i},FAIL,t,reason {i}" for i in range(6)]
    rows[2] = 'j2,FAIL,t,"reason 2'
    _write(folder / "a.csv", "job_id,status,job_type,fail_reason\n" + "\n".join(rows) + "\n")
    (folder / "b.parquet").write_bytes(b"PAR1 not really")
    out = tmp_path / "report"
    assert main(["report", str(folder), "--out", str(out), "--no-plots"]) == 1
    one_line_error(capsys, "a.csv, line 4")
    (folder / "a.csv").rename(folder / "c.csv")  # the bad Parquet file is read first now
    assert main(["report", str(folder), "--out", str(out), "--no-plots"]) == 1
    one_line_error(capsys, "b.parquet")
    assert main(["report", str(folder), "--out", str(out), "--no-plots", "--skip-bad"]) == 0
    err = capsys.readouterr().err
    assert "b.parquet" in err and "skipped 1 unreadable record" in err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rows"]["jobs.csv"] == 5
    assert manifest["skipped_input_records"]["records"][0]["line"] == 4
    assert manifest["skipped_input_records"]["files"][0]["file"].endswith("b.parquet")
