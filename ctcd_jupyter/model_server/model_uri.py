"""MLflow model URIs: what `models:/NAME/VERSION` and `models:/NAME@ALIAS` name, and what a model
URI may look like, checked before anything is launched for it.

Standard library only, part of the model server program. `uri_problem` is what the client's
`services/model_uri.py:check_model_uri` raises on: a typo (`ctcd serve notauri`,
`models:/iris/`) would otherwise cost a server start, fail in its log, and say nothing of the
forms MLflow understands. Whether the model, version or alias exists is the server's question
(it asks the registry); the form is settled here.
"""

from __future__ import annotations

import os
import re

__all__ = ["FORMS", "parse_models_uri", "uri_problem"]

FORMS = "models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN_ID/PATH, or a model folder"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# where MLflow can download a model folder from (an artifact URI), besides models:/ and runs:/
_ARTIFACT_SCHEMES = {"file", "s3", "gs", "wasbs", "wasb", "abfss", "hdfs", "viewfs", "dbfs",
                     "ftp", "sftp", "http", "https", "mlflow-artifacts", "uc", "oci"}
_NAME = r"[^/@\s][^/@]*"


def parse_models_uri(uri: str) -> tuple[str, str | None, str | None] | None:
    """(name, version, alias) of `models:/NAME/VERSION` or `models:/NAME@ALIAS`, else None."""
    if not uri.startswith("models:/"):
        return None
    rest = uri[len("models:/"):].strip("/")
    if "@" in rest:
        name, alias = rest.rsplit("@", 1)
        return name, None, alias
    name, _, version = rest.rpartition("/")
    if name and version.isdigit():
        return name, version, None
    return None  # models:/m-<id> (a logged model) has no registry version


def uri_problem(uri: str) -> str | None:
    """None when `uri` has a form MLflow can load a model from; else what is wrong with it
    (one line, naming the forms a model URI may take)."""
    text = str(uri).strip()
    scheme = _SCHEME.match(text)
    kind = scheme.group(1).lower() if scheme and len(scheme.group(1)) > 1 else ""
    if kind == "models":
        rest = text[len("models:"):]
        if re.fullmatch(rf"/{_NAME}(/[^/@\s]+|@[^/@\s]+)?", rest):
            return None
        problem = "is not a registered model URI"
    elif kind == "runs":
        if re.fullmatch(r"runs:/[^/\s]+/\S+", text):
            return None
        problem = "names no run and path"
    elif kind in _ARTIFACT_SCHEMES:
        return None
    elif kind:
        problem = f"has an unknown scheme {kind!r}"
    elif os.path.isfile(os.path.join(text, "MLmodel")):
        return None  # a local model folder (what mlflow.save_model writes)
    elif os.path.isdir(text):
        problem = "is a folder without an MLmodel file"
    else:
        problem = "is not a model URI nor a model folder"
    return f"{text!r} {problem}; a model URI looks like {FORMS}"
