"""CLI errors: one line on stderr, exit code 1, did-you-mean for names, advice in CLI syntax."""

from __future__ import annotations

import sys

import pytest

import ctcd_jupyter as ctcd
from ctcd_jupyter import cli
from ctcd_jupyter.cli import Group, main
from ctcd_jupyter.errors import ServiceStartError, StateError, advice
from ctcd_jupyter.services import LocalDaemonService


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("ctcd: error: ")
    return err.removeprefix("ctcd: error: ").rstrip("\n")


def test_runs_of_an_unknown_pipeline_or_run_id(workspace, capsys):
    workspace.namespace = {}
    iris = ctcd.Pipeline("iris", [ctcd.Step("a", "x = 1")]).run()
    ctcd.Pipeline("wine", [ctcd.Step("b", "y = 1")]).run()
    capsys.readouterr()
    assert main(["runs", "irs"]) == 1
    assert error_line(capsys) == ("no pipeline named 'irs' (did you mean 'iris'?); "
                                  "known: iris, wine")
    assert main(["runs", "iris"]) == 0  # a known pipeline: its runs, no error
    assert iris.id in capsys.readouterr().out
    typo = iris.id[:-1] + ("0" if iris.id[-1] != "0" else "1")
    assert main(["runs", "--show", typo]) == 1
    line = error_line(capsys)
    assert line.startswith(f"no run with an id starting with {typo!r} "
                           f"(did you mean {iris.id!r}?)")
    assert "ctcd runs lists them" in line
    # 17 hex ids: two share a first digit, which then names no single run
    ids = [iris.id, *(ctcd.Pipeline("iris", [ctcd.Step("a", "x = 1")]).run(params={}).id
                      for _ in range(16))]
    shared = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)
    capsys.readouterr()
    assert main(["runs", "--show", shared]) == 1
    assert " runs have ids starting with " + repr(shared) in error_line(capsys)


@pytest.fixture
def iris_service(home):
    return LocalDaemonService("iris", [sys.executable, "-c", "pass"], port=0)


def test_deployments_and_rollback_of_an_unknown_name(iris_service, capsys):
    assert main(["deployments", "irs"]) == 1
    assert error_line(capsys) == ("no model or service named 'irs' (did you mean 'iris'?); "
                                  "known: iris")
    assert main(["deployments", "iris"]) == 0  # a known service with no decisions yet
    assert "(no deployments recorded)" in capsys.readouterr().out
    assert main(["rollback", "irs"]) == 1
    assert error_line(capsys).startswith("no service named 'irs' (did you mean 'iris'?)")


def test_errors_speak_cli_syntax_and_show_a_failed_start_log_tail(home, monkeypatch, capsys):
    def raises(error: Exception):
        return lambda args: (_ for _ in ()).throw(error)

    def advising(args) -> int:
        raise StateError("cannot write: " + advice(python="ctcd.Workspace(home=PATH)",
                                                  magic="%env CTCD_HOME=PATH",
                                                  cli="ctcd --home PATH ..."))

    monkeypatch.setitem(cli.GROUPS, "advise", Group("x", lambda p: None, advising))
    assert main(["advise"]) == 1
    assert error_line(capsys) == "cannot write: ctcd --home PATH ..."
    tail = "\n".join(f"log line {i}" for i in range(30))
    monkeypatch.setitem(cli.GROUPS, "fail", Group(
        "x", lambda p: None, raises(ServiceStartError("web did not start\nmore", log_tail=tail))))
    assert main(["fail"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "ctcd: error: web did not start"
    assert err[1:] == [f"  | log line {i}" for i in range(20, 30)]
