from __future__ import annotations

import io
import threading

import numpy as np
import pytest

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, RunState, Step, StepState


def make(workspace, *sources, name="p", **ns):
    workspace.namespace = dict(ns)
    steps = [Step(f"s{i}", src) for i, src in enumerate(sources)]
    return Pipeline(name, steps)


def test_run_passes_values_and_records_everything(workspace):
    pipeline = make(workspace, "X = np.arange(4) * k\nprint('loaded', len(X))",
                    "total = float(X.sum())\nctcd.log_metric('total', total)",
                    np=np, ctcd=ctcd, k=2)
    run = pipeline.run()
    assert run.status is RunState.SUCCEEDED
    assert [s.status for s in run.steps] == [StepState.SUCCEEDED, StepState.SUCCEEDED]
    assert run.metrics == {"total": 12.0}
    assert run.outputs["total"] == 12.0
    np.testing.assert_array_equal(run.outputs["X"], np.arange(4) * 2)
    assert "loaded 4" in run.log and "loaded 4" in run.steps[0].log
    stored = ctcd.runs("p")[0]
    assert stored.id == run.id and stored.metrics == {"total": 12.0}
    assert stored.steps[1].duration is not None


def test_runs_never_touch_user_globals(workspace):
    pipeline = make(workspace, "secret = 42\nbase = base + 1", base=1)
    run = pipeline.run()
    assert run.outputs["base"] == 2
    assert workspace.namespace == {"base": 1}


def test_params_override_namespace_and_unknown_param_is_an_error(workspace):
    pipeline = make(workspace, "y = C * 10", C=1)
    assert pipeline.run(params={"C": 0.5}).outputs["y"] == 5.0
    with pytest.raises(ctcd.ParameterError, match=r"'c' .*did you mean 'C'"):
        pipeline.run(params={"c": 3})


def test_missing_inputs_lists_every_name_and_reader(workspace):
    pipeline = make(workspace, "a = x + y", "b = a + z")
    with pytest.raises(ctcd.MissingInputsError) as info:
        pipeline.run()
    assert info.value.missing == {"x": ["s0"], "y": ["s0"], "z": ["s1"]}
    assert "x (read by s0); y (read by s0); z (read by s1)" in str(info.value)
    assert ctcd.runs() == []  # nothing ran, nothing recorded


def test_unchanged_steps_are_cache_hits(workspace):
    calls = []
    pipeline = make(workspace, "a = f(1)", "b = a + k", f=lambda v: calls.append(v) or v, k=1)
    first = pipeline.run()
    second = pipeline.run()
    assert [s.status for s in second.steps] == [StepState.CACHED, StepState.CACHED]
    assert second.outputs["b"] == first.outputs["b"] == 2
    assert calls == [1]
    workspace.namespace["k"] = 5  # only the step reading k reruns
    third = pipeline.run()
    assert [s.status for s in third.steps] == [StepState.CACHED, StepState.SUCCEEDED]
    assert third.outputs["b"] == 6
    assert [s.status for s in pipeline.run(cache=False).steps] == [StepState.SUCCEEDED] * 2


def test_cached_step_reproduces_its_metrics(workspace):
    pipeline = make(workspace, "m = 0.9\nctcd.log_metric('acc', m)", ctcd=ctcd)
    pipeline.run()
    again = pipeline.run()
    assert again.steps[0].status is StepState.CACHED
    assert again.metrics == {"acc": 0.9}


def test_no_cache_step_always_runs(workspace):
    workspace.namespace = {}
    pipeline = Pipeline("p", [Step("load", "n = 1", cache=False), Step("use", "m = n + 1")])
    pipeline.run()
    run = pipeline.run()
    assert [s.status for s in run.steps] == [StepState.SUCCEEDED, StepState.CACHED]


