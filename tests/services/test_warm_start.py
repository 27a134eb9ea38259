"""Model servers forked by the warm process (services/warm_start.py, warm_process.py): real
servers on 127.0.0.1, a real SQLite MLflow store, the warm process really forking."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
from pathlib import Path

import psutil
import pytest
import requests
from service_helpers import wait_for

from ctcd_jupyter.errors import ServiceStartError
from ctcd_jupyter.services import MLFlowDeploymentService, warm_start
from ctcd_jupyter.services.process import EXIT_MARK

ROW = {"dataframe_split": {"columns": ["sepal length (cm)", "sepal width (cm)",
                                       "petal length (cm)", "petal width (cm)"],
                           "data": [[5.1, 3.5, 1.4, 0.2]]}}


@pytest.fixture
def warm_dir(monkeypatch):
    folder = tempfile.mkdtemp(prefix="ctcd-w-")  # short: a socket path has 107 bytes at most
    monkeypatch.setenv("CTCD_WARM_DIR", folder)
    yield Path(folder)
    warm_start.stop()
    leftovers = [p.pid for p in psutil.process_iter(["cmdline"])
                 if folder in " ".join(p.info["cmdline"] or ())]
    shutil.rmtree(folder, ignore_errors=True)
    assert not leftovers, f"warm processes left running: {leftovers}"


def warm_ready(folder: Path) -> Path:
    return wait_for(lambda: next(iter(folder.glob("w-*.sock")), None), timeout=120,
                    what="the warm process's socket")


def serve(name: str, uri: str) -> MLFlowDeploymentService:
    svc = MLFlowDeploymentService(name, uri, access_log=False)
    svc.start(timeout=120, progress=False)
    return svc


def test_a_cold_start_readies_a_warm_process_and_the_next_start_is_forked(
        mlflow_env, home, warm_dir):
    cold = serve("cold", mlflow_env["model_uri"])
    assert cold._runtime["warm"] is False
    socket_path = warm_ready(warm_dir)
    assert stat.S_IMODE(warm_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(socket_path.stat().st_mode) & 0o077 == 0

    old_umask = os.umask(0o027)  # the warm process runs with 077; a server gets the caller's
    try:
        warm = serve("warm", mlflow_env["model_uri"])
    finally:
        os.umask(old_umask)
    assert warm._runtime["warm"] is True
    status = Path(f"/proc/{warm.pid}/status").read_text()
    assert "Umask:\t0027" in status
    answer = requests.post(warm.endpoint, json=ROW, timeout=30)
    assert answer.status_code == 200 and answer.headers["X-Model-Version"] == "1"
    row = ROW["dataframe_split"]["data"]
    assert list(warm.predict(row)) == list(cold.predict(row))
    assert [h["why"] for h in warm.history()] == ["started"]

    # The same process model as a cold start: the log runner leads a session of its own and
    # is the server's parent; the warm process is neither's ancestor in that session.
    sp = warm._process
    leader, main = psutil.Process(sp.leader.pid), psutil.Process(sp.main.pid)
    assert main.ppid() == leader.pid
    assert os.getsid(main.pid) == os.getsid(leader.pid) == leader.pid == sp.sid
    assert "_logrunner.py" in " ".join(leader.cmdline())
    # it reads as what it runs, not as the warm process it was forked from
    assert [c for c in main.cmdline() if c][1:] == [str(Path(warm_start.SERVE)),
                                                    str(warm.folder)]
    assert "Uvicorn running" in warm.logs(tail=50)

    pids, port = [sp.leader.pid, sp.main.pid], warm.port
    warm.stop()
    cold.stop()
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                   for p in pids)
    # the runner waited for its adopted child and noted how it ended, as for a cold start
    assert last_line(warm).startswith(EXIT_MARK)
    assert last_line(warm) == last_line(cold)
    warm.start(timeout=120, progress=False)  # a restart comes back on the same port, warm
    assert warm._runtime["warm"] is True and warm.model_version == "1" and warm.port == port
    warm.stop()


def last_line(svc: MLFlowDeploymentService) -> str:
    return svc.logs(tail=1).strip()


def test_a_warm_started_server_that_cannot_serve_fails_like_a_cold_one(
        mlflow_env, home, warm_dir):
    serve("first", mlflow_env["model_uri"]).stop()
    warm_ready(warm_dir)
    bad = MLFlowDeploymentService("bad", "models:/iris/99", access_log=False)
    with pytest.raises(ServiceStartError, match=r"cannot serve: .*no version 99"):
        bad.start(timeout=120, progress=False)
    assert bad._runtime["warm"] is True
    assert f"{EXIT_MARK}3" in bad.logs(tail=20)


def test_without_the_warm_process_services_keep_serving_and_starts_go_cold(
        mlflow_env, home, warm_dir):
    first = serve("first", mlflow_env["model_uri"])
    socket_path = warm_ready(warm_dir)
    second = serve("second", mlflow_env["model_uri"])
    assert second._runtime["warm"] is True

    warm_pid = int(Path(f"{socket_path}.lock").read_text())
    os.kill(warm_pid, signal.SIGKILL)  # the warm process is no part of any service
    wait_for(lambda: not psutil.pid_exists(warm_pid)
             or psutil.Process(warm_pid).status() == "zombie", timeout=10, what="its end")
    assert requests.post(second.endpoint, json=ROW, timeout=30).status_code == 200
    assert second.check().value == "ACTIVE"

    third = serve("third", mlflow_env["model_uri"])  # a stale socket: cold, then warm again
    assert third._runtime["warm"] is False
    wait_for(lambda: socket_path.exists() and _pid(socket_path) not in (None, warm_pid),
             timeout=120, what="a new warm process")
    for svc in (first, second, third):
        svc.stop()


def test_ctcd_services_warm_lists_and_stops_the_warm_process(mlflow_env, home, warm_dir,
                                                             capsys):
    from ctcd_jupyter.cli import main

    assert main(["services", "warm"]) == 0
    assert "no warm process" in capsys.readouterr().out
    svc = serve("cli", mlflow_env["model_uri"])
    socket_path = warm_ready(warm_dir)
    pid = _pid(socket_path)
    forked = serve("forked", mlflow_env["model_uri"])
    assert forked._runtime["warm"] is True
    assert main(["services", "warm"]) == 0
    out = capsys.readouterr().out
    assert str(pid) in out and str(socket_path) in out
    assert main(["services", "warm", "--stop"]) == 0
    assert "stopped 1 warm process" in capsys.readouterr().out
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert forked.check().value == "ACTIVE"  # a server it forked is no part of it
    assert forked.model_version == "1"
    forked.stop()
    svc.stop()


def _pid(socket_path: Path) -> int | None:
    try:
        return int(Path(f"{socket_path}.lock").read_text())
    except (OSError, ValueError):
        return None


@pytest.mark.parametrize("setting", ["off", "open folder"])
def test_warm_starts_can_be_off_and_never_use_a_folder_others_can_write(
        mlflow_env, home, warm_dir, monkeypatch, setting):
    if setting == "off":
        monkeypatch.setenv("CTCD_WARM_START", "0")
    else:
        warm_dir.chmod(0o777)
    svc = serve("plain", mlflow_env["model_uri"])
    assert svc._runtime["warm"] is False
    assert warm_start.launch(svc.folder, log_path=svc.log_path, env=dict(os.environ),
                             log_max_bytes=1 << 20) is None
    svc.stop()
    assert not list(warm_dir.glob("w-*"))  # nothing was started, nothing was bound
