"""kill -9 of a service's processes: the server, the group leader (the log writer), the uvicorn
master with workers. `check()` reports the truth and reaps workers left without their master."""

from __future__ import annotations

import os
import signal
import sys
import urllib.request

import psutil
import pytest
from fault_helpers import alive, session_members, uvicorn_command, wait_for

import ctcd_jupyter as ctcd
from ctcd_jupyter.services import ServiceState, process


def _workers(pid):
    """uvicorn's worker processes (multiprocessing spawn children; not its resource tracker)."""
    try:
        return [c.pid for c in psutil.Process(pid).children()
                if "spawn_main" in " ".join(c.cmdline())]
    except psutil.Error:
        return []


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_kill_9_of_the_uvicorn_master_reaps_its_workers(state, asgi_dir):
    svc = ctcd.LocalDaemonService("uv", uvicorn_command(asgi_dir, workers=2), health_path="/")
    svc.start(timeout=60, progress=False)
    master, port, sid = svc.pid, svc.port, os.getsid(svc.pid)
    workers = wait_for(lambda: len(_workers(master)) == 2 and _workers(master), 30, "2 workers")
    assert _answers(svc.endpoint)
    os.kill(master, signal.SIGKILL)
    wait_for(lambda: not alive(master), 5, "the master to die")
    assert any(alive(w) for w in workers)  # orphaned, still in our session

    assert svc.check() is ServiceState.ERROR
    error = svc.last_error
    assert f"process {master} exited" in error and "reaped" in error, error
    for worker in workers:
        assert str(worker) in error
    wait_for(lambda: not any(alive(w) for w in workers), 10, "the workers to be reaped")
    assert process.port_is_free("127.0.0.1", port) and not _answers(svc.endpoint)
    wait_for(lambda: not session_members(sid), 10, "the session to be empty")
    svc.start(timeout=60, progress=False)  # and it starts again, on the same terms
    assert svc.is_running
    svc.stop(timeout=10)


def test_kill_9_of_master_and_leader_still_reaps_the_recorded_workers(state, asgi_dir):
    svc = ctcd.LocalDaemonService("uv", uvicorn_command(asgi_dir, workers=2), health_path="/")
    svc.start(timeout=60, progress=False)
    master = svc.pid
    leader = svc.describe()["runtime"]["process"]["leader"]["pid"]
    workers = wait_for(lambda: len(_workers(master)) == 2 and _workers(master), 30, "2 workers")
    assert svc.check() is ServiceState.ACTIVE  # a check records the workers it sees
    for pid in (leader, master):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(master) and not alive(leader), 5, "master and leader to die")
    assert svc.check() is ServiceState.ERROR
    wait_for(lambda: not any(alive(w) for w in workers), 10, "the workers to be reaped")
    assert "reaped" in svc.last_error


def test_kill_9_of_the_group_leader_leaves_a_stoppable_server(state, ping_server):
    svc = ctcd.LocalDaemonService("web", [sys.executable, str(ping_server), "{host}", "{port}"],
                                  health_path="/ping")
    svc.start(timeout=20, progress=False)
    server, port = svc.pid, svc.port
    leader = svc.describe()["runtime"]["process"]["leader"]["pid"]
    os.kill(leader, signal.SIGKILL)
    wait_for(lambda: not alive(leader), 5, "the log writer to die")
    assert svc.status is ServiceState.ACTIVE  # the server itself still answers
    svc.stop(timeout=5)
    assert not alive(server) and process.port_is_free("127.0.0.1", port)
    assert svc.status is ServiceState.INACTIVE


def test_kill_9_of_the_server_is_error_with_its_last_words(state, ping_server):
    svc = ctcd.LocalDaemonService("web", [sys.executable, str(ping_server), "{host}", "{port}"],
                                  health_path="/ping")
    svc.start(timeout=20, progress=False)
    os.kill(svc.pid, signal.SIGKILL)
    # ERROR at once; the exit itself is seen once the log writer has reaped the server
    wait_for(lambda: svc.check() is ServiceState.ERROR and "exited" in (svc.last_error or ""),
             5, "ERROR after kill -9, saying it exited")
    assert "serving on" in svc.last_error
    assert "reaped" not in svc.last_error  # nothing was left to reap
    svc.restart(timeout=20)
    assert svc.is_running
    svc.stop(timeout=5)


def test_a_stopped_service_whose_master_died_reports_the_leftovers(state, asgi_dir):
    """Not wanted running: the leftovers are not reaped by a look, but reported; stop reaps."""
    svc = ctcd.LocalDaemonService("uv", uvicorn_command(asgi_dir, workers=2), health_path="/")
    svc.start(timeout=60, progress=False)
    master = svc.pid
    workers = wait_for(lambda: len(_workers(master)) == 2 and _workers(master), 30, "2 workers")
    svc._set(wanted=ServiceState.INACTIVE)  # as if a stop had been interrupted half-way
    os.kill(master, signal.SIGKILL)
    wait_for(lambda: not alive(master), 5, "the master to die")
    assert svc.check() is ServiceState.ERROR
    assert "still running" in svc.last_error and str(workers[0]) in svc.last_error
    assert all(alive(w) for w in workers)
    svc.stop(timeout=5)
    wait_for(lambda: not any(alive(w) for w in workers), 10, "stop to reap the workers")
    assert svc.status is ServiceState.INACTIVE


@pytest.mark.timeout(240)
def test_mlflow_server_with_two_workers_after_kill_9_of_its_master(state, mlflow_model,
                                                                   monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_model["tracking_uri"])
    svc = ctcd.MLFlowDeploymentService("iris", mlflow_model["model_uri"], workers=2,
                                       columns=["sepal length (cm)", "sepal width (cm)",
                                                "petal length (cm)", "petal width (cm)"])
    svc.start(timeout=180, progress=False)
    row = [[5.1, 3.5, 1.4, 0.2]]
    assert len(svc.predict(row)) == 1
    port = svc.port
    members = [p.pid for p in psutil.Process(svc.pid).children(recursive=True)]
    # the uvicorn master: the process whose children are the workers
    master = next(p for p in [svc.pid, *members]
                  if len(psutil.Process(p).children()) >= 2)
    workers = [c.pid for c in psutil.Process(master).children()]
    os.kill(master, signal.SIGKILL)
    # `mlflow models serve` (the recorded main process) waits on the master: it exits next
    wait_for(lambda: svc.check() is ServiceState.ERROR, 20, "ERROR once the CLI exits")
    assert "reaped" in svc.last_error, svc.last_error
    wait_for(lambda: not any(alive(w) for w in workers), 15, "the workers to be reaped")
    assert process.port_is_free("127.0.0.1", port)
    with pytest.raises(ctcd.PredictionError, match="not reachable") as info:
        svc.predict(row)
    assert info.value.log_tail is not None
    svc.stop(timeout=10)
