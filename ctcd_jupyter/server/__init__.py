"""The Jupyter server extension: a REST API on the same state store as the kernels, so services,
schedules and runs can be seen and services controlled from outside any kernel.

    GET  /ctcd/api/services                    every service: status, endpoint, last error
    GET  /ctcd/api/services/NAME               one service in full
    POST /ctcd/api/services/NAME/ACTION        start | stop | restart
    GET  /ctcd/api/schedules                   every schedule (live in a kernel, or stored)
    GET  /ctcd/api/runs?pipeline=P&limit=N     run history, newest first

Every route needs the server's authentication (token or cookie), as all of Jupyter's APIs do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["state_folder"]


def state_folder(serverapp: Any) -> Path:
    """`$CTCD_HOME`, else `.ctcd/` in the server's root folder."""
    home = os.environ.get("CTCD_HOME")
    return Path(home) if home else Path(serverapp.root_dir).expanduser() / ".ctcd"


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from .handlers import setup_handlers

    setup_handlers(serverapp.web_app, state_folder(serverapp))
    serverapp.log.info("ctcd_jupyter: REST API at /ctcd/api, state in %s",
                       state_folder(serverapp))
