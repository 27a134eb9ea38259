"""Errors are built with the fields their classes take: a wrong keyword would turn a clear
error into a TypeError at the worst moment (issue 8, item 5)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import ctcd_jupyter as ctcd
from ctcd_jupyter import errors

PACKAGE = Path(ctcd.__file__).parent


def test_predicting_on_a_service_that_is_not_running_is_a_prediction_error(state):
    svc = ctcd.MLFlowDeploymentService("x", "models:/m/1")
    with pytest.raises(ctcd.PredictionError, match="not reachable") as info:
        svc.predict([[1, 2, 3, 4]])
    assert info.value.service == "x" and info.value.log_tail is not None


def _error_calls():
    classes = {name: getattr(errors, name) for name in errors.__all__}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in classes:
                yield path.relative_to(PACKAGE.parent), node, classes[name]


def test_every_error_constructor_call_matches_its_signature():
    wrong, seen = [], 0
    for where, node, cls in _error_calls():
        seen += 1
        keywords = {k.arg: None for k in node.keywords if k.arg}
        positional = ["message"] * sum(not isinstance(a, ast.Starred) for a in node.args)
        try:
            inspect.signature(cls).bind(*positional, **keywords)
        except ValueError:  # Exception.__init__: positional only
            if keywords:
                wrong.append(f"{where}:{node.lineno} {cls.__name__} takes no keywords")
        except TypeError as exc:
            wrong.append(f"{where}:{node.lineno} {cls.__name__}: {exc}")
    assert seen > 50  # the scan found the package's raises
    assert not wrong, "\n".join(wrong)


SERVICE_ERRORS = [n for n in errors.__all__ if issubclass(getattr(errors, n), errors.ServiceError)]


@pytest.mark.parametrize("name", SERVICE_ERRORS)
def test_every_service_error_takes_service_and_log_tail(name):
    err = getattr(errors, name)("message", service="s", log_tail="tail")
    assert str(err) == "message" and err.service == "s" and err.log_tail == "tail"
