"""Real servers for the beyond-the-kernel tests, on loopback and free ports, in temp folders:
PostgreSQL (initdb + pg_ctl, run as an unprivileged user when we are root), an MLflow tracking
server on it, and a Prefect server. Each is stopped (its whole process group) afterwards."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

BIN = Path(sys.executable).parent

OFFLINE = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
           "PREFECT_SERVER_UI_ENABLED": "false"}


def ctcd_cli() -> str:
    return str(BIN / "ctcd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], object], timeout: float, what: str,
             proc: subprocess.Popen | None = None, log: Path | None = None) -> object:
    """Poll `check` until it returns something truthy; fail after `timeout` with the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        with contextlib.suppress(Exception):
            result = check()
            if result:
                return result
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"{what} not ready after {timeout}s\n{tail}")


def start(cmd: list[str], log: Path, env: dict | None = None, **kwargs) -> subprocess.Popen:
    handle = open(log, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True, **kwargs)


def stop(proc: subprocess.Popen, timeout: float = 20.0, sig: int = signal.SIGTERM) -> None:
    """Signal the process group; KILL it after `timeout`."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group


def healthy(url: str) -> bool:
    return requests.get(url, timeout=2).status_code == 200


# -- PostgreSQL ---------------------------------------------------------------------------------
def pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(
        f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"{name} not found: install Debian's postgresql "
                           "(apt-get install postgresql)")
    return found


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL on 127.0.0.1; yields the SQLAlchemy URL of database `mlflow`."""
    folder = Path(tempfile.mkdtemp(prefix="ctcd-pg-"))
    data, sockets, log = folder / "data", folder / "sock", folder / "pg.log"
    sockets.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        user = pwd.getpwnam("nobody")
        for path in (folder, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "nobody", "--"]
    port = free_port()
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    try:
        subprocess.run([*prefix, pg_bin("initdb"), "-D", str(data), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8", "--no-sync"], **run)
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*prefix, pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o",
                        options, "-w", "-t", "60", "start"], **run)
        subprocess.run([*prefix, pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U",
                        "postgres", "mlflow"], **run)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"
    finally:
        with contextlib.suppress(Exception):
            subprocess.run([*prefix, pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                            "stop"], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def mlflow_server(backend: str) -> Iterator[str]:
    """`mlflow server` on `backend` with proxied artifacts in a temp folder; yields its URL."""
    folder = Path(tempfile.mkdtemp(prefix="ctcd-mlflow-server-"))
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
           "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    log = folder / "server.log"
    proc = start([str(BIN / "mlflow"), "server", "--backend-store-uri", backend,
                  "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
                  "--port", str(port), "--workers", "1"], log, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(f"{url}/health"), 120, "mlflow server", proc, log)
        yield url
    finally:
        stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


# -- Prefect ------------------------------------------------------------------------------------
def prefect_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    env = {**os.environ, **OFFLINE, "PREFECT_HOME": str(home),
           "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
           # Poll every second instead of every 10 s: the tests wait for a few runs.
           "PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_WORKER_QUERY_SECONDS": "1",
           "PREFECT_WORKER_PREFETCH_SECONDS": "1"}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


@contextlib.contextmanager
def prefect_server() -> Iterator[tuple[str, Path]]:
    """`prefect server start` on a free port; yields (PREFECT_API_URL, PREFECT_HOME)."""
    home = Path(tempfile.mkdtemp(prefix="ctcd-prefect-"))
    port = free_port()
    env = prefect_env(home)
    env.pop("PREFECT_API_URL", None)
    # A seconds interval: keep a few runs ahead (default 100, refilled every 60 s), so the
    # server and workers do not churn through a hundred cancelled ticks.
    env.update({"PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": "8",
                "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": "3",
                "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_SCHEDULED_TIME": "PT20S",
                "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "3"})
    log = home / "server.log"
    proc = start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                  str(port), "--no-ui"], log, env=env)
    api = f"http://127.0.0.1:{port}/api"
    try:
        # ~5 s on an idle machine; minutes when the machine is loaded (migrations on start)
        wait_for(lambda: healthy(f"{api}/health"), 300, "prefect server", proc, log)
        yield api, home
    finally:
        stop(proc)
        shutil.rmtree(home, ignore_errors=True)


def flow_runs(api: str, deployment_id: str | None = None, flow_name: str | None = None
              ) -> list[dict]:
    body: dict = {"limit": 200, "sort": "EXPECTED_START_TIME_ASC"}
    if deployment_id:
        body["flow_runs"] = {"deployment_id": {"any_": [deployment_id]}}
    if flow_name:
        body["flows"] = {"name": {"any_": [flow_name]}}
    response = requests.post(f"{api}/flow_runs/filter", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def deployment_id(api: str, flow: str, name: str) -> str | None:
    response = requests.get(f"{api}/deployments/name/{flow}/{name}", timeout=10)
    return response.json()["id"] if response.status_code == 200 else None
