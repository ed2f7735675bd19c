"""The harness of the browser tests: a real JupyterLab on loopback, driven in headless Chromium.

`JupyterLab` starts `jupyter lab` from this environment (so `jupyterlab_widgets` is there)
with every Jupyter/IPython folder in a temporary directory, no token, on a free port, and stops
it by its PID. `Page` wraps a Playwright page on one open notebook: run a cell with
Shift+Enter as a user does, wait until its prompt shows a number, take screenshots.

Chromium is Debian's (`/usr/bin/chromium`, installed by `make test`); Playwright cannot download
its own build here. The flags are those known to work on these machines (root, no network):
without the background-networking ones Chromium keeps trying Google's hosts.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # Chromium refuses to run as root with its sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent / "_screenshots"
PROMPT_DONE = re.compile(r"\[\d+\]")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JupyterLab:
    """`jupyter lab` serving `root` on 127.0.0.1, isolated from the user's own set-up."""

    def __init__(self, root: Path, home: Path, python: Path | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        for name, sub in (
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("JUPYTER_DATA_DIR", "data"),
            ("JUPYTERLAB_SETTINGS_DIR", "settings"),
            ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
            ("IPYTHONDIR", "ipython"),
        ):
            (home / sub).mkdir(parents=True, exist_ok=True)
            env[name] = str(home / sub)
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        # No "get notified about Jupyter news?" toast over the cells in the screenshots.
        news = home / "settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True, exist_ok=True)
        (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        env.pop("JUPYTER_PATH", None)
        self.log = (home / "jupyter.log").open("wb")
        self.process = subprocess.Popen(
            [
                # Another environment's JupyterLab (`python`): its own `jupyterlab` module.
                *(
                    [sys.executable, "-m", "jupyter", "lab"]
                    if python is None
                    else [python, "-m", "jupyterlab"]
                ),
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                "--IdentityProvider.token=",
                "--ServerApp.password=",
                "--allow-root",  # CI and these machines run as root
                "--ServerApp.disable_check_xsrf=True",  # the tests' own REST calls
                f"--ServerApp.root_dir={root}",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.news_url=",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
        self.log_path = home / "jupyter.log"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {self.log_path.read_text()[-2000:]}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as answer,
            ):
                if answer.status == 200:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"jupyter lab not ready in {timeout} s: {self.log_path}")

    def request(self, method: str, path: str) -> Any:
        import json

        req = urllib.request.Request(f"{self.url}{path}", method=method)
        with urllib.request.urlopen(req, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self) -> None:
        """End every session (and its kernel), as closing JupyterLab for the day would."""
        for session in self.request("GET", "/api/sessions"):
            self.request("DELETE", f"/api/sessions/{session['id']}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium under Playwright (a browser: make pages with `new_page`)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


class Notebook:
    """One notebook open in JupyterLab in a Playwright page."""

    def __init__(self, page: Any, lab: JupyterLab, name: str, shots: Path) -> None:
        self.page = page
        self.lab = lab
        self.name = name
        self.shots = shots
        self.shots.mkdir(parents=True, exist_ok=True)
        self._shot = 0

    def open(self, *, reload: bool = False) -> None:
        """Open (or reload) the notebook; return once its kernel is connected and idle."""
        # The toolbar says idle before the kernel's websocket is up, and a cell run then is
        # lost: wait for the first message on that websocket too.
        with self.page.expect_websocket(lambda ws: "/api/kernels/" in ws.url, timeout=90_000) as ws:
            if reload:
                self.page.reload()
            else:
                # ?reset: a fresh workspace, without the tabs earlier tests left open
                self.page.goto(f"{self.lab.url}/lab/tree/{self.name}?reset")
        ws.value.wait_for_event("framereceived", timeout=60_000)
        self.cells.first.wait_for(timeout=60_000)
        self.wait_kernel_idle()

    @property
    def panel(self) -> Any:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")

    @property
    def cells(self) -> Any:
        return self.panel.locator(".jp-Notebook .jp-Cell")

    def cell(self, index: int) -> Any:
        return self.cells.nth(index)

    def wait_kernel_idle(self, timeout: float = 60) -> None:
        self.page.get_by_text(re.compile(r"\| Idle$")).first.wait_for(timeout=timeout * 1000)

    def run(self, index: int, *, wait: bool = True, timeout: float = 120) -> Any:
        """Select cell `index`, press Shift+Enter, and (by default) wait until it has run."""
        cell = self.cell(index)
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputPrompt").click()
        self.page.keyboard.press("Escape")
        # Shift+Enter on the last cell would add a new one: Ctrl+Enter runs it in place.
        last = index == self.cells.count() - 1
        self.page.keyboard.press("Control+Enter" if last else "Shift+Enter")
        if wait and "jp-CodeCell" in (cell.get_attribute("class") or ""):
            self.wait_done(index, timeout)
        return cell

    def wait_done(self, index: int, timeout: float = 120) -> None:
        from playwright.sync_api import expect

        expect(self.cell(index).locator(".jp-InputPrompt")).to_have_text(
            PROMPT_DONE, timeout=timeout * 1000
        )

    def run_all(self, *, skip: tuple[int, ...] = (), timeout: float = 120) -> None:
        for index in range(self.cells.count()):
            if index not in skip:
                self.run(index, timeout=timeout)

    def errors(self) -> list[str]:
        """The text of every error output (tracebacks) in the notebook."""
        locator = self.page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
        )
        return [locator.nth(i).inner_text() for i in range(locator.count())]

    def screenshot(self, label: str) -> Path:
        self._shot += 1
        path = self.shots / f"{self._shot:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path

    def save(self) -> None:
        """Save with Ctrl+S, as a user does, and wait until the file on disk has changed."""
        path = self.lab.root / self.name
        before = path.stat().st_mtime_ns
        self.cell(0).locator(".jp-InputPrompt").click()  # the notebook has the focus
        self.page.keyboard.press("Control+s")
        deadline = time.monotonic() + 30
        while path.stat().st_mtime_ns == before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} was not saved")
            time.sleep(0.2)
        time.sleep(0.5)  # the server writes the file in place: let it finish

    def fonts_of(self, selector: str) -> list[str]:
        """The fonts Chromium really drew the first `selector` element's text with (CDP)."""
        cdp = self.page.context.new_cdp_session(self.page)
        try:
            cdp.send("DOM.enable")
            cdp.send("CSS.enable")
            root = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})
            found = cdp.send(
                "DOM.querySelector", {"nodeId": root["root"]["nodeId"], "selector": selector}
            )
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": found["nodeId"]})
            return [f["familyName"] for f in fonts["fonts"]]
        finally:
            cdp.detach()
