"""Starting races: two processes starting one service, and a picked port taken before bind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

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


FLAKY_BIND = """
import os, sys
marker = sys.argv[3]
if not os.path.exists(marker):  # first launch: as if another process took the port first
    open(marker, "w").close()
    print("OSError: [Errno 98] Address already in use", flush=True)
    sys.exit(1)
exec(open(sys.argv[4]).read())
"""


def test_a_picked_port_taken_before_bind_is_retried_on_another(home, tmp_path, ping_server):
    script = tmp_path / "flaky.py"
    script.write_text(FLAKY_BIND)
    marker = tmp_path / "launched-once"
    # ping_server reads host and port from argv[1:3]; our extra args come after them
    svc = ctcd.LocalDaemonService("flaky", [sys.executable, str(script), "{host}", "{port}",
                                            str(marker), str(ping_server)], health_path="/ping")
    try:
        svc.start(timeout=30, progress=False)
        assert marker.exists() and svc.is_running
    finally:
        svc.stop(timeout=10)


def test_a_port_the_user_fixed_is_not_retried(home, tmp_path):
    script = tmp_path / "flaky.py"
    script.write_text(FLAKY_BIND)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    svc = ctcd.LocalDaemonService("fixed", [sys.executable, str(script), "{host}", "{port}",
                                            str(tmp_path / "m"), "unused"], port=port)
    with pytest.raises(ctcd.ServiceStartError, match="Address already in use"):
        svc.start(timeout=30, progress=False)
    assert svc.status is ctcd.ServiceState.ERROR
