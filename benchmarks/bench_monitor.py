"""Prediction log figures (issue 17): the storage choice, and the reads the monitor needs.

- Write: 1,000-row flushes of 4-feature rows into Parquet segments (the embedded log) and into
  SQLite in WAL mode, per row.
- Read: `read_predictions(limit=1000)` and the full scan of 1,000,000 rows into one DataFrame
  (10 % of them labelled, labels joined) from the Parquet segments; the same 1,000,000 rows
  through `sqlite3` + `pandas.read_sql_query`.
- Disk per million one-row predictions of a 4-feature model.

- Logging overhead on live servers (same model, log on vs off, requests interleaved): one-row
  and 100-row p50/p99 through a kept-alive session, failed requests.
- The same under wrk (C load generator): 1 and 8 connections, p50 and req/s, log on vs off.
- Durability: kill -9 of a server under load (2 clients): answers given vs rows logged.
- `svc.monitor()` over the 1,000,000 rows (1 h window and everything) and the statistics alone.

    .venv/bin/python benchmarks/bench_monitor.py [--rows 1000000] [--requests 300]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from ctcd_jupyter.model_server.prediction_log import ParquetLog
from ctcd_jupyter.services.prediction_reader import read_predictions

FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def rows(n: int, start: float) -> list[dict]:
    out = []
    for i in range(n):
        row = {"request_id": uuid.uuid4().hex, "row": 0, "time": start + i * 0.001,
               "service": "iris", "model_uri": "models:/iris/1", "version": "1",
               "arm": "stable", "status": 200, "latency_ms": random.uniform(1, 5),
               "prediction": random.randint(0, 2), "label": None}
        row.update({f: round(random.uniform(0, 8), 1) for f in FEATURES})
        out.append(row)
    return out


def bench_parquet(folder: Path, total: int) -> dict:
    log = ParquetLog(folder / "predictions")
    start = time.time() - total * 0.001
    flush = rows(1000, start)
    t = time.perf_counter()
    for _ in range(20):
        log.append("flush", flush)
    write = (time.perf_counter() - t) / 20_000
    chunk = 100_000
    for i in range(0, total, chunk):  # bulk: the figure above is the write cost
        log.append("iris", rows(min(chunk, total - i), start + i * 0.001))
    size = sum(p.stat().st_size for p in (folder / "predictions" / "iris").glob("*.parquet"))
    ids = read_predictions(log, "iris", limit=total // 10)["request_id"]  # 10 % labelled
    log.append_labels("iris", [{"request_id": rid, "row": -1, "label": 1, "time": time.time()}
                               for rid in ids])
    t = time.perf_counter()
    last = read_predictions(log, "iris", limit=1000)
    small = time.perf_counter() - t
    t = time.perf_counter()
    everything = read_predictions(log, "iris")
    scan = time.perf_counter() - t
    assert len(last) == 1000 and len(everything) == total
    assert everything["label"].notna().sum() == len(ids)
    monitor = monitor_times(folder, total)
    return {"write_us_per_row": write * 1e6, "limit_1000_ms": small * 1000,
            "scan_s": scan, "mb_per_million": size / total * 1e6 / 2**20, **monitor}


def monitor_times(folder: Path, total: int) -> dict:
    """`svc.monitor()` of a service whose log holds `total` rows (10 % labelled): over a 1 h
    window and over everything, best of 3; and the statistics alone (MonitorReport over the
    DataFrame already read) beside it."""
    from ctcd_jupyter.monitoring.report import MonitorReport
    from ctcd_jupyter.services import MLFlowDeploymentService

    svc = MLFlowDeploymentService("iris", "models:/iris/1", home=folder,
                                  prediction_log=str(folder / "predictions"))
    out = {}
    for label, window in (("monitor_1h_s", "1h"), ("monitor_all_s", None)):
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            report = svc.monitor(window)
            best = min(best, time.perf_counter() - t)
        out[label] = best
        out[label.replace("_s", "_rows")] = report.versions[0].requests if report.versions \
            else 0
    log = ParquetLog(folder / "predictions")
    frame = read_predictions(log, "iris", label_times=True)
    t = time.perf_counter()
    MonitorReport(frame, None, None)
    out["report_only_s"] = time.perf_counter() - t
    return out


def bench_sqlite(folder: Path, total: int) -> dict:
    import pandas as pd

    db = sqlite3.connect(folder / "log.db")
    db.execute("PRAGMA journal_mode=WAL")
    columns = ["request_id", "row", "time", "service", "model_uri", "version", "arm", "status",
               "latency_ms", "prediction", "label", *FEATURES]
    db.execute(f"CREATE TABLE log ({', '.join(repr(c) for c in columns)})")
    db.execute("CREATE INDEX log_time ON log (time)")
    insert = f"INSERT INTO log VALUES ({', '.join('?' * len(columns))})"
    start = time.time() - total * 0.001
    flush = [[r[c] for c in columns] for r in rows(1000, start)]
    t = time.perf_counter()
    for _ in range(20):
        with db:
            db.executemany(insert, flush)
    write = (time.perf_counter() - t) / 20_000
    with db:
        db.execute("DELETE FROM log")
    for i in range(0, total, 100_000):
        with db:
            db.executemany(insert, [[r[c] for c in columns] for r in rows(
                min(100_000, total - i), start + i * 0.001)])
    t = time.perf_counter()
    frame = pd.read_sql_query("SELECT * FROM log ORDER BY time", db)
    scan = time.perf_counter() - t
    assert len(frame) == total
    return {"write_us_per_row": write * 1e6, "scan_s": scan}


def bench_live(n: int) -> list[tuple[str, tuple[float, float], tuple[float, float]]]:
    import os

    import requests
    from bench_predict import measure, train_and_register
    from sklearn.datasets import load_iris

    from ctcd_jupyter.services import MLFlowDeploymentService
    from ctcd_jupyter.services.payload import encode

    folder = tempfile.mkdtemp(prefix="ctcd-bench-monitor-")
    os.environ["CTCD_HOME"] = f"{folder}/home"
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder}/mlflow.db"
    model_uri = train_and_register(folder)
    X = load_iris(as_frame=True).data
    bodies = {"1 row": encode(X.head(1)), "100 rows": encode(X.sample(100, replace=True))}
    services = [MLFlowDeploymentService(f"log-{on}", model_uri, access_log=False,
                                        log_predictions=on) for on in (True, False)]
    failed = [0]
    results = []
    try:
        for svc in services:
            svc.start(timeout=180)
        for label, body in bodies.items():
            calls = []
            for svc in services:
                session = requests.Session()

                def call(svc=svc, session=session, body=body):
                    answer = session.post(svc.endpoint, data=body, timeout=30,
                                          headers={"Content-Type": "application/json"})
                    failed[0] += answer.status_code != 200
                calls.append(call)
            on, off = measure(*calls, n=n)
            results.append((label, on, off))
        overhead = wrk_overhead(services, bodies)
        logged = len(services[0].predictions())
        answered, kept = kill_under_load(services[0], bodies["1 row"])
    finally:
        for svc in services:
            svc.stop()
    for line in overhead:
        print(line)
    print(f"live: {logged:,} rows logged, {failed[0]} failed requests; kill -9 under load: "
          f"{answered} answers, {kept} rows kept after the kill (lost: {answered - kept}, "
          "at most the last second's)")
    return results


def wrk_overhead(services: list, bodies: dict[str, bytes], seconds: float = 2.0) -> list[str]:
    """The log's cost under load: wrk (C) against the log-on and the log-off server, 1 and 8
    connections, interleaved ABBA (means of 2); p50 and req/s side by side, non-2xx answers."""
    import os
    import shutil

    from bench_serving import LUA, wrk

    if not shutil.which("wrk"):
        return ["wrk is not on PATH (Debian package wrk): no 8-connection figures"]
    folder = tempfile.mkdtemp(prefix="ctcd-bench-wrk-")
    lines = ["logging overhead under wrk (log on vs off, same model, ABBA, means of 2):"]
    for label, body in bodies.items():
        script = os.path.join(folder, label.replace(" ", "-") + ".lua")
        with open(script, "w") as f:
            f.write(LUA % body.decode())
        for connections in (1, 8):
            runs: dict[bool, list] = {True: [], False: []}
            for on in (True, False, False, True):
                runs[on].append(wrk(services[0 if on else 1].endpoint, script, connections,
                                    seconds))
            mean = {on: {k: sum(r[k] for r in rs) / len(rs) for k in ("p50", "rps", "bad")}
                    for on, rs in runs.items()}
            on, off = mean[True], mean[False]
            lines.append(
                f"  {label:>8}, {connections} conn: p50 on {on['p50']:.2f} ms / off "
                f"{off['p50']:.2f} ms ({on['p50'] / off['p50'] - 1:+.1%}), req/s on "
                f"{on['rps']:.0f} / off {off['rps']:.0f} ({on['rps'] / off['rps'] - 1:+.1%}), "
                f"non-2xx {on['bad'] + off['bad']:.0f} (goal: <= 5 % slower, 0 failed)")
    shutil.rmtree(folder, ignore_errors=True)
    return lines


def kill_under_load(svc, body: bytes) -> tuple[int, int]:
    """Answers given by the server in ~2 s of load, then rows in its log after a kill -9."""
    import os
    import signal
    import threading

    import requests

    svc._control("POST", "/ctcd/flush-log", {})  # the rows of the earlier figures
    before = len(svc.predictions())
    answered = [0]
    stop = threading.Event()

    def client():
        session = requests.Session()
        while not stop.is_set():
            try:
                ok = session.post(svc.endpoint, data=body, timeout=5,
                                  headers={"Content-Type": "application/json"}).ok
            except requests.RequestException:
                return
            answered[0] += ok

    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(2.0)  # the load lasts this long: a figure, not a wait for a condition
    os.killpg(svc._process.sid, signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
    return answered[0], len(svc.predictions()) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per figure")
    args = parser.parse_args()
    live = bench_live(args.requests)
    with tempfile.TemporaryDirectory() as tmp:
        parquet = bench_parquet(Path(tmp), args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = bench_sqlite(Path(tmp), args.rows)
    print(f"rows: {args.rows:,}")
    print(f"write per row, 1,000-row flushes:  parquet {parquet['write_us_per_row']:.1f} us"
          f"   sqlite(WAL) {sqlite['write_us_per_row']:.1f} us")
    print(f"full scan into a DataFrame:        parquet {parquet['scan_s']:.2f} s"
          f"   sqlite {sqlite['scan_s']:.2f} s")
    print(f"predictions(limit=1000):           parquet {parquet['limit_1000_ms']:.0f} ms")
    print(f"disk per million 4-feature rows:   parquet {parquet['mb_per_million']:.1f} MB")
    print(f"svc.monitor(), 1 h window:         {parquet['monitor_1h_s']:.2f} s over "
          f"{parquet['monitor_1h_rows']:,} rows in the window (goal <= 1 s)")
    print(f"svc.monitor(None), every row:      {parquet['monitor_all_s']:.2f} s over "
          f"{parquet['monitor_all_rows']:,} rows (the statistics alone: "
          f"{parquet['report_only_s']:.2f} s)")
    for label, on, off in live:
        print(f"{label:>8} p50/p99 log on {on[0]:.2f}/{on[1]:.2f} ms, off {off[0]:.2f}/"
              f"{off[1]:.2f} ms: p50 {100 * (on[0] / off[0] - 1):+.1f} %")


if __name__ == "__main__":
    main()
