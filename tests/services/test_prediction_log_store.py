"""The prediction log's pieces on a real Parquet folder: the writer's queue and drops, segments
compacted without double counting, corrupt segments skipped, retention and the size cap, the
request formats parsed into rows, labels joined per request and per row."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from service_helpers import wait_for

from ctcd_jupyter.model_server.prediction_labels import apply_labels
from ctcd_jupyter.model_server.prediction_log import COMPACT_AT, ParquetLog, _segments
from ctcd_jupyter.model_server.prediction_rows import HASH, rows_of
from ctcd_jupyter.model_server.prediction_writer import PredictionWriter
from ctcd_jupyter.services.prediction_reader import read_predictions


def item(rid, body, answer=b'{"predictions": [1]}', status=200, content_type="application/json",
         start=None):
    return (rid, start or time.time(), 2.5, "models:/m/1", "1", status,
            json.dumps(body).encode() if not isinstance(body, bytes) else body,
            answer, content_type)


def split(rows):
    return {"dataframe_split": {"columns": ["a", "b"], "data": rows}}


def test_a_full_queue_drops_and_counts_never_blocks(tmp_path):
    writer = PredictionWriter(ParquetLog(tmp_path), "svc", queue_size=5)
    with writer._lock:  # the writer thread stops at its next write
        writer._queue.append(threading.Event())
        writer._wake.set()
        wait_for(lambda: not writer._queue, 10, "the writer thread to take the event")
        started = time.perf_counter()
        for i in range(8):
            writer.submit(item(f"r{i}", split([[1, 2]])))
        assert time.perf_counter() - started < 0.5
        assert writer.status()["dropped"] == 3 and writer.status()["queued"] == 5
    assert writer.flush(10)
    assert sorted(read_predictions(writer.log, "svc")["request_id"]) == [
        f"r{i}" for i in range(5)]
    writer.close()


def test_segments_are_compacted_and_never_counted_twice(tmp_path):
    log = ParquetLog(tmp_path)
    for i in range(COMPACT_AT + 3):
        log.append("svc", rows_of("svc", item(f"r{i}", split([[i, i]]), start=1000.0 + i)))
    segments = _segments(tmp_path / "svc", "rows")
    assert len(segments) == 4 and segments[0].seq1 - segments[0].seq0 == COMPACT_AT - 1
    frame = read_predictions(log, "svc")
    assert list(frame["request_id"]) == [f"r{i}" for i in range(COMPACT_AT + 3)]
    # a compaction cut short by kill -9 leaves small segments of its range beside the merged one
    small = tmp_path / "svc" / f"rows-1000000-1000001-{segments[0].writer}-1-1.parquet"
    os.link(segments[-1].path, small)
    assert len(read_predictions(log, "svc")) == COMPACT_AT + 3
    assert len(read_predictions(log, "svc", since=1000.0 + COMPACT_AT, limit=2)) == 2


def test_a_corrupt_segment_is_skipped_with_a_warning(tmp_path):
    log = ParquetLog(tmp_path)
    log.append("svc", rows_of("svc", item("good", split([[1, 2]]))))
    bad = tmp_path / "svc" / "rows-1-2-zz-1-1.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.warns(UserWarning, match="rows-1-2-zz-1-1.parquet"):
        frame = read_predictions(log, "svc")
    assert list(frame["request_id"]) == ["good"]


def test_retention_and_size_cap(tmp_path):
    log = ParquetLog(tmp_path)
    for i in range(3):
        log.append("svc", rows_of("svc", item(f"r{i}", split([[i, i]]), start=1000.0 + i)))
    log.expire("svc", before=1001.0, max_bytes=None)
    assert list(read_predictions(log, "svc")["request_id"]) == ["r1", "r2"]
    size = max(s.path.stat().st_size for s in _segments(tmp_path / "svc", None))
    log.expire("svc", before=0, max_bytes=size)
    assert list(read_predictions(log, "svc")["request_id"]) == ["r2"]


def test_request_formats_become_rows():
    def features(body, content_type="application/json"):
        rows = rows_of("s", item("r", body, b'{"predictions": [0, 1]}',
                                 content_type=content_type))
        return [{k: v for k, v in r.items() if k in ("a", "b", "x0", "x1")} for r in rows]

    expected = [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    assert features(split([[1, 2], [3, 4]])) == expected
    assert features({"dataframe_records": expected}) == expected
    assert features({"inputs": {"a": [1, 3], "b": [2, 4]}}) == expected
    assert features({"instances": [[1, 2], [3, 4]]}) == [{"x0": 1, "x1": 2}, {"x0": 3, "x1": 4}]
    assert features(b"a,b\n1,2\n3,4\n", "text/csv") == expected
    multi = rows_of("s", item("r", split([[1, 2]]), b'{"predictions": [{"p": 0.2, "q": 1}]}'))
    assert json.loads(multi[0]["prediction"]) == {"p": 0.2, "q": 1}
    error = rows_of("s", item("r", b"garbage", b'{"error_code": "BAD_REQUEST"}', status=400))
    assert [(r["status"], r["prediction"]) for r in error] == [(400, None)]
    hashed = rows_of("s", item("r", split([[1, 2]])), inputs=False)[0]
    assert "a" not in hashed and len(hashed[HASH]) == 32
    assert hashed[HASH] == rows_of("s", item("q", split([[1, 2]])), inputs=False)[0][HASH]


def test_labels_join_per_request_and_per_row(tmp_path):
    log = ParquetLog(tmp_path)
    log.append("svc", rows_of("svc", item("batch", split([[1, 2], [3, 4], [5, 6]]),
                                          b'{"predictions": [0, 1, 2]}')))
    log.append("svc", rows_of("svc", item("one", split([[1, 2]]))))
    first = apply_labels(log, "svc", [("batch", 7), ("one", 1), ("one", 2)])
    assert (first.joined, first.replaced, first.unknown) == (2, 1, 0)
    assert list(read_predictions(log, "svc")["label"]) == [7, 7, 7, 2]
    second = apply_labels(log, "svc", [("batch", [0, 1, 2]), ("nope", 1), ("one", [1, 2])])
    assert (second.joined, second.replaced, second.unknown, second.invalid) == (1, 1, 1, 1)
    assert list(read_predictions(log, "svc")["label"]) == [0, 1, 2, 2]


def test_an_unwritable_log_buffers_up_to_its_cap_then_drops(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    writer = PredictionWriter(ParquetLog(blocker / "log"), "svc", buffer_size=3)
    for i in range(5):
        writer.submit(item(f"r{i}", split([[i, i]])))
    assert writer.flush(10)
    status = writer.status()
    assert (status["buffered"], status["dropped"]) == (3, 2)
    assert "NotADirectoryError" in status["last_error"]
    blocker.unlink()  # writable again: the newest three are written at the next flush
    assert writer.flush(10)
    assert list(read_predictions(writer.log, "svc")["request_id"]) == ["r2", "r3", "r4"]
    assert writer.status()["written"] == 3 and writer.status()["last_error"] is None
    writer.close()


def test_log_sample_keeps_about_that_share(tmp_path):
    writer = PredictionWriter(ParquetLog(tmp_path), "svc", sample=0.5)
    original = (object(), object())
    kept = sum(writer.tap({}, *original, "r", None) != original for _ in range(400))
    assert 120 < kept < 280  # binomial(400, 0.5): outside this once in ~10^15 runs
    writer.close()


def test_labels_of_mixed_types_are_compacted_too(tmp_path):
    log = ParquetLog(tmp_path)
    log.append("svc", rows_of("svc", item("r", split([[1, 2]]))))
    for i in range(COMPACT_AT):
        apply_labels(log, "svc", [("r", i if i % 2 else f"class-{i}")])
    assert len(_segments(tmp_path / "svc", "labels")) == 1
    assert list(read_predictions(log, "svc")["label"]) == [str(COMPACT_AT - 1)]
