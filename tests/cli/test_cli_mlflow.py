"""`ctcd mlflow-ui`: a real `mlflow ui` on the state folder's store, started as the `mlflow-ui`
service, found by the panels, answering with ctcd's experiments (tagged for MLflow 3's UI)."""

from __future__ import annotations

import json
import time
import urllib.request

import ctcd_jupyter as ctcd
from ctcd_jupyter.cli import main


def get(url: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return json.loads(answer.read() or b"{}")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_mlflow_ui_serves_the_workspace_store_as_a_service(home, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    ws = ctcd.Workspace(home, namespace={}, tracking=True)
    try:
        run = ctcd.Pipeline("ct", [ctcd.Step("s", "x = 1")], workspace=ws).run()
    finally:
        ws.close()
    assert run.mlflow_run_id
    try:
        assert main(["--home", str(home), "mlflow-ui", "--timeout", "180"]) == 0
        out = capsys.readouterr().out
        url = out.split(": ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and "ctcd services stop mlflow-ui" in out
        svc = ctcd.get_service("mlflow-ui", home)
        assert svc.is_running and svc.base_url == url
        found = get(f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=ct")
        tags = {t["key"]: t["value"] for t in found["experiment"]["tags"]}
        assert tags["mlflow.experimentKind"] == "custom_model_development"
        got = get(f"{url}/api/2.0/mlflow/runs/get?run_id={run.mlflow_run_id}")
        run_tags = {t["key"]: t["value"] for t in got["run"]["data"]["tags"]}
        assert run_tags["ctcd.status"] == "SUCCEEDED" and run_tags["ctcd.run_id"] == run.id
        # a second call finds the running UI instead of starting another one
        assert main(["--home", str(home), "mlflow-ui"]) == 0
        assert url in capsys.readouterr().out
    finally:
        assert main(["--home", str(home), "services", "stop", "mlflow-ui"]) == 0
    assert not ctcd.get_service("mlflow-ui", home).is_running
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
