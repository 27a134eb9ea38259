"""Schedule records: a snapshot of one scheduled entry (`ScheduleRecord`, its `ScheduleState`)
and their persistence as JSON rows in the store's `schedules` table, versioned."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..enums import StrEnum
from ..state import Store
from .trigger import Schedule

__all__ = ["RECORD_VERSION", "ScheduleRecord", "ScheduleState", "delete_schedule_record",
           "load_schedule_record", "load_schedule_records", "save_schedule_record"]

RECORD_VERSION = 1  # bump with a migration in load_schedule_records when the shape changes


class ScheduleState(StrEnum):
    """Where a schedule entry stands.

    ACTIVE     fires at its next fire time
    PAUSED     kept, does not fire until resumed
    COMPLETED  end_time has passed and its last run finished
    STOPPED    the scheduler was stopped (unload, shutdown, kernel restart); resume to go on
    """

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    STOPPED = "STOPPED"


@dataclass(frozen=True)
class ScheduleRecord:
    """A snapshot of one entry, safe to read on any thread."""

    name: str
    schedule: Schedule
    state: ScheduleState
    next_fire: float | None = None
    last_tick: float | None = None
    running: bool = False
    fired: int = 0
    skipped: int = 0
    failed: int = 0
    succeeded: int = 0
    last_outcome: str | None = None
    last_error: str | None = None
    last_started: float | None = None
    last_finished: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["schedule"] = self.schedule.to_dict()
        data["state"] = self.state.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, state: ScheduleState | str | None = None,
                  ) -> ScheduleRecord:
        """Rebuild a stored record; `state=` overrides (STOPPED after a kernel restart)."""
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        fields["schedule"] = Schedule.from_dict(data["schedule"])
        fields["state"] = ScheduleState(state or data.get("state", "STOPPED"))
        if fields["state"] is not ScheduleState.ACTIVE:
            fields["running"] = False
        return cls(**fields)


# -- persistence: schedule records as JSON rows in the store's `schedules` table -------------
def save_schedule_record(store: Store, name: str, data: Mapping[str, Any]) -> None:
    """Insert or replace the JSON record `data` of schedule `name`."""
    store.execute(
        "INSERT INTO schedules (name, data, updated) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET data = excluded.data, updated = excluded.updated",
        (name, Store.dumps({**data, "version": RECORD_VERSION}), time.time()),
    )


def load_schedule_records(store: Store) -> list[dict[str, Any]]:
    """Every stored record, by name, each with its `name` and `updated` (epoch) keys set."""
    rows = store.execute("SELECT name, data, updated FROM schedules ORDER BY name")
    records = []
    for row in rows:
        try:
            data = Store.loads(row["data"])
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {"unreadable": True}  # kept, so it can be listed and removed
        records.append({**data, "name": row["name"], "updated": row["updated"]})
    return records


def load_schedule_record(store: Store, name: str) -> dict[str, Any] | None:
    """The stored JSON record of schedule `name` (None when there is none or it is not JSON)."""
    rows = store.execute("SELECT data FROM schedules WHERE name = ?", (name,))
    if not rows:
        return None
    try:
        data = Store.loads(rows[0]["data"])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def delete_schedule_record(store: Store, name: str) -> bool:
    """Delete the record of `name`; returns whether there was one."""
    with store.transaction() as conn:
        return conn.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount > 0
