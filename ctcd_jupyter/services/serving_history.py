"""What a model server served when, and why: one row per change of the served version.

Rows live in the state store (the `serving_history` table of state/store.py's schema); the
model server writes them as it switches, so changes made anywhere (deploy, rollback, a moved
alias) are recorded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..state import Store
from .records import ServiceRecords

__all__ = ["history", "record_served"]



def _store(home: str | Path | None) -> Store:
    return ServiceRecords(home).store


def record_served(home: str | Path | None, service: str, *, uri: str, version: str | None,
                  why: str, detail: str | None = None, at: float | None = None) -> None:
    """Note that `service` serves `uri` from now on (`why`: deployed, rolled back, followed
    the alias, started)."""
    at = time.time() if at is None else at
    data = {"uri": uri, "version": version, "why": why, "detail": detail}
    _store(home).execute("INSERT INTO serving_history (service, data, created) VALUES (?, ?, ?)",
                         (service, Store.dumps(data), at))


def history(home: str | Path | None, service: str) -> list[dict[str, Any]]:
    """Every version served, oldest first: uri, version, why, served_from, served_until (None
    for the one serving now)."""
    rows = _store(home).execute(
        "SELECT data, created FROM serving_history WHERE service = ? ORDER BY id", (service,))
    entries = []
    for row in rows:
        data = Store.loads(row["data"])
        data["served_from"] = float(row["created"])
        data["served_until"] = None
        if entries:
            entries[-1]["served_until"] = data["served_from"]
        entries.append(data)
    return entries
