"""A shared JupyterLab (as on a JupyterHub): the Lab runs from an environment of its own,
jobtools only in the kernel's, registered with `python -m ipykernel install --user`.

With `jupyterlab_widgets` in the Lab's environment, the monitor is the live widget; without
it, the record below the widget stands in for it and says, while polling, that the front-end
lacks the widget manager (README: "Shared JupyterLab and JupyterHub").

The Lab's environment is made as cheaply as can be: a venv without pip whose Python packages
are this environment's through one `.pth` line (nothing downloaded, nothing copied), so
`jobtools` (an editable install, whose own `.pth` is not read there) cannot be imported in it;
its `share/jupyter` holds JupyterLab's files and, or not, the widget manager's labextension,
which is what `pip install jupyterlab_widgets` puts in a Lab's environment. The kernel is this
environment (the project's venv). Both cases together took 83 s on the 2-core machine
under a load of about 9 (two Lab start-ups, two kernels, two waits of ~8 s); the venv itself
costs well under a second.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import SCREENSHOTS, JupyterLab, Notebook, chromium
from playwright.sync_api import expect

pytestmark = [pytest.mark.slow, pytest.mark.browser]

KERNEL = "jobtools"
SETUP = """\
import sys
import jobtools
from jobtools.simulator import DEMO_AK, DEMO_SK, Simulator

simulator = Simulator(seed=7)
ids = simulator.add_jobs(20, finish_within=8)
server = simulator.serve()
options = dict(endpoint=server.url, project_id=simulator.project_id, ak=DEMO_AK, sk=DEMO_SK)
print(sys.executable)"""
MONITOR = """\
monitor = jobtools.JobMonitor(ids, schedule=jobtools.Backoff(first=0.5, cap=1), **options)
monitor"""


def lab_environment(where: Path, *, widgets: bool) -> Path:
    """A venv for JupyterLab alone: this environment's packages, but not jobtools."""
    venv.create(where, with_pip=False, symlinks=os.name != "nt")
    bindir = where / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "_shared.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    ours = Path(sys.prefix)
    (where / "etc").mkdir()
    (where / "etc" / "jupyter").symlink_to(ours / "etc" / "jupyter")  # server extensions
    shared = where / "share" / "jupyter"
    (shared / "labextensions").mkdir(parents=True)
    (shared / "lab").symlink_to(ours / "share" / "jupyter" / "lab")  # schemas, themes
    for extension in (ours / "share" / "jupyter" / "labextensions").iterdir():
        if widgets or extension.name != "@jupyter-widgets":
            (shared / "labextensions" / extension.name).symlink_to(extension)
    return python


def notebook(root: Path) -> str:
    """A notebook that asks for the `jobtools` kernel, as a Hub user's would."""
    cells = [
        {"cell_type": "code", "source": source, "metadata": {}, "outputs": []}
        for source in (SETUP, MONITOR)
    ]
    for cell in cells:
        cell["execution_count"] = None
    kernelspec = {"name": KERNEL, "display_name": KERNEL, "language": "python"}
    document = {
        "cells": cells,
        "metadata": {"kernelspec": kernelspec},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "hub.ipynb").write_text(json.dumps(document))
    return "hub.ipynb"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture(params=["with-widgets", "without-widgets"])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[JupyterLab, bool]]:
    """A JupyterLab from its own environment, the jobtools kernel registered for the user."""
    widgets = request.param == "with-widgets"
    python = lab_environment(tmp_path / "lab-env", widgets=widgets)
    # The Lab's environment has JupyterLab, and not jobtools.
    check = {"cwd": tmp_path, "capture_output": True}  # not the checkout, where jobtools is
    assert subprocess.run([python, "-c", "import jupyterlab"], **check).returncode == 0
    assert subprocess.run([python, "-c", "import jobtools"], **check).returncode
    home = tmp_path / "home"
    data = home / "data"
    data.mkdir(parents=True)
    install = [sys.executable, "-m", "ipykernel", "install", "--user", "--name", KERNEL]
    env = {**os.environ, "JUPYTER_DATA_DIR": str(data), "JUPYTER_PLATFORM_DIRS": "1"}
    subprocess.run(install, check=True, env=env, capture_output=True)
    root = tmp_path / "root"
    root.mkdir()
    notebook(root)
    lab = JupyterLab(root, home, python=python)
    try:
        lab.wait_ready()
        yield lab, widgets
    finally:
        lab.stop()


def test_monitor_in_a_lab_from_another_environment(
    hub: tuple[JupyterLab, bool], browser: Any, request: pytest.FixtureRequest
) -> None:
    """The jobtools kernel runs the monitor: a live widget once jupyterlab_widgets is in the
    Lab's environment; otherwise a line that says why it is frozen, then the record."""
    lab, widgets = hub
    shots = SCREENSHOTS / request.node.name
    shutil.rmtree(shots, ignore_errors=True)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        nb = Notebook(page, lab, "hub.ipynb", shots)
        nb.open()
        setup = nb.run(0, timeout=120)
        # The kernel is jobtools' environment (the one running these tests), not the Lab's.
        expect(setup.locator(".jp-OutputArea-output")).to_contain_text(sys.executable)
        cell = nb.run(1)
        if widgets:
            monitor = cell.locator(".jt-monitor")
            expect(monitor).to_be_visible(timeout=30_000)
            nb.screenshot("live-widget")
            assert "Error displaying widget" not in cell.inner_text()
            assert "widget manager" not in cell.inner_text()  # the stand-in record is hidden
            expect(monitor.locator(".jt-state")).to_have_attribute(
                "data-state", "done", timeout=90_000
            )
            expect(cell.locator(".jt-record[data-state='done']")).to_be_attached()
        else:
            # The record stands in for the widget, and says why while polling.
            expect(cell).to_contain_text("lacks the widget manager", timeout=30_000)
            expect(cell).to_contain_text("jupyterlab_widgets")
            assert cell.locator(".jt-monitor").count() == 0
            nb.screenshot("record-instead")
            expect(cell.locator(".jt-record[data-state='done']")).to_be_visible(timeout=90_000)
            assert "widget manager" not in cell.inner_text()  # said while polling only
        nb.screenshot("done")
    finally:
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "99-last.png"))
        context.close()
