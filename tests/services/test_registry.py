"""Services as data: specs for the artifact store, kinds, names."""

from __future__ import annotations

import json
import sys

import pytest
from service_helpers import ping_command

from ctcd_jupyter.errors import ServiceNotFoundError, ServiceSpecError
from ctcd_jupyter.services import (
    SERVICE_KINDS,
    LocalDaemonService,
    MLFlowDeploymentService,
    ServiceState,
    get_service,
    register_kind,
    service_from_spec,
    service_to_spec,
)


def test_spec_round_trip_reattaches_running_service(home, ping_server):
    svc = LocalDaemonService("step-output", ping_command(ping_server), port=0,
                             health_path="/ping")
    svc.start(timeout=10)
    spec = json.loads(json.dumps(service_to_spec(svc)))  # what a step output stores
    assert spec["kind"] == "local_daemon" and spec["uuid"] == svc.uuid
    again = service_from_spec(spec)
    assert type(again) is LocalDaemonService
    assert again.uuid == svc.uuid and again.pid == svc.pid and again.is_running
    again.stop(timeout=5)
    assert svc.status is ServiceState.INACTIVE  # one service, seen through both objects


def test_spec_of_replaced_service_is_detached(home, ping_server):
    old = LocalDaemonService("replaced", ping_command(ping_server), port=0)
    spec = service_to_spec(old)
    old.delete()
    new = LocalDaemonService("replaced", [sys.executable, "-c", "pass"])
    loaded = service_from_spec(spec)
    assert loaded.uuid == spec["uuid"] != new.uuid
    assert loaded.status is ServiceState.INACTIVE
    assert get_service("replaced").uuid == new.uuid  # loading did not clobber the new record


def test_mlflow_spec_is_data(home):
    svc = MLFlowDeploymentService("m", "models:/iris@champion", workers=2, port=5099)
    spec = service_to_spec(svc)
    assert json.loads(json.dumps(spec)) == spec
    assert spec["config"]["model_uri"] == "models:/iris@champion"
    assert spec["config"]["workers"] == 2 and spec["config"]["port"] == 5099
    assert service_from_spec(spec).endpoint == "http://127.0.0.1:5099/invocations"


def test_class_from_a_notebook_cell_is_refused(home):
    namespace = {"LocalDaemonService": LocalDaemonService, "__name__": "__main__"}
    exec("class Mine(LocalDaemonService):\n    pass\n", namespace)
    mine = namespace["Mine"]("mine", [sys.executable, "-c", "pass"])
    with pytest.raises(ServiceSpecError, match="__main__"):
        service_to_spec(mine)
    with pytest.raises(ServiceSpecError, match="__main__"):
        register_kind("mine")(namespace["Mine"])
    assert "mine" not in SERVICE_KINDS


def test_unknown_kind_lists_valid_ones(home):
    with pytest.raises(ServiceSpecError, match="known: local_daemon, mlflow_deployment"):
        service_from_spec({"kind": "mlflow_deploy", "name": "x", "uuid": "u", "config": {}})


def test_bad_names_and_missing_service(home):
    with pytest.raises(ServiceSpecError, match="invalid service name"):
        LocalDaemonService("../escape", ["true"])
    LocalDaemonService("present", ["true"])
    with pytest.raises(ServiceNotFoundError, match="known: present"):
        get_service("absent")
