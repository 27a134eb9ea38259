"""Crash points for tests (etcd's failpoints): `CTCD_FAILPOINT=deploy.after_switch` makes the
process that reaches that point SIGKILL itself, `NAME=sleep:SECONDS` makes it pause there (so
that another process can be killed meanwhile); without the variable, `failpoint()` does nothing.

Standard library only: the model server (run without the ctcd_jupyter package) uses it too.
"""

from __future__ import annotations

import os
import signal
import time

__all__ = ["ENV", "failpoint"]

ENV = "CTCD_FAILPOINT"


def failpoint(name: str) -> None:
    """Act at `name` when it is among the comma-separated points armed in `CTCD_FAILPOINT`."""
    armed = os.environ.get(ENV)
    if not armed:
        return
    for point in armed.split(","):
        point_name, _, action = point.partition("=")
        if point_name.strip() != name:
            continue
        if action.startswith("sleep:"):
            time.sleep(float(action[len("sleep:"):]))
        else:
            os.kill(os.getpid(), signal.SIGKILL)
