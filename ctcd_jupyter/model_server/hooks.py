"""What the model server tells whoever started it, through functions named in its `server.json`.

The server imports nothing of the ctcd_jupyter package; the service that starts it names, as
`module:function` strings (like uvicorn's `module:app`), what to call when the served version
changes (`served`), whether a deployment is open (`pending`) and how to settle one whose caller
died (`settle`). Each is called with the service's state folder and name first. A hook that is
not named does nothing; one that cannot be imported raises, and its caller reports it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["HOOKS", "call"]

HOOKS = ("served", "pending", "settle")
_loaded: dict[str, Callable[..., Any]] = {}


def _load(spec: str) -> Callable[..., Any]:
    found = _loaded.get(spec)
    if found is None:
        module, _, name = spec.partition(":")
        found = _loaded[spec] = getattr(importlib.import_module(module), name)
    return found


def call(config: dict[str, Any], hook: str, *args: Any, default: Any = None, **kwargs: Any) -> Any:
    """Call hook `hook` of `config["hooks"]` with (home, service, *args, **kwargs); `default`
    when the server was started without it."""
    spec = (config.get("hooks") or {}).get(hook)
    if not spec:
        return default
    return _load(spec)(config.get("home"), config["service"], *args, **kwargs)
