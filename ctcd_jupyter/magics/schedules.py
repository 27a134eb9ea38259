"""`%schedule`: put pipelines on interval or cron schedules in the kernel, and control them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, kwds, magic_arguments, parse_argstring

from ..errors import CtcdError, CtcdTimeoutError
from ..schedules.trigger import Schedule, parse_duration, parse_when
from ..views.format import when
from ..views.schedules import overview_table
from .base import CtcdMagics, show_widget
from .help import cron_hint, subcommands
from .pipelines import parse_params

__all__ = ["ScheduleMagics"]

_VERBS = ("pause", "resume", "remove", "next", "wait")

SCHEDULE_HELP = subcommands("schedule", [
    ("PIPELINE --every DURATION [--start WHEN] [--end WHEN]", "run PIPELINE on an interval",
     "%schedule ct --every 60s --end +10m"),
    ('PIPELINE --cron "EXPR" [--tz ZONE] [--catchup]', "run PIPELINE on a cron schedule "
     "(quote the expression)", '%schedule ct --cron "*/5 * * * *" --tz UTC'),
    ("", "every schedule: a panel in a notebook, a table elsewhere", "%schedule"),
    ("pause PIPELINE", "stop firing until resumed", "%schedule pause ct"),
    ("resume PIPELINE", "fire again (also a schedule stored by an earlier kernel)",
     "%schedule resume ct"),
    ("remove PIPELINE", "delete the schedule", "%schedule remove ct"),
    ("next PIPELINE [-n N]", "the next N fire times", "%schedule next ct -n 3"),
    ("wait PIPELINE [--runs N] [--timeout S]", "block until N more runs finished",
     "%schedule wait ct --runs 2 --timeout 300"),
])


def _unquote(text: str | None) -> str | None:
    # IPython splits magic lines without removing quotes: '"*/5 * * * *"' keeps them.
    if text and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _when(ts: float | None, tz: Any = None) -> str:
    return when(ts, tz, today_short=True)


@magics_class
class ScheduleMagics(CtcdMagics):
    @magic_arguments()
    @kwds(**SCHEDULE_HELP)
    @argument("words", nargs="*", metavar="SUBCOMMAND",
              help="one of the subcommands below (a pipeline's name schedules it)")
    @argument("--every", metavar="DURATION", help="interval: 30s, 5m, 1h, 1h30m")
    @argument("--cron", metavar="EXPR",
              help='cron expression (croniter syntax), e.g. "*/5 * * * *"')
    @argument("--tz", metavar="ZONE",
              help="time zone of --cron and of naive times (default: local)")
    @argument("--start", metavar="WHEN", help="ISO time, 'now' or '+10m' (default: now)")
    @argument("--end", metavar="WHEN", help="ISO time or '+10m'; the schedule completes then")
    @argument("--catchup", action="store_true",
              help="after a pause or a late wake-up, run each missed tick once (bounded)")
    @argument("--param", "-p", action="append", nargs="+", metavar="K=V",
              help="a value for a name the steps read, for every scheduled run")
    @argument("-n", type=int, default=5, help="with next: how many fire times (default 5)")
    @argument("--runs", type=int, default=1, help="with wait: how many more runs (default 1)")
    @argument("--timeout", type=float, default=None,
              help="with wait: give up after this many seconds")
    @line_magic
    def schedule(self, line: str) -> Any:
        """Run a pipeline on an interval or cron schedule in this kernel (continuous training),
        and list, preview, pause, resume, remove or wait for schedules."""
        try:
            args = parse_argstring(self.schedule, line)
        except UsageError:
            cron_hint(line)
            raise
        scheduling = self.workspace.scheduling
        words = args.words
        try:
            if not words:
                if not show_widget(self.shell, "SchedulesPanel", workspace=self.workspace):
                    print(overview_table(scheduling.overview()))
                return None
            if words[0] in _VERBS and len(words) != 1:  # a lone word may be a pipeline's name
                if len(words) != 2:
                    raise UsageError(f"usage: %schedule {words[0]} PIPELINE")
                return self._verb(words[0], words[1], args)
            if len(words) != 1:
                cron_hint(line)
                raise UsageError(f"unexpected words after the pipeline name: "
                                 f"{' '.join(words[1:])!r} (quote a cron expression)")
            return self._create(words[0], args)
        except CtcdTimeoutError as exc:
            raise UsageError(str(exc)) from None
        except CtcdError as exc:
            raise UsageError(str(exc)) from None

    def _create(self, name: str, args: Any) -> None:
        for option in ("every", "cron", "tz", "start", "end"):
            setattr(args, option, _unquote(getattr(args, option)))
        if (args.every is None) == (args.cron is None):
            raise UsageError("give exactly one of --every DURATION or --cron \"EXPR\"")
        pipeline = self.workspace.get_pipeline(name)
        now = self.workspace.scheduling.scheduler.clock.time()
        zone = Schedule(interval_second=1, tz=args.tz).zoneinfo
        schedule = Schedule(
            start_time=None if args.start is None else parse_when(args.start, now=now, tz=zone),
            end_time=None if args.end is None else parse_when(args.end, now=now, tz=zone),
            interval_second=None if args.every is None else parse_duration(args.every),
            cron_expression=args.cron, tz=args.tz, catchup=args.catchup, now=now)
        record = pipeline.run(schedule=schedule, params=parse_params(args.param))
        print(f"scheduled {name}: {schedule.describe()}; next run "
              f"{_when(record.next_fire, schedule.zoneinfo)} ({schedule.tz})")

    def _verb(self, verb: str, name: str, args: Any) -> Any:
        scheduling = self.workspace.scheduling
        if verb == "pause":
            scheduling.pause(name)
            print(f"paused {name}")
        elif verb == "resume":
            record = scheduling.resume(name)
            print(f"resumed {name}: next run {_when(record.next_fire, record.schedule.zoneinfo)}")
        elif verb == "remove":
            scheduling.remove(name)
            print(f"removed schedule {name}")
        elif verb == "next":
            if args.n < 1:
                raise UsageError("-n must be at least 1")
            fires = scheduling.next_fires(name, args.n)
            if not fires:
                print(f"{name}: no more fire times")
            zone = scheduling.schedule_of(name).zoneinfo
            for fire in fires:
                print(datetime.fromtimestamp(fire, zone).isoformat(timespec="seconds"))
        elif verb == "wait":
            if args.runs < 1:
                raise UsageError("--runs must be at least 1")
            runs = scheduling.wait(name, runs=args.runs, timeout=args.timeout)
            for run in runs:
                print(run.summary())
            return None
        return None
