from __future__ import annotations

import pytest
from IPython.core.error import UsageError

import ctcd_jupyter as ctcd
from ctcd_jupyter import RunState, StepState


def cell(shell, line, body):
    return shell.run_cell_magic("step", line, body)


def test_step_runs_in_user_namespace_and_registers(shell, workspace):
    shell.user_ns["k"] = 3
    cell(shell, "load", "X = list(range(k))")
    assert shell.user_ns["X"] == [0, 1, 2]
    step = workspace.get_step("load")
    assert step.inputs == ("k",) and step.outputs == ("X",)


def test_no_run_only_registers_and_overrides_apply(shell, workspace):
    cell(shell, "s --no-run --inputs a --outputs b,c --no-cache", "b = a\nc = 1\nd = 2")
    assert "b" not in shell.user_ns
    step = workspace.get_step("s")
    assert (step.inputs, step.outputs, step.cache) == (("a",), ("b", "c"), False)


def test_syntax_error_is_one_line_usage_error_and_old_step_kept(shell, workspace):
    cell(shell, "train", "model = 1")
    with pytest.raises(UsageError, match=r"step .train. has a syntax error at line 2"):
        cell(shell, "train", "model = 2\nscore = (")
    assert workspace.get_step("train").source == "model = 1"


def test_rerunning_a_step_cell_replaces_it(shell, workspace):
    cell(shell, "a", "x = 1")
    cell(shell, "a", "x = 2")
    shell.run_line_magic("pipeline", "p a")
    run = shell.run_line_magic("pipeline", "run p")
    assert run.outputs["x"] == 2


def test_define_show_list_run_and_runs(shell, workspace, capsys):
    shell.run_cell("from math import sqrt")
    shell.user_ns["ctcd"] = ctcd
    shell.user_ns["C"] = 1
    cell(shell, "load", "X = [1.0, 4.0, 9.0]")
    cell(shell, "fit", "model = [sqrt(v) * C for v in X]")
    cell(shell, "score", "acc = sum(model) / len(model)\nctcd.log_metric('acc', acc)")
    capsys.readouterr()
    shell.run_line_magic("pipeline", "ct score fit load")
    assert capsys.readouterr().out.strip() == "pipeline ct: load -> fit -> score"
    shell.run_line_magic("pipeline", "show ct")
    shown = capsys.readouterr().out
    assert "load -> fit  (X)" in shown and "from the notebook: C, sqrt" in shown
    shell.run_line_magic("pipeline", "list")
    assert "ct: score fit load" in capsys.readouterr().out

    run = shell.run_line_magic("pipeline", "run ct --param C=2")
    out = capsys.readouterr().out
    assert run.status is RunState.SUCCEEDED and run.params == {"C": 2}
    assert run.metrics["acc"] == pytest.approx(4.0)
    assert out.startswith(f"run {run.id}  ct  SUCCEEDED  3 steps") and "acc=4" in out
    again = shell.run_line_magic("pipeline", "run ct -p C=2")
    assert [s.status for s in again.steps] == [StepState.CACHED] * 3
    fresh = shell.run_line_magic("pipeline", "run ct --param C=2 --no-cache")
    assert [s.status for s in fresh.steps] == [StepState.SUCCEEDED] * 3
    capsys.readouterr()
    shell.run_line_magic("runs", "ct -n 2")
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["id", "pipeline", "trigger", "status"]
    assert len(table) == 3 and table[1].startswith(fresh.id) and "acc=4" in table[1]


def test_run_isolated_from_user_globals(shell):
    shell.user_ns["counter"] = 10
    cell(shell, "inc --no-run", "counter = counter + 1")
    shell.run_line_magic("pipeline", "p inc")
    run = shell.run_line_magic("pipeline", "run p")
    assert run.outputs["counter"] == 11 and shell.user_ns["counter"] == 10


