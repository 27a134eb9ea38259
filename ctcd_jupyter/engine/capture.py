"""Per-thread capture of what steps print: a proxy installed as sys.stdout/sys.stderr sends a
registered thread's writes to its own buffer, everything else to the original stream.

Why not contextlib.redirect_stdout: it is process-global, so a background run would swallow the
user's output (see FACTS.md). The proxy forwards unknown attributes because ipykernel calls
`sys.stdout.set_parent(...)` on every request.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["capture_thread", "install", "uninstall"]

_install_lock = threading.Lock()


class _Sink:
    """Where one thread's writes go: a buffer, and optionally also the original stream."""

    def __init__(self, buffer: io.StringIO, tee: bool):
        self.buffer = buffer
        self.tee = tee


class ThreadRouter:
    def __init__(self, wrapped: TextIO, name: str):
        self._wrapped = wrapped
        self._name = name
        self._sinks: dict[int, _Sink] = {}

    def write(self, text: str) -> int:
        sink = self._sinks.get(threading.get_ident())
        if sink is None:
            return self._wrapped.write(text)
        sink.buffer.write(text)
        if sink.tee:
            self._wrapped.write(text)
        return len(text)

    def flush(self) -> None:
        self._wrapped.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


def install() -> None:
    """Wrap sys.stdout and sys.stderr once (idempotent)."""
    with _install_lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if not isinstance(stream, ThreadRouter):
                setattr(sys, name, ThreadRouter(stream, name))


def uninstall() -> None:
    """Put the original streams back, if nobody replaced our proxy meanwhile."""
    with _install_lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if isinstance(stream, ThreadRouter):
                setattr(sys, name, stream._wrapped)


@contextmanager
def capture_thread(buffer: io.StringIO, *, tee: bool = False) -> Iterator[io.StringIO]:
    """Send what the current thread prints to `buffer` (and, with tee, also where it went)."""
    install()
    ident = threading.get_ident()
    routers = [r for r in (sys.stdout, sys.stderr) if isinstance(r, ThreadRouter)]
    previous = [r._sinks.get(ident) for r in routers]
    for router in routers:
        router._sinks[ident] = _Sink(buffer, tee)
    try:
        yield buffer
    finally:
        for router, old in zip(routers, previous, strict=True):
            if old is None:
                router._sinks.pop(ident, None)
            else:
                router._sinks[ident] = old
