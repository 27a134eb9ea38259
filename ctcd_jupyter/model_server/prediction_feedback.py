"""`POST /feedback` on the model server: a production application reports outcomes.

A public route (the same audience as `/invocations`), bounded in size: a malformed body is a 400
with MLflow's error JSON and nothing is written; otherwise the answer counts what was joined,
unknown and replaced (prediction_labels.py).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from .prediction_labels import MAX_FEEDBACK_BYTES, apply_labels, feedback_labels

__all__ = ["feedback"]


async def feedback(writer: Any, scope: dict, receive: Any, send: Any) -> None:
    if scope["method"] != "POST":
        await _answer(send, 405, _error("POST /feedback with JSON {\"request_id\": ..., "
                                        "\"label\": ...}"))
        return
    if writer is None:
        await _answer(send, 404, _error("the prediction log is off for this service "
                                        "(log_predictions=False)", "RESOURCE_DOES_NOT_EXIST"))
        return
    chunks, size = [], 0
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_FEEDBACK_BYTES:
            await _answer(send, 413, _error(f"a /feedback body is at most {MAX_FEEDBACK_BYTES} "
                                            "bytes: send the labels in several requests"))
            return
        if not message.get("more_body"):
            break
    try:
        pairs = feedback_labels(b"".join(chunks))
    except ValueError as exc:
        await _answer(send, 400, _error(f"malformed /feedback body: {exc}"))
        return

    def write() -> dict[str, Any]:
        writer.flush()  # labels often follow their answer within the second
        return apply_labels(writer.log, writer.service, pairs, writer.recent).to_dict()

    try:
        result = await asyncio.to_thread(write)
    except Exception as exc:  # the log cannot be written: the caller may retry
        await _answer(send, 503, _error(f"the prediction log cannot be written now ({exc})",
                                        "TEMPORARILY_UNAVAILABLE"))
        return
    await _answer(send, 200, result)


def _error(message: str, code: str = "BAD_REQUEST") -> dict[str, str]:
    return {"error_code": code, "message": message}


async def _answer(send: Any, status: int, data: Any) -> None:
    body = json.dumps(data, default=str).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
