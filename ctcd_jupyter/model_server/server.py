"""The ctcd model server: MLflow's own scoring app for one model at a time, swapped in place.

Run by `MLFlowDeploymentService` as `python .../model_server/serve.py FOLDER` (the service folder,
holding `server.json`; `serve.py` says why by path); see `slot.py` for how workers agree
on the model.

What the server writes to its log is for people: every change of the served model is one line
(what to what, why, how long), and ctcd's own polling (health checks sent with `X-Ctcd-Probe`,
`/ctcd/status` with the service's token) stays out of the access log. Everything it answers on
its control routes has secrets masked (`redact.py`); the log runner masks the log.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import json
import logging
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from . import fast_path, prediction_writer, redact
from .fast_path import header
from .prediction_feedback import feedback
from .request_limit import DEFAULT_MAX_REQUEST_BYTES, BodyLimit
from .slot import ModelSlot, Served

__all__ = ["ModelServer", "create_app", "main"]

FOLDER_ENV = "CTCD_MODEL_SERVER_FOLDER"
BOOT_ENV = "CTCD_MODEL_SERVER_BOOT"
NODELAY_ENV = "CTCD_NODELAY"  # the names _uvicorn_hooks/ctcd_nodelay_http.py reads
HEADER_TIMEOUT_ENV = "CTCD_HEADER_TIMEOUT"
TOKEN_HEADER = b"x-ctcd-token"
PROBE_HEADER = b"x-ctcd-probe"
_PROBED = ("/ping", "/health")  # what ctcd's health checks ask
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
# Set while answering one of ctcd's own polls: uvicorn writes the access log line from inside
# the request's task (when the response starts), so the filter below sees it.
_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("ctcd_quiet", default=False)


class _NotOurPolls(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _QUIET.get()


class ModelServer:
    """The outer ASGI app: forwards each request to the inner MLflow app current when the
    request arrived (so a request in flight finishes on its model), adds the version headers,
    and answers the loopback-only, token-protected control routes under `/ctcd/`."""

    def __init__(self, slot: ModelSlot, token: str, log: Any = None):
        self.slot = slot
        self._token = token.encode()
        self.log = log  # the prediction log's writer (prediction_writer.py), None when off

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "http" and scope["path"].startswith("/ctcd/"):
            await self._control(scope, receive, send)
            return
        if scope["type"] == "http" and scope["path"] == "/feedback":
            await feedback(self.log, scope, receive, send)
            return
        if scope["type"] == "http" and scope["path"] in _PROBED \
                and header(scope, PROBE_HEADER) == "1":
            _QUIET.set(True)  # this request's own context: the task uvicorn made for it
        served: Served = self.slot.current  # one read: the switch is atomic
        request_id = header(scope, b"x-request-id") or uuid.uuid4().hex
        extra = [(b"x-model-uri", served.uri.encode()),
                 (b"x-model-version", (served.version or "-").encode()),
                 (b"x-request-id", request_id.encode()[:200])]

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        # answered by the fast path or MLflow's app; every /invocations answer is logged
        await fast_path.serve(served, scope, receive, send_with_headers, request_id=request_id,
                              log=self.log if scope["path"] == "/invocations" else None)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.slot.close()
                if self.log is not None:  # the rows of the last second too
                    await asyncio.to_thread(self.log.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _control(self, scope: dict, receive: Any, send: Any) -> None:
        client = (scope.get("client") or ("",))[0]
        token = (header(scope, TOKEN_HEADER) or "").encode()
        if client not in _LOOPBACK or not hmac.compare_digest(token, self._token):
            await _json(send, 403, {"error": "control routes need the service's token, "
                                             "from the same machine"})
            return
        path, method = scope["path"], scope["method"]
        if path == "/ctcd/status" and method == "GET":
            _QUIET.set(True)  # ctcd's clients poll it
            await _json(send, 200, redact.data({
                **self.slot.status(), "prediction_log":
                self.log.status() if self.log else {"enabled": False}}))
        elif path == "/ctcd/flush-log" and method == "POST":  # labels follow: rows written
            await _json(send, 200, {"ok": bool(self.log) and await asyncio.to_thread(
                self.log.flush)})
        elif path == "/ctcd/swap" and method == "POST":
            try:
                body = json.loads(await _body(receive) or b"{}")
                uri = str(body["uri"])
            except (ValueError, KeyError, TypeError):
                await _json(send, 400, {"error": "POST /ctcd/swap needs JSON {\"uri\": ...}"})
                return
            result = await asyncio.to_thread(
                self.slot.swap, uri, str(body.get("why") or "deployed"),
                probe=body.get("probe"), timeout=body.get("timeout"))
            await _json(send, 200 if result["ok"] else 422, redact.data(result))
        elif path == "/ctcd/check" and method == "POST":  # could a restart serve?
            result = await asyncio.to_thread(self.slot.preflight)
            await _json(send, 200 if result["ok"] else 422, redact.data(result))
        else:
            await _json(send, 404, {"error": f"no control route {method} {path}"})


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _json(send: Any, status: int, data: Any) -> None:
    body = json.dumps(data, default=str).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app() -> BodyLimit:
    """The uvicorn app factory, called once in every worker."""
    folder = Path(os.environ[FOLDER_ENV])
    config = json.loads((folder / "server.json").read_text())
    token = (folder / "control.token").read_text().strip()
    logging.getLogger("uvicorn.access").addFilter(_NotOurPolls())
    slot = ModelSlot(folder, config, boot=os.environ[BOOT_ENV])
    started = time.monotonic()
    try:
        slot.boot()
    except Exception as exc:
        print(redact.text(f"[ctcd] model server cannot start: {exc}"), file=sys.stderr,
              flush=True)
        if int(config.get("workers") or 1) > 1:
            # uvicorn would restart a worker that dies forever: stop the whole server instead
            os.kill(os.getppid(), 15)
        os._exit(3)
    served = slot.current
    print(redact.text(f"[ctcd] serving {'v' + served.version if served.version else served.uri}"
                      f" ({served.uri}, {served.why}) in {time.monotonic() - started:.2f} s"),
          flush=True)
    slot.follow_in_background()
    try:
        log = prediction_writer.from_config(config, folder)
    except Exception as exc:  # serving never depends on the log
        print(f"[ctcd] prediction log off: {exc}", file=sys.stderr, flush=True)
        log = None
    limit = int(config.get("max_request_bytes") or DEFAULT_MAX_REQUEST_BYTES)
    return BodyLimit(ModelServer(slot, token, log), limit)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]).resolve()
    config = json.loads((folder / "server.json").read_text())
    os.environ[FOLDER_ENV] = str(folder)
    os.environ[BOOT_ENV] = f"{os.getpid()}-{time.time():.6f}"
    os.environ["MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"] = str(int(config["request_timeout"]))
    workers = int(config.get("workers") or 1)
    # read by the HTTP protocol (_uvicorn_hooks), in this process and in spawned workers
    os.environ[NODELAY_ENV] = "1" if config.get("nodelay", True) else "0"
    os.environ[HEADER_TIMEOUT_ENV] = str(float(config.get("header_timeout") or 10.0))
    hooks = str(Path(__file__).with_name("_uvicorn_hooks"))
    if hooks not in sys.path:
        sys.path.insert(0, hooks)
    options: dict[str, Any] = {
        "host": config["host"], "port": int(config["port"]), "workers": workers,
        "factory": True, "access_log": bool(config.get("access_log", True)),
        "timeout_graceful_shutdown": 10, "log_level": "info",
        "http": "ctcd_nodelay_http:NoDelayHTTPProtocol"}
    print(redact.text(f"[ctcd] model server for {config['model_uri']} on {config['host']}:"
                      f"{config['port']} with {workers} worker(s)"), flush=True)
    threading.current_thread().name = "ctcd-model-server"
    uvicorn.run(f"{__name__}:create_app", **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
