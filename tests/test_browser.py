"""The notebooks in a real JupyterLab, run cell by cell in headless Chromium (see `_browser`).

What a user sees is checked through the page itself: the monitor renders as a widget, its
counts move while jobs progress, Stop and Resume do what they say, another cell runs while it
polls, running its cell again replaces it, the static record is left in the saved notebook and
shows after the kernel is gone, and Chinese text is drawn with a CJK font. A notebook written
here puts hostile text (`$…$`, `<img onerror>` in a column name, a 2,000-character unbroken
reason, a right-to-left override) through style_table, the monitor, its record and a plot,
is saved after Stop and Resume while it polls, and is reopened without its kernel.

Every step is screenshotted to tests/_screenshots/<test>/ (kept after a failure: the assertion
message names the folder). Chromium missing is a failure, never a skip: `make test` installs it.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from _browser import SCREENSHOTS, JupyterLab, Notebook, chromium
from _hostile_text import DOLLARS, LONG, MACRO, RTL, SCRIPT, TEXTS
from playwright.sync_api import expect

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """One JupyterLab for this module, serving copies of the notebooks."""
    root = tmp_path_factory.mktemp("lab-root")
    for path in NOTEBOOKS.glob("*.ipynb"):
        shutil.copy(path, root / path.name)
    server = JupyterLab(root, tmp_path_factory.mktemp("lab-home"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    folder = SCREENSHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    return folder


@pytest.fixture
def page(browser: Any, shots: Path, lab: JupyterLab) -> Iterator[Any]:
    """A fresh browser page, no kernel left running; its last screen is saved whatever happened."""
    lab.shut_down_kernels()  # two cores: no idle kernels of earlier tests beside this one
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "99-last.png"))
    context.close()


def _attr(locator: Any, name: str) -> int:
    return int(locator.get_attribute(name))


def _state(monitor: Any) -> str:
    return monitor.locator(".jt-state").get_attribute("data-state")


def _round(monitor: Any) -> int:
    found = re.search(r"round (\d+)", monitor.locator(".jt-round").inner_text())
    return int(found.group(1)) if found else 0


def test_live_monitor_notebook(lab: JupyterLab, page: Any, shots: Path) -> None:
    """03: the monitor is a live widget whose Stop, Resume and record tell the truth."""
    nb = Notebook(page, lab, "03-live-monitoring.ipynb", shots)
    where = f"screenshots in {shots}"
    nb.open()
    for index in range(4):
        nb.run(index)
    cell = nb.run(4)
    monitor = cell.locator(".jt-monitor")
    expect(monitor).to_be_visible(timeout=30_000)
    assert "Error displaying widget" not in cell.inner_text(), where
    assert "JobMonitor(jobs=" not in cell.inner_text(), where  # not the text fallback
    overall = monitor.locator(".jt-overall")
    total = _attr(overall, "data-total")
    first = _attr(overall, "data-ended")
    nb.screenshot("monitor-started")

    # Counts move while the jobs progress; another cell runs meanwhile.
    page.wait_for_function(
        "n => +document.querySelector('.jt-monitor .jt-overall').dataset.ended > n",
        arg=first,
        timeout=60_000,
    )
    nb.run(5)
    free = nb.run(6)
    expect(free.locator(".jp-OutputArea-output")).to_contain_text("True")
    nb.screenshot("while-polling")

    # Stop: the wait is cancelled, no job is "ended" that did not end.
    monitor.get_by_role("button", name="Stop").click()
    expect(monitor.locator(".jt-state")).to_have_attribute("data-state", "cancelled")
    ended = _attr(overall, "data-ended")
    chips = {
        c.get_attribute("data-name"): int(c.get_attribute("data-count"))
        for c in monitor.locator(".jt-chip").all()
    }
    nb.screenshot("stopped")
    assert ended == chips.get("SUCCESS", 0) + chips.get("FAIL", 0), (chips, where)
    assert "cancelled" not in chips, where
    if ended < total:
        expect(monitor.locator(".jt-running")).to_contain_text("not ended, no longer watched")
    # The record below is kept current, hidden while the live widget shows the same.
    expect(cell.locator(".jt-record[data-state='cancelled']")).to_be_hidden()
    expect(cell.locator(".jt-record")).to_have_count(1)
    stopped_round = _round(monitor)

    # Resume: polling again at once, nothing goes backwards, to the end.
    monitor.get_by_role("button", name="Resume").click()
    expect(monitor.locator(".jt-state")).to_have_attribute("data-state", "polling")
    assert _round(monitor) >= stopped_round and _attr(overall, "data-ended") >= ended, where
    nb.screenshot("resumed")

    # Running the monitor cell again: the new monitor stops the one polling the same log.
    nb.run(4)
    expect(cell).to_contain_text("stopped JobMonitor #1")
    assert cell.locator(".jt-monitor").count() == 1, where
    expect(monitor.locator(".jt-state")).to_have_attribute("data-state", "done", timeout=90_000)
    assert _attr(overall, "data-ended") == total, where
    record = cell.locator(".jt-record[data-state='done']")
    expect(record).to_have_count(1)
    nb.screenshot("done")

    for index in range(7, nb.cells.count()):
        nb.run(index)
    assert nb.errors() == [], where
    nb.screenshot("analysis")
    nb.save()

    # The saved file holds the record as plain HTML ...
    saved = json.loads((lab.root / "03-live-monitoring.ipynb").read_text())
    html = ["".join(o.get("data", {}).get("text/html", "")) for o in saved["cells"][4]["outputs"]]
    assert any("jt-record" in h and "data-state='done'" in h for h in html), (html, where)

    # ... which shows when the notebook is opened again with its kernel gone.
    lab.shut_down_kernels()
    nb.open(reload=True)
    expect(nb.cell(4).locator(".jt-record[data-state='done']")).to_be_visible(timeout=30_000)
    nb.cell(4).scroll_into_view_if_needed()
    nb.screenshot("reopened")


def test_quickstart_notebook(lab: JupyterLab, page: Any, shots: Path) -> None:
    """01 runs cell by cell without an error; its styled tables and plots render."""
    nb = Notebook(page, lab, "01-quickstart.ipynb", shots)
    nb.open()
    for index in range(nb.cells.count()):
        nb.run(index)
        if index in (10, 13, 14):
            nb.cell(index).scroll_into_view_if_needed()
            nb.screenshot(f"cell-{index}")
    assert nb.errors() == [], f"screenshots in {shots}"
    assert nb.panel.locator(".jp-RenderedImage img").count() == 2
    # Durations for reading, such as "5h 47m" or "6m 49s", not seconds.
    expect(nb.cell(10)).to_contain_text(re.compile(r"\d+h \d\dm|\d+m \d\ds"))


def test_failure_notebook_draws_chinese_with_a_cjk_font(
    lab: JupyterLab, page: Any, shots: Path
) -> None:
    """02 runs without an error; its Chinese fail reasons are marked zh and drawn in a CJK font."""
    nb = Notebook(page, lab, "02-failure-investigation.ipynb", shots)
    nb.open()
    for index in range(nb.cells.count()):
        nb.run(index)
        if index in (5, 6, 10, 12, 13):
            nb.cell(index).scroll_into_view_if_needed()
            nb.screenshot(f"cell-{index}")
    assert nb.errors() == [], f"screenshots in {shots}"
    assert nb.panel.locator(".jp-RenderedImage img").count() == 3
    zh = nb.panel.locator(".jp-OutputArea [lang='zh']")
    assert zh.count() >= 2, f"screenshots in {shots}"
    zh.first.scroll_into_view_if_needed()  # cells out of view are not laid out, nor drawn
    expect(zh.first).to_be_visible()
    nb.screenshot("chinese")
    fonts = nb.fonts_of(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell [lang='zh']")
    assert any("CJK" in f for f in fonts), fonts


HOSTILE_CELLS = [
    f"""import pandas as pd
