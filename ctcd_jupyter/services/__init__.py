"""Long-lived services that outlive the notebook: local daemons and MLflow prediction servers.

Services are stored as data in the state folder's registry, so any process finds them again.
Importing this package imports neither mlflow nor IPython.
"""

from __future__ import annotations

from .base import BaseService, ServiceState
from .daemon import LocalDaemonService
from .mlflow_serving import MLFlowDeploymentService
from .records import SERVICE_KINDS, register_kind
from .registry import (
    UnknownService,
    get_service,
    service_from_spec,
    service_to_spec,
    services,
)

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
