"""Retention of step outputs: continuous training stores fresh outputs every run, so artifacts
that only old runs reference are deleted, keeping each pipeline's newest runs whole.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..state import Store
from .run_store import reap_orphaned_runs

if TYPE_CHECKING:
    from .context import Context

__all__ = ["DEFAULT_KEEP_RUNS", "PruneReport", "keep_runs_setting", "prune"]

DEFAULT_KEEP_RUNS = 50


def keep_runs_setting() -> int:
    """`$CTCD_KEEP_RUNS` (runs per pipeline whose outputs are kept), else 50."""
    try:
        return max(1, int(os.environ.get("CTCD_KEEP_RUNS", DEFAULT_KEEP_RUNS)))
    except ValueError:
        return DEFAULT_KEEP_RUNS


@dataclass(frozen=True)
class PruneReport:
    kept_runs: int
    deleted_artifacts: int
    freed_bytes: int
    deleted_cache_entries: int

    def __str__(self) -> str:
        return (f"deleted {self.deleted_artifacts} artifacts ({self.freed_bytes / 2**20:.1f} MiB)"
                f" and {self.deleted_cache_entries} cache entries; kept the outputs of "
                f"{self.kept_runs} runs")


def prune(workspace: Context, keep_runs: int | None = None, *,
          min_age: float = 300.0) -> PruneReport:
    """Delete artifacts no kept run references: each pipeline's newest `keep_runs` runs (and
    every run still going) keep their outputs and the cache entries they made. Files younger
    than `min_age` seconds are never deleted, since a run in progress records its outputs only
    when it ends."""
    keep_runs = keep_runs_setting() if keep_runs is None else max(1, int(keep_runs))
    store = workspace.store
    reap_orphaned_runs(store)  # a dead kernel's RUNNING run must not hold everything back
    kept: set[str] = set()
    keep_ids: set[str] = set()
    per_pipeline: dict[str, int] = {}
    oldest_running = time.time()
    for row in store.execute("SELECT id, pipeline, status, started, data FROM runs "
                             "WHERE status != 'SKIPPED' ORDER BY started DESC, rowid DESC"):
        running = row["status"] == "RUNNING"
        if running:
            oldest_running = min(oldest_running, row["started"])
        count = per_pipeline.get(row["pipeline"], 0)
        if count >= keep_runs and not running:
            continue
        per_pipeline[row["pipeline"]] = count + 1
        kept.add(row["id"])
        try:
            steps = Store.loads(row["data"]).get("steps") or []
        except ValueError:
            continue
        for step in steps:
            keep_ids.update((step.get("outputs") or {}).values())

    stale_cache = []
    for row in store.execute("SELECT fingerprint, outputs FROM step_cache"):
        try:
            entry = Store.loads(row["outputs"])
        except ValueError:
            stale_cache.append(row["fingerprint"])
            continue
        if entry.get("run") in kept:
            keep_ids.update(entry.get("outputs", {}).values())
        else:
            stale_cache.append(row["fingerprint"])
    if stale_cache:
        with store.transaction() as conn:
            conn.executemany("DELETE FROM step_cache WHERE fingerprint = ?",
                             [(f,) for f in stale_cache])

    cutoff = min(time.time() - min_age, oldest_running)
    deleted = freed = 0
    for path in workspace.artifacts.root.glob("??/*"):
        if path.suffix or path.name.startswith(".") or path.name in keep_ids:
            continue
        try:
            stat = path.stat()
            if stat.st_mtime >= cutoff:
                continue
            path.unlink()
            path.with_suffix(".json").unlink(missing_ok=True)
        except FileNotFoundError:
            continue
        deleted += 1
        freed += stat.st_size
    return PruneReport(len(kept), deleted, freed, len(stale_cache))
