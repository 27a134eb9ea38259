"""Serving figures of issue 16: the fast path and batching beside `mlflow models serve`, one run.

Candidates (one server each, 1 worker, same iris LogisticRegression from a temporary SQLite
store): the stock `mlflow models serve`, the ctcd server with the fast path off
(CTCD_FAST_PATH=0: MLflow's own app), the fast path without batching (CTCD_BATCH_WAIT_MS=0), the
fast path with batching (default wait). Load: wrk (C; Debian package wrk) with a lua script for
the POST body; each scenario runs every candidate twice, in ABBA order, and reports the mean.
Scenarios: one-row and 100-row bodies, `dataframe_split` and `inputs`, at 1 connection (p50) and
8 connections (req/s, p99). Then the tree RSS of each server, and ratios to stock. The machine
load average is printed beside the figures (the figures are only comparable within one run).

    .venv/bin/python benchmarks/bench_serving.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

REGISTER = """
import json, sys
import mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
folder = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
X, y = load_iris(return_X_y=True, as_frame=True)
exp = mlflow.create_experiment("bench-serving", artifact_location=f"{folder}/artifacts")
with mlflow.start_run(experiment_id=exp):
    mlflow.sklearn.log_model(LogisticRegression(max_iter=300).fit(X, y), name="m",
                             registered_model_name="iris", pip_requirements=[],
                             serialization_format="cloudpickle", input_example=X.head(2))
print(json.dumps({"tracking_uri": f"sqlite:///{folder}/mlflow.db",
                  "columns": list(X.columns), "rows": X.head(100).values.tolist()}))
"""

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%s]==]
"""

CANDIDATES = {
    "stock": dict(server="mlflow"),
    "ctcd, fast path off": dict(env={"CTCD_FAST_PATH": "0"}),
    "ctcd fast path": dict(env={"CTCD_BATCH_WAIT_MS": "0"}),
    "ctcd fast path + batching": dict(env={}),
}


def bodies(columns: list[str], rows: list[list[float]]) -> dict[str, str]:
    def split(n: int) -> str:
        return json.dumps({"dataframe_split": {"columns": columns, "data": rows[:n]}})

    def inputs(n: int) -> str:
        return json.dumps({"inputs": {c: [r[i] for r in rows[:n]] for i, c in
                                      enumerate(columns)}})

    return {"1 row split": split(1), "1 row inputs": inputs(1),
            "100 rows split": split(100), "100 rows inputs": inputs(100)}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, script: str, connections: int, seconds: float) -> dict[str, float]:
    threads = 1 if connections == 1 else 2
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}",
                          f"-d{max(1, round(seconds))}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    latency = dict(re.findall(r"^\s+(\d+)%\s+(\S+)$", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": _ms(latency["50"]), "p99": _ms(latency["99"]),
            "bad": int(bad.group(1)) if bad else 0, "errors": errors.group(0) if errors else ""}


class MLServer:
    """Seldon's MLServer with its MLflow runtime (`mlserver_mlflow.MLflowRuntime`, answering
    MLflow's `/invocations` formats), run as a daemon from its own environment: the `mlserver`
    executable named by $MLSERVER or on PATH (pip install mlserver mlserver-mlflow, in another
    virtual environment: its pins differ from ours). None when there is none."""

    label = "MLServer (mlflow runtime)"

    @classmethod
    def start(cls, folder: str, tracking_uri: str) -> MLServer | None:
        executable = os.environ.get("MLSERVER") or shutil.which("mlserver")
        if not executable:
            print("MLServer: not measured (no `mlserver`: pip install mlserver mlserver-mlflow "
                  "in another environment and set MLSERVER=/path/to/bin/mlserver)")
            return None
        import mlflow

        from ctcd_jupyter.services import LocalDaemonService, process

        mlflow.set_tracking_uri(tracking_uri)
        model = mlflow.artifacts.download_artifacts("models:/iris/1",
                                                    dst_path=os.path.join(folder, "mlserver-model"))
        root = os.path.join(folder, "mlserver")
        os.makedirs(root, exist_ok=True)
        port = process.free_port("127.0.0.1")
        with open(os.path.join(root, "model-settings.json"), "w") as f:
            json.dump({"name": "iris", "implementation": "mlserver_mlflow.MLflowRuntime",
                       "parameters": {"uri": model}}, f)
        with open(os.path.join(root, "settings.json"), "w") as f:
            json.dump({"host": "127.0.0.1", "http_port": port,
                       "grpc_port": process.free_port("127.0.0.1"),
                       "metrics_port": process.free_port("127.0.0.1"), "parallel_workers": 0,
                       "debug": False}, f)
        server = cls()
        server.svc = LocalDaemonService("bench-mlserver", [executable, "start", root], port=port,
                                        health_path="/v2/health/ready", home=folder)
        server.svc.start(timeout=240)
        server.endpoint = f"http://127.0.0.1:{port}/invocations"
        server._process = server.svc._process
        return server

    def stop(self, timeout: float = 10) -> None:
        self.svc.stop(timeout=timeout)


