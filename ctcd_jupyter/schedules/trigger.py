"""`Schedule`: when a pipeline runs (a fixed interval or a cron expression in an explicit zone).

Pure values with no threads: fire-time arithmetic, validation, JSON round-trip, and the parsers
for the magic's `30s` / `+10m` / ISO-time arguments.
"""

from __future__ import annotations

import math
import os
import re
import time
from datetime import datetime, timedelta, timezone, tzinfo
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ScheduleError
from ..views.format import when

__all__ = [
    "Schedule",
    "format_duration",
    "local_zone_name",
    "parse_duration",
    "parse_when",
    "zone",
]

# Enumerating cron fires (to count coalesced ticks) stops here; beyond it counts are "at least".
CRON_COUNT_CAP = 10_000

_DURATION_FORMS = "a number of seconds (90, 0.5) or units ms/s/m/h/d (500ms, 30s, 5m, 1h30m, 2d)"
_WHEN_FORMS = "'now', '+DURATION' (+10m, +1h30m), an ISO time (2026-11-03T10:42, 10:42)"
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", re.IGNORECASE)
_OFFSET_NAME = re.compile(r"^(?:UTC)?([+-])(\d{2}):(\d{2})$")


# The shortest interval accepted. Each tick runs a whole pipeline (a run record, a store write,
# tracking); the scheduler's fire lateness under GIL load reaches ~16 ms at p99 (bench_scheduler),
# so a beat shorter than 10 ms cannot be kept and only floods the run history.
MIN_INTERVAL = 0.01
MAX_INTERVAL = 100 * 366 * 86400.0


