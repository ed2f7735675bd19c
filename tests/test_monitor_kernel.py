"""A JobMonitor in a real Jupyter kernel (nbclient + ipykernel) against the loopback simulator.

The session's simulator (conftest `simulator_server`) runs on a real socket in this process
on the real clock, with jobs added here that end within about two seconds. The kernel is the
venv's `python3` kernel: jupyter_client starts a kernelspec's `python` as the launching
interpreter, and the test checks which one it was.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _stdout(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")


@pytest.fixture
def job_ids(simulator_server: Any) -> list[str]:
    """Eight new jobs on the session's loopback simulator, ended within about two seconds."""
    return [
        simulator_server.simulator.add_job(
            status="FAIL" if n % 4 == 3 else "SUCCESS",
            init_for=0.2,
            run_for=0.8 + 0.15 * n,
            fail_reason="Failed to export <image>" if n % 4 == 3 else None,
            error_code="IMG.0090" if n % 4 == 3 else None,
        )
        for n in range(8)
    ]


def test_monitor_runs_in_a_kernel_until_every_job_ended(
    job_ids: list[str], simulator_server: Any, tmp_path: Path
) -> None:
    """The monitor polls in the background (the kernel stays free) and ends with all terminal."""
    server = simulator_server
    setup = (
        "import jobtools\n"
        f"monitor = jobtools.JobMonitor({job_ids!r}, endpoint={server.url!r}, "
        f"token={server.token!r}, project_id={server.project_id!r}, rate_limit=None, "
        "schedule=jobtools.Backoff(first=0.2, cap=0.4), timeout=60, "
        f"log={str(tmp_path / 'poll.db')!r})\n"
        "monitor"
    )
    check = (
        "import json\n"
        "ended = monitor.join(30)\n"
        "frame = monitor.frame\n"
        "print(json.dumps({'ended': ended, 'error': repr(monitor.error),\n"
        "    'terminal': bool(frame['is_terminal'].all()),\n"
        "    'states': frame['wait_state'].astype(str).value_counts().to_dict(),\n"
        "    'state': monitor.state, 'overall': monitor.overall_html.value,\n"
        "    'failures': monitor.failures_html.value}))"
    )
    notebook = new_notebook(
        cells=[
            new_code_cell("import sys\nprint(sys.executable)"),
            new_code_cell(setup),
            new_code_cell("print('free while polling:', monitor.running)"),
            new_code_cell(check),
        ]
    )
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=60,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    assert Path(_stdout(notebook.cells[0]).strip()) == Path(sys.executable)
    assert any(WIDGET_VIEW in o.get("data", {}) for o in notebook.cells[1].outputs)
    assert _stdout(notebook.cells[2]).strip() == "free while polling: True"
    result = json.loads(_stdout(notebook.cells[3]))
    assert result["ended"] and result["error"] == "None", result
    assert result["terminal"] and result["states"] == {"done": 8}
    assert result["state"] == "done" and "data-ended='8'" in result["overall"]
    assert "Failed to export &lt;image&gt;" in result["failures"]
    # The updates made by the polling thread reached the front-end side as widget state.
    states = nbformat.from_dict(notebook).metadata["widgets"][
        "application/vnd.jupyter.widget-state+json"
    ]["state"]
    html = [s["state"].get("value", "") for s in states.values() if s["model_name"] == "HTMLModel"]
    assert any("data-ended='8'" in value for value in html)
    # The display below the widget was replaced by the static record when the wait ended.
    records = [
        "".join(o["data"]["text/html"])
        for o in notebook.cells[1].outputs
        if "text/html" in o.get("data", {})
    ]
    assert any("jt-record" in r and "data-state='done'" in r for r in records), records
