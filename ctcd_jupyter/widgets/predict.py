"""What the predict box starts from: the model's input example, else a record with the
columns of its signature (`[{"x0": 0.0, "x1": 0.0}]`). mlflow is imported only here, lazily, on
a background thread, once per model URI."""

from __future__ import annotations

import functools
import json
import tempfile
from typing import Any

__all__ = ["input_template"]


def input_template(svc: Any) -> str | None:
    """JSON text for the predict box of `svc` (a model server), or None when nothing is known."""
    example = getattr(svc, "input_example", None)
    if callable(example):
        example = example()
    if example is not None:
        return _records(example)
    uri = getattr(svc, "model_uri", None)
    config = getattr(svc, "config", {}) or {}
    if config.get("columns"):
        return json.dumps([{c: 0.0 for c in config["columns"]}])
    if not uri:
        return None
    return _from_model(uri, config.get("tracking_uri"))


def _records(example: Any) -> str:
    if hasattr(example, "to_dict"):
        example = example.head(1).to_dict("records")
    elif hasattr(example, "tolist"):
        example = example[:1].tolist()
    return json.dumps(example, default=str)


def _source(client: Any, uri: str) -> str:
    """Where the files of `models:/NAME/VERSION` or `models:/NAME@ALIAS` are (through an
    explicit client: the process's default registry would be a stray ./mlflow.db)."""
    if not uri.startswith("models:/"):
        return uri
    name, sep, alias = uri[len("models:/"):].partition("@")
    if sep:
        return client.get_model_version_by_alias(name, alias).source
    name, _, version = name.rpartition("/")
    return client.get_model_version(name, version).source


@functools.lru_cache(maxsize=32)
def _from_model(uri: str, tracking_uri: str | None) -> str | None:
    import mlflow.artifacts
    from mlflow.models import Model
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    with tempfile.TemporaryDirectory() as folder:
        local = mlflow.artifacts.download_artifacts(artifact_uri=_source(client, uri),
                                                    dst_path=folder, tracking_uri=tracking_uri)
        model = Model.load(local)
        example = None
        if model.saved_input_example_info:
            example = model.load_input_example(local)
        if example is not None:
            return _records(example)
        names = model.signature.inputs.input_names() if model.signature else []
        return json.dumps([{n: 0.0 for n in names}]) if names else None
