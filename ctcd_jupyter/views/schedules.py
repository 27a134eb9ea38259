"""Schedules as text (the `%schedule` overview) and JSON (`GET /ctcd/api/schedules`)."""

from __future__ import annotations

from typing import Any

from .format import metric, table, when

__all__ = ["overview_table"]


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
        nxt = (when(record.next_fire, zone, today_short=True)
               if info.live and record.state.value == "ACTIVE" else "-")
        rows.append((info.name, info.status, record.schedule.describe(), nxt, last_text,
                     f"{record.succeeded}/{record.failed}/{record.skipped}"))
    return table(rows)
