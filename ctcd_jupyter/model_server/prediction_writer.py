"""The model server's prediction log writer: every `/invocations` answer, off the request path.

The request path only copies what it already has into a bounded queue: the fast path hands over
the arrays it parsed and predicted (`record`: no parsing, no per-row objects: a flush builds its
columns at once), MLflow's own app the bytes of the body and the answer (`tap`), which a daemon
thread parses into rows (`prediction_rows.py`). The thread appends to the log every second or
every `BATCH` requests. Nothing here can fail or slow a request: a full queue drops the
request's rows; a log that cannot be written (read-only folder, full disk, PostgreSQL down)
keeps the rows in a buffer retried at every flush, up to `BUFFER` requests' rows, beyond which
they are dropped.
Drops are counted (`status()["dropped"]`, in requests) and shown by `/ctcd/status`.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from .prediction_log import PredictionLog
from .prediction_rows import rows_of
from .prediction_store import open_log

__all__ = ["PredictionWriter", "from_config"]

QUEUE = 10_000  # requests waiting to be parsed
BUFFER = 10_000  # requests whose rows wait for a log that cannot be written
BATCH = 2_000
FLUSH_EVERY = 1.0
EXPIRE_EVERY = 60.0
_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | float | None) -> float | None:
    """Seconds in `"30d"`, `"12h"`, `"90s"` or a number; None for None."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    text = str(text).strip()
    if text[-1:] in _DURATION:
        return float(text[:-1]) * _DURATION[text[-1]]
    return float(text)


