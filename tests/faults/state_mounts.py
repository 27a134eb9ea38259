"""Real file-system faults for tests: a tiny tmpfs (a full disk) and a read-only mount.

Root ignores mode bits, so a read-only folder has to be a read-only mount. Mounting needs
CAP_SYS_ADMIN (root here and in CI); elsewhere the tests that need it are skipped, saying why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


needs_mount = pytest.mark.skipif(not can_mount(), reason="needs root to mount a tmpfs "
                                 "(a full or read-only file system cannot be faked for root)")


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "64k") mounted on `path` (created, and emptied by the mount)."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """`path` (a folder) made read-only by bind-mounting it onto itself read-only."""
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
