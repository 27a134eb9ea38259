"""Every error of the package: drawn in errors.py's tree, one line in IPython, the builtin it
resembles; and the advice in an error speaks the syntax of the front end that raised it."""

from __future__ import annotations

import builtins
import importlib
import pkgutil
import re

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

import ctcd_jupyter
import ctcd_jupyter as ctcd
from ctcd_jupyter import errors
from ctcd_jupyter.engine.run import Run
from ctcd_jupyter.errors import CtcdError


def _every_error_class() -> list[type[CtcdError]]:
    for module in pkgutil.walk_packages(ctcd_jupyter.__path__, "ctcd_jupyter."):
        if not module.name.endswith("__main__"):  # a command line, run on import
            importlib.import_module(module.name)
    found: dict[type, None] = {}
    pending = [CtcdError]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub.__module__.startswith("ctcd_jupyter") and sub not in found:
                found[sub] = None
                pending.append(sub)
    return sorted(found, key=lambda c: c.__name__)


CLASSES = _every_error_class()
PUBLIC = [c for c in CLASSES if not c.__name__.startswith("_")]


def _drawn_tree() -> dict[str, tuple[str | None, str | None]]:
    """errors.py's docstring tree: class name -> (drawn parent, builtin in parentheses)."""
    drawn: dict[str, tuple[str | None, str | None]] = {}
    parents: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        found = re.match(r"^(?P<indent>[\s│]*)(?:[├└]── )?"
                         r"(?P<name>[A-Z]\w*(Error|Busy|Unavailable))"
                         r"(?:\((?P<builtin>\w+)\))?", line)
        if not found:
            continue
        depth = len(found["indent"]) // 4 - 1 + (1 if "──" in line else 0)
        depth = max(depth, 0)
        parents[depth:] = [found["name"]]
        drawn[found["name"]] = (parents[depth - 1] if depth else None, found["builtin"])
    return drawn


def _instance(cls: type[CtcdError]) -> CtcdError:
    if cls.__name__ == "StepCellError":
        return cls("train", ValueError("bad"))
    if cls.__name__ == "_RunFailed":
        return cls(Run(id="r1", pipeline="p"))
    return cls("something is wrong with 'x'; do this instead")


def test_the_walk_finds_the_whole_tree():
    names = {c.__name__ for c in CLASSES}
    assert {"ServiceError", "ModelSwapError", "ExportError", "PipelineFileError",
            "PrefectUnavailable", "CriterionError"} <= names


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_every_public_error_is_drawn_in_the_tree_and_lives_in_errors(cls):
    drawn = _drawn_tree()
    assert cls.__name__ in drawn, f"{cls.__name__} is not drawn in errors.py's docstring tree"
    assert cls.__module__ == "ctcd_jupyter.errors", f"{cls.__name__} is defined outside errors.py"
    assert cls.__name__ in errors.__all__
    parent, builtin = drawn[cls.__name__]
    ours = [b for b in cls.__bases__ if issubclass(b, CtcdError)]
    assert [b.__name__ for b in ours] == [parent or "CtcdError"][: len(ours)] or (
        cls is CtcdError), f"{cls.__name__}: drawn under {parent}, subclasses {ours}"
    if builtin is not None:
        assert issubclass(cls, getattr(builtins, builtin)), f"{cls.__name__} is no {builtin}"


def test_the_tree_draws_only_classes_that_exist():
    for name in _drawn_tree():
        assert isinstance(getattr(errors, name, None), type), f"{name} is drawn but not defined"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_error_is_one_line_in_ipython(shell, cls):
    shell.user_ns["_error"] = _instance(cls)
    with capture_output() as out:
        result = shell.run_cell("def fail():\n    raise _error\nfail()")
    assert isinstance(result.error_in_exec, cls)
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0] and "fail()" not in lines[0]


