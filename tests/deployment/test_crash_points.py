"""A deploy killed (-9) at each of its steps (issue 21): within seconds, and with nobody but the
service's own server touching it, the served version, the champion alias and the last recorded
decision agree, the decision says what recovery did, and a restart serves the same version.

The deploying caller is a real process (a Python script calling `ctcd.mlflow_deploy` on a real
MLflow SQLite store); it dies at a crash point armed with CTCD_FAILPOINT, or is killed by the test
while the server loads (the server's load pauses there: `server.loading=sleep:...`).
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sklearn.linear_model import LogisticRegression

import ctcd_jupyter as ctcd
from ctcd_jupyter.model_server.failpoints import ENV
from ctcd_jupyter.services import MLFlowDeploymentService, transaction
from ctcd_jupyter.services.records import ServiceRecords

DEPLOY = """
import sys
import ctcd_jupyter as ctcd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True, as_frame=True)
ctcd.set_workspace(ctcd.Workspace(None, namespace={}, tracking=False))
ctcd.mlflow_deploy(LogisticRegression(C=1.0, max_iter=300).fit(X, y), sys.argv[1],
                   input_example=X.head(2), timeout=120)
"""

POINTS = ["before_load", "during_load", "after_switch", "after_alias", "after_record"]


@pytest.fixture(scope="module")
def registry_uri(tmp_path_factory) -> str:
    """One MLflow store for every crash point (each uses a model name of its own)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


@pytest.fixture
def tracked(workspace, registry_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry_uri)
    return workspace


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.02)
    return value


def server_is_loading(svc: MLFlowDeploymentService) -> bool:
    """The server holds its coordination lock (it does while it loads a candidate)."""
    fd = os.open(svc.folder / "coord.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def agreement(name: str) -> tuple[str | None, str | None, str | None]:
    """(served, alias, last decision's served version)."""
    from mlflow.tracking import MlflowClient

    served = ctcd.get_service(name).model_version
    client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    alias = str(client.get_model_version_by_alias(name, "champion").version)
    return served, alias, ctcd.deployments(name)[0].serving


@pytest.mark.parametrize("point", POINTS)
def test_a_deploy_killed_at_each_step_agrees_after_recovery(point, tracked, iris):
    X, y = iris
    name = f"crash-{point.replace('_', '-')}"
    svc = MLFlowDeploymentService(name, f"models:/{name}@champion", home=tracked.home,
                                  env={ENV: "server.loading=sleep:1.5"})
    ctcd.mlflow_deploy(LogisticRegression(C=0.01, max_iter=300).fit(X, y), name,
                       input_example=X.head(2), timeout=120)
    assert agreement(name) == ("1", "1", "1")

    armed = "" if point == "during_load" else f"deploy.{point}"
    caller = subprocess.Popen([sys.executable, "-c", DEPLOY, name], text=True,
                              env={**os.environ, ENV: armed}, stderr=subprocess.PIPE)
    try:
        if point == "during_load":
            store = ServiceRecords(tracked.home).store
            wait_for(lambda: transaction.pending(store, name) and server_is_loading(svc), 120,
                     "the server to load v2")
            caller.send_signal(signal.SIGKILL)
        returncode = caller.wait(180)
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()
    assert returncode == -signal.SIGKILL, caller.stderr.read()[-3000:]

    # Two recoverers race the server's own: the claim lets one of them settle it, once.
    racers = [threading.Thread(target=lambda: ctcd.get_service(name)) for _ in range(2)]
    if point == "after_switch":
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(60)
    # Otherwise nobody but the server touches the service: it settles it within seconds.
    store = ServiceRecords(tracked.home).store
    wait_for(lambda: transaction.pending(store, name) is None, 15, "the deploy to be settled")

    expected = "1" if point == "before_load" else "2"
    assert agreement(name) == (expected, expected, expected)
    reasons = [d.reason for d in ctcd.deployments(name) if "by recovery" in d.reason]
    if point == "after_record":
        assert reasons == [] and ctcd.deployments(name)[0].outcome == "deployed"
    else:
        done = "completed" if expected == "2" else "undone"
        assert len(reasons) == 1 and f"interrupted; {done} by recovery" in reasons[0]

    ctcd.get_service(name).restart(timeout=120)
    assert agreement(name) == (expected, expected, expected)
    ctcd.get_service(name).stop()


def test_with_no_server_running_the_listing_settles_an_interrupted_deploy(tracked, iris,
                                                                          capsys):
    from ctcd_jupyter.cli import main as ctcd_main

    X, y = iris
    name = "crash-unattended"
    # a server that polls rarely: it will not settle it before it is stopped
    svc = MLFlowDeploymentService(name, f"models:/{name}@champion", home=tracked.home,
                                  poll_interval=600)
    ctcd.mlflow_deploy(LogisticRegression(C=0.01, max_iter=300).fit(X, y), name,
                       input_example=X.head(2), timeout=120)
    caller = subprocess.run([sys.executable, "-c", DEPLOY, name], capture_output=True,
                            text=True, env={**os.environ, ENV: "deploy.after_switch"},
                            timeout=180)
    assert caller.returncode == -signal.SIGKILL, caller.stderr[-3000:]
    svc.stop()
    store = ServiceRecords(tracked.home).store
    assert transaction.pending(store, name) is not None

    assert ctcd_main(["services", "list"]) == 0  # who looks first, settles
    assert transaction.pending(store, name) is None
    decision = ctcd.deployments(name)[0]
    assert decision.serving == "2" and "interrupted; completed by recovery" in decision.reason
    svc.start(timeout=120, progress=False)
    assert agreement(name) == ("2", "2", "2")
    svc.stop()
