"""A rollback pins the served version (issue 15 item 5): a running CD schedule keeps it
("kept: pinned by rollback at ...") and the alias stays, until unpinned; the messages say how to
undo it in the caller's syntax (Python, magic, CLI)."""

from __future__ import annotations

import itertools
import os

import pytest
from sklearn.linear_model import LogisticRegression

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step
from ctcd_jupyter.cli import main as ctcd_main
from ctcd_jupyter.clock import FakeClock
from ctcd_jupyter.schedules.pipelines import Scheduling
from ctcd_jupyter.schedules.trigger import Schedule

T0 = 1_800_000_000.0


@pytest.fixture
def scheduling(workspace):
    clock = FakeClock(T0)
    sched = Scheduling(workspace, clock=clock)
    workspace._scheduling = sched
    yield sched, clock
    sched.stop()


def tick(scheduling, seconds: float = 60) -> None:
    sched, clock = scheduling
    clock.advance(seconds)
    sched.scheduler.wait_idle(timeout=180)


def alias(name: str) -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    return str(client.get_model_version_by_alias(name, "champion").version)


def test_a_rollback_pins_against_a_running_cd_schedule_until_unpinned(workspace, scheduling,
                                                                      iris, monkeypatch):
    X, y = iris
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workspace.home}/mlflow.db")
    strengths = itertools.count(1)
    workspace.namespace = {"X": X, "y": y, "LogisticRegression": LogisticRegression,
                           "ctcd": ctcd, "strength": lambda: 0.01 * next(strengths)}
    Pipeline("cd", [
        Step("train", "model = LogisticRegression(C=strength(), max_iter=300).fit(X, y)"),
        Step("deploy", "service = ctcd.mlflow_deploy(model, 'pinned', input_example=X.head(2),"
                       " timeout=120)"),
    ])
    ctcd.get_pipeline("cd").run(schedule=Schedule(interval_second=60))
    scheduling[0].scheduler.wait_idle(timeout=180)  # the first tick: v1
    tick(scheduling)  # v2
    svc = ctcd.get_service("pinned")
    assert svc.model_version == "2" and svc.pinned is None

    svc.rollback(progress=False)
    assert svc.model_version == "1" and alias("pinned") == "1"
    pin = svc.pinned
    assert pin["version"] == "1" and pin["reason"] == "rollback" and isinstance(pin["at"], float)
    assert svc.pin_note() == "v1 is pinned: deployments keep it until svc.unpin()"
    assert repr(svc).endswith("; v1 is pinned: deployments keep it until svc.unpin()>")

    tick(scheduling)  # deploys nothing: kept, pinned
    latest = ctcd.deployments("pinned")[0]
    assert latest.outcome == "kept" and latest.reason.startswith("pinned by rollback at ")
    assert ctcd.runs("cd")[0].ok
    assert svc.model_version == "1" and alias("pinned") == "1"

    svc.unpin()
    assert svc.pinned is None
    tick(scheduling)  # deploys again
    latest = ctcd.deployments("pinned")[0]
    assert latest.outcome == "deployed" and latest.version == "3"
    assert svc.model_version == "3" and alias("pinned") == "3"
    svc.stop()


def test_rollback_and_unpin_speak_each_front_end(shell, iris, capsys):
    X, y = iris
    ctcd.mlflow_deploy(LogisticRegression(C=0.01, max_iter=300).fit(X, y), "fronts",
                       input_example=X.head(2), timeout=120)
    svc = ctcd.get_service("fronts")
    with pytest.raises(ctcd.ServiceError, match=r"name one with svc\.rollback\(to=VERSION\)"):
        svc.rollback()
    with pytest.raises(ctcd.ServiceError,
                       match="name one with %services rollback fronts --to VERSION"):
        shell.run_line_magic("services", "rollback fronts")
    capsys.readouterr()
    assert ctcd_main(["rollback", "fronts"]) == 1
    assert "name one with ctcd rollback fronts --to VERSION" in capsys.readouterr().err

    ctcd.mlflow_deploy(LogisticRegression(C=1.0, max_iter=300).fit(X, y), "fronts",
                       input_example=X.head(2), timeout=120)
    shell.run_line_magic("services", "rollback fronts")
    assert "v1 is pinned: deployments keep it until %services unpin fronts" in \
        capsys.readouterr().out
    shell.run_line_magic("services", "unpin fronts")
    assert "fronts: unpinned" in capsys.readouterr().out and svc.pinned is None

    assert ctcd_main(["rollback", "fronts", "--to", "2"]) == 0
    out = capsys.readouterr().out
    assert "v2 is pinned: deployments keep it until ctcd unpin fronts" in out
    assert ctcd_main(["unpin", "fronts"]) == 0
    assert "fronts: unpinned" in capsys.readouterr().out and svc.pinned is None
    svc.stop()
