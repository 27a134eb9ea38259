"""Helpers for the fault scenarios: small real servers, polling with deadlines, store surgery."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from ctcd_jupyter.services.records import ServiceRecords

# A server that answers GET /ping with 200 and logs one line per request.
PING_SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/ping" else 404)
        self.end_headers()
        self.wfile.write(b"pong")
    def log_message(self, *args):
        pass
print("serving on", sys.argv[2], flush=True)
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"""

# An ASGI app for `python -m uvicorn --workers 2`: each worker answers with its own pid.
ASGI_APP = """
import os
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
"""


def uvicorn_command(app_dir: Path, workers: int = 2) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "asgi_app:app",
            "--host", "{host}", "--port", "{port}", "--workers", str(workers),
            "--no-access-log"]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` until it returns something true, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def session_members(sid: int) -> list[int]:
    """Live pids in session `sid` (what a service leaves behind)."""
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getsid(proc.pid) == sid:
                found.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return found


def recorded_sessions(home: Path) -> list[int]:
    """Session ids of the processes recorded in `home`, read straight from the rows."""
    sids = []
    for row in ServiceRecords(home).store.execute("SELECT data FROM services"):
        try:
            proc = json.loads(row["data"])["runtime"]["process"]
            sids.append(int(proc.get("sid") or proc["leader"]["pid"]))
        except (TypeError, KeyError, ValueError, AttributeError):
            continue
    return sids


def kill_sessions(sids: list[int]) -> list[int]:
    """The safety net: KILL what is left in sessions the test's services started."""
    killed = []
    for sid in sids:
        for pid in session_members(sid):
            if pid != os.getpid() and sid != os.getsid(0):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed


def edit_row(home: Path, name: str, change: Callable[[dict], Any]) -> None:
    """Change a registry row's JSON in place, as a hostile or broken writer would."""
    store = ServiceRecords(home).store
    [row] = store.execute("SELECT data FROM services WHERE name = ?", (name,))
    data = json.loads(row["data"])
    result = change(data)
    text = result if isinstance(result, str) else json.dumps(data)
    store.execute("UPDATE services SET data = ? WHERE name = ?", (text, name))


def set_column(home: Path, name: str, column: str, value: Any) -> None:
    assert column in {"uuid", "kind", "updated", "name"}
    ServiceRecords(home).store.execute(
        f"UPDATE services SET {column} = ? WHERE name = ?", (value, name))
