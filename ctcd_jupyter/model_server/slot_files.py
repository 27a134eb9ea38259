"""The files a model server keeps in its service folder, read and written atomically:
`target.json` (what it serves), status and worker reports, locks, and downloaded model copies.

Standard library only: the model server imports it without the ctcd_jupyter package.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

__all__ = ["flock", "read_json", "read_target", "remove_leftover_copies", "served_before",
           "write_json"]


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(data, default=str))
    os.replace(tmp, path)  # readers see the old or the new file, never half of one


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_target(folder: Path) -> dict[str, Any] | None:
    """What the service's server serves (uri, version, generation, why, model_uri), from the
    file it writes atomically at each switch; None before its first start."""
    data = read_json(Path(folder) / "target.json")
    return data if isinstance(data, dict) else None


def served_before(target: dict[str, Any] | None, model_uri: str) -> str | None:
    """The URI a service configured for `model_uri` served last, per its `target.json` (one
    written for another configuration, a service re-created under the same name, is not)."""
    if target and target.get("model_uri", model_uri) == model_uri:
        return target.get("uri")
    return None


def remove_leftover_copies(folder: Path) -> list[Path]:
    """Remove the downloaded model copies under `folder/models` whose process is gone (a
    server that was killed or stopped mid-load); what live servers serve or load stays."""
    removed = []
    for path in sorted((Path(folder) / "models").glob("*")):
        pid = path.name.split("-", 1)[0]
        if not path.is_dir() or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # alive: its copy is served, or being loaded
        except ProcessLookupError:
            pass
        except OSError:
            continue  # someone else's process: not ours to judge
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


@contextlib.contextmanager
def flock(path: Path):
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
