"""`%schedule` through a real InteractiveShell, in real time with short intervals (polling with
deadlines, never sleeping)."""

from __future__ import annotations

import threading
import time

import pytest
from IPython.core.error import UsageError

import ctcd_jupyter as ctcd
from ctcd_jupyter import RunState


@pytest.fixture
def ct(shell):
    shell.run_cell("import itertools\nticks = itertools.count()")
    shell.run_cell_magic("step", "load --no-run", "n = next(ticks)\nprint('SCHEDULED OUTPUT', n)")
    shell.run_cell_magic("step", "fit --no-run", "m = n * 2\nctcd.log_metric('m', m)")
    shell.user_ns["ctcd"] = ctcd
    shell.run_line_magic("pipeline", "ct load fit")
    return shell


def scheduler_threads():
    return [t for t in threading.enumerate() if t.name == "ctcd-scheduler"]


def test_every_wait_overview_runs_and_output_isolation(ct, capsys):
    ct.run_line_magic("schedule", "ct --every 50ms --end +1h")
    assert "scheduled ct: every 50ms" in capsys.readouterr().out
    ct.run_line_magic("schedule", "wait ct --runs 3 --timeout 30")
    waited = capsys.readouterr().out.splitlines()
    assert len(waited) == 3 and all("SUCCEEDED" in line for line in waited)
    runs = [r for r in ctcd.runs("ct") if r.status is RunState.SUCCEEDED]
    assert len(runs) >= 3 and all(r.trigger == "schedule" for r in runs)
    assert len({r.metrics["m"] for r in runs}) == len(runs)  # fresh data every run
    assert "SCHEDULED OUTPUT" in runs[0].log
    ct.run_line_magic("schedule", "")
    overview = capsys.readouterr().out
    assert overview.splitlines()[1].startswith("ct ") and "ACTIVE" in overview
    ct.run_line_magic("schedule", "pause ct")
    ct.run_line_magic("runs", "ct -n 2")
    out = capsys.readouterr().out
    assert "paused ct" in out and "schedule" in out
    # nothing a scheduled step printed reached the cells' output
    assert "SCHEDULED OUTPUT" not in out + overview + "\n".join(waited)


def test_cron_next_and_validation(ct, capsys):
    ct.run_line_magic("schedule", 'ct --cron "*/5 * * * 1-5" --tz Europe/Berlin')
    ct.run_line_magic("schedule", "next ct -n 3")
    lines = capsys.readouterr().out.splitlines()
    fires = lines[1:]
    assert len(fires) == 3 and all(f.endswith(("+01:00", "+02:00")) for f in fires)
    assert all(int(f[14:16]) % 5 == 0 for f in fires)
    with pytest.raises(UsageError, match="invalid cron expression"):
        ct.run_line_magic("schedule", 'ct --cron "61 * * * *"')
    with pytest.raises(UsageError, match="exactly one of --every"):
        ct.run_line_magic("schedule", "ct")
    with pytest.raises(UsageError, match="in the past"):
        ct.run_line_magic("schedule", "ct --every 1m --end 2020-01-01T00:00")
    with pytest.raises(UsageError, match="no pipeline named 'nope'"):
        ct.run_line_magic("schedule", "nope --every 1m")
    with pytest.raises(UsageError):
        ct.run_line_magic("schedule", "ct --every soon")


def test_wait_timeout_is_a_clear_error(ct):
    ct.run_line_magic("schedule", "ct --every 1h --start +1h")
    start = time.monotonic()
    with pytest.raises(UsageError, match=r"0 of 1 runs finished within 0\.2 s"):
        ct.run_line_magic("schedule", "wait ct --timeout 0.2")
    assert time.monotonic() - start < 5


def test_interrupted_cell_does_not_stop_scheduler_and_unload_stops_it(ct):
    ct.run_line_magic("schedule", "ct --every 50ms")
    ct.run_line_magic("schedule", "wait ct --runs 1 --timeout 30")
    result = ct.run_cell("raise KeyboardInterrupt")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    ct.run_line_magic("schedule", "wait ct --runs 2 --timeout 30")
    assert scheduler_threads()
    start = time.monotonic()
    ct.run_line_magic("unload_ext", "ctcd_jupyter")
    assert time.monotonic() - start < 2.5  # stop() budget is 2 s; slack for a loaded CI
    assert not scheduler_threads()
    ct.run_line_magic("load_ext", "ctcd_jupyter")  # the fixture unloads again


def test_remove_and_unknown_names(ct, capsys):
    ct.run_line_magic("schedule", "ct --every 1h --start +1h")
    ct.run_line_magic("schedule", "remove ct")
    assert "removed schedule ct" in capsys.readouterr().out
    with pytest.raises(UsageError, match="no schedule named 'ct'"):
        ct.run_line_magic("schedule", "remove ct")
    ct.run_line_magic("schedule", "")
    assert "no schedules" in capsys.readouterr().out


def test_advice_about_a_stopped_schedule_speaks_the_callers_syntax(ct, workspace):
    ct.run_line_magic("schedule", "ct --every 1h")
    workspace.stop_scheduling()  # as after a kernel restart: stored, not running here
    workspace._scheduling = None
    with pytest.raises(UsageError, match=r"resume it first: %schedule resume ct$"):
        ct.run_line_magic("schedule", "wait ct --timeout 1")
    with pytest.raises(ctcd.ScheduleError,
                       match=r"resume it first: ctcd.get_workspace\(\).scheduling.resume\('ct'\)$"):
        workspace.scheduling.wait("ct", timeout=1)
