"""Several processes on one state folder: a kernel that died mid-run, a schedule that another
live kernel runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

import ctcd_jupyter as ctcd
from ctcd_jupyter.engine.run import Run, process_identity
from ctcd_jupyter.engine.run_store import save_run
from ctcd_jupyter.schedules.pipelines import Scheduling

OTHER_KERNEL = """
import sys
import ctcd_jupyter as ctcd
ws = ctcd.Workspace(sys.argv[1], namespace={}, tracking=False)
ctcd.set_workspace(ws)
p = ctcd.Pipeline("ct", [ctcd.Step("s", "x = 1")], workspace=ws)
p.run(schedule=ctcd.Schedule(interval_second=3600))
if len(sys.argv) > 2:
    ws.scheduling.pause("ct")
print("scheduled", flush=True)
sys.stdin.read()  # keep running until the test closes stdin
"""


def test_run_of_a_process_that_died_is_marked_failed(workspace):
    code = "import json; from ctcd_jupyter.engine.run import process_identity; "\
           "print(json.dumps(process_identity()))"
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    owner = json.loads(dead.stdout)
    save_run(workspace.store, Run(id="deadbeef0000", pipeline="p", owner=owner,
                                  started_at=1.0))
    save_run(workspace.store, Run(id="alive0000000", pipeline="p", started_at=2.0,
                                  owner=process_identity()))
    by_id = {r.id: r for r in workspace.runs()}
    assert by_id["deadbeef0000"].status is ctcd.RunState.FAILED
    assert "exited before it finished" in by_id["deadbeef0000"].error
    assert by_id["alive0000000"].status is ctcd.RunState.RUNNING


def test_schedule_of_another_live_kernel_is_shown_and_not_doubled(workspace, home):
    other = subprocess.Popen([sys.executable, "-c", OTHER_KERNEL, str(home)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "scheduled"
        workspace.add_step(ctcd.Step("s", "x = 1"))
        pipeline = ctcd.Pipeline("ct", ["s"], workspace=workspace)
        mine = Scheduling(workspace)
        [info] = mine.overview()
        assert info.status == f"ACTIVE in pid {other.pid}"
        with pytest.raises(ctcd.ScheduleError, match="held by another live kernel"):
            mine.resume("ct")
        with pytest.raises(ctcd.ScheduleError, match="held by another live kernel"):
            mine.add(pipeline, ctcd.Schedule(interval_second=60))
    finally:
        other.stdin.close()
        other.wait(timeout=30)
    [info] = mine.overview()
    assert info.status == "STOPPED (kernel restarted)"
    mine.resume("ct")  # now it is ours to run
    mine.stop()


def test_schedule_paused_in_another_kernel_gets_one_answer_naming_it(workspace, home,
                                                                     monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/notebooks/churn.ipynb")  # the owner's notebook
    other = subprocess.Popen([sys.executable, "-c", OTHER_KERNEL, str(home), "pause"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "scheduled"
        mine = Scheduling(workspace)
        [info] = mine.overview()
        assert info.status == f"PAUSED in pid {other.pid} (churn.ipynb)"  # not "kernel restarted"
        answers = set()
        for verb in (mine.pause, mine.resume, mine.remove):
            with pytest.raises(ctcd.ScheduleError) as caught:
                verb("ct")
            answers.add(str(caught.value))
        assert answers == {f"schedule 'ct' is held by another live kernel (pid {other.pid} "
                           f"(churn.ipynb), PAUSED there); pause, resume or remove it in that "
                           f"kernel"}
    finally:
        other.stdin.close()
        other.wait(timeout=30)


def test_processes_opening_a_new_state_folder_at_once(tmp_path):
    # All children import first, then open the same new database at one agreed instant.
    code = ("import sys, time, pathlib; from ctcd_jupyter.state import Store; "
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); "
            "Store(pathlib.Path(sys.argv[1])).execute('SELECT 1')")
    for attempt in range(3):
        home = tmp_path / f"fresh{attempt}"
        home.mkdir()
        at = str(time.time() + 1.5)
        procs = [subprocess.Popen([sys.executable, "-c", code, str(home), at],
                                  stderr=subprocess.PIPE, text=True) for _ in range(8)]
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 8, "\n".join(errors)
