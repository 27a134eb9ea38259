"""An input a model server accepts, as JSON text: the model's input example, else a record with
the columns of its signature (`[{"x0": 0.0, "x1": 0.0}]`). The predict box starts from it and
`ctcd demo` shows it in a curl line. mlflow is imported lazily, once per model URI."""

from __future__ import annotations

import functools
import json
import tempfile
from typing import Any

__all__ = ["input_template", "invocation_body"]


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


def invocation_body(svc: Any) -> str | None:
    """A `/invocations` body for `svc` built from `input_template` (records or rows)."""
    template = input_template(svc)
    if template is None:
        return None
    rows = json.loads(template)
    key = "dataframe_records" if rows and isinstance(rows[0], dict) else "inputs"
    return json.dumps({key: rows})


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
        if model.signature is None:
            return None
        inputs = model.signature.inputs
        if inputs.is_tensor_spec():  # one unnamed tensor: a row of zeros of its width
            shape = inputs.inputs[0].shape
            width = shape[-1] if len(shape) == 2 and shape[-1] > 0 else 1
            return json.dumps([[0.0] * width])
        names = inputs.input_names()
        return json.dumps([{n: 0.0 for n in names}]) if names else None
