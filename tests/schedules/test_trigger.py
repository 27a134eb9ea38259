"""Schedule values: fire-time arithmetic, validation, round-trip, parsers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from ctcd_jupyter.errors import ScheduleError
from ctcd_jupyter.schedules.trigger import (
    Schedule,
    format_duration,
    local_zone_name,
    parse_duration,
    parse_when,
)

NOW = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args: int) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()


# -- interval ---------------------------------------------------------------------------------
def test_interval_fires_are_anchored_to_start():
    s = Schedule(start_time=NOW, interval_second=0.1, tz="UTC")
    fires = s.next_fires(1000, after=NOW - 1)
    assert fires[0] == NOW
    # anchored: the 1000th fire is start + 999 * step, not an accumulated sum
    assert fires[-1] == NOW + 999 * 0.1
    assert all(b > a for a, b in pairwise(fires))
    assert s.next_fire(NOW + 0.05) == NOW + 0.1
    assert s.next_fire(NOW + 0.1) == NOW + 0.2  # strict by default
    assert s.next_fire(NOW + 0.1, inclusive=True) == NOW + 0.1


def test_interval_accepts_timedelta_and_unanchored_starts_when_registered():
    s = Schedule(interval_second=timedelta(minutes=5), tz="UTC")
    assert s.interval_second == 300.0 and s.start_time is None
    anchored = s.anchored(NOW)
    assert anchored.start == NOW and anchored.next_fire(NOW, inclusive=True) == NOW
    assert anchored.anchored(NOW + 10) is anchored


def test_previous_and_count_fires():
    s = Schedule(start_time=NOW, end_time=NOW + 100, interval_second=10, tz="UTC", now=NOW)
    assert s.previous_fire(NOW + 35) == NOW + 30
    assert s.previous_fire(NOW + 30) == NOW + 30
    assert s.previous_fire(NOW - 1) is None
    assert s.previous_fire(NOW + 1e6) == NOW + 100  # clipped at end_time
    assert s.count_fires(NOW, NOW + 30) == 4
    assert s.count_fires(NOW + 1, NOW + 1e9) == 10
    assert s.fires_between(NOW + 5, NOW + 40, limit=2) == [NOW + 10, NOW + 20]


def test_end_time_is_the_last_possible_fire():
    s = Schedule(start_time=NOW, end_time=NOW + 60, interval_second=30, tz="UTC", now=NOW)
    assert s.next_fires(10, after=NOW - 1) == [NOW, NOW + 30, NOW + 60]
    assert s.next_fire(NOW + 60) is None


# -- cron -------------------------------------------------------------------------------------
def test_cron_in_explicit_zone():
    s = Schedule(cron_expression="0 9 * * 1-5", tz="Europe/Berlin")
    fires = s.next_fires(3, after=berlin(2027, 1, 15, 10, 0))  # a Friday
    assert fires == [berlin(2027, 1, 18, 9), berlin(2027, 1, 19, 9), berlin(2027, 1, 20, 9)]
    assert s.previous_fire(berlin(2027, 1, 18, 9)) == berlin(2027, 1, 18, 9)
    assert s.next_fire(berlin(2027, 1, 18, 9), inclusive=True) == berlin(2027, 1, 18, 9)


def test_cron_across_dst_transitions():
    hourly = Schedule(cron_expression="0 * * * *", tz="Europe/Berlin")
    # spring forward, 2027-03-28: 02:00 does not exist; fires stay one real hour apart
    spring = hourly.next_fires(3, after=berlin(2027, 3, 28, 0, 30))
    assert [b - a for a, b in pairwise(spring)] == [3600, 3600]
    assert [datetime.fromtimestamp(t, BERLIN).hour for t in spring] == [1, 3, 4]
    # fall back, 2027-10-31: 02:00 happens twice; both real instants fire, an hour apart
    fall = hourly.next_fires(4, after=berlin(2027, 10, 31, 0, 30))
    assert [b - a for a, b in pairwise(fall)] == [3600, 3600, 3600]
    assert [datetime.fromtimestamp(t, BERLIN).hour for t in fall] == [1, 2, 2, 3]
    # a daily 02:30 job runs once on the fall-back day (the first 02:30), as cron does
    daily = Schedule(cron_expression="30 2 * * *", tz="Europe/Berlin")
    fall_daily = daily.next_fires(3, after=berlin(2027, 10, 30, 12, 0))
    assert [b - a for a, b in pairwise(fall_daily)] == [25 * 3600, 24 * 3600]
    assert daily.previous_fire(fall_daily[1] + 7200) == fall_daily[1]
    # a daily 02:30 job on the spring-forward day runs at 03:00, the first time that exists
    fire = daily.next_fire(berlin(2027, 3, 28, 0, 0))
    assert datetime.fromtimestamp(fire, BERLIN).replace(tzinfo=None) == datetime(2027, 3, 28, 3)


def test_cron_zone_differs_from_utc():
    utc = Schedule(cron_expression="0 12 * * *", tz="UTC").next_fire(NOW)
    tokyo = Schedule(cron_expression="0 12 * * *", tz="Asia/Tokyo").next_fire(NOW)
    assert (utc - tokyo) % 86400 == 9 * 3600


# -- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one of interval_second and cron_expression (got neither)"),
    ({"interval_second": 5, "cron_expression": "* * * * *"}, "(got both)"),
    ({"interval_second": 0}, "more than 0 seconds"),
    ({"interval_second": -3}, "more than 0 seconds"),
    ({"interval_second": float("nan")}, "more than 0 seconds"),
    ({"interval_second": "5"}, "seconds or a timedelta"),
    ({"cron_expression": "*/5 * *"}, "Exactly 5, 6 or 7 columns"),
    ({"cron_expression": "61 * * * *"}, "out of range"),
    ({"interval_second": 5, "tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
])
def test_invalid_schedules_say_why(kwargs, message):
    with pytest.raises(ScheduleError) as info:
        Schedule(**kwargs)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_invalid_cron_quotes_the_expression():
    with pytest.raises(ScheduleError, match=r"invalid cron expression '61 \* \* \* \*'"):
        Schedule(cron_expression="61 * * * *")


def test_end_time_in_the_past_or_before_start_is_rejected():
    with pytest.raises(ScheduleError, match="is in the past"):
        Schedule(interval_second=5, end_time=NOW - 1, now=NOW, tz="UTC")
    with pytest.raises(ScheduleError, match="is not after start_time"):
        Schedule(interval_second=5, start_time=NOW + 60, end_time=NOW + 30, now=NOW, tz="UTC")
    with pytest.raises(ScheduleError, match="end_time: bad time 'tomorrow'"):
        Schedule(interval_second=5, end_time="tomorrow", now=NOW)
    # relative forms are read against `now`
    s = Schedule(interval_second=5, end_time="+10m", now=NOW, tz="UTC")
    assert s.end == NOW + 600


def test_naive_datetimes_are_read_in_the_schedule_zone():
    s = Schedule(start_time=datetime(2027, 1, 15, 9, 0), interval_second=60,
                 tz="Europe/Berlin")
    assert s.start == berlin(2027, 1, 15, 9, 0)
    assert s.start_time == datetime(2027, 1, 15, 9, 0, tzinfo=BERLIN)
    aware = Schedule(start_time=datetime(2027, 1, 15, 9, 0, tzinfo=timezone.utc),
                     interval_second=60, tz="Europe/Berlin")
    assert aware.start == datetime(2027, 1, 15, 9, 0, tzinfo=timezone.utc).timestamp()


def test_tz_accepts_tzinfo_and_stores_a_name():
    assert Schedule(interval_second=1, tz=BERLIN).tz == "Europe/Berlin"
    assert Schedule(interval_second=1, tz=timezone.utc).tz == "UTC"
    fixed = Schedule(interval_second=1, tz=timezone(timedelta(hours=5, minutes=30)))
    assert fixed.tz == "+05:30"
    assert Schedule.from_dict(fixed.to_dict()) == fixed
    assert Schedule(interval_second=1).tz == local_zone_name()


def test_schedule_is_immutable():
    s = Schedule(interval_second=1, tz="UTC")
    with pytest.raises(AttributeError):
        s.interval_second = 2


# -- data -------------------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", [
    Schedule(interval_second=0.05, tz="UTC"),
    Schedule(start_time=NOW + 0.123456, end_time=NOW + 3600.5, interval_second=timedelta(
        seconds=1.5), tz="Europe/Berlin", catchup=True, now=NOW),
    Schedule(cron_expression="*/5 * * * 1-5", tz="America/New_York", end_time=NOW + 86400,
             now=NOW),
])
def test_round_trip_through_json_is_exact(schedule):
    data = json.loads(json.dumps(schedule.to_dict()))
    again = Schedule.from_dict(data)
    assert again == schedule and again.to_dict() == schedule.to_dict()
    assert hash(again) == hash(schedule)
    assert again.next_fires(5, NOW) == schedule.next_fires(5, NOW)


def test_from_dict_accepts_a_completed_schedule():
    s = Schedule(interval_second=5, end_time=NOW + 10, now=NOW, tz="UTC")
    assert Schedule.from_dict(s.to_dict()).end == NOW + 10  # end is long past for real time


def test_describe_and_repr():
    s = Schedule(interval_second=30, end_time=datetime(2099, 1, 1, 10, 42), tz="UTC")
    assert s.describe() == "every 30s until 2099-01-01 10:42 (UTC)"
    c = Schedule(cron_expression="*/5  * * *   1-5", tz="Europe/Berlin")
    assert c.describe() == "cron */5 * * * 1-5 (Europe/Berlin)"
    assert repr(c) == "Schedule(cron_expression='*/5 * * * 1-5', tz='Europe/Berlin')"
    assert "end_time='2099-01-01T10:42:00+00:00'" in repr(s)
    assert Schedule(interval_second=5400, catchup=True, tz="UTC").describe() == (
        "every 1h30m, catch-up (UTC)")


# -- parsers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, seconds", [
    ("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("90", 90), ("500ms", 0.5),
    ("0.5", 0.5), ("1.5h", 5400), ("2d", 172800), ("1h 30m", 5400), (" 10S ", 10), (12, 12.0),
    (timedelta(minutes=2), 120),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5x", "m5", "-5s", "5s junk", "1h-30m"])
def test_parse_duration_rejects_with_the_accepted_forms(text):
    with pytest.raises(ScheduleError) as info:
        parse_duration(text)
    assert repr(text) in str(info.value) and "500ms, 30s, 5m, 1h30m" in str(info.value)


@pytest.mark.parametrize("seconds", [30, 300, 5400, 0.05, 90061, 1.5])
def test_format_duration_reads_back(seconds):
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


def test_parse_when():
    utc = ZoneInfo("UTC")
    now = datetime.fromtimestamp(NOW, utc)
    assert parse_when("now", now=NOW, tz="UTC") == now
    assert parse_when("+10m", now=NOW, tz="UTC") == now + timedelta(minutes=10)
    assert parse_when("2027-01-15T10:42", tz="Europe/Berlin") == datetime(
        2027, 1, 15, 10, 42, tzinfo=BERLIN)
    assert parse_when("2027-01-15T10:42:00Z", tz="Europe/Berlin").timestamp() == datetime(
        2027, 1, 15, 10, 42, tzinfo=timezone.utc).timestamp()
    assert parse_when("10:42", now=NOW, tz="UTC") == datetime(2027, 1, 15, 10, 42, tzinfo=utc)
    for bad in ("soon", "+x", "2027-13-01"):
        with pytest.raises(ScheduleError, match="'now', '\\+DURATION'"):
            parse_when(bad, now=NOW, tz="UTC")