import jobtools
from jobtools.simulator import DEMO_TOKEN, Simulator

TEXTS = {list(TEXTS)!r}
simulator = Simulator(seed=5)
for n, text in enumerate(TEXTS):
    simulator.add_job(status="FAIL", init_for=0, run_for=1 + n / 2, error_code="IMG.0090",
                      fail_reason=text, entities={{"image_name": text}})
simulator.add_jobs(12, finish_within=3600)  # still running when the notebook is saved
server = simulator.serve()
options = dict(endpoint=server.url, project_id=simulator.project_id, token=DEMO_TOKEN)""",
    """monitor = jobtools.JobMonitor(
    simulator.job_ids, schedule=jobtools.Backoff(first=0.5, cap=1), **options
)
monitor""",
    "jobtools.style_table(pd.DataFrame({text: [text] for text in TEXTS}))",
    """groups = pd.DataFrame(
    {"error_code": ["IMG.0090"] * 6, "template": TEXTS, "count": range(6, 0, -1)}
)
jobtools.plot_failure_reasons(groups);""",
    """wrong = dict(options, token="not-the-token")
refused = jobtools.JobMonitor(simulator.job_ids[:2], **wrong)
refused""",
]
# MathJax is on in this JupyterLab (so its absence from jobtools' output means something).
CONTROL = "A formula, typeset: $x^2 + 1$"

# Every output of the notebook fits its cell: nothing wider than the output area, and no
# table cell beyond its right edge (hidden by an overflow:hidden box, or scrolled away).
OVERFLOWING = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]
  .filter(e => e.offsetParent !== null)
  .flatMap(e => {
    const right = e.getBoundingClientRect().right + 1;
    const wide = e.scrollWidth > e.clientWidth + 1 ? [e.scrollWidth + '>' + e.clientWidth] : [];
    const cut = [...e.querySelectorAll('th, td')]
      .filter(c => c.offsetParent !== null && c.getBoundingClientRect().right > right)
      .map(c => 'cell ' + c.innerText.slice(0, 40));
    return [...wide, ...cut];
  })"""
