"""Fingerprints of the values a step reads from outside the pipeline (parameters, notebook
variables, helper functions), so an unchanged step with unchanged inputs is a cache hit.
"""

from __future__ import annotations

import hashlib
import inspect
import types
from typing import Any

from .artifacts import serialize

__all__ = ["step_fingerprint", "value_fingerprint"]

_VERSION = "1"


def value_fingerprint(value: Any) -> str | None:
    """A stable hash of `value`, or None when it cannot be fingerprinted (no cache then)."""
    try:
        if isinstance(value, types.ModuleType):
            return _sha("module", value.__name__, str(getattr(value, "__version__", "")))
        if isinstance(value, (types.FunctionType, types.MethodType)):
            func = getattr(value, "__func__", value)
            return _sha("function", func.__module__ or "", func.__qualname__,
                        _code_hash(func.__code__), repr(func.__defaults__))
        if isinstance(value, type) or (callable(value) and not hasattr(value, "__dict__")):
            # Classes and builtins: identified by where they live (and the library version).
            module = getattr(value, "__module__", "") or ""
            root = __import__("sys").modules.get(module.split(".")[0])
            return _sha("type", module, getattr(value, "__qualname__", repr(value)),
                        str(getattr(root, "__version__", "")))
        kind, data = serialize(value)
        return _sha(kind, data)
    except Exception:
        return None


def step_fingerprint(source_hash: str, inputs: dict[str, str], outputs: tuple[str, ...]) -> str:
    parts = [_VERSION, source_hash, ",".join(outputs)]
    parts += [f"{name}={fp}" for name, fp in sorted(inputs.items())]
    return _sha(*parts)


def _code_hash(code: types.CodeType) -> str:
    parts: list[str | bytes] = [code.co_code, repr(code.co_names), repr(code.co_varnames)]
    for const in code.co_consts:
        parts.append(_code_hash(const) if inspect.iscode(const) else repr(const))
    return _sha(*parts)


def _sha(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()