class PredictionWriter:
    def __init__(self, log: PredictionLog, service: str, *, inputs: bool = True,
                 sample: float = 1.0, retention: float | None = None,
                 max_bytes: int | None = None, queue_size: int = QUEUE,
                 buffer_size: int = BUFFER, counts: Path | None = None):
        self.log, self.service = log, service
        self.inputs, self.sample = inputs, float(sample)
        self.retention, self.max_bytes = retention, max_bytes
        self.buffer_size = buffer_size
        # each worker's counts, in `counts/PID.json`: any worker's status sums them all
        self._counts = counts
        self._counted: tuple = ()
        # appended on the event loop, drained by the writer thread, which sleeps until the next
        # flush (or a full batch, or a flush() call): a request never wakes it, so the two do
        # not trade the GIL once per request (that cost a quarter of the throughput)
        self._queue: collections.deque = collections.deque()
        self._queue_size = queue_size
        self._wake = threading.Event()
        self._pending: list[list[dict[str, Any]]] = []  # the rows of each request not written
        self._lock = threading.Lock()
        self._waiting: list[threading.Event] = []  # flush() callers, set after the next write
        self.written = 0
        # requests dropped: on the event loop (queue full), in the writer thread (write failed)
        self._dropped_queue = self._dropped_write = 0
        self.last_error: str | None = None
        self.recent: dict[str, int] = {}  # request id -> rows, of the last requests written
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ctcd-prediction-log",
                                        daemon=True)
        self._thread.start()

    # -- the request path ---------------------------------------------------------------------
    def tap(self, scope: dict, receive: Any, send: Any, request_id: str,
            served: Any) -> tuple[Any, Any]:
        """`receive` and `send` for the inner app, copying the bodies; the answer's last
        body message queues the request."""
        if self.sample < 1.0 and random.random() >= self.sample:
            return receive, send
        start = time.time()
        clock = time.perf_counter()
        request: list[bytes] = []
        response: list[bytes] = []
        status = [0]

        async def receive_copy() -> dict:
            message = await receive()
            if message.get("type") == "http.request":
                request.append(message.get("body", b""))
            return message

        async def send_copy(message: dict) -> None:
            await send(message)
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            elif message["type"] == "http.response.body":
                response.append(message.get("body", b""))
                if not message.get("more_body"):
                    self.submit((request_id, start, (time.perf_counter() - clock) * 1000,
                                 served.uri, served.version, status[0], b"".join(request),
                                 b"".join(response), _content_type(scope)))

        return receive_copy, send_copy

    def record(self, request_id: str, start: float, latency_ms: float, served: Any,
               names: list[str] | None, columns: list[Any], predictions: Any, *,
               body: bytes, answer: bytes, content_type: str) -> None:
        """Queue a request the fast path answered (status 200): its input `columns` (one array
        per feature, named `names`, else x0..xN) and its `predictions` (one per row). Kept as
        arrays when they fit the log's columns; otherwise (inputs kept as hashes, predictions
        that are not one number per row) as the bytes `tap` would have copied."""
        if self.sample < 1.0 and random.random() >= self.sample:
            return
        if self.inputs and getattr(predictions, "ndim", 0) == 1:
            self.submit(_Columns(request_id, start, latency_ms, served.uri, served.version,
                                 names, columns, predictions))
        else:
            self.submit((request_id, start, latency_ms, served.uri, served.version, 200, body,
                         answer, content_type))

    def submit(self, item: Any) -> None:
        if len(self._queue) >= self._queue_size:
            self._dropped_queue += 1
            return
        self._queue.append(item)
        if len(self._queue) >= BATCH:
            self._wake.set()

    # -- the writer thread --------------------------------------------------------------------
    def _run(self) -> None:
        next_expire = 0.0
        while not self._stop.is_set():
            items = self._take()
            for item in items:
                if isinstance(item, _Columns):
                    with self._lock:
                        self._pending.append(item)
                    continue
                try:
                    rows = rows_of(self.service, item, inputs=self.inputs)
                except Exception as exc:  # a body the parser does not know: not logged
                    self._dropped_write += 1
                    self.last_error = f"unparsable request {item[0]}: {exc}"
                else:
                    with self._lock:
                        self._pending.append(rows)
            self._write()
            if time.monotonic() >= next_expire and (self.retention or self.max_bytes):
                next_expire = time.monotonic() + EXPIRE_EVERY
                before = time.time() - self.retention if self.retention else 0.0
                with contextlib.suppress(Exception):
                    self.log.expire(self.service, before, self.max_bytes)

    def _take(self) -> list[Any]:
        """What was queued, after sleeping until the next flush is due (or woken)."""
        self._wake.wait(FLUSH_EVERY)
        self._wake.clear()
        items: list[Any] = []
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, threading.Event):
                self._waiting.append(item)
            else:
                items.append(item)
        return items

    def _write(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            try:
                self.log.append(self.service, _frame(self.service, pending))
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                keep = pending[-self.buffer_size:]
                self._dropped_write += len(pending) - len(keep)
                with self._lock:
                    self._pending = keep + self._pending
            else:
                self.written += len(pending)
                self.last_error = None
                for group in (g for g in pending if g):
                    if isinstance(group, _Columns):
                        self.recent[group.request_id] = group.rows
                    else:
                        self.recent[group[0]["request_id"]] = len(group)
                while len(self.recent) > 100_000:
                    self.recent.pop(next(iter(self.recent)))
        self._save_counts()
        waiting, self._waiting = self._waiting, []
        for event in waiting:
            event.set()

    def flush(self, timeout: float = 5.0) -> bool:
        """Write what is queued now (for labels that follow their answer closely); True when
        it was written within `timeout`. Blocks: call it off the event loop."""
        done = threading.Event()
        self._queue.append(done)
        self._wake.set()
        return done.wait(timeout)

    def _mine(self) -> dict[str, Any]:
        return {"written": self.written,
                "dropped": self._dropped_queue + self._dropped_write,
                "queued": len(self._queue), "buffered": len(self._pending),
                "last_error": self.last_error}

    def _save_counts(self) -> None:
        mine = self._mine()
        if self._counts is None or tuple(mine.values()) == self._counted:
            return
        self._counted = tuple(mine.values())
        with contextlib.suppress(OSError):
            self._counts.mkdir(parents=True, exist_ok=True)
            tmp = self._counts / f".{os.getpid()}.tmp"
            tmp.write_text(json.dumps(mine))
            os.replace(tmp, self._counts / f"{os.getpid()}.json")

    def status(self) -> dict[str, Any]:
        """Counts of every worker of the server (as last saved), this one's up to date."""
        total = self._mine()
        others = [] if self._counts is None else [
            p for p in self._counts.glob("*.json") if p.stem != str(os.getpid())]
        for path in others:
            with contextlib.suppress(OSError, ValueError):
                theirs = json.loads(path.read_text())
                for key in ("written", "dropped", "queued", "buffered"):
                    total[key] += int(theirs.get(key) or 0)
                total["last_error"] = total["last_error"] or theirs.get("last_error")
        return {"enabled": True, "location": self.log.location, **total}

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (a graceful stop loses no row), then stop the thread."""
        self.flush(timeout)
        self._stop.set()
        self._wake.set()


class _Columns:
    """One request the fast path answered, as arrays (see `PredictionWriter.record`)."""

    __slots__ = ("columns", "latency_ms", "names", "predictions", "request_id", "rows",
                 "start", "uri", "version")

    def __init__(self, request_id: str, start: float, latency_ms: float, uri: str,
                 version: str | None, names: list[str] | None, columns: list[Any],
                 predictions: Any):
        self.request_id, self.start, self.latency_ms = request_id, start, latency_ms
        self.uri, self.version, self.names = uri, version, names
        self.columns, self.predictions = columns, predictions
        self.rows = len(predictions)

    def __len__(self) -> int:
        return self.rows

    def key(self) -> tuple:
        return (self.uri, self.version, tuple(self.names or ()), len(self.columns))


def _frame(service: str, pending: list[Any]) -> Any:
    """The rows of `pending` requests as one DataFrame: parsed rows (dicts) as they are, the
    fast path's arrays concatenated column by column (one block per model and feature set)."""
    import numpy as np
    import pandas as pd

    parts = []
    parsed = [row for group in pending if not isinstance(group, _Columns) for row in group]
    if parsed:
        parts.append(pd.DataFrame(parsed))
    blocks: dict[tuple, list[_Columns]] = {}
    for group in pending:
        if isinstance(group, _Columns) and group.rows:
            blocks.setdefault(group.key(), []).append(group)
    for (uri, version, names, width), items in blocks.items():
        counts = np.fromiter((g.rows for g in items), int, len(items))
        block = {"request_id": np.repeat([g.request_id for g in items], counts),
                 "row": np.concatenate([np.arange(n) for n in counts]),
                 "time": np.repeat([g.start for g in items], counts),
                 "service": service, "model_uri": uri, "version": version, "arm": "stable",
                 "status": 200, "latency_ms": np.repeat([g.latency_ms for g in items], counts),
                 "prediction": np.concatenate([g.predictions for g in items]),
                 "label": None}
        for i, name in enumerate(names or [f"x{i}" for i in range(width)]):
            block[name] = np.concatenate([np.asarray(g.columns[i]) for g in items])
        parts.append(pd.DataFrame(block))
    if len(parts) == 1:
        return parts[0]
    return pd.concat(parts, ignore_index=True).sort_values(["time", "row"], kind="stable")


def _content_type(scope: dict) -> str:
    for key, value in scope.get("headers", ()):
        if key == b"content-type":
            return value.decode("latin-1")
    return ""


def from_config(config: dict[str, Any], folder: Path) -> PredictionWriter | None:
    """The writer the server's config asks for (`server.json`'s "prediction_log"), or None;
    `folder` is the service folder."""
    options = config.get("prediction_log") or {}
    if not options.get("enabled", True):
        return None
    counts = folder / "prediction-log"
    for path in counts.glob("*.json"):  # counts of a previous server's workers
        if path.stem.isdigit() and not _alive(int(path.stem)):
            with contextlib.suppress(OSError):
                path.unlink()
    log = open_log(config["home"], options.get("location"))
    return PredictionWriter(log, config["service"], inputs=bool(options.get("inputs", True)),
                            sample=float(options.get("sample", 1.0)),
                            retention=parse_duration(options.get("retention", "30d")),
                            max_bytes=options.get("max_bytes"), counts=counts)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
