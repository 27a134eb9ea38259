"""The base of every ctcd REST handler: the state folder, the server's workspace on it, and
errors as JSON (`{"error": ...}`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jupyter_server.base.handlers import APIHandler

from ..workspace import Workspace

__all__ = ["CtcdHandler"]


class CtcdHandler(APIHandler):
    @property
    def home(self) -> Path:
        return self.settings["ctcd_home"]

    def workspace(self) -> Workspace:
        workspace = self.settings.get("ctcd_workspace")
        if workspace is None:
            # namespace={}: a run started here must never read the server's own globals
            workspace = Workspace(self.home, namespace={}, tracking=False)
            self.settings["ctcd_workspace"] = workspace
        return workspace

    def fail(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish(json.dumps({"error": message}))

    def answer(self, data: Any) -> None:
        self.finish(json.dumps(data, default=str))

    def int_argument(self, name: str, default: int, top: int) -> int | None:
        """A whole-number query argument within 1..top; None (and a 400 sent) otherwise."""
        try:
            return max(1, min(int(self.get_query_argument(name, str(default))), top))
        except ValueError:
            self.fail(400, f"{name} must be a whole number")
            return None
