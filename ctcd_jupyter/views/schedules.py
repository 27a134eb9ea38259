"""Schedules as text (the `%schedule` overview) and JSON (`GET /ctcd/api/schedules`)."""

from __future__ import annotations

import time
from typing import Any

from .format import metric, table, when

__all__ = ["overview_table", "shown_next_fire"]


def shown_next_fire(info: Any, now: float | None = None) -> float | None:
    """When a schedule fires next, as every view shows it: this kernel's live entry knows; a
    schedule another live kernel runs has it in its stored record (recomputed from the
    schedule when that moment has passed: the owner saves it only when it fires); a stopped,
    paused or finished one has none."""
    record = info.record
    if getattr(record.state, "value", record.state) != "ACTIVE":
        return None
    if info.live:
        return record.next_fire
    if not getattr(info, "foreign_owner", False):
        return None
    now = time.time() if now is None else now
    if record.next_fire is not None and record.next_fire >= now:
        return record.next_fire
    return record.schedule.next_fire(now)


def overview_table(infos: list[Any]) -> str:
    if not infos:
        return "no schedules; create one with %schedule PIPELINE --every 1h or --cron \"0 * * * *\""
    rows = [("schedule", "status", "when", "next fire", "last run", "ok/failed/skipped")]
    for info in infos:
        record = info.record
        zone = record.schedule.zoneinfo
        last = info.last_run
        last_text = "-" if last is None else (
            f"{last.status.value} {when(last.started_at, zone, today_short=True)}"
            + (" " + " ".join(f"{k}={metric(v)}" for k, v in last.metrics.items())
               if last.metrics else ""))
        nxt = when(shown_next_fire(info), zone, today_short=True)
        rows.append((info.name, info.status, record.schedule.describe(), nxt, last_text,
                     f"{record.succeeded}/{record.failed}/{record.skipped}"))
    return table(rows)
