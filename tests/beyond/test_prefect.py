"""Exported pipelines on a real Prefect server: a flow with a task per step, linked to its ctcd
and MLflow runs; `ctcd prefect serve` on a seconds interval; a process work pool with two real
workers (one run per tick)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests
import servers
from servers import ctcd_cli

pytestmark = __import__("pytest").mark.timeout(600)


def _ctcd_runs(env: dict) -> list[dict]:
    out = subprocess.run([ctcd_cli(), "runs", "tiny", "-n", "50", "--json"], env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def _mlflow_runs(home: Path) -> dict[str, dict]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    return {r.data.tags["ctcd.run_id"]: r.data.tags
            for r in client.search_runs([experiment.experiment_id])}


def _completed(api: str, deployment: str, n: int, procs: list) -> list[dict]:
    def done():
        runs = [r for r in servers.flow_runs(api, deployment_id=deployment)
                if r["state_type"] == "COMPLETED"]
        return runs if len(runs) >= n else None

    return servers.wait_for(done, 180, f"{n} completed flow runs", procs[0])


def test_to_flow_runs_a_task_per_step_and_links_the_three_runs(tiny_file, env, prefect_api):
    script = ("import json, sys\nfrom ctcd_jupyter.prefect import to_flow\n"
              "flow = to_flow(sys.argv[1])\n"
              "print(json.dumps([flow(params={'C': 3}), flow(params={'C': 3})]))\n")
    out = subprocess.run([sys.executable, "-c", script, str(tiny_file)], env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    assert [r["metrics"] for r in results] == [{"total": 30.0}] * 2

    by_id = {r["id"]: r for r in _ctcd_runs(env)}
    mlflow_tags = _mlflow_runs(Path(env["CTCD_HOME"]))
    flow_runs = {r["id"]: r for r in servers.flow_runs(prefect_api, flow_name="ctcd-tiny")}
    for result in results:
        run = by_id[result["ctcd_run_id"]]
        assert run["trigger"] == "prefect" and run["status"] == "SUCCEEDED"
        flow_run = flow_runs[run["tags"]["prefect.flow_run_id"]]
        assert flow_run["name"] == f"tiny-{run['id']}"
        assert {f"ctcd.run:{run['id']}", f"mlflow.run:{run['mlflow_run_id']}"} <= set(
            flow_run["tags"])
        tags = mlflow_tags[run["id"]]
        assert tags["prefect.flow_run_id"] == flow_run["id"]
        assert tags["mlflow.runName"] == f"tiny-{run['id']}"
        tasks = requests.post(f"{prefect_api}/task_runs/filter", timeout=10, json={
            "flow_runs": {"id": {"any_": [flow_run["id"]]}}}).json()
        assert sorted(t["name"] for t in tasks) == [f"load ({run['id']})",
                                                    f"train ({run['id']})"]
    second = by_id[results[1]["ctcd_run_id"]]
    assert [s["status"] for s in second["steps"]] == ["CACHED", "SUCCEEDED"]  # ctcd's cache


def test_unreachable_server_is_one_line_naming_prefect_api_url(tiny_file, tmp_path):
    env = servers.prefect_env(tmp_path / "p", f"http://127.0.0.1:{servers.free_port()}/api")
    out = subprocess.run([ctcd_cli(), "prefect", "serve", str(tiny_file), "--every", "5s"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "PREFECT_API_URL=http://127.0.0.1:" in lines[0], out.stderr


def test_serve_on_a_seconds_interval_produces_runs(tiny_file, env, prefect_api, tmp_path):
    log = tmp_path / "serve.log"
    proc = servers.start([ctcd_cli(), "prefect", "serve", str(tiny_file), "--every", "3s",
                          "--name", "served", "--param", "C=4"], log, env=env)
    try:
        deployment = servers.wait_for(
            lambda: servers.deployment_id(prefect_api, "ctcd-pipeline", "served"), 60,
            "served deployment", proc, log)
        completed = _completed(prefect_api, deployment, 2, [proc])
    finally:
        servers.stop(proc, sig=2)  # SIGINT, as Ctrl-C: the runner pauses the schedule
    ctcd_runs = {r["tags"].get("prefect.flow_run_id"): r for r in _ctcd_runs(env)}
    mlflow_tags = _mlflow_runs(Path(env["CTCD_HOME"]))
    for flow_run in completed:
        run = ctcd_runs[flow_run["id"]]
        assert run["status"] == "SUCCEEDED" and run["metrics"] == {"total": 40.0}
        assert mlflow_tags[run["id"]]["ctcd.status"] == "SUCCEEDED"
        assert flow_run["name"] == f"tiny-{run['id']}"


def test_process_pool_with_two_workers_runs_each_tick_once(tiny_file, env, prefect_api,
                                                            tmp_path):
    env = {**env, "CTCD_TRACKING": "0"}  # MLflow is checked with serve; keep these runs lean
    # Workers first (each creates the pool if missing), so no tick waits for them to start.
    workers = [servers.start([str(servers.BIN / "prefect"), "worker", "start", "--pool",
                              "ctcd-test", "--type", "process"], tmp_path / f"worker{i}.log",
                             env=env, cwd=tmp_path) for i in (1, 2)]
    out = subprocess.run([ctcd_cli(), "prefect", "deploy", str(tiny_file), "--work-pool",
                          "ctcd-test", "--create-pool", "--every", "3s", "--name", "pooled"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    deployment = out.stdout.split()[1].rstrip(":")
    try:
        completed = _completed(prefect_api, deployment, 1, workers)
    finally:
        requests.patch(f"{prefect_api}/deployments/{deployment}", json={"paused": True},
                       timeout=10)
        for worker in workers:
            servers.stop(worker, sig=2)
    runs = [r for r in _ctcd_runs(env) if r["trigger"] == "prefect"]
    flow_run_ids = [r["tags"]["prefect.flow_run_id"] for r in runs]
    assert len(flow_run_ids) == len(set(flow_run_ids))  # never two ctcd runs for one tick
    started = {r["id"] for r in servers.flow_runs(prefect_api, deployment_id=deployment)
               if r["state_type"] not in ("SCHEDULED", "CANCELLED", "PENDING")}
    assert set(flow_run_ids) <= started
    assert {f["id"] for f in completed} <= set(flow_run_ids)
    assert all(r["status"] == "SUCCEEDED" for r in runs
               if r["tags"]["prefect.flow_run_id"] in {f["id"] for f in completed})
