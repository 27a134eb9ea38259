"""Two processes starting the same service at once launch one server between them."""

from __future__ import annotations

import json
import subprocess
import sys

import ctcd_jupyter as ctcd

STARTER = """
import json, sys
import ctcd_jupyter as ctcd
svc = ctcd.LocalDaemonService("web", [sys.executable, sys.argv[1], "{host}", "{port}"],
                              health_path="/ping")
svc.start(timeout=60, progress=False)
print(json.dumps({"pid": svc.describe()["runtime"]["process"]["main"]["pid"],
                  "endpoint": svc.endpoint}))
"""


def test_two_processes_starting_one_service_launch_one_server(home, ping_server):
    procs = [subprocess.Popen([sys.executable, "-c", STARTER, str(ping_server)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert results[0] == results[1]  # same pid, same endpoint: one server
    [svc] = ctcd.services()
    assert svc.is_running
    svc.stop(timeout=10)
