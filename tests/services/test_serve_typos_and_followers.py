"""A typo never leaves a broken service behind (a URI's form is checked before anything starts;
a first start that never served is forgotten), and a follower that cannot follow says so in the
list and in the JSON every front end reads."""

from __future__ import annotations

import pytest
from service_helpers import wait_for

from ctcd_jupyter.cli import main
from ctcd_jupyter.errors import ServiceSpecError, ServiceStartError
from ctcd_jupyter.services import MLFlowDeploymentService, ServiceState, services
from ctcd_jupyter.views.json import service_json
from ctcd_jupyter.views.services import services_table


@pytest.mark.parametrize("uri", ["notauri", "models:/iris/", "runs:/abc", "models:iris@x"])
def test_serve_a_uri_of_no_known_form(home, capsys, uri):
    assert main(["serve", uri, "--detach"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert repr(uri) in err[0]
    assert "models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN_ID/PATH" in err[0]
    assert services(home) == []
    with pytest.raises(ServiceSpecError, match="a model URI looks like"):
        MLFlowDeploymentService("typo", uri, home=home)
    assert services(home) == [] and not (home / "services" / "typo").exists()


def test_a_first_start_on_a_bad_alias_leaves_no_service(home, mlflow_env, capsys):
    assert main(["serve", "models:/iris@nosuch", "--name", "typo", "--detach"]) == 1
    err = capsys.readouterr().err
    assert "ctcd: error: service 'typo' cannot serve: cannot resolve models:/iris@nosuch" in err
    assert services(home) == []

    svc = MLFlowDeploymentService("typo", "models:/iris@nosuch")
    with pytest.raises(ServiceStartError, match="nosuch"):
        svc.start(timeout=120)
    assert services(home) == []
    assert svc.status is ServiceState.ERROR and "nosuch" in svc.last_error
    # the same object, fixed in the registry, starts and is registered again
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_env["tracking_uri"])
    client.set_registered_model_alias("iris", "nosuch", "1")
    try:
        svc.start(timeout=120)
        assert [s.name for s in services(home)] == ["typo"]
        svc.stop()
    finally:
        client.delete_registered_model_alias("iris", "nosuch")


def test_a_follower_that_cannot_follow_is_not_plain_active(home, mlflow_env):
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_env["tracking_uri"])
    client.set_registered_model_alias("iris", "followed", "1")
    svc = MLFlowDeploymentService("fol", "models:/iris@followed", poll_interval=0.2,
                                  access_log=False)
    svc.start(timeout=120)
    plain = MLFlowDeploymentService("fixed", "models:/iris/1", access_log=False)
    plain.start(timeout=120)
    try:
        assert service_json(svc)["label"] == "ACTIVE" and service_json(svc)["tone"] == "success"
        client.delete_registered_model_alias("iris", "followed")
        wait_for(lambda: svc.last_error, 30, "the follower's error")
        data = service_json(svc)
        assert data["status"] == "ACTIVE"
        assert data["label"] == "ACTIVE (not following)" and data["tone"] == "warn"
        table = services_table(services(home))
        row = next(line for line in table.splitlines() if line.startswith("fol "))
        assert "ACTIVE (not following)" in row and "followed" in row, table
        fixed = next(line for line in table.splitlines() if line.startswith("fixed "))
        assert " ACTIVE " in fixed and "not following" not in fixed
        client.set_registered_model_alias("iris", "followed", "1")
        wait_for(lambda: svc.last_error is None, 30, "the error to clear")
        assert service_json(svc)["label"] == "ACTIVE"
    finally:
        svc.stop()
        plain.stop()
