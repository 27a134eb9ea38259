"""Helpers for service tests (a module of its own: `conftest` names are ambiguous to import)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ctcd_jupyter.services import process
from ctcd_jupyter.services.records import ServiceRecords

PING_SERVER = """
import http.server, signal, sys
IGNORE_TERM = len(sys.argv) > 3 and sys.argv[3] == "ignore-term"
if IGNORE_TERM:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/ping" else 404)
        self.end_headers()
        self.wfile.write(b"pong")
    def log_message(self, *args):
        sys.stdout.write("request %s\\n" % self.path)
        sys.stdout.flush()
print("serving on", sys.argv[2], flush=True)
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"""


def kill_recorded(home: Path) -> list[int]:
    """Kill every process group recorded in `home` whose leader is still ours."""
    killed = []
    for record in ServiceRecords(home).all():
        data = (record.data or {}).get("runtime", {}).get("process")
        if data:
            sp = process.ServiceProcess.from_dict(data)
            killed += process.kill_group(sp, timeout=0, force=True)
    return killed


def ping_command(script: Path, *extra: str) -> list[str]:
    return [sys.executable, str(script), "{host}", "{port}", *extra]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
