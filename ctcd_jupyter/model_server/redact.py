"""What a view, a log line or an error may show of a secret: a URI's password masked
(`postgresql://mlflow:***@host/db`), an environment variable's name but never its value.

The one home of redaction: service descriptions, the JSON and text views, error messages and
the log runner (which loads this file by path: stdlib only, nothing of the package) use it.
Services keep the real values; only what is shown passes through here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "data", "environment", "text", "values"]

MASK = "***"

# scheme://user:PASSWORD@host: the password ends at the last '@' before the host's path
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]*):(?P<pw>[^\s@/'\"]+)@")
# ?password=...&token=... in a URI's query string
_QUERY = re.compile(r"(?P<head>[?&](?:[A-Za-z_-]*(?:password|passwd|pwd|secret|token|"
                    r"access_?key|api_?key|signature|sig))=)(?P<value>[^&\s'\"#]+)",
                    re.IGNORECASE)
_ENV_KEYS = ("env", "environment")
_SHORTEST_VALUE = 4  # shorter values ("1", "yes") would mask unrelated text


def text(value: str) -> str:
    """`value` with every URI password and secret-looking query value masked."""
    if "://" not in value and "=" not in value:
        return value
    value = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", value)
    return _QUERY.sub(lambda m: f"{m['head']}{MASK}", value)


def environment(env: Mapping[str, Any] | None) -> dict[str, str]:
    """An environment as it may be shown: its names, each value masked."""
    return {str(name): MASK for name in (env or {})}


def values(value: str, secrets: Iterable[str]) -> str:
    """`value` with each of `secrets` (an environment's values) masked, then `text`."""
    for secret in sorted({s for s in secrets if len(s) >= _SHORTEST_VALUE}, key=len,
                         reverse=True):
        value = value.replace(secret, MASK)
    return text(value)


def data(value: Any) -> Any:
    """A JSON-able copy of `value` fit to show: strings through `text`, and the values of any
    `env`/`environment` mapping masked, at any depth."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, Mapping):
        return {key: environment(item) if key in _ENV_KEYS and isinstance(item, Mapping)
                else data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [data(item) for item in value]
    return value
