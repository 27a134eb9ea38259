"""views.format: the one home of tables, times, durations and status tones."""

from __future__ import annotations

from datetime import datetime, timezone

from ctcd_jupyter.views.format import TONE_COLOURS, colour, duration, table, tone, when


def test_table_aligns_columns_and_leaves_a_free_last_column_unpadded():
    rows = [("id", "status", "note"), ("a1", "SUCCEEDED", ""), ("b", "FAILED", "step x: boom")]
    assert table(rows, free_last=True).splitlines() == [
        "id  status     note", "a1  SUCCEEDED", "b   FAILED     step x: boom"]
    assert table(rows).splitlines()[1] == "a1  SUCCEEDED"  # never a trailing space


def test_times_and_durations():
    ts = datetime(2026, 1, 2, 10, 42, tzinfo=timezone.utc).timestamp()
    assert when(ts, timezone.utc) == "2026-01-02 10:42:00"
    assert when(ts, timezone.utc, drop_zero_seconds=True) == "2026-01-02 10:42"
    assert when(None) == "-"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    assert when(now.timestamp(), timezone.utc, today_short=True) == now.strftime("%H:%M:%S")
    assert duration(0.4242) == "0.42s" and duration(None) == "-"
    assert [duration(s, compact=True) for s in (0.25, 12.3, 600)] == ["250ms", "12.30s", "10.0m"]


def test_every_status_has_a_tone_in_jupyterlab_variables():
    for status in ("ACTIVE", "SUCCEEDED", "FAILED", "ERROR", "PAUSED", "SKIPPED", "CACHED",
                   "PENDING_STARTUP", "INACTIVE", "COMPLETED", "ACTIVE in pid 12"):
        assert tone(status) != "text", status
        assert colour(status).startswith("var(--jp-")
    assert all(value.startswith("var(--jp-") for value in TONE_COLOURS.values())
