"""Content-addressed storage of step outputs, through a small table of serializers.

An artifact is the bytes of one value plus the serializer that wrote them; its id is the sha256
of both, so identical values are stored once and a step's inputs can be fingerprinted by id.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ArtifactError, unknown_name
from ..state import ensure_dir

__all__ = [
    "SERIALIZERS",
    "ArtifactStore",
    "Serializer",
    "deserialize",
    "register_serializer",
    "serialize",
]


@dataclass(frozen=True)
class Serializer:
    name: str
    matches: Callable[[Any], bool]
    dump: Callable[[Any], bytes]
    load: Callable[[bytes], Any]


def _is_plain_json(value: Any, depth: int = 0) -> bool:
    # Only values that survive a JSON round trip unchanged (no tuples, no int keys).
    if value is None or isinstance(value, (bool, str)):
        return True
    if type(value) in (int, float):
        return True
    if depth > 20:
        return False
    if type(value) is list:
        return len(value) <= 10_000 and all(_is_plain_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return len(value) <= 10_000 and all(
            type(k) is str and _is_plain_json(v, depth + 1) for k, v in value.items())
    return False


def _is_ndarray(value: Any) -> bool:
    np = _loaded("numpy")
    return np is not None and type(value) is np.ndarray and value.dtype != object


def _dump_ndarray(value: Any) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, value, allow_pickle=False)
    return buffer.getvalue()


def _load_ndarray(data: bytes) -> Any:
    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=False)


def _dump_pickle(value: Any) -> bytes:
    if isinstance(value, io.IOBase):
        raise TypeError("open files and streams hold a handle, not data")
    try:
        return pickle.dumps(value, protocol=5)
    except (pickle.PicklingError, AttributeError):
        # Functions and classes defined in a notebook cell have no importable module: pickle
        # them by value instead. (Not for TypeError: "cannot pickle X" stays an error.)
        import cloudpickle

        return cloudpickle.dumps(value, protocol=5)


def _loaded(module: str) -> Any:
    import sys

    return sys.modules.get(module)


# Order matters: the first serializer whose `matches` accepts a value writes it.
SERIALIZERS: list[Serializer] = [
    Serializer("json", _is_plain_json, lambda v: json.dumps(v).encode(), json.loads),
    Serializer("numpy", _is_ndarray, _dump_ndarray, _load_ndarray),
    Serializer("pickle", lambda v: True, _dump_pickle, pickle.loads),
]


def register_serializer(serializer: Serializer, *, before: str = "pickle") -> None:
    """Add a serializer ahead of `before` (default: ahead of the pickle fallback)."""
    names = [s.name for s in SERIALIZERS]
    if before not in names:
        raise ValueError(unknown_name("serializer", before, names))
    SERIALIZERS[:] = [s for s in SERIALIZERS if s.name != serializer.name]
    SERIALIZERS.insert([s.name for s in SERIALIZERS].index(before), serializer)


def _serializer(name: str) -> Serializer:
    for serializer in SERIALIZERS:
        if serializer.name == name:
            return serializer
    raise ArtifactError(unknown_name("serializer", name, (s.name for s in SERIALIZERS)))


def serialize(value: Any) -> tuple[str, bytes]:
    """(serializer name, bytes) for `value`; raises whatever the serializer raises."""
    for serializer in SERIALIZERS:
        if serializer.matches(value):
            return serializer.name, serializer.dump(value)
    raise TypeError(f"no serializer accepts {type(value).__name__}")  # pragma: no cover


def deserialize(kind: str, data: bytes) -> Any:
    return _serializer(kind).load(data)


def artifact_id(kind: str, data: bytes) -> str:
    digest = hashlib.sha256(kind.encode())
    digest.update(b"\0")
    digest.update(data)
    return digest.hexdigest()


class ArtifactStore:
    """Files under `root/ab/abcdef…` with a JSON sidecar naming the serializer and type."""

    def __init__(self, root: Path):
        self.root = ensure_dir(Path(root))

    def _path(self, aid: str) -> Path:
        # Ids come from state.db rows: only a content id names a file, never a path.
        if not isinstance(aid, str) or not _ID.fullmatch(aid):
            raise ArtifactError(f"{aid!r} is not an artifact id (64 hex digits); the state "
                                f"database {self.root.parent / 'state.db'} may be tampered with")
        return self.root / aid[:2] / aid

    def put(self, value: Any, *, step: str | None = None, name: str | None = None) -> str:
        try:
            kind, data = serialize(value)
        except Exception as exc:
            where = f"step {step!r} output {name!r}" if step else f"value {name!r}"
            raise ArtifactError(
                f"{where} cannot be stored: {type(value).__name__} is not serializable ({exc}). "
                f"Compute it inside the step that uses it, or leave it out with --outputs.",
                step=step, name=name) from exc
        aid = artifact_id(kind, data)
        path = self._path(aid)
        if not path.exists():
            ensure_dir(path.parent)
            meta = {"serializer": kind, "type": _type_name(value), "size": len(data)}
            _atomic_write(path.with_suffix(".json"), json.dumps(meta).encode())
            _atomic_write(path, data)
        return aid

    def exists(self, aid: str) -> bool:
        try:
            return self._path(aid).exists()
        except ArtifactError:
            return False

    def meta(self, aid: str) -> dict:
        return json.loads(self._path(aid).with_suffix(".json").read_bytes())

    def get(self, aid: str) -> Any:
        path = self._path(aid)
        try:
            data = path.read_bytes()
            kind = self.meta(aid)["serializer"]
        except FileNotFoundError as exc:
            raise ArtifactError(
                f"artifact {aid[:12]} is missing from {self.root}: only the outputs of each "
                f"pipeline's newest runs are kept ($CTCD_KEEP_RUNS)") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(f"artifact {aid[:12]} in {self.root} has an unreadable "
                                f"description ({exc}); it is not loaded") from None
        # The id is the hash of the bytes: bytes that do not match were changed after they
        # were written, and are never deserialized (a replaced pickle would run code).
        if not isinstance(kind, str) or artifact_id(kind, data) != aid:
            raise ArtifactError(f"artifact {aid[:12]} in {self.root} does not match its content "
                                f"hash: it was changed after it was written and is not loaded")
        return deserialize(kind, data)


_ID = re.compile(r"[0-9a-f]{64}")


def _type_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