# -- zones --------------------------------------------------------------------------------------
def local_zone_name() -> str:
    """The IANA name of the machine's zone ($TZ, /etc/localtime, /etc/timezone), else "UTC"."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    real = os.path.realpath("/etc/localtime")
    if "zoneinfo/" in real:
        candidates.append(real.split("zoneinfo/", 1)[1])
    try:
        with open("/etc/timezone", encoding="utf-8") as fh:
            candidates.append(fh.read().strip())
    except OSError:
        pass
    for name in candidates:
        if name and _zone_or_none(name) is not None:
            return name
    return "UTC"


def _zone_or_none(name: str) -> tzinfo | None:
    match = _OFFSET_NAME.match(name)
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta >= timedelta(hours=24) or int(minutes) >= 60:
            return None  # "+25:00": no such offset (timezone() would raise a bare ValueError)
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone(tz: str | tzinfo | None) -> tuple[str, tzinfo]:
    """(name, tzinfo) for a zone name, a tzinfo, or None (the local zone); the name round-trips."""
    if tz is None:
        name = local_zone_name()
    elif isinstance(tz, str):
        name = tz.strip()
    elif isinstance(tz, tzinfo):
        name = _tzinfo_name(tz)
    else:
        raise ScheduleError(f"tz must be a zone name or a tzinfo, not {type(tz).__name__}")
    info = _zone_or_none(name)
    if info is None:
        raise ScheduleError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'Europe/Berlin'"
        )
    return name, info


def _tzinfo_name(tz: tzinfo) -> str:
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)  # zoneinfo / pytz
    if isinstance(key, str):
        return key
    offset = tz.utcoffset(None)
    if offset is None:
        raise ScheduleError(f"cannot store the time zone {tz!r}: pass an IANA name instead")
    if offset == timedelta(0):
        return "UTC"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


# -- argument parsers ---------------------------------------------------------------------------
def parse_duration(text: str | float | timedelta) -> float:
    """Seconds in `text`: "90", "0.5", "500ms", "30s", "5m", "1h30m", "2d"; numbers pass."""
    if isinstance(text, timedelta):
        return text.total_seconds()
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    raw = str(text).strip()
    try:
        return float(raw) if raw and re.fullmatch(r"\d+(\.\d+)?", raw) else _units(raw)
    except ValueError:
        raise ScheduleError(f"bad duration {text!r}: use {_DURATION_FORMS}") from None


def _units(raw: str) -> float:
    total, pos = 0.0, 0
    for match in _DURATION_PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        pos = match.end()
    if pos == 0 or raw[pos:].strip():
        raise ValueError(raw)
    return total


def format_duration(seconds: float) -> str:
    """The short form parse_duration reads back: 30 -> "30s", 5400 -> "1h30m", 0.25 -> "250ms"."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    parts, rest = [], seconds
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if rest >= size:
            count = int(rest // size)
            parts.append(f"{count}{unit}")
            rest -= count * size
    if rest or not parts:
        parts.append(f"{round(rest, 3):g}s")
    return "".join(parts)


def parse_when(text: str | datetime | float, now: float | datetime | None = None,
               tz: str | tzinfo | None = None) -> datetime:
    """An aware datetime for "now", "+10m", an ISO date-time or a time of day (naive -> in `tz`)."""
    _, info = zone(tz)
    now_dt = _now_datetime(now, info)
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=info)
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return datetime.fromtimestamp(float(text), info)
    raw = str(text).strip()
    if raw.lower() == "now":
        return now_dt
    if raw.startswith("+"):
        try:
            return now_dt + timedelta(seconds=parse_duration(raw[1:]))
        except ScheduleError:
            raise ScheduleError(f"bad time {text!r}: use {_WHEN_FORMS}") from None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        try:  # a bare time of day means today, in the schedule's zone
            parsed = datetime.combine(now_dt.date(), dtime.fromisoformat(raw))
        except ValueError:
            raise ScheduleError(f"bad time {text!r}: use {_WHEN_FORMS}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=info)


def _now_datetime(now: float | datetime | None, info: tzinfo) -> datetime:
    if isinstance(now, datetime):
        return now.astimezone(info) if now.tzinfo else now.replace(tzinfo=info)
    return datetime.fromtimestamp(time.time() if now is None else float(now), info)


# -- the schedule -------------------------------------------------------------------------------
class Schedule:
    """When to run: every `interval_second` from `start_time`, or on `cron_expression` in `tz`.

    Interval fires are anchored (`start_time + k * interval`, no drift); `start_time=None` means
    "when registered" (see `anchored`). A fire at `end_time` happens, later ones do not. Naive
    datetimes are read in the schedule's zone; times are epoch seconds in the fire-time methods.
    """

    __slots__ = (
        "_end",
        "_start",
        "_zone",
        "catchup",
        "cron_expression",
        "interval_second",
        "tz",
    )

    def __init__(self, start_time: datetime | float | str | None = None,
                 end_time: datetime | float | str | None = None,
                 interval_second: float | timedelta | None = None,
                 cron_expression: str | None = None, tz: str | tzinfo | None = None,
                 catchup: bool = False, *, now: float | datetime | None = None):
        self.tz, self._zone = zone(tz)
        self.catchup = bool(catchup)
        # One "now" for every relative time: start "+10m" and end "+10m" are the same moment.
        now = time.time() if now is None else now
        self.interval_second = self._check_interval(interval_second, cron_expression)
        self.cron_expression = self._check_cron(cron_expression, now)
        self._start = None if start_time is None else self._epoch(start_time, now, "start_time")
        self._end = None if end_time is None else self._epoch(end_time, now, "end_time")
        if self._end is not None:
            self._check_end(_now_datetime(now, self._zone))

    # validation ---------------------------------------------------------------------------
    def _check_interval(self, interval: Any, cron: str | None) -> float | None:
        if (interval is None) == (cron is None):
            raise ScheduleError("give exactly one of interval_second and cron_expression"
                                + (" (got both)" if cron is not None else " (got neither)"))
        if interval is None:
            return None
        if isinstance(interval, bool) or not isinstance(interval, (int, float, timedelta)):
            raise ScheduleError(f"interval_second must be seconds or a timedelta, not {interval!r}")
        seconds = interval.total_seconds() if isinstance(interval, timedelta) else float(interval)
        if not math.isfinite(seconds) or seconds <= 0:
            raise ScheduleError(f"interval must be more than 0 seconds, got {interval!r}")
        if seconds > MAX_INTERVAL:
            raise ScheduleError(f"interval {format_duration(seconds)} is longer than 100 years; "
                                f"use an end_time or a cron expression for rare runs")
        if seconds < MIN_INTERVAL:
            raise ScheduleError(
                f"interval {format_duration(seconds)} is below the minimum of "
                f"{format_duration(MIN_INTERVAL)}: each tick runs a whole pipeline, and the "
                f"scheduler cannot keep a shorter beat; use {format_duration(MIN_INTERVAL)} or "
                f"more")
        return seconds

    @staticmethod
    def _check_cron(expr: str | None, now: float | datetime) -> str | None:
        if expr is None:
            return None
        from croniter import croniter

        expr = " ".join(str(expr).split())
        start = now.timestamp() if isinstance(now, datetime) else float(now)
        try:
            # Constructing checks the syntax; the next fire checks that the date exists
            # ("0 0 31 2 *" parses, but there is no 31 February).
            croniter(expr, start).get_next(float)
        except (ValueError, KeyError, TypeError) as exc:  # croniter's errors are ValueErrors
            reason = str(exc) or type(exc).__name__
            if "BadDate" in type(exc).__name__:
                reason = "no date ever matches it"
            raise ScheduleError(f"invalid cron expression {expr!r}: {reason}") from None
        return expr

    def _epoch(self, value: Any, now: Any, field: str) -> float:
        try:
            return parse_when(value, now=now, tz=self._zone).timestamp()
        except ScheduleError as exc:
            raise ScheduleError(f"{field}: {exc}") from None
        except (TypeError, OverflowError, OSError) as exc:
            raise ScheduleError(f"{field}: {value!r} is not a time ({exc})") from None

    def _check_end(self, now: float | datetime) -> None:
        now_ts = now.timestamp() if isinstance(now, datetime) else now
        end = self.format_time(self._end)
        if self._start is not None and self._end <= self._start:
            raise ScheduleError(
                f"end_time {end} is not after start_time {self.format_time(self._start)}")
        if self._end <= now_ts:
            raise ScheduleError(f"end_time {end} is in the past (now {self.format_time(now_ts)})")

    # properties ---------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return "cron" if self.cron_expression is not None else "interval"

    @property
    def zoneinfo(self) -> tzinfo:
        return self._zone

    @property
    def start_time(self) -> datetime | None:
        return None if self._start is None else datetime.fromtimestamp(self._start, self._zone)

    @property
    def end_time(self) -> datetime | None:
        return None if self._end is None else datetime.fromtimestamp(self._end, self._zone)

    @property
    def start(self) -> float | None:
        """start_time as epoch seconds."""
        return self._start

    @property
    def end(self) -> float | None:
        """end_time as epoch seconds."""
        return self._end

    def anchored(self, now: float) -> Schedule:
        """This schedule with start_time set to `now` if it had none (done when registered)."""
        if self._start is not None:
            return self
        return self._replace(_start=float(now))

    def _replace(self, **fields: Any) -> Schedule:
        new = object.__new__(Schedule)
        for slot in Schedule.__slots__:
            object.__setattr__(new, slot, fields.get(slot, getattr(self, slot)))
        return new

    # fire times ---------------------------------------------------------------------------
    def next_fire(self, after: float, *, inclusive: bool = False) -> float | None:
        """The first fire time > `after` (>= with inclusive), or None when past end_time."""
        if self._start is not None and after < self._start:
            after, inclusive = self._start, True
        if self.interval_second is not None:
            fire = self._next_interval(after, inclusive)
        else:
            fire = self._next_cron(after, inclusive)
        return None if self._end is not None and fire > self._end else fire

    def next_fires(self, n: int, after: float, *, inclusive: bool = False) -> list[float]:
        """Up to `n` fire times after `after` (fewer when end_time comes first)."""
        fires: list[float] = []
        fire = self.next_fire(after, inclusive=inclusive)
        while fire is not None and len(fires) < n:
            fires.append(fire)
            fire = self.next_fire(fire)
        return fires

    def previous_fire(self, at: float) -> float | None:
        """The last fire time <= `at` (and <= end_time, >= start_time), or None."""
        if self._end is not None:
            at = min(at, self._end)
        if self._start is not None and at < self._start:
            return None
        if self.interval_second is not None:
            start = at if self._start is None else self._start
            k = math.floor((at - start) / self.interval_second)
            fire = start + k * self.interval_second
            return fire - self.interval_second if fire > at else fire
        fire = self._cron(at + 1e-6).get_prev(datetime).timestamp()
        while self._repeated_wall_time(fire):
            fire = self._cron(fire).get_prev(datetime).timestamp()
        return None if self._start is not None and fire < self._start else fire

    def count_fires(self, first: float, last: float, cap: int = CRON_COUNT_CAP) -> int:
        """How many fire times lie in [first, last] (cron counts stop at `cap`)."""
        if last < first:
            return 0
        if self.interval_second is not None:
            lo = self.next_fire(first, inclusive=True)
            hi = self.previous_fire(last)
            if lo is None or hi is None or hi < lo:
                return 0
            return round((hi - lo) / self.interval_second) + 1
        return len(self.fires_between(first, last, cap))

    def fires_between(self, first: float, last: float, limit: int) -> list[float]:
        """Up to `limit` fire times in [first, last], in order."""
        fires: list[float] = []
        fire = self.next_fire(first, inclusive=True)
        while fire is not None and fire <= last and len(fires) < limit:
            fires.append(fire)
            fire = self.next_fire(fire)
        return fires

    def _next_interval(self, after: float, inclusive: bool) -> float:
        step = self.interval_second
        start = after if self._start is None else self._start

        def ok(fire: float) -> bool:
            return fire >= after if inclusive else fire > after

        k = max(0, math.ceil((after - start) / step))
        # float rounding can land one step off either way; settle on the exact first fire
        while k > 0 and ok(start + (k - 1) * step):
            k -= 1
        while not ok(start + k * step):
            k += 1
        return start + k * step

    def _next_cron(self, after: float, inclusive: bool) -> float:
        # croniter is strict (> start) and works in whole seconds, so step back just under
        base = after - 1e-6 if inclusive else after
        fire = self._cron(base).get_next(datetime).timestamp()
        while self._repeated_wall_time(fire):
            fire = self._cron(fire).get_next(datetime).timestamp()
        return fire

    def _repeated_wall_time(self, fire: float) -> bool:
        """A fixed-hour job ("30 2 * * *") runs once when clocks fall back, as cron does: the
        second 02:30 (fold=1) is the same wall time again. Jobs with `*` hours run each hour."""
        hours = self.cron_expression.split()[1] if self.cron_expression else "*"
        return "*" not in hours and datetime.fromtimestamp(fire, self._zone).fold == 1

    def _cron(self, at: float) -> Any:
        from croniter import croniter

        return croniter(self.cron_expression, datetime.fromtimestamp(at, self._zone))

    # data ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields; `Schedule.from_dict(s.to_dict()) == s` exactly."""
        return {
            "start_time": self._start,
            "end_time": self._end,
            "interval_second": self.interval_second,
            "cron_expression": self.cron_expression,
            "tz": self.tz,
            "catchup": self.catchup,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        """Rebuild a stored schedule (an end_time now in the past is fine: it has completed)."""
        try:
            sched = cls(
                interval_second=data.get("interval_second"),
                cron_expression=data.get("cron_expression"),
                tz=data.get("tz"),
                catchup=bool(data.get("catchup", False)),
            )
        except AttributeError:
            raise ScheduleError(f"a stored schedule must be a dict, got {data!r}") from None
        start, end = data.get("start_time"), data.get("end_time")
        return sched._replace(_start=None if start is None else float(start),
                              _end=None if end is None else float(end))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.to_dict().items())))

    def __reduce__(self) -> tuple[Any, ...]:
        # copy, deepcopy and pickle go through the data form: the slots are write-once
        return (Schedule.from_dict, (self.to_dict(),))

    def __setattr__(self, name: str, value: Any) -> None:
        # a Schedule is a value shared by the scheduler thread: no mutation after __init__
        if hasattr(self, "_end"):
            raise AttributeError("Schedule is immutable; build a new one")
        object.__setattr__(self, name, value)

    def format_time(self, ts: float | None) -> str:
        """A time in this schedule's zone: "10:42" today, "2026-12-02 10:42:05" otherwise."""
        return when(ts, self._zone, today_short=True, drop_zero_seconds=True)

    def describe(self) -> str:
        """One line: "every 30s until 10:42 (UTC)" / "cron */5 * * * 1-5 (Europe/Berlin)"."""
        if self.interval_second is not None:
            text = f"every {format_duration(self.interval_second)}"
        else:
            text = f"cron {self.cron_expression}"
        if self._start is not None and self._start > time.time():
            text += f" from {self.format_time(self._start)}"
        if self._end is not None:
            text += f" until {self.format_time(self._end)}"
        if self.catchup:
            text += ", catch-up"
        return f"{text} ({self.tz})"

    def __repr__(self) -> str:
        fields = [f"interval_second={self.interval_second!r}" if self.cron_expression is None
                  else f"cron_expression={self.cron_expression!r}"]
        for name in ("start_time", "end_time"):
            value = getattr(self, name)
            if value is not None:
                fields.append(f"{name}={value.isoformat()!r}")
        fields.append(f"tz={self.tz!r}")
        if self.catchup:
            fields.append("catchup=True")
        return f"Schedule({', '.join(fields)})"
