"""The demo runs the analyst's path end to end and always stops the server it started."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pandas as pd
import pytest

import jobtools
import jobtools.simulator
from jobtools import demo


def _port_is_closed(url: str) -> bool:
    host, port = re.search(r"http://([\d.]+):(\d+)", url).groups()
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


def test_demo_fetches_waits_and_writes_the_report(tmp_path: Path, capsys):
    """Every scenario job ends terminal, the report is complete, and the folder is named last."""
    folder = demo.run_demo(tmp_path / "report", finish_within=2, progress=False)
    printed = capsys.readouterr().out
    assert printed.rstrip().splitlines()[-1].startswith(f"report written to {folder}/")
    assert {p.name for p in folder.iterdir()} >= {
        "findings.md",
        "jobs.csv",
        "failures.csv",
        "summary.csv",
        "manifest.json",
        "timeline.png",
    }
    jobs = jobtools.read_jobs(folder / "jobs.csv")
    assert len(jobs) == jobtools.simulator.SCENARIOS["regression"].jobs
    assert bool(jobs["is_terminal"].all())
    # The scenario's regression: its new reason appears in the second half only.
    new = jobs["fail_reason"].str.contains("KMS key", na=False)
    middle = jobs["begin_time"].min() + (jobs["begin_time"].max() - jobs["begin_time"].min()) / 2
    assert new.any() and (jobs.loc[new, "begin_time"] > middle).all()
    assert set(jobs["outcome"].astype(str)) == {"ok"}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["inputs"]
    # Six hours of jobs: hourly rates, several points, not one daily one.
    assert manifest["period"] == "1h"
    rates = pd.read_csv(folder / "rates.csv")
    assert rates["success_rate"].notna().sum() >= 4
    assert _port_is_closed(re.search(r"simulator: (\S+)", printed).group(1))
    # The findings' headline names the scenario's new reason.
    headline = re.search(r"^findings: (.*)$", printed, re.MULTILINE).group(1)
    assert jobtools.simulator.SCENARIOS["regression"].changes[0].error_code in headline


def test_demo_stops_its_server_when_interrupted(tmp_path: Path, capsys, monkeypatch):
    """Ctrl-C during the wait still stops the simulator's server."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "wait_for", interrupted)
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(tmp_path / "report", finish_within=2, progress=False)
    url = re.search(r"simulator: (\S+)", capsys.readouterr().out).group(1)
    assert _port_is_closed(url)
    assert not (tmp_path / "report").exists()
