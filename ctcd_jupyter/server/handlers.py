"""REST handlers: thin, JSON in and out, one engine call each (slow service actions run on a
thread so the server keeps answering). Every shape comes from `ctcd_jupyter.views.json`."""

from __future__ import annotations

import asyncio
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.utils import url_path_join

from ..deployment import deployments
from ..engine.run_store import metric_series
from ..errors import CtcdError, ServiceNotFoundError, unknown_name
from ..services import get_service, services
from ..services.mlflow_ui import running_ui_url
from ..services.prediction_access import log_of
from ..views.json import deployment_json, info_json, run_json, service_json
from ..views.monitor_charts import monitor_json
from ..views.trend import trend_series
from .base import CtcdHandler
from .schedules import ScheduleActionHandler, SchedulesHandler

__all__ = ["setup_handlers"]

ACTIONS = ("start", "stop", "restart", "rollback", "unpin")


class InfoHandler(CtcdHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        self.answer(info_json(self.home, _version(), running_ui_url(self.home), time.time()))


class ServicesHandler(CtcdHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        self.answer([service_json(s) for s in services(self.home)])


class ServiceHandler(CtcdHandler):
    @tornado.web.authenticated
    def get(self, name: str) -> None:
        try:
            svc = get_service(name, self.home)
        except ServiceNotFoundError as exc:
            return self.fail(404, str(exc))
        self.answer(service_json(svc, detail=True))

    @tornado.web.authenticated
    async def post(self, name: str, action: str) -> None:
        if action not in ACTIONS:
            return self.fail(400, unknown_name("action", action, ACTIONS))
        try:
            svc = get_service(name, self.home)
        except ServiceNotFoundError as exc:
            return self.fail(404, str(exc))
        if action in ("rollback", "unpin") and not callable(getattr(svc, action, None)):
            return self.fail(409, f"{name} is a {svc.kind} service: this service has no model "
                                  f"to {'roll back' if action == 'rollback' else 'unpin'}")
        call = {"start": lambda: svc.start(progress=False), "stop": svc.stop,
                "restart": svc.restart, "rollback": lambda: svc.rollback(),
                "unpin": lambda: svc.unpin()}[action]
        try:
            await asyncio.get_running_loop().run_in_executor(None, call)
        except CtcdError as exc:
            return self.fail(409, str(exc))
        self.answer(service_json(svc))


class ServiceLogsHandler(CtcdHandler):
    @tornado.web.authenticated
    def get(self, name: str) -> None:
        tail = self.int_argument("tail", 50, 5000)
        if tail is None:
            return None
        try:
            svc = get_service(name, self.home)
        except ServiceNotFoundError as exc:
            return self.fail(404, str(exc))
        self.answer({"name": name, "tail": tail, "logs": svc.logs(tail=tail)})


class ServiceMonitorHandler(CtcdHandler):
    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        window = self.get_query_argument("window", "1h")
        try:
            svc = log_of(name, self.home)
        except ServiceNotFoundError as exc:
            return self.fail(404, str(exc))
        except CtcdError as exc:  # a service that keeps no prediction log
            return self.fail(409, str(exc))
        try:
            report = await asyncio.get_running_loop().run_in_executor(
                None, svc.monitor, None if window.strip().lower() == "all" else window)
        except ValueError as exc:  # a window that is not a duration
            return self.fail(400, str(exc))
        self.answer(monitor_json(name, report.to_dict()))


class RunsHandler(CtcdHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        limit = self.int_argument("limit", 50, 1000)
        if limit is None:
            return None
        pipeline = self.get_query_argument("pipeline", None) or None
        runs = self.workspace().runs(pipeline, limit=limit)
        self.answer([run_json(r) for r in runs])


class RunHandler(CtcdHandler):
    @tornado.web.authenticated
    def get(self, run_id: str) -> None:
        run = self.workspace().get_run(run_id)
        if run is None:
            return self.fail(404, f"no run with id {run_id!r} in {self.home}")
        made = [d for d in deployments(workspace=self.workspace(), limit=500)
                if d.run_id == run.id]
        self.answer(run_json(run, detail=True, deployments=made))


class DeploymentsHandler(CtcdHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        limit = self.int_argument("limit", 50, 1000)
        if limit is None:
            return None
        model = self.get_query_argument("model", None) or None
        records = deployments(model, workspace=self.workspace(), limit=limit)
        self.answer([deployment_json(d) for d in records])


class TrendsHandler(CtcdHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        limit = self.int_argument("limit", 1000, 10_000)
        if limit is None:
            return None
        workspace = self.workspace()
        points = metric_series(workspace.store, self.get_query_argument("pipeline", None),
                               limit=limit)
        self.answer(trend_series(points, deployments(workspace=workspace, limit=1000)))


def _version() -> str:
    try:
        return version("ctcd_jupyter")
    except PackageNotFoundError:
        return "unknown"


def setup_handlers(web_app: Any, home: Path) -> None:
    base = url_path_join(web_app.settings["base_url"], "ctcd", "api")
    web_app.settings["ctcd_home"] = Path(home)
    name = r"([A-Za-z0-9][A-Za-z0-9._-]*)"  # the service and pipeline names records accept
    web_app.add_handlers(".*$", [
        (url_path_join(base, "info"), InfoHandler),
        (url_path_join(base, "services"), ServicesHandler),
        (url_path_join(base, "services", name), ServiceHandler),
        (url_path_join(base, "services", name, "logs"), ServiceLogsHandler),
        (url_path_join(base, "services", name, "monitor"), ServiceMonitorHandler),
        (url_path_join(base, "services", name, r"(\w+)"), ServiceHandler),
        (url_path_join(base, "schedules"), SchedulesHandler),
        (url_path_join(base, "schedules", name, r"(\w+)"), ScheduleActionHandler),
        (url_path_join(base, "runs"), RunsHandler),
        (url_path_join(base, "runs", r"([A-Za-z0-9_-]+)"), RunHandler),
        (url_path_join(base, "deployments"), DeploymentsHandler),
        (url_path_join(base, "trends"), TrendsHandler),
    ])