def test_user_mistakes_are_usage_errors(shell):
    cell(shell, "a --no-run", "x = y_value")
    with pytest.raises(UsageError, match=r"no step named 'b'.*a %%step NAME cell"):
        shell.run_line_magic("pipeline", "p a b")
    shell.run_line_magic("pipeline", "p a")
    with pytest.raises(UsageError, match="no parameter named 'z'"):
        shell.run_line_magic("pipeline", "run p --param y_value=1 z=2")
    with pytest.raises(UsageError, match="y_value \\(read by a\\)"):
        shell.run_line_magic("pipeline", "run p")
    with pytest.raises(UsageError, match="expected NAME=VALUE"):
        shell.run_line_magic("pipeline", "run p --param y_value")
    with pytest.raises(UsageError, match="no pipeline named 'q'"):
        shell.run_line_magic("pipeline", "run q")
    with pytest.raises(UsageError, match="usage"):
        shell.run_line_magic("pipeline", "")


def test_failing_run_raises_step_error_with_cell_line(shell, capsys):
    cell(shell, "ok", "a = 1")
    cell(shell, "bad --no-run", "b = a + 1\nc = b / 0\n")
    shell.run_line_magic("pipeline", "p ok bad")
    result = shell.run_cell("%pipeline run p")
    assert isinstance(result.error_in_exec, ctcd.StepError)
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert 'File "<step bad>", line 2' in shown and "c = b / 0" in shown
    assert "FAILED" in shown
    assert ctcd.runs("p")[0].status is RunState.FAILED
    assert shell.run_cell("1 + 1").result == 2  # the kernel stays usable


def test_load_is_idempotent_and_unload_removes_magics(shell):
    shell.run_line_magic("load_ext", "ctcd_jupyter")
    line_magics = shell.magics_manager.magics["line"]
    assert {"pipeline", "runs", "schedule", "services"} <= set(line_magics)
    shell.run_line_magic("unload_ext", "ctcd_jupyter")
    assert not {"pipeline", "runs", "schedule", "services"} & set(line_magics)
    assert "step" not in shell.magics_manager.magics["cell"]
    shell.run_line_magic("load_ext", "ctcd_jupyter")
    assert "step" in shell.magics_manager.magics["cell"]


def test_help_comes_from_declarations(shell):
    doc = shell.magics_manager.magics["cell"]["step"].__doc__
    assert "--no-run" in doc and "--inputs" in doc and "only register the step" in doc


def test_failing_step_cell_fails_the_cell_but_registers_the_step(shell, workspace):
    result = shell.run_cell("%%step broken\nvalue = undefined_name + 1")
    error = result.error_in_exec
    assert isinstance(error, ctcd.CtcdError) and "step 'broken' is registered" in str(error)
    assert isinstance(error.error, NameError)
    assert workspace.get_step("broken").inputs == ("undefined_name",)


def test_pipeline_orders_a_step_after_the_metric_it_needs(shell):
    shell.run_cell("import ctcd_jupyter as ctcd")
    cell(shell, "sample --no-run", "data = 3")
    cell(shell, "train --no-run", "model = data + 1")
    cell(shell, "evaluate --no-run", "ctcd.log_metric('accuracy', model / 5)")
    cell(shell, "deploy --no-run", "ok = ctcd.threshold('accuracy', 0.5).evaluate("
                                   "ctcd.current_run().metrics, None).passed")
    shell.run_line_magic("pipeline", "p sample train deploy evaluate")
    run = shell.run_line_magic("pipeline", "run p")
    assert [s.name for s in run.steps] == ["sample", "train", "evaluate", "deploy"]
    assert run.ok and run.outputs["ok"] is True
    cell(shell, "evaluate --no-run", "ctcd.log_metric('accuracy', ok)")
    with pytest.raises(UsageError, match="deploy needs 'accuracy', logged by evaluate, which "
                                         "runs after it"):
        shell.run_line_magic("pipeline", "q sample train deploy evaluate")
