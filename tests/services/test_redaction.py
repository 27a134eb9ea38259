"""Secrets shown nowhere: a tracking URI's password is masked and `env=` values are never shown,
in describe(), service_json, the CLI (describe --json, describe, list), the REST route, errors
and the service's log; the service itself still gets them."""

from __future__ import annotations

import json
import sys

import pytest
from service_helpers import wait_for

from ctcd_jupyter.cli import main
from ctcd_jupyter.errors import ServiceStartError
from ctcd_jupyter.model_server import redact
from ctcd_jupyter.services import LocalDaemonService, MLFlowDeploymentService, process
from ctcd_jupyter.views.json import service_json
from ctcd_jupyter.views.services import describe_text, services_table

PASSWORD, SECRET = "hunter2secret", "awsSECRETvalue42"


@pytest.fixture
def jp_server_config(home):
    return {"ServerApp": {"jpserver_extensions": {"ctcd_jupyter": True}}}


def _secret_service(home) -> MLFlowDeploymentService:
    return MLFlowDeploymentService(
        "secret", "models:/iris/1", home=home,
        tracking_uri=f"postgresql://mlflow:{PASSWORD}@db.example:5432/mlflow",
        env={"AWS_SECRET_ACCESS_KEY": SECRET})


def _clean(text: str) -> str:
    assert PASSWORD not in text and SECRET not in text, text
    return text


def test_every_view_masks_the_password_and_hides_env_values(home, capsys):
    svc = _secret_service(home)
    assert svc.config["env"]["AWS_SECRET_ACCESS_KEY"] == SECRET  # what the server gets
    assert PASSWORD in svc._env("127.0.0.1", 1)["MLFLOW_TRACKING_URI"]
    described = svc.describe()
    assert described["config"]["tracking_uri"] == \
        "postgresql://mlflow:***@db.example:5432/mlflow"
    assert described["config"]["env"] == {"AWS_SECRET_ACCESS_KEY": "***"}
    _clean(json.dumps(described))
    _clean(json.dumps(service_json(svc, detail=True), default=str))
    _clean(describe_text(svc))
    _clean(services_table([svc]))
    assert main(["services", "describe", "secret", "--json"]) == 0
    printed = _clean(capsys.readouterr().out)
    assert json.loads(printed)["config"]["env"] == {"AWS_SECRET_ACCESS_KEY": "***"}
    assert main(["services", "describe", "secret"]) == 0
    assert "mlflow:***@db.example" in _clean(capsys.readouterr().out)
    assert main(["services", "list", "--json"]) == 0
    _clean(capsys.readouterr().out)


async def test_the_rest_route_masks_them(jp_fetch, home):
    _secret_service(home)
    response = await jp_fetch("ctcd", "api", "services", "secret")
    answer = json.loads(_clean(response.body.decode()))
    assert answer["config"]["tracking_uri"].startswith("postgresql://mlflow:***@")
    assert answer["config"]["env"] == {"AWS_SECRET_ACCESS_KEY": "***"}
    listed = await jp_fetch("ctcd", "api", "services")
    _clean(listed.body.decode())


PRINTS = ("import os; print('registry at postgresql://mlflow:" + PASSWORD + "@db/mlflow', "
          "'key', os.environ['AWS_SECRET_ACCESS_KEY'], flush=True); import time; "
          "time.sleep(60)")


def test_the_log_masks_what_the_service_prints(home):
    svc = LocalDaemonService("printer", [sys.executable, "-c", PRINTS], home=home,
                             env={"AWS_SECRET_ACCESS_KEY": SECRET})
    svc.start(timeout=30)
    wait_for(lambda: "registry at" in svc.logs(), 30, "the service's line")
    raw = svc.log_path.read_text()
    assert "registry at postgresql://mlflow:***@db/mlflow key ***" in _clean(raw)
    svc.stop(timeout=5)


def test_errors_and_last_error_of_a_server_that_cannot_reach_its_registry(home):
    port = process.free_port()
    svc = MLFlowDeploymentService(
        "unreachable", "models:/iris@champion", home=home, env={"AWS_SECRET_ACCESS_KEY": SECRET},
        tracking_uri=f"http://mlflow:{PASSWORD}@127.0.0.1:{port}")
    with pytest.raises(ServiceStartError) as info:
        svc.start(timeout=60)
    message = _clean(str(info.value))
    assert len(message.splitlines()) == 1 and f"127.0.0.1:{port}" in message
    _clean(info.value.log_tail or "")
    _clean(svc.last_error or "")
    _clean(svc.log_path.read_text())


def test_redact_text_forms():
    assert redact.text("postgresql+psycopg2://u:p%40ss@h:5432/db?sslmode=require") == \
        "postgresql+psycopg2://u:***@h:5432/db?sslmode=require"
    assert redact.text("http://127.0.0.1:5000/x and a@b.c") == "http://127.0.0.1:5000/x and a@b.c"
    assert redact.text("https://h/m?X-Amz-Signature=abc&x=1") == \
        "https://h/m?X-Amz-Signature=***&x=1"
    assert redact.data({"env": {"A": "b"}, "x": ["s3://k:v@b"]}) == \
        {"env": {"A": "***"}, "x": ["s3://k:***@b"]}
