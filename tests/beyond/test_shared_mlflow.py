"""A team's MLflow tracking server (on a real PostgreSQL): a pipeline deployed from one
machine (process + state folder) is visible from another: model version, champion alias,
decision tags, and the run itself in `ctcd.runs(include_remote=True)`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import servers
from servers import ctcd_cli

import ctcd_jupyter as ctcd

pytestmark = pytest.mark.timeout(400)

MODEL = "shared-iris"


@pytest.fixture
def deploying_file(tmp_path):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    namespace = {"ctcd": ctcd, "np": np, "LogisticRegression": LogisticRegression, "SEED": 1,
                 "MODEL": MODEL}
    workspace = ctcd.Workspace(tmp_path / "notebook-home", namespace=namespace, tracking=False)
    try:
        pipeline = ctcd.Pipeline("shared", [
            ctcd.Step("load", "rng = np.random.default_rng(SEED)\n"
                              "X = rng.normal(size=(120, 3))\ny = (X[:, 0] > 0).astype(int)"),
            ctcd.Step("train", "model = LogisticRegression().fit(X, y)\n"
                               "accuracy = float(model.score(X, y))\n"
                               "ctcd.log_metric('accuracy', accuracy)"),
            ctcd.Step("deploy", "service = ctcd.mlflow_deploy(model, MODEL, input_example=X[:2],"
                                " criterion=ctcd.threshold('accuracy', min_value=0.5))"),
        ], workspace=workspace)
        return ctcd.export_pipeline(pipeline, tmp_path / "shared_pipeline.py")
    finally:
        workspace.close()


READER = """
import json, sys
import ctcd_jupyter as ctcd
from mlflow.tracking import MlflowClient

version = MlflowClient().get_model_version_by_alias(sys.argv[1], "champion")
runs = ctcd.runs("shared", include_remote=True)
print(json.dumps({"version": version.version, "tags": version.tags,
                  "runs": [[r.id, r.trigger, r.status.value, r.metrics] for r in runs]}))
"""


def test_deployed_on_one_machine_visible_on_another(deploying_file, tracking_server, tmp_path):
    machine_a = {**servers.prefect_env(tmp_path / "pa"), "CTCD_HOME": str(tmp_path / "a"),
                 "CTCD_TRACKING": "1", "MLFLOW_TRACKING_URI": tracking_server,
                 "CTCD_WHERE": "machine-a"}
    try:
        done = subprocess.run([ctcd_cli(), "run", str(deploying_file)], env=machine_a,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCEEDED" in done.stdout and "warning" not in done.stderr, done.stderr
        run_id = done.stdout.strip().splitlines()[-1].split()[1]  # "run ID shared ..."
    finally:  # the model server machine A started for its deployment
        subprocess.run([ctcd_cli(), "services", "stop", MODEL, "--force"], env=machine_a,
                       capture_output=True, timeout=60)

    machine_b = {**machine_a, "CTCD_HOME": str(tmp_path / "b"), "CTCD_WHERE": "machine-b"}
    out = subprocess.run([sys.executable, "-c", READER, MODEL], env=machine_b,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["version"] == "1"
    tags = seen["tags"]
    assert tags["ctcd.decision.outcome"] == "deployed"
    assert tags["ctcd.decision.ctcd_run_id"] == run_id
    assert tags["ctcd.decision.where"] == "machine-a"
    assert float(tags["ctcd.metric.accuracy"]) > 0.5
    assert [run_id, "cli@machine-a", "SUCCEEDED"] == seen["runs"][0][:3]


def _served_version(endpoint: str) -> str | None:
    import requests

    try:
        answer = requests.post(endpoint, json={"inputs": [[0.0, 0.0, 0.0]]}, timeout=5)
    except requests.RequestException:
        return None
    return answer.headers.get("X-Model-Version") if answer.ok else None


def test_follower_on_another_machine_serves_what_was_deployed(deploying_file, tracking_server,
                                                              tmp_path):
    import time

    from mlflow.tracking import MlflowClient

    machine_a = {**servers.prefect_env(tmp_path / "pa"), "CTCD_HOME": str(tmp_path / "a"),
                 "CTCD_TRACKING": "1", "MLFLOW_TRACKING_URI": tracking_server,
                 "CTCD_WHERE": "machine-a"}
    machine_b = {**machine_a, "CTCD_HOME": str(tmp_path / "b"), "CTCD_WHERE": "machine-b"}
    registry = MlflowClient(tracking_uri=tracking_server, registry_uri=tracking_server)
    uri = f"models:/{MODEL}@champion"
    try:
        first = subprocess.run([ctcd_cli(), "run", str(deploying_file), "--no-cache"],
                               env=machine_a, capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stdout + first.stderr
        # the serving machine: its own state folder, the team's registry, following the alias
        served = subprocess.run([ctcd_cli(), "serve", uri, "--name", "follower", "--detach",
                                 "--timeout", "180"], env=machine_b, capture_output=True,
                                text=True, timeout=300)
        assert served.returncode == 0, served.stdout + served.stderr
        endpoint = served.stdout.strip().splitlines()[-1].rsplit(" at ", 1)[1]
        champion = registry.get_model_version_by_alias(MODEL, "champion").version
        assert _served_version(endpoint) == champion

        again = subprocess.run([ctcd_cli(), "run", str(deploying_file), "--no-cache"],
                               env=machine_a, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        deployed_at = time.monotonic()
        newer = registry.get_model_version_by_alias(MODEL, "champion").version
        assert int(newer) > int(champion)
        deadline = deployed_at + 60
        while _served_version(endpoint) != newer:
            assert time.monotonic() < deadline, "the follower did not serve the new champion"
            time.sleep(0.1)
        print(f"follower on machine B served v{newer} "
              f"{time.monotonic() - deployed_at:.2f} s after machine A's run ended")
    finally:
        for env, name in ((machine_b, "follower"), (machine_a, MODEL)):
            subprocess.run([ctcd_cli(), "services", "stop", name, "--force"], env=env,
                           capture_output=True, timeout=60)
