"""The probe of a candidate model: one real prediction through MLflow's own scoring app, in
the model server, before the model may be served. Stdlib only (see serve.py)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

__all__ = ["CandidateError", "one_line", "probe"]

PROBE_TIMEOUT = 60.0


class CandidateError(Exception):
    """A model that must not be served; the message is one line."""


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()[:500]


def probe(app: Any, body: str | None) -> None:
    """POST `body` to `app`'s /invocations; a non-200 answer fails the candidate (nothing to
    do without a body: a model logged without an input example is served unprobed)."""
    if not body:
        return
    box: dict[str, Any] = {}

    def run() -> None:  # a loop of its own: the caller may be inside uvicorn's loop
        try:
            box["answer"] = asyncio.run(_invoke(app, body.encode()))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, name="ctcd-probe", daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT)
    if "answer" not in box:
        raise CandidateError("the probe with its input example "
                             + (f"raised {one_line(box['error'])}" if "error" in box
                                else f"did not answer within {PROBE_TIMEOUT:g} s"))
    status, answer = box["answer"]
    if status != 200:
        raise CandidateError(f"the probe with its input example answered {status}: "
                             f"{_reason(answer)}")


async def _invoke(app: Any, body: bytes) -> tuple[int, bytes]:
    sent = False
    answer: dict[str, Any] = {"status": 500, "body": b""}

    async def receive() -> dict:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # the request has no more body; wait like a client
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/invocations",
             "raw_path": b"/invocations", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json")],
             "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0)}
    await app(scope, receive, send)
    return answer["status"], answer["body"]


def _reason(answer: bytes) -> str:
    """The first line of MLflow's error; the model's own exception says more, when given."""
    try:
        data = json.loads(answer)
        message = data.get("message", "")
        trace = [x for x in str(data.get("stack_trace") or "").splitlines() if x.strip()]
    except (ValueError, AttributeError):
        message, trace = answer.decode(errors="replace"), []
    first = (message.strip().splitlines() or [""])[0][:300]
    if trace:
        first = f"{trace[-1].strip()[:300]} ({first})"
    return first
