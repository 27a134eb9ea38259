"""Hostile schedule input: every mistake is a ScheduleError (a one-line UsageError in
%schedule), never a library's exception; no interval floods the run history (issue 8)."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

import ctcd_jupyter as ctcd


@pytest.mark.parametrize("fields, message", [
    ({"cron_expression": "0 0 31 2 *"}, "no date ever matches it"),
    ({"cron_expression": "0 0 30 2 *"}, "no date ever matches it"),
    ({"cron_expression": "*/5 * * *"}, "invalid cron expression"),
    ({"cron_expression": "61 * * * *"}, "invalid cron expression"),
    ({"interval_second": 1, "tz": "+25:00"}, "unknown time zone"),
    ({"interval_second": 1, "tz": "-24:00"}, "unknown time zone"),
    ({"interval_second": 1, "tz": "+05:61"}, "unknown time zone"),
    ({"interval_second": 1e-9}, "below the minimum of 10ms"),
    ({"interval_second": 0.001}, "below the minimum of 10ms"),
    ({"interval_second": 1e300}, "longer than 100 years"),
    ({"interval_second": float("nan")}, "more than 0 seconds"),
    ({"interval_second": 1, "start_time": "+10m", "end_time": "+10m"}, "not after start_time"),
    ({"interval_second": 1, "end_time": "+0s"}, "in the past"),
    ({"interval_second": 1, "start_time": "yesterday"}, "start_time"),
])
def test_bad_schedules_are_schedule_errors(fields, message):
    with pytest.raises(ctcd.ScheduleError, match=message):
        ctcd.Schedule(**fields)


@pytest.mark.parametrize("line, message", [
    ("p --every 1ms", "below the minimum"),
    ("p --every 0.000000001", "below the minimum"),
    ("p --every 1e-9", "bad duration"),
    ('p --cron "0 0 31 2 *"', "no date ever matches it"),
    ("p --every 1s --tz +25:00", "unknown time zone"),
    ("p --every 1s --start +10m --end +10m", "not after start_time"),
])
def test_bad_schedule_magics_are_one_line_usage_errors(shell, line, message):
    shell.run_cell_magic("step", "s --no-run", "x = 1")
    shell.run_line_magic("pipeline", "p s")
    with pytest.raises(UsageError, match=message) as caught:
        shell.run_line_magic("schedule", line)
    assert "\n" not in str(caught.value)
    assert ctcd.get_workspace().scheduling.overview() == []


@pytest.mark.parametrize("data", ["not json", "[1, 2]", '{"record": {"name": "p"}}',
                                  '{"record": {"schedule": {"kind": "?"}}}'])
def test_a_forged_schedule_row_is_a_clear_error_and_can_be_removed(workspace, data):
    from ctcd_jupyter.schedules.pipelines import Scheduling
    from ctcd_jupyter.schedules.records import load_schedule_records

    workspace.store.execute("INSERT INTO schedules (name, data, updated) VALUES ('p', ?, 0)",
                            (data,))
    ctcd.Pipeline("ok", [ctcd.Step("s", "x = 1")])
    scheduling = Scheduling(workspace)
    try:
        scheduling.add(workspace.get_pipeline("ok"), ctcd.Schedule(interval_second=3600))
        assert [i.name for i in scheduling.overview()] == ["ok"]  # the bad row hides nothing
        with pytest.raises(ctcd.ScheduleError, match=r"unreadable|no schedule"):
            scheduling.resume("p")
        scheduling.remove("p")
        assert "p" not in {r["name"] for r in load_schedule_records(workspace.store)}
    finally:
        scheduling.stop()