def test_a_multi_line_message_says_where_the_rest_is(shell):
    shell.user_ns["_error"] = ctcd.ServiceStartError("did not start\nlog tail 1\nlog tail 2")
    with capture_output() as out:
        shell.run_cell("raise _error")
    assert out.stdout.strip() == ("ServiceStartError: did not start "
                                  "[+2 lines: print(sys.last_value)]")
    with capture_output() as out:  # where the line says the rest is
        shell.run_cell("import sys\nprint(sys.last_value)")
    assert out.stdout.splitlines() == ["did not start", "log tail 1", "log tail 2"]


def test_rollback_without_history_advises_the_magic_syntax(shell, workspace):
    ctcd.MLFlowDeploymentService("iris", "models:/iris/1")
    with pytest.raises(ctcd.ServiceError, match=r"%services rollback iris --to VERSION$"):
        shell.run_line_magic("services", "rollback iris")
    with pytest.raises(ctcd.ServiceError, match=r"svc\.rollback\(to=VERSION\)$"):
        ctcd.get_service("iris").rollback()
    with errors.front_end("cli"), pytest.raises(ctcd.ServiceError,
                                                 match=r"ctcd rollback iris --to VERSION$"):
        ctcd.get_service("iris").rollback()


def test_mlflow_magic_alone_gives_a_one_line_usage(shell):
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("mlflow", "")
    assert str(info.value).startswith("%mlflow needs a subcommand; use: %mlflow ui [--timeout S]")
    assert "\n" not in str(info.value)


def test_unknown_service_is_one_line_with_the_known_names(shell, workspace):
    ctcd.MLFlowDeploymentService("iris", "models:/iris/1")
    with capture_output() as out:
        shell.run_cell("import ctcd_jupyter as ctcd\nctcd.get_service('irs')")
    assert out.stdout.strip() == ("ServiceNotFoundError: no service named 'irs' "
                                  "(did you mean 'iris'?); known: iris")


def test_a_criterion_error_in_a_step_shows_no_ctcd_frames(shell):
    shell.run_cell("import ctcd_jupyter as ctcd")
    shell.run_cell_magic("step", "deploy --no-run",
                         "verdict = ctcd.threshold('accuracy', 0.9).evaluate("
                         "ctcd.current_run().metrics, None)\n")
    shell.run_line_magic("pipeline", "p deploy")
    with pytest.raises(ctcd.StepError) as info:
        shell.run_line_magic("pipeline", "run p")
    shown = "\n".join(info.value._render_traceback_())
    assert "<step deploy>" in shown
    assert "ctcd_jupyter" not in shown, shown
    assert info.value.traceback.rstrip().endswith(
        "CriterionError: the criterion needs metric 'accuracy', which was not given (given: "
        "none); log it with ctcd.log_metric('accuracy', value) in a step that runs before, or "
        "pass it")


def test_starting_a_service_on_a_missing_alias_is_one_line(shell, workspace, mlflow_model,
                                                          monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_model["tracking_uri"])
    shell.user_ns["svc"] = ctcd.MLFlowDeploymentService("bad", "models:/iris@nosuch")
    with capture_output() as out:
        result = shell.run_cell("svc.start(timeout=120)")
    assert isinstance(result.error_in_exec, ctcd.ServiceStartError)
    [line] = [x for x in out.stdout.splitlines() if x.strip()]
    assert line.startswith("ServiceStartError: service 'bad' cannot serve") and "nosuch" in line


def test_every_ctcd_magic_speaks_magic_syntax(shell):
    spoken = []
    for instance in shell._ctcd_magics:
        for kind, table in instance.magics.items():
            for name, magic in table.items():
                assert shell.magics_manager.magics[kind][name] is magic
                inner = magic.__wrapped__  # the magic itself, called under front_end("magic")
                spoken.append(name)
                assert inner.__doc__ == magic.__doc__
    assert {"step", "pipeline", "runs", "schedule", "services", "mlflow"} <= set(spoken)
