"""A real `jupyter lab` (with the server extension) on a free port and Debian's chromium driven
by Playwright, shared by the browser tests of a module; screenshots go to $CTCD_SCREENSHOTS
(default: a pytest temporary folder)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import ctcd_jupyter as ctcd

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Lab:
    """A running `jupyter lab`: its URL, token, and its settings through the REST API."""

    def __init__(self, port: int, token: str):
        self.base = f"http://127.0.0.1:{port}"
        self.token = token
        self.url = f"{self.base}/lab?token={token}"

    def workspace(self) -> str:
        """The saved JupyterLab workspace (layout, restored widgets) as JSON text."""
        request = urllib.request.Request(f"{self.base}/lab/api/workspaces/default",
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read().decode()

    def wait_saved(self, text: str, timeout: float = 30) -> None:
        """Until the saved workspace mentions `text` (the layout is saved with a delay)."""
        deadline = time.monotonic() + timeout
        while text not in self.workspace():
            assert time.monotonic() < deadline, f"the workspace never saved {text!r}"
            time.sleep(0.2)

    def put_setting(self, plugin: str, values: dict) -> None:
        request = urllib.request.Request(
            f"{self.base}/lab/api/settings/{plugin}", method="PUT",
            data=json.dumps({"raw": json.dumps(values)}).encode(),
            headers={"Authorization": f"token {self.token}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status in (200, 204)


@pytest.fixture(scope="module")
def lab_home(tmp_path_factory):
    """The state folder the lab server and this test process share (one per module)."""
    home = tmp_path_factory.mktemp("browser") / "ctcd-home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CTCD_HOME", str(home))
        patch.setenv("CTCD_TRACKING", "0")
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        workspace = ctcd.Workspace(home, namespace={}, tracking=False)
        old = ctcd.set_workspace(workspace)
        yield home
        ctcd.set_workspace(old)
        workspace.close()
        from ctcd_jupyter.services import services

        for svc in services(home):
            with contextlib.suppress(Exception):
                svc.stop(timeout=10, force=True)


@pytest.fixture(scope="module")
def lab(lab_home, tmp_path_factory):
    """`jupyter lab` on a free port with a token, its news prompt off; stopped afterwards."""
    folder = tmp_path_factory.mktemp("lab")
    settings = folder / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = free_port(), secrets.token_hex(8)
    env = dict(os.environ, CTCD_HOME=str(lab_home),
               JUPYTERLAB_SETTINGS_DIR=str(folder / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(folder / "lab-workspaces"))
    root = folder / "root"
    root.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
        env=env, stdout=subprocess.DEVNULL, stderr=(folder / "lab.log").open("w"))
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("jupyter lab did not start: "
                                   + (folder / "lab.log").read_text()[-2000:]) from None
            time.sleep(0.1)
    try:
        yield Lab(port, token)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def browser():
    """Chromium for one test (Playwright's loop must end before pytest-jupyter's fixtures
    close theirs)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("CTCD_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {path}")
    return path
