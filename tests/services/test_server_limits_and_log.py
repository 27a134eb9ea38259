"""The model server on a real socket: bodies over the limit get 413 before they are read, slow
headers are cut off, ctcd's own polling stays out of the access log, every swap is one line."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import requests
from service_helpers import wait_for

from ctcd_jupyter.errors import ServiceSpecError
from ctcd_jupyter.model_server.request_limit import parse_size
from ctcd_jupyter.services import MLFlowDeploymentService

REGISTER = """
import json, sys
import mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
folder = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
X, y = load_iris(return_X_y=True, as_frame=True)
exp = mlflow.create_experiment("limits", artifact_location=f"{folder}/artifacts")
with mlflow.start_run(experiment_id=exp):
    for C in (0.01, 1.0):
        mlflow.sklearn.log_model(LogisticRegression(C=C, max_iter=300).fit(X, y), name="m",
                                 registered_model_name="iris", pip_requirements=[],
                                 serialization_format="cloudpickle", input_example=X.head(2))
print(json.dumps({"tracking_uri": f"sqlite:///{folder}/mlflow.db"}))
"""
ROW = {"dataframe_split": {"columns": ["sepal length (cm)", "sepal width (cm)",
                                       "petal length (cm)", "petal width (cm)"],
                           "data": [[5.1, 3.5, 1.4, 0.2]]}}


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("limits-mlflow")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(REGISTER), str(folder)],
                         capture_output=True, text=True, timeout=300, cwd=folder)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _status_line(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0]


def test_request_size_limit_and_slow_headers(home, two_versions):
    svc = MLFlowDeploymentService("limited", "models:/iris/1", max_request_bytes="1MiB",
                                  header_timeout=1.0, access_log=False,
                                  tracking_uri=two_versions["tracking_uri"])
    assert svc.config["max_request_bytes"] == 2**20
    svc.start(timeout=120)
    host, port = "127.0.0.1", svc.port

    # Content-Length over the limit: 413 at once, no byte of the body sent
    with socket.create_connection((host, port)) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 209715200\r\n\r\n")
        assert _status_line(sock, 10).startswith(b"HTTP/1.1 413")
        assert time.monotonic() - started < 2.0
    # chunked: refused once the bytes received pass the limit, before the body ends
    with socket.create_connection((host, port)) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        sent, endless = 0, 256 * 2**20
        sock.settimeout(30)  # once the buffers are full, a send waits for the server
        with pytest.raises(OSError):
            while sent < endless:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        assert sent < endless  # the server hung up long before
    with socket.create_connection((host, port)) as sock:  # and the answer says why
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(b"%x\r\n%s\r\n" % (2**20 + 1, b"x" * (2**20 + 1)))
        assert _status_line(sock, 10).startswith(b"HTTP/1.1 413")
    big = requests.post(svc.endpoint, data=b"[" + b"1," * 2**20 + b"1]",
                        headers={"Content-Type": "application/json"}, timeout=30)
    assert big.status_code == 413 and "limit of 1 MiB" in big.json()["message"]
    small = requests.post(svc.endpoint, json=ROW, timeout=30)
    assert small.status_code == 200, small.text

    # 50 connections that never finish their headers are closed within the bound
    slow = []
    for _ in range(50):
        sock = socket.create_connection((host, port))
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Le")
        slow.append(sock)
    started = time.monotonic()
    for sock in slow:
        sock.settimeout(10)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(1024) == b""
        sock.close()
    assert time.monotonic() - started < 4.0
    # a kept-alive connection whose next request stalls mid-headers is closed too
    with socket.create_connection((host, port)) as sock:
        body = json.dumps(ROW).encode()
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        assert _status_line(sock, 10).startswith(b"HTTP/1.1 200")
        sock.recv(65536)
        sock.sendall(b"GET /ping HTTP/1.1\r\nHo")
        started = time.monotonic()
        sock.settimeout(10)
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass  # closed, by a reset
        assert time.monotonic() - started < 4.0
    assert requests.get(f"{svc.base_url}/ping", timeout=5).status_code == 200
    svc.stop()


def test_size_limit_forms():
    assert parse_size("10MB") == 10_000_000
    assert parse_size("64MiB") == 64 * 2**20
    assert parse_size("1048576") == 2**20
    assert parse_size(1000) == 1000
    for bad in ("lots", "10 parsecs", "0", "-5MB"):
        with pytest.raises(ValueError, match=r"size|at least"):
            parse_size(bad)
    with pytest.raises(ServiceSpecError, match="max_request_bytes"):
        MLFlowDeploymentService("x", "models:/iris/1", max_request_bytes="huge")


def test_access_log_keeps_users_requests_and_every_swap(home, two_versions):
    svc = MLFlowDeploymentService("logged", "models:/iris/1",
                                  tracking_uri=two_versions["tracking_uri"])
    svc.start(timeout=120)
    for _ in range(5):  # what every view and the CLI do, all the time
        assert svc.health_check()
        assert svc.server_status() is not None
    assert requests.get(f"{svc.base_url}/ping", timeout=5).status_code == 200  # a user's own
    assert requests.post(svc.endpoint, json=ROW, timeout=30).status_code == 200
    svc.swap_model("models:/iris/2")
    svc.rollback()
    wait_for(lambda: "rolled back: v2 -> v1" in svc.logs(tail=200), 10, "the rollback's line")
    log = svc.logs(tail=200)
    access = [line for line in log.splitlines() if "HTTP/1.1" in line]
    assert [line for line in access if "/ping" in line] != []
    assert len([line for line in access if '"GET /ping' in line]) == 1, access
    assert not [line for line in access if "/ctcd/status" in line], access
    assert len([line for line in access if "/invocations" in line]) == 1, access
    assert "deployed: v1 -> v2 (models:/iris/2) in " in log
    assert "rolled back: v2 -> v1 (models:/iris/1) in " in log
    assert "[ctcd] serving v1 (models:/iris/1, started) in " in log
    svc.stop()
