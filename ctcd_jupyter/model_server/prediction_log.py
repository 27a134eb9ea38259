"""The prediction log's storage: one small interface (`PredictionLog`), two backends.

The embedded default (`ParquetLog`) keeps append-only Parquet segments in the state folder,
`predictions/SERVICE/`: one segment per writer flush, written under a temporary name and renamed,
so a kill -9 loses at most the rows not yet flushed and never leaves half a segment. Parquet was
measured against SQLite (WAL) (benchmarks/bench_monitor.py, 2 busy cores): SQLite writes faster
(3.5 against 21 us a row in 1,000-row flushes, both far below a request's cost), but 1,000,000
rows become a DataFrame in 0.7 s from Parquet against 3.9 s through `sqlite3`; ~33 MB a million
4-feature rows.
A segment's name carries its time range (`rows-TMIN-TMAX-WRITER-SEQ0-SEQ1.parquet`, ms), so
a read skips segments outside `since`/`until` unopened, and a compacted segment names the
sequence numbers it replaced, so a reader never counts a row twice while compaction runs.
Labels are segments of their own (`labels-...`), joined on read; the last label wins.

`CTCD_PREDICTION_LOG=postgresql://...` (or the service option `prediction_log=`) selects the
PostgreSQL backend instead (`prediction_pg.py`; `prediction_store.open_log` chooses). Run inside
the model server: only the standard library at import; pyarrow and pandas imported when used.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "ParquetLog", "PredictionLog"]

# The columns every row has, in this order; then one column per input feature.
COLUMNS = ["request_id", "time", "service", "model_uri", "version", "arm", "status",
           "latency_ms", "prediction", "label"]
ROW = "row"  # a row's place in its request (stored, not shown)
_SEGMENT = re.compile(r"^(rows|labels)-(\d+)-(\d+)-([0-9a-z]+)-(\d+)-(\d+)\.parquet$")
COMPACT_AT = 64  # small segments of one writer merged into one


class PredictionLog:
    """Where rows go and come back from. `append` raises OSError (or the backend's error)
    when it cannot write: the writer keeps the rows and retries (prediction_writer.py)."""

    location: str = ""

    def append(self, service: str, rows: Any) -> None:
        """Write `rows`: a list of row dicts, or a DataFrame of them."""
        raise NotImplementedError

    def read(self, service: str, since: float | None = None, until: float | None = None,
             version: str | None = None, limit: int | None = None, *,
             oldest: bool = False) -> Any:
        """The rows (a DataFrame, labels not joined, with the `row` column), oldest first; with
        a `limit`, the newest `limit` rows, or the oldest ones when `oldest`."""
        raise NotImplementedError

    def labels(self, service: str) -> Any:
        """Every label sent: a DataFrame of request_id, row (-1: every row), label, time."""
        raise NotImplementedError

    def append_labels(self, service: str, labels: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def rows_of(self, service: str, ids: list[str]) -> dict[str, int]:
        """How many rows each of `ids` has in the log (ids not logged are absent)."""
        raise NotImplementedError

    def expire(self, service: str, before: float, max_bytes: int | None) -> None:
        """Forget rows older than `before`, and the oldest beyond `max_bytes`."""

    def close(self) -> None:
        pass


class ParquetLog(PredictionLog):
    def __init__(self, root: Path):
        self.root = Path(root)
        self.location = str(self.root)
        self.writer = f"{os.getpid():x}{int(time.time() * 1000) % 36 ** 6:x}"
        self._seq = 0

    def _folder(self, service: str) -> Path:
        return self.root / service

    # -- writing ------------------------------------------------------------------------------
    def append(self, service: str, rows: Any) -> None:
        if len(rows):
            times = rows["time"].tolist() if hasattr(rows, "columns") else [r["time"]
                                                                            for r in rows]
            self._write(service, "rows", _table(rows), [min(times), max(times)])
            self._compact(service, "rows")

    def append_labels(self, service: str, labels: list[dict[str, Any]]) -> None:
        if labels:
            self._write(service, "labels", _table(labels), [r["time"] for r in labels])
            self._compact(service, "labels")  # one segment per /feedback call otherwise

    def _write(self, service: str, kind: str, table: Any, times: list[float],
               seqs: tuple[int, int] | None = None) -> Path:
        import pyarrow.parquet as pq

        folder = self._folder(service)
        folder.mkdir(parents=True, exist_ok=True)
        if seqs is None:
            self._seq += 1
            seqs = (self._seq, self._seq)
        name = (f"{kind}-{int(min(times) * 1000)}-{int(max(times) * 1000) + 1}-{self.writer}"
                f"-{seqs[0]}-{seqs[1]}.parquet")
        tmp = folder / f".{name}.tmp"
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, folder / name)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return folder / name

    def _compact(self, service: str, kind: str) -> None:
        """Merge this writer's small segments into one, so a read opens few files."""
        import pyarrow as pa

        mine = [s for s in _segments(self._folder(service), kind)
                if s.writer == self.writer and s.seq0 == s.seq1]
        if len(mine) < COMPACT_AT:
            return
        tables = [t for t in (_read_file(s.path) for s in mine) if t is not None]
        try:
            merged = pa.concat_tables(tables, promote_options="default")
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # e.g. labels of several types
            import pandas as pd

            merged = _table(pd.concat([t.to_pandas() for t in tables], ignore_index=True))
        times = merged.column("time").to_pylist()
        self._write(service, kind, merged, [min(times), max(times)],
                    (mine[0].seq0, mine[-1].seq1))
        for s in mine:  # readers skip them from now on (the merged one names their range)
            with contextlib.suppress(OSError):
                s.path.unlink()

    def expire(self, service: str, before: float, max_bytes: int | None) -> None:
        segments = sorted(_segments(self._folder(service), None), key=lambda s: s.tmax)
        for s in segments:
            if s.tmax / 1000 < before:
                with contextlib.suppress(OSError):
                    s.path.unlink()
        if max_bytes:
            alive = [(s, _size(s.path)) for s in segments if s.path.exists()]
            total = sum(size for _, size in alive)
            for s, size in alive:
                if total <= max_bytes:
                    break
                with contextlib.suppress(OSError):
                    s.path.unlink()
                total -= size

    # -- reading ------------------------------------------------------------------------------
    def read(self, service: str, since: float | None = None, until: float | None = None,
             version: str | None = None, limit: int | None = None, *,
             oldest: bool = False) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        segments = [s for s in _segments(self._folder(service), "rows")
                    if (since is None or s.tmax / 1000 >= since)
                    and (until is None or s.tmin / 1000 <= until)]
        # from the end a limit takes its rows from, so that it stops early
        if oldest:
            segments.sort(key=lambda s: s.tmin)
        else:
            segments.sort(key=lambda s: s.tmax, reverse=True)
        tables, count = [], 0
        for s in segments:
            table = _read_file(s.path)
            if table is None:
                continue
            keep = None
            if since is not None:
                keep = pc.greater_equal(table["time"], since)
            if until is not None:
                cond = pc.less_equal(table["time"], until)
                keep = cond if keep is None else pc.and_(keep, cond)
            if version is not None:
                cond = pc.equal(table["version"], str(version))
                keep = cond if keep is None else pc.and_(keep, cond)
            if keep is not None:
                table = table.filter(keep)
            tables.append(table)
            count += table.num_rows
            if limit is not None and count >= limit:
                break
        if not tables:
            import pandas as pd

            return pd.DataFrame(columns=[*COLUMNS, ROW])
        frame = pa.concat_tables(tables if oldest else tables[::-1],
                                 promote_options="default").to_pandas()
        if not frame["time"].is_monotonic_increasing:  # several writers: sorting costs ~1 s/M
            frame = frame.sort_values(["time", ROW], kind="stable", ignore_index=True)
        if limit is None:
            return frame
        return (frame.head(limit) if oldest else frame.tail(limit)).reset_index(drop=True)

    def labels(self, service: str) -> Any:
        import pandas as pd
        import pyarrow as pa

        tables = [t for t in (_read_file(s.path) for s in
                              _segments(self._folder(service), "labels")) if t is not None]
        if not tables:
            return pd.DataFrame(columns=["request_id", ROW, "label", "time"])
        frames = [t.to_pandas() for t in tables]
        if len({str(t.schema.field("label").type) for t in tables}) == 1:
            return pa.concat_tables(tables).to_pandas()
        return pd.concat(frames, ignore_index=True)  # mixed label types: object column

    def rows_of(self, service: str, ids: list[str]) -> dict[str, int]:
        import pyarrow as pa
        import pyarrow.compute as pc

        wanted = pa.array(list(set(ids)), pa.string())
        counts: dict[str, int] = {}
        for s in _segments(self._folder(service), "rows"):
            table = _read_file(s.path, ["request_id"])
            if table is None:
                continue
            found = table.filter(pc.is_in(table["request_id"], value_set=wanted))
            for rid in found["request_id"].to_pylist():
                counts[rid] = counts.get(rid, 0) + 1
        return counts


class _Segment:
    __slots__ = ("kind", "path", "seq0", "seq1", "tmax", "tmin", "writer")

    def __init__(self, path: Path, match: re.Match):
        self.path = path
        self.kind, tmin, tmax, self.writer, seq0, seq1 = match.groups()
        self.tmin, self.tmax, self.seq0, self.seq1 = int(tmin), int(tmax), int(seq0), int(seq1)


def _segments(folder: Path, kind: str | None) -> list[_Segment]:
    """The live segments of `folder` in write order; a segment a compacted one replaced (its
    writer and sequence number inside the compacted range) is left out."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = [_Segment(folder / n, m) for n in names if (m := _SEGMENT.match(n))
             and (kind is None or m.group(1) == kind)]
    merged = [(s.kind, s.writer, s.seq0, s.seq1) for s in found if s.seq0 < s.seq1]
    found = [s for s in found if s.seq0 < s.seq1 or not any(
        k == s.kind and w == s.writer and a <= s.seq0 <= b for k, w, a, b in merged)]
    return sorted(found, key=lambda s: (s.writer, s.seq0))


def _read_file(path: Path, columns: list[str] | None = None) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns)
    except FileNotFoundError:
        return None  # compacted or expired meanwhile
    except Exception as exc:  # a corrupt segment: the rest stays readable
        warnings.warn(f"prediction log: skipping unreadable segment {path} ({exc})",
                      stacklevel=3)
        return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _table(rows: Any) -> Any:
    """An Arrow table of `rows`, dicts or a DataFrame (features may differ between rows of
    several versions)."""
    import pandas as pd
    import pyarrow as pa

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # a column mixing types (e.g. predictions of two versions): kept as text
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].map(lambda v: None if v is None else str(v))
        return pa.Table.from_pandas(frame, preserve_index=False)
