"""Crash points for tests (etcd's failpoints): `CTCD_FAILPOINT=deploy.after_switch` makes the
process that reaches that point SIGKILL itself; without the variable, `failpoint()` does nothing.

Standard library only: the model server (run without the ctcd_jupyter package) uses it too.
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "failpoint"]

ENV = "CTCD_FAILPOINT"


def failpoint(name: str) -> None:
    """Die here, as a `kill -9` would, when `name` is among the comma-separated armed points."""
    armed = os.environ.get(ENV)
    if armed and name in armed.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
