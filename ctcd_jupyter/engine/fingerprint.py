"""Fingerprints of the values a step reads from outside the pipeline (parameters, notebook
variables, helper functions), so an unchanged step with unchanged inputs is a cache hit.
"""

from __future__ import annotations

import hashlib
import inspect
import reprlib
import sys
import types
from typing import Any

from .artifacts import serialize

__all__ = ["read_record", "short_repr", "step_fingerprint", "value_fingerprint"]

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
            root = sys.modules.get(module.split(".")[0])
            return _sha("type", module, getattr(value, "__qualname__", repr(value)),
                        str(getattr(root, "__version__", "")))
        fast = _array_fingerprint(value)
        if fast is not None:
            return fast
        kind, data = serialize(value)
        return _sha(kind, data)
    except Exception:
        return None


def read_record(value: Any, fingerprint: str | None) -> dict[str, str | None] | None:
    """What a run records of a value it read from the notebook: its kind, a short repr and a
    content hash (`fingerprint`, shortened); a function defined in the notebook by the hash of
    its code. None for modules, classes and library functions (`load_iris`): they are the
    code's tools, not its data, and their versions belong to the environment."""
    if isinstance(value, (types.ModuleType, type)):
        return None
    function = isinstance(value, (types.FunctionType, types.MethodType,
                                  types.BuiltinFunctionType))
    if function and getattr(value, "__module__", None) != "__main__":
        return None
    return {"kind": "function" if function else "value", "repr": short_repr(value),
            "hash": fingerprint[:16] if fingerprint else None}


def short_repr(value: Any, width: int = 80) -> str:
    """One line of at most `width` characters: arrays and frames by type and shape (their
    repr is a table), functions by name, everything else by its repr, cut."""
    if isinstance(value, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        return f"<function {getattr(value, '__qualname__', getattr(value, '__name__', '?'))}>"
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and (hasattr(value, "dtype") or hasattr(value, "dtypes")):
        return f"{type(value).__name__} {shape}"
    try:
        text = " ".join(reprlib.repr(value).split())
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else text[: width - 1] + "…"


def _array_fingerprint(value: Any) -> str | None:
    """Hash arrays and frames from their buffers: a big DataFrame in the notebook is read
    every run, and pickling it only to hash it would cost a full copy."""
    np = sys.modules.get("numpy")
    pd = sys.modules.get("pandas")
    if np is not None and type(value) is np.ndarray and value.dtype != object:
        data = np.ascontiguousarray(value)
        return _sha("ndarray", str(data.dtype), repr(data.shape), memoryview(data).cast("B"))
    if pd is not None and isinstance(value, (pd.DataFrame, pd.Series)):
        rows = pd.util.hash_pandas_object(value, index=True).to_numpy()
        columns = repr(list(value.columns)) if isinstance(value, pd.DataFrame) else value.name
        dtypes = repr(value.dtypes.to_dict()) if isinstance(value, pd.DataFrame) else str(
            value.dtype)
        return _sha("pandas", type(value).__name__, str(columns), dtypes,
                    memoryview(rows).cast("B"))
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


def _sha(*parts: str | bytes | memoryview) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()
