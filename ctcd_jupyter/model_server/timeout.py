"""MLflow's request timeout on the fast path: the same limit and the same 504 answer as MLflow's
scoring app (its timeout middleware). Stdlib only."""

from __future__ import annotations

import os
import time
from typing import Any

__all__ = ["TIMED_OUT", "request_timeout", "timed_out"]

TIMEOUT_ENV = "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"
TIMED_OUT = b"Request processing time exceeded limit"


def request_timeout() -> float:
    """MLflow's request timeout (seconds), which the server sets from the service's
    `request_timeout`; MLflow's scoring app applies it to every request, so does this path."""
    try:
        return float(os.environ.get(TIMEOUT_ENV) or 60)
    except ValueError:
        return 60.0


async def timed_out(send: Any, log: Any, request: tuple) -> None:
    """MLflow's answer to a request over its timeout (its scoring app's timeout middleware),
    logged as that request's error."""
    await send({"type": "http.response.start", "status": 504,
                "headers": [(b"content-length", b"%d" % len(TIMED_OUT)),
                            (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": TIMED_OUT})
    if log is not None:
        request_id, wall, served, body, content_type, started = request
        log.submit((request_id, wall, (time.monotonic() - started) * 1000, served.uri,
                    served.version, 504, body, TIMED_OUT, content_type))
