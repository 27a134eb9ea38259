"""Progress of slow actions (a server starting, a model being deployed) as one line that updates.

The headless layers report through `reporter(...)`; how a line looks in a notebook is the IPython
front end's business (`ctcd_jupyter.magics.progress` installs it). Without one, `progress=True`
prints to stderr and the default says nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["Reporter", "reporter", "set_notebook_reporter"]

Reporter = Callable[[str], None]
_notebook: Callable[[str], Reporter | None] | None = None


def set_notebook_reporter(factory: Callable[[str], Reporter | None] | None) -> None:
    """`factory(label)` gives an in-place line for this thread's cell, or None where it cannot."""
    global _notebook
    _notebook = factory


def reporter(label: str, progress: bool | Reporter | None) -> Reporter:
    """`progress`: a callable (used as is), True (stderr lines), False (silent), or None: an
    in-place notebook line where one can be shown, else silent."""
    if callable(progress):
        return progress
    if progress is None:
        line = _notebook(label) if _notebook is not None else None
        return line or _silent
    if progress:
        return lambda message: print(f"[{label}] {message}", file=sys.stderr, flush=True)
    return _silent


def _silent(message: str) -> None:
    pass
