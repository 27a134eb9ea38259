"""N processes starting one new service at the same instant all get the same, first, healthy
server: one launch, never a healthy server replaced (issue 8, item 8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from fault_helpers import alive, wait_for

import ctcd_jupyter as ctcd
from ctcd_jupyter.services.records import ServiceRecords

# Each launch appends its pid to a file, so the test counts launches, not just survivors.
SERVER = """
import http.server, os, sys
with open(sys.argv[3], "a") as f:
    f.write(f"{os.getpid()}\\n")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"""

STARTER = """
import json, sys
import ctcd_jupyter as ctcd
print("ready", flush=True)
sys.stdin.readline()                               # everyone waits for the same "go"
svc = ctcd.LocalDaemonService("web", [sys.executable, sys.argv[1], "{host}", "{port}",
                                      sys.argv[2]], health_path="/")
svc.start(timeout=60, progress=False)
info = svc.describe()
print(json.dumps({"pid": svc.pid, "endpoint": svc.endpoint, "uuid": svc.uuid,
                  "status": info["status"]}))
"""

STARTERS = 4
TRIALS = int(os.environ.get("CTCD_FAULT_TRIALS", "6"))


def _trial(state, script, launches):
    ServiceRecords(state)  # a state folder in use already: the starters race on the row only
    procs = [subprocess.Popen([sys.executable, "-c", STARTER, str(script), str(launches)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "CTCD_HOME": str(state)})
             for _ in range(STARTERS)]
    for proc in procs:  # every interpreter has imported ctcd: the race starts at "go"
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-3000:]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.parametrize("trial", range(TRIALS))
def test_concurrent_starters_all_get_the_first_server(state, tmp_path, trial):
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    launches = tmp_path / "launches.txt"
    results = _trial(state, script, launches)
    first = results[0]
    assert all(r == first for r in results), json.dumps(results, indent=1)
    assert first["status"] == "ACTIVE"
    launched = launches.read_text().split()
    assert launched == [str(first["pid"])], f"launched {launched}, all callers got {first}"
    [svc] = ctcd.services()
    assert svc.is_running and svc.pid == first["pid"] and svc.uuid == first["uuid"]
    pid = svc.pid
    svc.stop(timeout=5)
    wait_for(lambda: not alive(pid), 5, "the server to stop")
