"""Latency of `MLFlowDeploymentService.predict` against a raw HTTP post and in-process pyfunc.

For each server (workers=1, workers=2, and workers=2 without our TCP_NODELAY protocol, to show
what it fixes) prints p50/p99 of one-row predictions through `svc.predict`, through a raw kept-
alive `requests.Session` post of the same body, the ratio between them, the launch-to-healthy
time and the resident memory of the server's whole process tree. Run:

    .venv/bin/python benchmarks/bench_predict.py [--requests 300]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def measure(*calls: Callable[[], object], n: int, warmup: int = 20,
            block: int = 25) -> list[tuple[float, float]]:
    """p50/p99 in ms of each call. The calls take turns in blocks of `block` requests, so drift
    hits all alike while each client keeps its own steady kept-alive connection."""
    samples: list[list[float]] = [[] for _ in calls]
    for call in calls:
        for _ in range(warmup):
            call()
    while len(samples[0]) < n:
        for call, out in zip(calls, samples, strict=True):
            for _ in range(min(block, n - len(out))):
                start = time.perf_counter()
                call()
                out.append((time.perf_counter() - start) * 1000)
    return [percentiles(s) for s in samples]


def train_and_register(folder: str) -> str:
    import mlflow
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    exp = mlflow.create_experiment("bench", artifact_location=f"{folder}/artifacts")
    with mlflow.start_run(experiment_id=exp):
        mlflow.sklearn.log_model(model, name="model", registered_model_name="iris-bench",
                                 serialization_format="cloudpickle", pip_requirements=[],
                                 input_example=X.head(2))
    return "models:/iris-bench/1"


def tree_rss_mib(svc) -> float:
    from ctcd_jupyter.services import process

    total = 0
    for proc in process.group_members(svc._process):
        with contextlib.suppress(Exception):
            total += proc.memory_info().rss
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="timed requests per figure")
    args = parser.parse_args()
    n = args.requests

    folder = tempfile.mkdtemp(prefix="ctcd-bench-")
    os.environ["CTCD_HOME"] = f"{folder}/home"
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder}/mlflow.db"
    print(f"state and MLflow store in {folder}")
    model_uri = train_and_register(folder)

    import mlflow.pyfunc
    import requests
    from sklearn.datasets import load_iris

    from ctcd_jupyter.services import MLFlowDeploymentService
    from ctcd_jupyter.services.payload import encode

    row = load_iris(return_X_y=True, as_frame=True)[0].head(1)
    body = encode(row)

    pyfunc = mlflow.pyfunc.load_model(model_uri)
    (in_process,) = measure(lambda: pyfunc.predict(row), n=n)

    results = []
    configs = [("workers=1", 1, True), ("workers=2", 2, True),
               ("workers=2, no TCP_NODELAY fix", 2, False)]
    for label, workers, nodelay in configs:
        svc = MLFlowDeploymentService(f"bench-{workers}-{int(nodelay)}", model_uri,
                                      workers=workers, nodelay=nodelay, access_log=False)
        started = time.perf_counter()
        svc.start(timeout=180)
        healthy = time.perf_counter() - started
        try:
            session = requests.Session()
            headers = {"Content-Type": "application/json"}

            def raw_post(endpoint=svc.endpoint, session=session, headers=headers):
                response = session.post(endpoint, data=body, headers=headers, timeout=30)
                response.raise_for_status()
                return response.content

            count = n if nodelay else max(20, n // 10)  # the slow case costs ~45 ms a request
            ours, raw = measure(lambda svc=svc: svc.predict(row), raw_post, n=count)
            rss = tree_rss_mib(svc)
        finally:
            svc.stop()
            svc.delete(stop=False)
        results.append((label, ours, raw, healthy, rss, count))

    print()
    print(f"one-row predictions, milliseconds (p50 / p99); in-process pyfunc.predict: "
          f"{in_process[0]:.2f} / {in_process[1]:.2f}")
    header = (f"{'server':<31} {'svc.predict':>15} {'raw post':>15} {'ratio p50':>9} "
              f"{'healthy s':>9} {'tree RSS MiB':>12} {'n':>4}")
    print(header)
    print("-" * len(header))
    for label, ours, raw, healthy, rss, count in results:
        print(f"{label:<31} {ours[0]:>7.2f} /{ours[1]:>6.2f} {raw[0]:>7.2f} /{raw[1]:>6.2f} "
              f"{ours[0] / raw[0]:>9.2f} {healthy:>9.1f} {rss:>12.0f} {count:>4}")
    one = results[0][1][0]
    two = results[1][1][0]
    print()
    print(f"svc.predict vs raw post at one worker: {results[0][1][0] / results[0][2][0]:.2f}x "
          "(goal <= 1.10x)")
    print(f"svc.predict at two workers vs one worker: {two / one:.2f}x (goal <= 1.20x)")
    print(f"svc.predict vs in-process pyfunc at one worker: {one / in_process[0]:.1f}x")


if __name__ == "__main__":
    main()
