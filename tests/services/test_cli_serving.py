"""`ctcd serve --detach`, `ctcd rollback`, `ctcd deployments` against a real model server."""

from __future__ import annotations

from ctcd_jupyter.cli import main
from ctcd_jupyter.services import ServiceState, get_service


def test_serve_detach_reattach_rollback_and_deployments(home, mlflow_env, capsys):
    assert main(["serve", mlflow_env["model_uri"], "--name", "cli", "--detach"]) == 0
    out = capsys.readouterr().out
    assert "cli: serving v1 of models:/iris/1 at http://127.0.0.1:" in out
    svc = get_service("cli")
    port = svc.port
    assert svc.status is ServiceState.ACTIVE

    # re-attach: the same server, the same port
    assert main(["serve", mlflow_env["model_uri"], "--name", "cli", "--detach"]) == 0
    assert get_service("cli").port == port and get_service("cli").pid == svc.pid
    capsys.readouterr()

    assert main(["rollback", "cli"]) == 1  # nothing served before v1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ctcd: error: service 'cli' has served no earlier version to roll back to; "
                   "name one with ctcd rollback cli --to VERSION"]

    assert main(["deployments", "cli"]) == 0
    out = capsys.readouterr().out
    assert "served by cli:" in out and "started" in out and "v1" in out
    get_service("cli").stop()
