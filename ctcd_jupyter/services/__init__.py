"""Long-lived services that outlive the notebook: local daemons and MLflow prediction servers.

Services are stored as data in the state folder's registry, so any process finds them again.
Importing this package imports neither mlflow nor IPython.
"""

from __future__ import annotations

import json

from ..engine.artifacts import Serializer, register_serializer
from .base import BaseService, ServiceState
from .daemon import LocalDaemonService
from .kinds import SERVICE_KINDS, register_kind
from .mlflow_serving import MLFlowDeploymentService
from .registry import (
    UnknownService,
    get_service,
    service_from_spec,
    service_to_spec,
    services,
)


def _serializer() -> Serializer:
    # A service in a step's outputs is a running process elsewhere: store its spec and
    # identity (JSON), never the object; loading it re-attaches to the process.
    return Serializer("service", lambda value: isinstance(value, BaseService),
                      lambda value: json.dumps(service_to_spec(value), sort_keys=True).encode(),
                      lambda data: service_from_spec(json.loads(data)))


register_serializer(_serializer())

__all__ = [
    "SERVICE_KINDS",
    "BaseService",
    "LocalDaemonService",
    "MLFlowDeploymentService",
    "ServiceState",
    "UnknownService",
    "get_service",
    "register_kind",
    "service_from_spec",
    "service_to_spec",
    "services",
]