MATHJAX_IN_OUTPUTS = """() => document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea mjx-container').length"""
MATHJAX_IN_MARKDOWN = """() => document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell mjx-container').length"""


def _check_literal(nb: Notebook, where: str) -> None:
    """No MathJax in any output, nothing wider than its cell, no script ran."""
    page = nb.page
    assert page.evaluate(MATHJAX_IN_OUTPUTS) == 0, where
    assert page.evaluate(MATHJAX_IN_MARKDOWN) >= 1, where  # MathJax itself works
    assert page.evaluate(OVERFLOWING) == [], where
    assert page.evaluate("() => window.__jt_pwned") is None, where


def test_hostile_text_and_the_saved_record(lab: JupyterLab, page: Any, shots: Path) -> None:
    """Hostile text shows literally everywhere; a notebook saved after Stop and Resume while
    the monitor polls reopens without its kernel showing one record: the latest, as of when."""
    name = "hostile.ipynb"
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell(CONTROL)]
        + [nbformat.v4.new_code_cell(source) for source in HOSTILE_CELLS],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(notebook, lab.root / name)
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        # The record changes every round, so the page asks before it reloads: that one, yes.
        if dialog.type == "beforeunload":
            dialog.accept()
        else:
            dialogs.append(dialog.message)
            dialog.dismiss()

    page.on("dialog", on_dialog)
    nb = Notebook(page, lab, name, shots)
    where = f"screenshots in {shots}"
    nb.open()
    nb.run(1)
    cell = nb.run(2)
    monitor = cell.locator(".jt-monitor")
    expect(monitor.locator(".jt-failures")).to_contain_text("(6; 6 shown)", timeout=30_000)
    text = monitor.inner_text()
    assert DOLLARS in text and MACRO in text and "\\u202e" in text and RTL not in text, where
    assert SCRIPT[:20] in text and LONG not in text and LONG[:100] in text, where
    record = cell.locator(".jt-record")
    assert record.count() == 1 and not record.is_visible(), where  # the widget shows it all
    nb.screenshot("monitor")

    monitor.get_by_role("button", name="Stop").click()
    expect(monitor.locator(".jt-state")).to_have_attribute("data-state", "cancelled")
    assert cell.locator(".jt-record").count() == 1 and not record.is_visible(), where
    monitor.get_by_role("button", name="Resume").click()
    expect(monitor.locator(".jt-state")).to_have_attribute("data-state", "polling")
    expect(record).to_have_attribute("data-state", "polling")

    table = nb.run(3)
    expect(table).to_contain_text(DOLLARS)
    assert table.locator("img").count() == 0 and SCRIPT in table.inner_text(), where
    nb.run(4)
    refused = nb.run(5).locator(".jt-monitor")
    expect(refused.locator(".jt-state")).to_have_attribute("data-state", "failed", timeout=30_000)
    expect(refused.get_by_role("button", name="Resume")).to_be_disabled()
    assert nb.errors() == [], where
    nb.cell(3).scroll_into_view_if_needed()
    nb.screenshot("table-and-plot")
    _check_literal(nb, where)
    nb.save()

    lab.shut_down_kernels()
    nb.open(reload=True)
    cell = nb.cell(2)
    record = cell.locator(".jt-record")
    expect(record).to_be_visible(timeout=30_000)
    assert record.count() == 1, where  # one record, the latest: not "cancelled"
    assert record.get_attribute("data-state") == "polling", where
    expect(record).to_contain_text("still polling when saved")
    shown = cell.locator(".jp-OutputArea").inner_text()
    for stale in ("Loading widget", "Error displaying widget", "JobMonitor(jobs="):
        assert stale not in shown, (stale, where)
    assert DOLLARS in shown and "\\u202e" in shown, where
    cell.scroll_into_view_if_needed()
    nb.screenshot("reopened")
    _check_literal(nb, where)
    assert dialogs == [], (dialogs, where)
