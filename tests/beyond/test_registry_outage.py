"""A followed alias on a real `mlflow server` (SQLite backend) that is killed and restarted: the
outage shows in `last_error` within seconds while the old model keeps serving, and an alias
moved after the server is back is served within two poll intervals (plus the load)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import servers

from ctcd_jupyter.model_server.mlflow_registry import NotInRegistry, RegistryReader
from ctcd_jupyter.services import MLFlowDeploymentService

POLL = 0.5
REGISTER = """
import sys, mlflow, mlflow.sklearn
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True, as_frame=True)
with mlflow.start_run():
    for C in (0.01, 1.0):
        mlflow.sklearn.log_model(LogisticRegression(C=C, max_iter=300).fit(X, y), name="m",
                                 registered_model_name="iris", pip_requirements=[],
                                 serialization_format="cloudpickle", input_example=X.head(2))
MlflowClient().set_registered_model_alias("iris", "champion", "1")
"""


def _server(folder: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
           "PATH": f"{servers.BIN}:{os.environ.get('PATH', '')}"}
    proc = servers.start([str(servers.BIN / "mlflow"), "server", "--backend-store-uri",
                          f"sqlite:///{folder}/mlflow.db", "--artifacts-destination",
                          str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
                          "--workers", "1"], folder / "server.log", env=env)
    servers.wait_for(lambda: servers.healthy(f"http://127.0.0.1:{port}/health"), 120,
                     "mlflow server", proc, folder / "server.log")
    return proc


def _until(check, timeout: float, what: str) -> float:
    """Seconds until `check()` is true (fails after `timeout`)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not after {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def test_tracking_server_outage_shows_and_recovery_is_prompt(home, tmp_path):
    folder, port = tmp_path / "mlflow", servers.free_port()
    folder.mkdir()
    url = f"http://127.0.0.1:{port}"
    proc = _server(folder, port)
    svc = None
    try:
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(REGISTER)], cwd=tmp_path,
                             env={**os.environ, "MLFLOW_TRACKING_URI": url},
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        svc = MLFlowDeploymentService("outage", "models:/iris@champion", tracking_uri=url,
                                      poll_interval=POLL, access_log=False, home=home)
        svc.start(timeout=120)
        assert svc.model_version == "1" and svc.last_error is None

        servers.stop(proc, timeout=0, sig=signal.SIGKILL)
        shown = _until(lambda: svc.last_error, 10, "the outage in last_error")
        assert "unreachable" in svc.last_error and "still serving models:/iris/1" in \
            svc.last_error
        assert svc.predict([[5.1, 3.5, 1.4, 0.2]]).shape == (1,)  # still serving

        proc = _server(folder, port)
        from mlflow import MlflowClient

        MlflowClient(url).set_registered_model_alias("iris", "champion", "2")
        moved = _until(lambda: svc.model_version == "2", 30, "the moved alias to be served")
        assert svc.last_error is None
        assert "[ctcd] followed the alias: v1 -> v2 (models:/iris/2) in " in svc.logs(tail=100)
        print(json.dumps({"error_shown_after_s": round(shown, 2),
                          "moved_alias_served_after_s": round(moved, 2), "poll_s": POLL}))
        assert moved < 2 * POLL + 2.0  # two polls, and the load of v2 on a busy machine

        # the REST reads agree with MlflowClient on what is missing
        reader = RegistryReader(url)
        assert reader.version_of("iris", "champion") == "2"
        assert reader.location("iris", "2") == \
            MlflowClient(url).get_model_version_download_uri("iris", "2")
        with pytest.raises(NotInRegistry):
            reader.version_of("iris", "nosuch")
        with pytest.raises(NotInRegistry):
            reader.version_of("nosuch", "champion")
    finally:
        if svc is not None:
            svc.stop()
        servers.stop(proc)
        shutil.rmtree(folder, ignore_errors=True)
