"""MLflow model URIs: what `models:/NAME/VERSION` and `models:/NAME@ALIAS` name.

Standard library only: the model server imports it without the ctcd_jupyter package.
"""

from __future__ import annotations

__all__ = ["parse_models_uri"]


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
