"""The ctcd model server: MLflow's own scoring app for one model at a time, swapped in place.

Run by `MLFlowDeploymentService` as `python .../services/_serve.py FOLDER` (the service folder,
holding `server.json`; `_serve.py` says why by path); see `model_slot.py` for how workers agree
on the model.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .model_slot import Coordinator, Served

__all__ = ["ModelServer", "create_app", "main"]

FOLDER_ENV = "CTCD_MODEL_SERVER_FOLDER"
BOOT_ENV = "CTCD_MODEL_SERVER_BOOT"
TOKEN_HEADER = b"x-ctcd-token"
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class ModelServer:
    """The outer ASGI app: forwards each request to the inner MLflow app current when the
    request arrived (so a request in flight finishes on its model), adds the version headers,
    and answers the loopback-only, token-protected control routes under `/ctcd/`."""

    def __init__(self, coordinator: Coordinator, token: str):
        self.coordinator = coordinator
        self._token = token.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "http" and scope["path"].startswith("/ctcd/"):
            await self._control(scope, receive, send)
            return
        served: Served = self.coordinator.current  # one read: the switch is atomic
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        extra = [(b"x-model-uri", served.uri.encode()),
                 (b"x-model-version", (served.version or "-").encode()),
                 (b"x-request-id", request_id.encode()[:200])]

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await served.app(scope, receive, send_with_headers)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.coordinator.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _control(self, scope: dict, receive: Any, send: Any) -> None:
        client = (scope.get("client") or ("",))[0]
        token = (_header(scope, TOKEN_HEADER) or "").encode()
        if client not in _LOOPBACK or not hmac.compare_digest(token, self._token):
            await _json(send, 403, {"error": "control routes need the service's token, "
                                             "from the same machine"})
            return
        path, method = scope["path"], scope["method"]
        if path == "/ctcd/status" and method == "GET":
            await _json(send, 200, self.coordinator.status())
        elif path == "/ctcd/load" and method == "POST":
            try:
                body = json.loads(await _body(receive) or b"{}")
                uri = str(body["uri"])
            except (ValueError, KeyError, TypeError):
                await _json(send, 400, {"error": "POST /ctcd/load needs JSON {\"uri\": ...}"})
                return
            result = await asyncio.to_thread(
                self.coordinator.deploy, uri, str(body.get("why") or "deployed"),
                probe=body.get("probe"), timeout=body.get("timeout"))
            await _json(send, 200 if result["ok"] else 422, result)
        elif path == "/ctcd/check" and method == "POST":  # could a restart serve?
            result = await asyncio.to_thread(self.coordinator.preflight)
            await _json(send, 200 if result["ok"] else 422, result)
        else:
            await _json(send, 404, {"error": f"no control route {method} {path}"})


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


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


def create_app() -> ModelServer:
    """The uvicorn app factory, called once in every worker."""
    folder = Path(os.environ[FOLDER_ENV])
    config = json.loads((folder / "server.json").read_text())
    token = (folder / "control.token").read_text().strip()
    coordinator = Coordinator(folder, config, boot=os.environ[BOOT_ENV])
    try:
        coordinator.boot()
    except Exception as exc:
        print(f"[ctcd] model server cannot start: {exc}", file=sys.stderr, flush=True)
        if int(config.get("workers") or 1) > 1:
            # uvicorn would restart a worker that dies forever: stop the whole server instead
            os.kill(os.getppid(), 15)
        os._exit(3)
    coordinator.follow_in_background()
    return ModelServer(coordinator, token)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]).resolve()
    config = json.loads((folder / "server.json").read_text())
    os.environ[FOLDER_ENV] = str(folder)
    os.environ[BOOT_ENV] = f"{os.getpid()}-{time.time():.6f}"
    os.environ["MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"] = str(int(config["request_timeout"]))
    workers = int(config.get("workers") or 1)
    options: dict[str, Any] = {
        "host": config["host"], "port": int(config["port"]), "workers": workers,
        "factory": True, "access_log": bool(config.get("access_log", True)),
        "timeout_graceful_shutdown": 10, "log_level": "info"}
    if config.get("nodelay", True):
        hooks = str(Path(__file__).with_name("_uvicorn_hooks"))
        if hooks not in sys.path:
            sys.path.insert(0, hooks)
        options["http"] = "ctcd_nodelay_http:NoDelayHTTPProtocol"
    print(f"[ctcd] model server for {config['model_uri']} on {config['host']}:{config['port']}"
          f" with {workers} worker(s)", flush=True)
    threading.current_thread().name = "ctcd-model-server"
    uvicorn.run(f"{__name__}:create_app", **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