def check_same_answers(servers: dict, payloads: dict[str, str]) -> None:
    import requests

    for name, body in payloads.items():
        answers = {label: requests.post(svc.endpoint, data=body, timeout=60,
                                        headers={"Content-Type": "application/json"})
                   for label, svc in servers.items()}
        # MLServer is a peer, not a copy of MLflow: its answers need only succeed
        texts = {a.text for label, a in answers.items() if label != MLServer.label}
        statuses = {a.status_code for a in answers.values()}
        assert statuses == {200} and len(texts) == 1, (name, statuses, texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not on PATH (Debian package: wrk)")
    from bench_deploy import tree_rss_mib

    from ctcd_jupyter.services import MLFlowDeploymentService

    folder = tempfile.mkdtemp(prefix="bench-serving-")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(REGISTER), folder],
                         capture_output=True, text=True, timeout=300, cwd=folder, check=True)
    registry = json.loads(out.stdout.strip().splitlines()[-1])
    payloads = bodies(registry["columns"], registry["rows"])
    scripts = {}
    for name, body in payloads.items():
        scripts[name] = os.path.join(folder, re.sub(r"\W+", "-", name) + ".lua")
        with open(scripts[name], "w") as f:
            f.write(LUA % body)
    servers = {}
    try:
        for label, options in CANDIDATES.items():
            svc = MLFlowDeploymentService(f"bench-{len(servers)}", "models:/iris/1",
                                          tracking_uri=registry["tracking_uri"],
                                          access_log=False, home=folder, **options)
            svc.start(timeout=240)
            servers[label] = svc
        peer = MLServer.start(folder, registry["tracking_uri"])
        if peer is not None:
            servers[MLServer.label] = peer
        check_same_answers(servers, payloads)
        load_before = os.getloadavg()
        results: dict = {}
        labels = list(servers)
        for name in payloads:
            for connections in (1, 8):
                runs: dict[str, list] = {label: [] for label in labels}
                for label in [*labels, *reversed(labels)]:  # ABBA
                    runs[label].append(wrk(servers[label].endpoint, scripts[name], connections,
                                           args.seconds))
                results[name, connections] = {
                    label: {key: (sum(r[key] for r in rs) / len(rs) if key != "errors"
                                  else "; ".join(filter(None, (r[key] for r in rs))))
                            for key in rs[0]} for label, rs in runs.items()}
        rss = {label: tree_rss_mib(svc) for label, svc in servers.items()}
        load_after = os.getloadavg()
    finally:
        for svc in servers.values():
            with contextlib.suppress(Exception):
                svc.stop(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)

    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
          f"({os.cpu_count()} cores; wrk {args.seconds:g} s per run, ABBA, means of 2)")
    width = max(len(label) for label in labels)
    for (name, connections), by_label in results.items():
        stock = by_label["stock"]
        print(f"\n{name}, {connections} connection{'s' if connections > 1 else ''}")
        for label, r in by_label.items():
            line = (f"  {label:<{width}}  p50 {r['p50']:7.2f} ms  p99 {r['p99']:7.2f} ms  "
                    f"{r['rps']:8.0f} req/s")
            if label != "stock":
                line += (f"  (p50 {stock['p50'] / r['p50']:5.1f}x faster, "
                         f"req/s {r['rps'] / stock['rps']:5.1f}x stock)")
            if r["bad"] or r["errors"]:
                line += f"  non-2xx {r['bad']:.0f} {r['errors']}"
            print(line)
    print("\ntree RSS, MiB: " + ", ".join(f"{label} {value:.0f}" for label, value in rss.items()))
    fast, batch = "ctcd fast path", "ctcd fast path + batching"
    print("\ngoals of issue 16 (split / inputs bodies):")
    for goal, label, key, conns, rows, want, better in (
            ("one-row p50 at 1 connection <= 1.0 ms", fast, "p50", 1, "1 row", 1.0, "low"),
            ("one-row req/s at 8 connections >= 10x stock", fast, "rps", 8, "1 row", 10, "x"),
            ("  with batching >= 20x stock", batch, "rps", 8, "1 row", 20, "x"),
            ("100-row p50 at 1 connection <= 2 ms", fast, "p50", 1, "100 rows", 2.0, "low"),
            ("100-row req/s at 8 connections >= 5x stock", batch, "rps", 8, "100 rows", 5, "x"),
            ("p99 at 8 connections not worse than stock", batch, "p99", 8, "1 row", 1, "p99")):
        got = []
        for body in ("split", "inputs"):
            r = results[f"{rows} {body}", conns]
            value = r[label][key]
            got.append(f"{value:.2f} ms" if better == "low" else
                       f"{value / r['stock']['rps']:.1f}x" if better == "x" else
                       f"{value:.1f} vs {r['stock']['p99']:.1f} ms")
            want_ok = (value <= want if better == "low" else
                       value / r["stock"]["rps"] >= want if better == "x" else
                       value <= r["stock"]["p99"])
            got[-1] += "" if want_ok else " (missed)"
        print(f"  {goal:<46} {' / '.join(got)}")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
