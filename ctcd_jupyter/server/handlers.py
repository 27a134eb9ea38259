"""REST handlers: thin, JSON in and out, one engine call each (slow service actions run on a
thread so the server keeps answering)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..errors import CtcdError, ServiceNotFoundError
from ..schedules.pipelines import Scheduling
from ..services import get_service, services
from ..views.json import run_json, schedule_json, service_json
from ..workspace import Workspace

__all__ = ["setup_handlers"]

ACTIONS = ("start", "stop", "restart")


class _Handler(APIHandler):
    @property
    def home(self) -> Path:
        return self.settings["ctcd_home"]

    def workspace(self) -> Any:
        workspace = self.settings.get("ctcd_workspace")
        if workspace is None:
            workspace = self.settings["ctcd_workspace"] = Workspace(self.home, tracking=False)
        return workspace

    def fail(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish(json.dumps({"error": message}))


class ServicesHandler(_Handler):
    @tornado.web.authenticated
    def get(self) -> None:
        self.finish(json.dumps([service_json(s) for s in services(self.home)], default=str))


class ServiceHandler(_Handler):
    @tornado.web.authenticated
    def get(self, name: str) -> None:
        try:
            svc = get_service(name, self.home)
        except ServiceNotFoundError as exc:
            return self.fail(404, str(exc))
        self.finish(json.dumps(service_json(svc, detail=True), default=str))

    @tornado.web.authenticated
    async def post(self, name: str, action: str) -> None:
        if action not in ACTIONS:
            return self.fail(400, f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
        try:
            svc = get_service(name, self.home)
        except ServiceNotFoundError as exc:
            return self.fail(404, str(exc))
        call = {"start": lambda: svc.start(progress=False), "stop": svc.stop,
                "restart": svc.restart}[action]
        try:
            await asyncio.get_running_loop().run_in_executor(None, call)
        except CtcdError as exc:
            return self.fail(409, str(exc))
        self.finish(json.dumps(service_json(svc), default=str))


class SchedulesHandler(_Handler):
    @tornado.web.authenticated
    def get(self) -> None:
        items = [schedule_json(info) for info in Scheduling(self.workspace()).overview()]
        self.finish(json.dumps(items))


class RunsHandler(_Handler):
    @tornado.web.authenticated
    def get(self) -> None:
        try:
            limit = max(1, min(int(self.get_query_argument("limit", "50")), 1000))
        except ValueError:
            return self.fail(400, "limit must be a whole number")
        pipeline = self.get_query_argument("pipeline", None) or None
        runs = self.workspace().runs(pipeline, limit=limit)
        self.finish(json.dumps([run_json(r) for r in runs], default=str))


def setup_handlers(web_app: Any, home: Path) -> None:
    base = url_path_join(web_app.settings["base_url"], "ctcd", "api")
    web_app.settings["ctcd_home"] = Path(home)
    name = r"([A-Za-z0-9][A-Za-z0-9._-]*)"  # the service names records.py accepts
    web_app.add_handlers(".*$", [
        (url_path_join(base, "services"), ServicesHandler),
        (url_path_join(base, "services", name), ServiceHandler),
        (url_path_join(base, "services", name, r"(\w+)"), ServiceHandler),
        (url_path_join(base, "schedules"), SchedulesHandler),
        (url_path_join(base, "runs"), RunsHandler),
    ])
