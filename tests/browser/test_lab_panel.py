"""The JupyterLab side panel in a real browser (Debian's chromium, headless, via Playwright)
against a real `jupyter lab` with the server extension, and a real service."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ctcd_jupyter as ctcd

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PING = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def lab(home, tmp_path):
    """`jupyter lab` on a free port with a token, its news prompt off; stopped afterwards."""
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = free_port(), secrets.token_hex(8)
    env = dict(os.environ, CTCD_HOME=str(home),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "lab-settings"))
    root = tmp_path / "root"
    root.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("jupyter lab did not start") from None
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/lab?token={token}"
    proc.terminate()
    proc.wait(15)


def test_side_panel_shows_and_controls_a_service(lab, home, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    script = tmp_path / "ping.py"
    script.write_text(PING)
    ctcd.LocalDaemonService("web", [sys.executable, str(script), "{host}", "{port}"],
                            health_path="/ping")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(lab)
            page.locator('li[data-id="ctcd-panel"]').click(timeout=60_000)
            row = page.locator('.ctcd-row[data-name="web"]')
            expect(row).to_contain_text("INACTIVE", timeout=30_000)
            row.get_by_role("button", name="start").click()
            expect(row).to_contain_text("ACTIVE", timeout=60_000)
            expect(row.locator(".ctcd-status")).to_have_text("ACTIVE")
            assert ctcd.get_service("web").is_running
            page.screenshot(path=str(tmp_path / "panel.png"))
            row.get_by_role("button", name="stop").click()
            expect(row.locator(".ctcd-status")).to_have_text("INACTIVE", timeout=60_000)
            assert not ctcd.get_service("web").is_running
        finally:
            browser.close()
