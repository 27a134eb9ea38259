"""The tracking server down during a run: the run is recorded locally and the warning says
exactly what MLflow lacks; it never fails silently."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import ctcd_jupyter as ctcd


def test_run_with_the_tracking_server_down_is_recorded_with_a_warning(workspace, home,
                                                                      tmp_path):
    workspace.namespace.update({"ctcd": ctcd})
    pipeline = ctcd.Pipeline("offline", [ctcd.Step("s", "x = 2\nctcd.log_metric('x', x)")],
                             workspace=workspace)
    path = ctcd.export_pipeline(pipeline, tmp_path / "offline_pipeline.py")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CTCD_HOME": str(home), "CTCD_TRACKING": "1",
           "MLFLOW_TRACKING_URI": url}
    done = subprocess.run([str(Path(sys.executable).with_name("ctcd")), "run", str(path)],
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "SUCCEEDED" in done.stdout
    expected = (f"warning: MLflow tracking unavailable at {url} (MlflowException: ")
    assert expected in done.stderr
    assert ("this run's params, metrics and step times are only in the local state folder, "
            "not in MLflow") in done.stderr
    (run,) = ctcd.Workspace(home, tracking=False).runs("offline")
    assert run.metrics == {"x": 2.0} and run.mlflow_run_id is None
    assert run.warnings and run.warnings[0].startswith(f"MLflow tracking unavailable at {url}")
