"""A run that did not succeed is never stored SUCCEEDED: sys.exit in a step, outputs that cannot
be written (full disk, read-only folder), tampered or out-of-folder artifacts (issue 8)."""

from __future__ import annotations

import numpy as np
import pytest
from state_mounts import needs_mount, read_only, tmpfs

import ctcd_jupyter as ctcd
from ctcd_jupyter import RunState, StepState


def _stored(pipeline: str) -> ctcd.Run:
    [run] = ctcd.runs(pipeline)
    return run


@pytest.mark.parametrize("exit_code", [3, 0, None, "bye"])
def test_sys_exit_in_a_step_fails_the_run_naming_step_and_cause(workspace, exit_code):
    source = f"import sys\nx = 1\nsys.exit({exit_code!r})"
    run = ctcd.Pipeline("p", [ctcd.Step("a", source), ctcd.Step("b", "y = x + 1")]).run()
    for seen in (run, _stored("p")):
        assert seen.status is RunState.FAILED
        assert seen.failed_step == "a"
        assert "SystemExit" in seen.error
        assert [s.status for s in seen.steps] == [StepState.FAILED, StepState.SKIPPED]


def test_keyboard_interrupt_stays_an_interruption(workspace):
    pipeline = ctcd.Pipeline("p", [ctcd.Step("a", "raise KeyboardInterrupt")])
    with pytest.raises(KeyboardInterrupt):
        pipeline.run()
    run = _stored("p")
    assert run.status is RunState.FAILED and "interrupted" in run.step("a").notes


def test_a_scheduled_run_and_its_tick_agree(workspace):
    from ctcd_jupyter.clock import FakeClock
    from ctcd_jupyter.schedules.pipelines import Scheduling

    clock = FakeClock(1_800_000_000.0)
    scheduling = Scheduling(workspace, clock=clock)
    try:
        pipeline = ctcd.Pipeline("p", [ctcd.Step("a", "import sys\nsys.exit(2)")])
        scheduling.add(pipeline, ctcd.Schedule(interval_second=60, now=clock.time()))
        scheduling.scheduler.wait_idle(timeout=10)
        record = scheduling.scheduler.get("p")
        assert record.failed == 1 and record.succeeded == 0
        assert _stored("p").status is RunState.FAILED
    finally:
        scheduling.stop()


@needs_mount
def test_a_full_disk_fails_the_run_naming_the_output(workspace):
    with tmpfs(workspace.artifacts.root, "64k"):
        big = ctcd.Step("make", "import numpy as np\nbig = np.ones(1_000_000)")
        run = ctcd.Pipeline("p", [big, ctcd.Step("use", "n = big.sum()")]).run()
        for seen in (run, _stored("p")):
            assert seen.status is RunState.FAILED and seen.failed_step == "make"
            assert "cannot store output 'big'" in seen.error
            assert "No space left on device" in seen.error
            assert seen.step("use").status is StepState.SKIPPED


@needs_mount
def test_a_read_only_artifact_folder_fails_the_run(workspace):
    with read_only(workspace.artifacts.root):
        run = ctcd.Pipeline("p", [ctcd.Step("a", "x = [1, 2, 3]")]).run()
        assert run.status is RunState.FAILED and "Read-only file system" in run.error
    assert _stored("p").status is RunState.FAILED


def _only_output(run: ctcd.Run) -> str:
    [aid] = [a for s in run.steps for a in s.outputs.values()]
    return aid


def test_a_tampered_artifact_is_a_cache_miss_with_a_warning(workspace):
    pipeline = ctcd.Pipeline("p", [ctcd.Step("a", "x = np.arange(5)"),
                                   ctcd.Step("b", "y = int(x.sum())")])
    workspace.namespace["np"] = np
    first = pipeline.run()
    aid = first.step("a").outputs["x"]
    path = workspace.artifacts.root / aid[:2] / aid
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte: same size, other content
    path.write_bytes(bytes(data))
    second = pipeline.run()
    assert second.ok and second.step("a").status is StepState.SUCCEEDED  # recomputed
    assert any("does not match its content hash" in w for w in second.warnings)
    with pytest.raises(ctcd.ArtifactError, match="does not match its content hash"):
        first.outputs["x"]


@pytest.mark.parametrize("forged", ["../../outside", "/etc/passwd", "ab" * 40, ""])
def test_forged_artifact_ids_never_name_a_file(workspace, tmp_path, forged):
    (tmp_path / "outside").write_bytes(b"not yours")
    run = ctcd.Pipeline("p", [ctcd.Step("a", "x = 1")]).run()
    run.steps[0].outputs["x"] = forged
    with pytest.raises(ctcd.ArtifactError, match="is not an artifact id"):
        run.outputs["x"]
    assert not workspace.artifacts.exists(forged)


def test_a_state_folder_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ctcd.StateError, match="writable by every user"):
        ctcd.Workspace(shared)
    shared.chmod(0o770)
    with pytest.warns(UserWarning, match="writable by its group"):
        ctcd.Workspace(shared, tracking=False).close()


def test_mlflow_files_in_the_state_folder_are_private(workspace):
    from ctcd_jupyter.engine.tracking import Tracker

    Tracker(workspace.home).client.search_experiments()  # MLflow creates its tables now
    assert (workspace.home / "mlflow.db").stat().st_mode & 0o077 == 0
    assert (workspace.home / "mlartifacts").stat().st_mode & 0o077 == 0
