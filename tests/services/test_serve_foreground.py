"""A foreground `ctcd serve` owns its server: SIGINT, SIGTERM and SIGHUP drain the requests in
flight and stop it (the record says INACTIVE); a kill -9 of the command takes the server with
it. Real `ctcd serve` processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import psutil
import pytest
from service_helpers import wait_for

from ctcd_jupyter.services import ServiceState, get_service, process

ROW = json.dumps({"dataframe_split": {
    "columns": ["sepal length (cm)", "sepal width (cm)", "petal length (cm)",
                "petal width (cm)"], "data": [[5.1, 3.5, 1.4, 0.2]]}}).encode()


def _serve(home, mlflow_model, tmp_path, *extra: str) -> tuple[subprocess.Popen, object]:
    out = tmp_path / "serve.out"
    env = {**os.environ, "CTCD_HOME": str(home),
           "MLFLOW_TRACKING_URI": mlflow_model["tracking_uri"]}
    cli = subprocess.Popen([sys.executable, "-m", "ctcd_jupyter.cli", "serve",
                            mlflow_model["model_uri"], "--name", "fg", *extra],
                           stdout=out.open("wb"), stderr=subprocess.STDOUT, env=env,
                           start_new_session=True)  # our signals only, none from the terminal
    wait_for(lambda: b"fg: serving v1" in out.read_bytes() or cli.poll() is not None, 120,
             "ctcd serve to serve")
    assert cli.poll() is None, out.read_text()
    return cli, out


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_drains_and_stops_the_server(home, mlflow_model, tmp_path, sig):
    cli, out = _serve(home, mlflow_model, tmp_path)
    svc = get_service("fg", home)
    port, server = svc.port, svc._process
    assert svc.status is ServiceState.ACTIVE
    # a request in flight: headers and half of its body sent when the signal comes. The
    # server's "100 Continue" proves it is reading this request's body (sent before it, the
    # signal could find the bytes still unread: an idle connection, rightly closed).
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(15)
    sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(ROW))
    assert sock.recv(4096).startswith(b"HTTP/1.1 100 Continue")
    sock.sendall(ROW[:20])
    cli.send_signal(sig)
    wait_for(lambda: _refused(port), 15, "the server to stop taking new connections")
    sock.sendall(ROW[20:])
    sock.settimeout(15)
    assert sock.recv(4096).startswith(b"HTTP/1.1 200"), "the request in flight was dropped"
    sock.close()
    assert cli.wait(30) == 0, out.read_text()
    text = out.read_text()
    assert f"fg: {signal.Signals(sig).name}: stopping" in text and "fg: INACTIVE" in text
    svc = get_service("fg", home)
    assert svc.status is ServiceState.INACTIVE and svc.wanted is ServiceState.INACTIVE
    assert not process.members(server).ours and process.port_is_free("127.0.0.1", port)


def test_kill_9_of_the_command_takes_the_server_with_it(home, mlflow_model, tmp_path):
    cli, _ = _serve(home, mlflow_model, tmp_path)
    svc = get_service("fg", home)
    port, server = svc.port, svc._process
    pids = [p.pid for p in process.members(server).ours]
    cli.kill()
    cli.wait(10)
    wait_for(lambda: not process.members(server).ours, 30, "the server to follow its command")
    assert not [p for p in pids if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert process.port_is_free("127.0.0.1", port)
    svc = get_service("fg", home)
    assert svc.status is ServiceState.INACTIVE and svc.wanted is ServiceState.INACTIVE
    assert svc.last_error is None
    assert "the foreground command that runs this service is gone" in svc.logs(tail=50)


def test_detach_outlives_the_command(home, mlflow_model, tmp_path):
    env = {**os.environ, "CTCD_HOME": str(home),
           "MLFLOW_TRACKING_URI": mlflow_model["tracking_uri"]}
    done = subprocess.run([sys.executable, "-m", "ctcd_jupyter.cli", "serve",
                           mlflow_model["model_uri"], "--name", "fg", "--detach"], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    svc = get_service("fg", home)
    assert svc.status is ServiceState.ACTIVE
    svc.stop()
