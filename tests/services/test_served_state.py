"""What a model server serves is its own state (issue 21 items 2-5, 11): a swap whose caller dies
is served again after a restart, a server dying mid-swap is a one-line `ServiceError`, a restart
never trades a serving server for one that cannot start, a swap to the served version changes
nothing, and leftover model copies are removed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from service_helpers import wait_for

import ctcd_jupyter as ctcd
from ctcd_jupyter.cli import main as ctcd_main
from ctcd_jupyter.errors import ModelServerError, ModelSwapError, ServiceError
from ctcd_jupyter.model_server.failpoints import ENV
from ctcd_jupyter.services import MLFlowDeploymentService, process

TRAIN = """
import json, sys
import mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
folder = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
X, y = load_iris(return_X_y=True, as_frame=True)
exp = mlflow.create_experiment("served-state", artifact_location=f"{folder}/artifacts")
for name, c in (("m", 0.01), ("m", 1.0), ("doomed", 1.0)):
    with mlflow.start_run(experiment_id=exp):
        mlflow.sklearn.log_model(LogisticRegression(C=c, max_iter=300).fit(X, y), name="model",
                                 registered_model_name=name, pip_requirements=[],
                                 serialization_format="cloudpickle", input_example=X.head(2))
mlflow.MlflowClient().set_registered_model_alias("doomed", "champion", "1")
print(json.dumps(f"sqlite:///{folder}/mlflow.db"))
"""

SWAP = """
import sys
from ctcd_jupyter.services import get_service
get_service(sys.argv[1]).swap_model(sys.argv[2], timeout=120)
"""


ROLLBACK = """
import sys
from ctcd_jupyter.services import get_service
get_service(sys.argv[1]).rollback(to=sys.argv[2])
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> str:
    """m v1 and v2, and doomed v1 (@champion), in a store of this module's own."""
    folder = tmp_path_factory.mktemp("mlflow")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(TRAIN), str(folder)],
                         capture_output=True, text=True, timeout=300, cwd=folder)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def tracked(home, registry, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry)
    return home


def copies(svc: MLFlowDeploymentService) -> set[str]:
    return {p.name for p in (svc.folder / "models").iterdir()}


def test_a_swap_whose_caller_dies_is_served_and_restarted_as_served(tracked, iris):
    svc = MLFlowDeploymentService("fixed", "models:/m/1", env={ENV: "server.loading=sleep:1.5"})
    svc.start(timeout=120, progress=False)
    caller = subprocess.Popen([sys.executable, "-c", SWAP, "fixed", "models:/m/2"])
    try:
        wait_for(lambda: _busy(svc), 60, "the server to load v2")
        caller.send_signal(signal.SIGKILL)
    finally:
        caller.wait(30)
    wait_for(lambda: svc.model_version == "2", 30, "the server to finish the swap")
    assert svc.serving_uri == "models:/m/2"
    svc.restart(timeout=120)
    assert svc.model_version == "2" and len(svc.predict(iris.head(2))) == 2


def _busy(svc: MLFlowDeploymentService) -> bool:
    import fcntl

    fd = os.open(svc.folder / "coord.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def test_a_server_dying_mid_swap_is_a_service_error_and_the_next_start_works(tracked, iris):
    svc = MLFlowDeploymentService("dies", "models:/m/1", env={ENV: "server.before_switch"})
    svc.start(timeout=120, progress=False)
    with pytest.raises(ModelServerError) as info:
        svc.swap_model("models:/m/2", timeout=60)
    error = info.value
    assert error.service == "dies" and error.returncode == -signal.SIGKILL
    assert len(str(error).splitlines()) == 1 and "'dies'" in str(error)
    assert f"exited with code {-signal.SIGKILL}" in str(error) and error.log_tail
    svc.start(timeout=120, progress=False)
    assert svc.is_running and svc.model_version == "1"
    assert len(svc.predict(iris.head(2))) == 2


def test_a_restart_refuses_when_a_new_start_could_not_serve(tracked, registry, iris):
    from mlflow.tracking import MlflowClient

    svc = MLFlowDeploymentService("doomed", "models:/doomed@champion", poll_interval=0.2)
    svc.start(timeout=120, progress=False)
    MlflowClient(tracking_uri=registry).delete_registered_model("doomed")
    wait_for(lambda: svc.last_error, 30, "the follower to notice the deleted model")
    with pytest.raises(ServiceError, match="was not restarted and keeps serving v1") as info:
        svc.restart(timeout=60)
    assert len(str(info.value).splitlines()) == 1
    assert svc.is_running and svc.model_version == "1"
    assert len(svc.predict(iris.head(2))) == 2


def test_a_swap_or_rollback_to_the_served_version_is_a_no_op(tracked, workspace):
    svc = MLFlowDeploymentService("same", "models:/m/1")
    svc.start(timeout=120, progress=False)
    generation = svc.server_status()["serving"]["generation"]
    svc.swap_model("models:/m/1")
    svc.rollback(to=1)
    assert svc.server_status()["serving"]["generation"] == generation
    assert [(h["version"], h["why"]) for h in svc.history()] == [("1", "started")]
    assert [(d.outcome, d.reason) for d in ctcd.deployments("same")] == [
        ("kept", "already serving v1")]
    assert svc.pinned is None


def test_leftover_model_copies_are_removed_by_the_next_start_and_gc(tracked, capsys):
    svc = MLFlowDeploymentService("copies", "models:/m/1")
    svc.start(timeout=120, progress=False)
    served = copies(svc)
    assert len(served) == 1
    # a load that timed out leaves nothing once it finishes
    with pytest.raises(ModelSwapError, match="took longer than"):
        svc.swap_model("models:/m/2", timeout=0.001)
    wait_for(lambda: copies(svc) == served, 30, "the timed-out load's copy to go")

    process.kill_group(svc._process, timeout=0, force=True)  # a killed server
    assert copies(svc) == served
    assert ctcd_main(["gc"]) == 0
    assert "removed 1 leftover model copy" in capsys.readouterr().out
    assert copies(svc) == set()

    svc.start(timeout=120, progress=False)
    second = copies(svc)
    process.kill_group(svc._process, timeout=0, force=True)
    svc.start(timeout=120, progress=False)  # the next start removes the killed one's copy
    third = copies(svc)
    assert len(third) == 1 and not third & second
    assert ctcd_main(["gc"]) == 0
    assert copies(svc) == third  # what is served stays
    assert svc.model_version == "1"


def test_a_follower_does_not_fight_an_open_deployment(tracked, registry):
    from mlflow.tracking import MlflowClient

    svc = MLFlowDeploymentService("racer", "models:/m@champion", poll_interval=0.1)
    svc.swap_model("models:/m/1")  # starts it; m@champion does not exist yet
    # a deployment whose caller pauses between the switch and moving the alias
    caller = subprocess.Popen([sys.executable, "-c", ROLLBACK, "racer", "2"],
                              env={**os.environ, ENV: "deploy.after_switch=sleep:3"})
    try:
        wait_for(lambda: svc.model_version == "2", 60, "the switch to v2")
        MlflowClient(tracking_uri=registry).set_registered_model_alias("m", "champion", "1")
        assert caller.wait(60) == 0
    finally:
        if caller.poll() is None:
            caller.kill()
    assert svc.model_version == "2"
    assert str(MlflowClient(tracking_uri=registry).get_model_version_by_alias(
        "m", "champion").version) == "2"
    # the alias seen meanwhile (v1) was not followed back
    assert [h["why"] for h in svc.history()] == ["deployed", "rolled back"]
