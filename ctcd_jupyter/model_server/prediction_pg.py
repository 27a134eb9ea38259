"""The prediction log in a PostgreSQL table, for a team: every serving machine writes to it,
training pipelines anywhere read it (`CTCD_PREDICTION_LOG=postgresql://...`).

Two tables, created when missing: `ctcd_predictions` (the fixed columns, the input features as
one JSONB object, the prediction as JSON text so its type comes back) and `ctcd_prediction_labels`
(appended; the last label wins on read, as with the Parquet segments). psycopg2 is imported when
the log is first used; a connection that fails is an error of `append`, which the writer retries.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from .prediction_log import COLUMNS, ROW, PredictionLog

__all__ = ["PostgresLog"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ctcd_predictions (
    service text NOT NULL, request_id text NOT NULL, "row" integer NOT NULL,
    time double precision NOT NULL, model_uri text, version text, arm text, status integer,
    latency_ms double precision, prediction text, features jsonb);
CREATE INDEX IF NOT EXISTS ctcd_predictions_time ON ctcd_predictions (service, time);
CREATE INDEX IF NOT EXISTS ctcd_predictions_id ON ctcd_predictions (service, request_id);
CREATE TABLE IF NOT EXISTS ctcd_prediction_labels (
    service text NOT NULL, request_id text NOT NULL, "row" integer NOT NULL, label text,
    time double precision NOT NULL);
CREATE INDEX IF NOT EXISTS ctcd_prediction_labels_id ON ctcd_prediction_labels (service,
    request_id);
"""
_FIXED = [c for c in COLUMNS if c not in ("service", "label")]


class PostgresLog(PredictionLog):
    def __init__(self, url: str):
        self.url = url.replace("postgresql+psycopg2://", "postgresql://", 1)
        self.location = self.url.split("@")[-1]  # no password in status answers
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg2

            conn = psycopg2.connect(self.url, connect_timeout=3)
            with conn, conn.cursor() as cur:
                cur.execute(_SCHEMA)
            self._conn = conn
        return self._conn

    def _run(self, sql: str, args: Any = None, many: list | None = None) -> list[tuple]:
        conn = self._connection()
        try:
            with conn, conn.cursor() as cur:
                if many is not None:
                    from psycopg2.extras import execute_values

                    execute_values(cur, sql, many, page_size=1000)
                    return []
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else []
        except Exception:
            self.close()  # a broken connection is opened again next time
            raise

    def append(self, service: str, rows: Any) -> None:
        from psycopg2.extras import Json

        if hasattr(rows, "columns"):  # a DataFrame: plain Python values, NaN as None
            rows = rows.astype(object).where(rows.notna(), None).to_dict("records")
        values = [(service, str(r["request_id"]), int(r[ROW]), float(r["time"]),
                   r["model_uri"], r["version"], r["arm"], int(r["status"]),
                   float(r["latency_ms"]), json.dumps(r["prediction"], default=_plain),
                   Json({k: v for k, v in r.items() if k not in COLUMNS and k != ROW},
                        dumps=lambda o: json.dumps(o, default=_plain)))
                  for r in rows]
        self._run('INSERT INTO ctcd_predictions (service, request_id, "row", time, model_uri, '
                  "version, arm, status, latency_ms, prediction, features) VALUES %s",
                  many=values)

    def append_labels(self, service: str, labels: list[dict[str, Any]]) -> None:
        self._run('INSERT INTO ctcd_prediction_labels (service, request_id, "row", label, time)'
                  " VALUES %s", many=[(service, r["request_id"], r[ROW],
                                       json.dumps(r["label"]), r["time"]) for r in labels])

    def read(self, service: str, since: float | None = None, until: float | None = None,
             version: str | None = None, limit: int | None = None, *,
             oldest: bool = False) -> Any:
        import pandas as pd

        where, args = ["service = %s"], [service]
        for clause, value in (("time >= %s", since), ("time <= %s", until),
                              ("version = %s", version)):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = (f'SELECT request_id, "row", time, model_uri, version, arm, status, latency_ms, '
               f"prediction, features FROM ctcd_predictions WHERE {' AND '.join(where)} "
               + ('ORDER BY time, "row"' if oldest else 'ORDER BY time DESC, "row" DESC'))
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        found = self._run(sql, args)
        if not oldest:
            found = found[::-1]
        frame = pd.DataFrame([r[:8] for r in found], columns=[
            "request_id", ROW, "time", "model_uri", "version", "arm", "status", "latency_ms"])
        frame.insert(0, "service", service)
        frame["prediction"] = [json.loads(r[8]) if r[8] is not None else None for r in found]
        frame["label"] = None
        features = pd.DataFrame([r[9] or {} for r in found], index=frame.index)
        return pd.concat([frame, features], axis=1)

    def labels(self, service: str) -> Any:
        import pandas as pd

        found = self._run('SELECT request_id, "row", label, time FROM ctcd_prediction_labels '
                          "WHERE service = %s ORDER BY time", [service])
        return pd.DataFrame([(r[0], r[1], json.loads(r[2]), r[3]) for r in found],
                            columns=["request_id", ROW, "label", "time"])

    def rows_of(self, service: str, ids: list[str]) -> dict[str, int]:
        found = self._run("SELECT request_id, count(*) FROM ctcd_predictions WHERE service = %s "
                          "AND request_id = ANY(%s) GROUP BY request_id", [service, list(ids)])
        return {rid: int(n) for rid, n in found}

    def expire(self, service: str, before: float, max_bytes: int | None) -> None:
        # max_bytes is the embedded store's: a team database is sized by its owners
        self._run("DELETE FROM ctcd_predictions WHERE service = %s AND time < %s",
                  [service, before])

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def _plain(value: Any) -> Any:
    """numpy scalars (the fast path's arrays) as the Python numbers JSON knows."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
