"""A model URI checked in the client, before anything is launched for it (the form only: whether
the model, version or alias exists is the server's question)."""

from __future__ import annotations

from ..errors import ServiceSpecError
from ..model_server.model_uri import uri_problem

__all__ = ["check_model_uri"]


def check_model_uri(uri: str) -> str:
    """`uri`, stripped, when it has a form MLflow can load a model from; else `ServiceSpecError`
    saying what was wrong and what a model URI looks like."""
    problem = uri_problem(uri)
    if problem is not None:
        raise ServiceSpecError(problem)
    return str(uri).strip()