def test_failing_step_fails_run_skips_downstream_keeps_upstream(workspace):
    pipeline = make(workspace, "a = 1", "b = a / 0", "c = b + 1")
    run = pipeline.run()
    assert run.status is RunState.FAILED
    assert [s.status for s in run.steps] == [StepState.SUCCEEDED, StepState.FAILED,
                                             StepState.SKIPPED]
    assert run.failed_step == "s1"
    assert 'File "<step s1>", line 1' in run.error and "b = a / 0" in run.error
    assert "executor.py" not in run.error
    assert run.outputs["a"] == 1
    with pytest.raises(ctcd.StepError) as info:
        run.raise_for_status()
    assert info.value.step == "s1" and isinstance(info.value.__cause__, ZeroDivisionError)
    # the upstream step is cached: fixing the failing step reruns only from there
    workspace.add_step(Step("s1", "b = a / 1"))
    fixed = pipeline.run()
    assert [s.status for s in fixed.steps] == [StepState.CACHED, StepState.SUCCEEDED,
                                               StepState.SUCCEEDED]


def test_unstorable_output_needed_downstream_is_a_clear_error(workspace, tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("hello")
    pipeline = make(workspace, "fh = open(path)", "text = fh.read()", path=str(path))
    run = pipeline.run()
    assert run.status is RunState.FAILED and run.failed_step == "s0"
    assert "step 's0' output 'fh' cannot be stored" in run.error
    run.outputs  # noqa: B018 - still readable


def test_unstorable_output_nobody_needs_is_noted_not_fatal(workspace, tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("hello")
    pipeline = make(workspace, "with open(path) as fh:\n    text = fh.read()", path=str(path))
    run = pipeline.run()
    assert run.status is RunState.SUCCEEDED
    assert run.outputs["text"] == "hello"
    assert any("not stored: fh" in n for n in run.steps[0].notes)


def test_functions_and_classes_defined_in_steps_flow_downstream(workspace):
    pipeline = make(workspace, "class Box:\n    def __init__(self, v):\n        self.v = v\n"
                               "def double(v):\n    return v * 2\nbox = Box(3)",
                    "out = double(box.v)")
    assert pipeline.run().outputs["out"] == 6
    assert pipeline.run().steps[1].status is StepState.CACHED


def test_scheduled_style_run_on_thread_does_not_print_to_caller(workspace, capsys):
    pipeline = make(workspace, "print('from the step')\nx = 1")
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("run", pipeline.run()))
    thread.start()
    thread.join(timeout=30)
    assert "from the step" in result["run"].log
    assert "from the step" not in capsys.readouterr().out


def test_capture_router_keeps_other_threads_output(workspace):
    from ctcd_jupyter.engine.capture import capture_thread

    buffer = io.StringIO()
    with capture_thread(buffer):
        print("mine")
    assert buffer.getvalue() == "mine\n"


def test_keyboard_interrupt_is_recorded_and_reraised(workspace):
    pipeline = make(workspace, "raise KeyboardInterrupt", "b = 1")
    with pytest.raises(KeyboardInterrupt):
        pipeline.run()
    run = ctcd.runs("p")[0]
    assert run.status is RunState.FAILED
    assert "interrupted" in run.steps[0].notes
    assert run.steps[1].status is StepState.SKIPPED


def test_log_metric_rejects_non_numbers(workspace):
    pipeline = make(workspace, "ctcd.log_metric('acc', 'high')", ctcd=ctcd)
    run = pipeline.run()
    assert "metric 'acc' must be a number" in run.error
    assert ctcd.log_metric("outside", 1) == 1.0  # outside a run: a no-op


def test_runs_survive_a_new_workspace_on_the_same_folder(workspace, home):
    make(workspace, "x = 1").run()
    other = ctcd.Workspace(home)
    try:
        assert [r.pipeline for r in other.runs()] == ["p"]
        assert other.runs()[0].outputs["x"] == 1
    finally:
        other.close()


def test_run_shows_itself_in_a_notebook(workspace):
    run = make(workspace, "a = 1", "b = a / 0").run()
    html = run._repr_html_()
    assert run.id in html and "<td>s0</td>" in html and "FAILED" in html
    assert "ZeroDivisionError" in html and "&lt;step s1&gt;" in html
