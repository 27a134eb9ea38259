"""What a 200 MB request body costs the model server (issue 21 item 9): the time to its 413 and
the server's resident memory, with the default 64 MiB limit; with `--baseline`, the same body
under a limit above its size (what every server did before: parsed whole; slow and heavy, so
off by default on a shared machine).

    .venv/bin/python benchmarks/bench_limits.py [--mb 200] [--baseline]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

REGISTER = """
import json, sys, mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
folder = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
X, y = load_iris(return_X_y=True, as_frame=True)
exp = mlflow.create_experiment("limits", artifact_location=f"{folder}/artifacts")
with mlflow.start_run(experiment_id=exp):
    mlflow.sklearn.log_model(LogisticRegression(max_iter=300).fit(X, y), name="m",
                             registered_model_name="iris", pip_requirements=[],
                             serialization_format="cloudpickle", input_example=X.head(2))
"""
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def tree_rss_mib(svc) -> float:
    from ctcd_jupyter.services import process

    total = 0
    for proc in process.group_members(svc._process):
        with contextlib.suppress(Exception):
            total += proc.memory_info().rss
    return total / 2**20


def body_of(size: int) -> bytes:
    """A valid `dataframe_split` body of about `size` bytes."""
    row = b"[5.1, 3.5, 1.4, 0.2]"
    count = max(1, size // (len(row) + 1))
    head = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": []}}).encode()[:-3]
    return head + b"[" + b",".join([row] * count) + b"]}}"


def send(port: int, body: bytes, timeout: float) -> tuple[int, float, float]:
    """(status, seconds to the status line, seconds to send what was sent), the body streamed
    while the answer is awaited (as a client that does not wait for 100-continue does)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(timeout)
    started = time.monotonic()
    sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json"
                 b"\r\nContent-Length: %d\r\n\r\n" % len(body))
    sent = {"until": None}

    def stream() -> None:
        view = memoryview(body)
        with contextlib.suppress(OSError):
            for i in range(0, len(body), 1 << 20):
                sock.sendall(view[i:i + (1 << 20)])
        sent["until"] = time.monotonic() - started

    writer = threading.Thread(target=stream, daemon=True)
    writer.start()
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    answered = time.monotonic() - started
    writer.join(timeout)
    sock.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, answered, sent["until"] or answered


def measure(name: str, tracking_uri: str, body: bytes, limit: int | None, timeout: float) -> dict:
    from ctcd_jupyter.services import MLFlowDeploymentService

    options = {} if limit is None else {"max_request_bytes": limit}
    svc = MLFlowDeploymentService(name, "models:/iris/1", tracking_uri=tracking_uri,
                                  access_log=False, **options)
    svc.start(timeout=120)
    try:
        idle = tree_rss_mib(svc)
        peak = [idle]
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.1):
                peak.append(tree_rss_mib(svc))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        status, answered, sent = send(svc.port, body, timeout)
        done.set()
        watcher.join()
        after = tree_rss_mib(svc)
        ok = svc.predict([[5.1, 3.5, 1.4, 0.2]]).shape == (1,)
        return {"limit": svc.config["max_request_bytes"], "status": status,
                "seconds_to_answer": round(answered, 3), "seconds_sending": round(sent, 3),
                "rss_mib_idle": round(idle), "rss_mib_peak": round(max(peak)),
                "rss_mib_after": round(after), "serves_after": ok}
    finally:
        svc.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="body size in MB (200)")
    parser.add_argument("--baseline", action="store_true",
                        help="also send it under a limit above its size (minutes, GBs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as folder:
        os.environ["CTCD_HOME"] = os.path.join(folder, "home")
        out = subprocess.run([sys.executable, "-c", REGISTER, folder], capture_output=True,
                             text=True, timeout=300, cwd=folder)
        if out.returncode:
            sys.exit(out.stderr[-2000:])
        tracking = f"sqlite:///{folder}/mlflow.db"
        body = body_of(args.mb * 10**6)
        print(f"body: {len(body) / 10**6:.0f} MB of dataframe_split rows")
        print(json.dumps({"default limit": measure("limited", tracking, body, None, 60)}))
        if args.baseline:
            print(json.dumps({"no limit (parsed)": measure(
                "unlimited", tracking, body, len(body) + 1, 600)}))


if __name__ == "__main__":
    main()
