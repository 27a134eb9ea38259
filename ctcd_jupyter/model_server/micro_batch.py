"""Adaptive micro-batching for the fast path: concurrent requests to one model share one
predict, each caller getting exactly its rows.

No added latency when alone: a request that finds nobody else on the way is predicted at once
(after one pass of the event loop, which lets requests already received reach the queue). Under
load, requests arrive while a predict runs and are gathered by the next one. A request whose
body is still arriving is waited for at most `wait` seconds. A batch whose predict raises is
predicted again request by request, so a bad request fails alone. Used only for models known to
be row-independent (scikit-learn `predict`); `wait=0` predicts each request alone.

Where a predict runs: on the event loop when the model has proved quick (a thread hop costs more
than a small predict), in a worker thread until then and whenever a predict turns slow, so a slow
or hanging model never stops the server from answering others and a caller's timeout can fire
(MLflow's scoring app predicts in a thread for the same reason). The batch runs in a task of its
own: a caller that gives up (a timeout) never strands the requests that share its batch.
Stdlib only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

__all__ = ["MicroBatcher"]

PROVING = 20  # predicts in a thread before a quick model moves onto the event loop
QUICK = 0.005  # seconds: the slowest predict that still counts as quick
SLOW = 0.05  # seconds: an event-loop predict this slow moves the model back to a thread


class MicroBatcher:
    """Gathers the parsed requests of one model for `predict_many(parts) -> [rows per part]`."""

    def __init__(self, predict_many: Callable[[list[Any]], list[Any]], wait: float):
        self.predict_many, self.wait = predict_many, float(wait)
        self.arriving = 0  # requests between `arrive` and `submit`/`leave`
        self.pending: list[tuple[Any, asyncio.Future]] = []
        self.gathering = False
        self._settled: asyncio.Event | None = None
        self.threaded = True  # where predicts run; see the module's docstring
        self._quick = 0  # quick predicts in a row while proving
        self._task: asyncio.Future | None = None  # the batch being gathered (kept referenced)

    def arrive(self) -> None:
        """A request for this model is being read."""
        self.arriving += 1

    def leave(self) -> None:
        """A request that `arrive`d will not be submitted (MLflow answers it)."""
        self.arriving -= 1
        self._check_settled()

    async def submit(self, part: Any, *, inline: bool = True) -> tuple[Any, int]:
        """The predictions for `part`'s rows and how many requests shared the predict (raises
        what its own predict raised). `inline=False` (a big request): alone, in a thread."""
        self.arriving -= 1
        if not inline:
            self._check_settled()
            return (await asyncio.to_thread(self.predict_many, [part]))[0], 1
        if self.wait <= 0:
            self._check_settled()
            return (await self._predict([part]))[0], 1
        future = asyncio.get_running_loop().create_future()
        self.pending.append((part, future))
        self._check_settled()
        if not self.gathering:
            self.gathering = True
            self._task = asyncio.ensure_future(self._batch())
        return await future

    async def _predict(self, parts: list[Any]) -> list[Any]:
        if not self.threaded:
            started = time.monotonic()
            try:
                return self.predict_many(parts)
            finally:
                if time.monotonic() - started > SLOW:
                    self.threaded, self._quick = True, 0
        started = time.monotonic()
        result = await asyncio.to_thread(self.predict_many, parts)
        self._quick = self._quick + 1 if time.monotonic() - started <= QUICK else 0
        if self._quick >= PROVING:
            self.threaded = False
        return result

    async def _batch(self) -> None:
        try:
            await self._gather()
        finally:
            self.gathering = False
            batch, self.pending = self.pending, []
            await self._flush(batch)

    async def _gather(self) -> None:
        # one pass of the loop: requests already received run up to here and join the queue
        await asyncio.sleep(0)
        deadline = time.monotonic() + self.wait
        while self.arriving > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._settled = asyncio.Event()
            try:
                await asyncio.wait_for(self._settled.wait(), left)
            except (asyncio.TimeoutError, TimeoutError):
                return
            finally:
                self._settled = None

    def _check_settled(self) -> None:
        if self.arriving <= 0 and self._settled is not None:
            self._settled.set()

    async def _flush(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        batch = [(part, future) for part, future in batch if not future.done()]
        if not batch:
            return
        if len(batch) > 1:
            try:
                results = await self._predict([part for part, _ in batch])
            except Exception:
                results = None  # some request breaks the predict: find it, alone
            if results is not None:
                for (_, future), rows in zip(batch, results, strict=True):
                    if not future.done():  # its caller may have given up meanwhile
                        future.set_result((rows, len(batch)))
                return
        for part, future in batch:
            try:
                rows = (await self._predict([part]))[0]
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result((rows, 1))
