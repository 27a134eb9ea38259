"""The Jupyter server extension: a REST API on the same state store as the kernels, so services,
schedules and runs can be seen and controlled from outside any kernel (the side panel uses it).

    GET  /ctcd/api/info                        state folder, version, MLflow UI address
    GET  /ctcd/api/services                    every service: status, endpoint, last error
    GET  /ctcd/api/services/NAME               one service in full (config, history)
    POST /ctcd/api/services/NAME/ACTION        start | stop | restart | rollback
    GET  /ctcd/api/services/NAME/logs?tail=N   the last N lines of its log
    GET  /ctcd/api/services/NAME/monitor?window=1h  its monitor report and Vega-Lite charts
    GET  /ctcd/api/schedules                   every schedule, with the kernel/notebook owning it
    POST /ctcd/api/schedules/NAME/ACTION       pause | resume | run (in the owning kernel)
    GET  /ctcd/api/runs?pipeline=P&limit=N     run history, newest first
    GET  /ctcd/api/runs/ID                     one run in full: steps, logs, deployment
    GET  /ctcd/api/deployments?model=M&limit=N the recorded deployment decisions

Every route needs the server's authentication (token or cookie), as all of Jupyter's APIs do;
errors answer `{"error": "..."}` with 400 (bad request), 404 (no such thing) or 409 (not now).

The state folder: `c.CtcdApp.home` (a config file, or `--CtcdApp.home=PATH` on the command
line), else `$CTCD_HOME`, else `.ctcd/` in the server's root folder. The extension puts it in
the server's `CTCD_HOME`, which the kernels it starts inherit: every notebook of this server
keeps its state where the side panel reads it, whatever folder the notebook is in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from traitlets import Unicode
from traitlets.config import Configurable

__all__ = ["CtcdApp", "state_folder"]


class CtcdApp(Configurable):
    """The server extension's settings (`c.CtcdApp.home = "/path/to/state"`)."""

    home = Unicode("", config=True,
                   help="The ctcd state folder the REST API and side panel read (default: "
                        "$CTCD_HOME, else .ctcd/ in the server's root folder)")


def state_folder(serverapp: Any) -> Path:
    """`c.CtcdApp.home`, else `$CTCD_HOME`, else `.ctcd/` in the server's root folder."""
    configured = CtcdApp(config=serverapp.config).home
    home = configured or os.environ.get("CTCD_HOME")
    return Path(home).expanduser() if home else Path(serverapp.root_dir).expanduser() / ".ctcd"


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from .handlers import setup_handlers

    home = state_folder(serverapp)
    # Kernels inherit the server's environment: notebooks and the panel share one folder.
    os.environ["CTCD_HOME"] = str(home)
    setup_handlers(serverapp.web_app, home)
    serverapp.log.info("ctcd_jupyter: REST API at /ctcd/api, state in %s", home)
