"""Session-scoped real servers for the beyond-the-kernel tests (see servers.py), and a small
exported pipeline file to run on them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import servers

import ctcd_jupyter as ctcd


@pytest.fixture(scope="session")
def prefect_api():
    """A real `prefect server start` on a free loopback port: its PREFECT_API_URL."""
    with servers.prefect_server() as (api, _home):
        yield api


@pytest.fixture(scope="session")
def pg_backend():
    """A real PostgreSQL started here: the SQLAlchemy URL of its database `mlflow`."""
    with servers.postgres() as backend:
        yield backend


@pytest.fixture(scope="session")
def tracking_server(pg_backend):
    """An MLflow tracking server on that PostgreSQL: its URL."""
    with servers.mlflow_server(pg_backend) as url:
        yield url


@pytest.fixture
def tiny_file(tmp_path, monkeypatch) -> Path:
    """An exported two-step pipeline: `load` (cached) then `train` (never cached), a metric."""
    state = tmp_path / "export-home"
    workspace = ctcd.Workspace(state, namespace={"ctcd": ctcd, "N": 5}, tracking=False)
    try:
        pipeline = ctcd.Pipeline("tiny", [
            ctcd.Step("load", "xs = list(range(N))"),
            ctcd.Step("train", "total = sum(xs) * C\nctcd.log_metric('total', total)",
                      cache=False),
        ], workspace=workspace)
        return ctcd.export_pipeline(pipeline, tmp_path / "tiny_pipeline.py", params={"C": 2})
    finally:
        workspace.close()


@pytest.fixture
def env(tmp_path, prefect_api) -> dict[str, str]:
    """The environment of a machine running pipelines: its own state folder, MLflow in it,
    the Prefect server's URL."""
    home = tmp_path / "worker-home"
    environ = servers.prefect_env(tmp_path / "prefect-client", prefect_api)
    environ.update({"CTCD_HOME": str(home), "CTCD_TRACKING": "1"})
    environ.pop("MLFLOW_TRACKING_URI", None)
    return environ

