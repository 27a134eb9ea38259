"""The model server's request size limit: one ASGI middleware around whatever app answers.

A body over the limit is refused with 413 before anything reads it: at once when its
Content-Length says so, else (chunked) as soon as the bytes received pass the limit. Nothing
of it is buffered here: uvicorn stops reading the socket while the app does not ask for more,
so a refused 200 MB body costs the server nothing but the 413.

Stdlib only: part of the model server program (see serve.py), and of the CLI's parsing.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "BodyLimit", "parse_size", "size_text"]

DEFAULT_MAX_REQUEST_BYTES = 64 * 2**20

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
          "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*\Z", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Bytes from `10MB`, `64MiB`, `1.5GB`, `1048576`; `ValueError` saying the forms."""
    if isinstance(text, int) and not isinstance(text, bool):
        size = text
    else:
        found = _SIZE.match(str(text))
        unit = _UNITS.get(found.group(2).lower()) if found else None
        if unit is None:
            raise ValueError(f"{text!r} is not a size: give bytes, or a number with KB, MB, "
                             "GB (powers of 1000) or KiB, MiB, GiB (powers of 1024)")
        size = int(float(found.group(1)) * unit)
    if size < 1:
        raise ValueError(f"a request size limit must be at least 1 byte, not {text!r}")
    return size


def size_text(size: int) -> str:
    """`64 MiB`, `10 MB`, `1234 bytes`: the way a limit was most likely written."""
    for unit, name in ((2**30, "GiB"), (10**9, "GB"), (2**20, "MiB"), (10**6, "MB"),
                       (2**10, "KiB"), (10**3, "KB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"


class BodyLimit:
    """Answer 413 to a request whose body is larger than `max_bytes`, before `app` parses it."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, int(max_bytes)
        self._answer = json.dumps({
            "error_code": "REQUEST_LIMIT_EXCEEDED",
            "message": f"the request body is larger than this server's limit of "
                       f"{size_text(self.max_bytes)}; send fewer rows per request, or start "
                       "the service with a larger max_request_bytes"}).encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await self._refuse(send)
            return
        received, refused, started = 0, False, False

        async def counted() -> dict:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await self._refuse(send)
                    return {"type": "http.disconnect"}  # the app stops reading: we answered
            return message

        async def guarded(message: dict) -> None:
            nonlocal started
            if refused:
                return  # the 413 was the answer
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise  # a disconnect the app raised on is ours, anything else is not

    async def _refuse(self, send: Any) -> None:
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(self._answer)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": self._answer})


def _content_length(scope: dict) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # uvicorn's parser refuses it before we would
    return None
