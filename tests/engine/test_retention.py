"""Retention: outputs of each pipeline's newest runs are kept, older ones' are deleted."""

from __future__ import annotations

import os
import time

import pytest

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step
from ctcd_jupyter.cli import main


def age_artifacts(workspace, seconds: float) -> None:
    past = time.time() - seconds
    for path in workspace.artifacts.root.glob("??/*"):
        os.utime(path, (past, past))


def test_prune_keeps_newest_runs_outputs_and_cache(workspace):
    workspace.namespace = {"batches": iter(range(100))}
    pipeline = Pipeline("ct", [Step("load", "data = [next(batches)] * 1000", cache=False),
                               Step("fit", "model = sum(data)")])
    runs = [pipeline.run() for _ in range(5)]
    age_artifacts(workspace, 3600)
    report = workspace.prune(keep_runs=2)
    assert report.kept_runs == 2 and report.deleted_artifacts == 6
    assert report.deleted_cache_entries == 3
    assert runs[-1].outputs["model"] == 4000 and runs[-2].outputs["data"][0] == 3
    old = ctcd.runs("ct")[-1]
    with pytest.raises(ctcd.ArtifactError, match="newest runs are kept"):
        old.outputs["model"]


def test_young_artifacts_are_never_deleted(workspace):
    workspace.namespace = {}
    pipeline = Pipeline("p", [Step("a", "x = list(range(n))")])
    for n in range(3):
        pipeline.run(params={"n": n})
    report = workspace.prune(keep_runs=1)  # files are seconds old: a run may still need them
    assert report.deleted_artifacts == 0
    assert workspace.prune(keep_runs=1, min_age=0).deleted_artifacts == 2


def test_gc_command(workspace, capsys):
    workspace.namespace = {}
    pipeline = Pipeline("p", [Step("a", "x = list(range(n))")])
    for n in range(3):
        pipeline.run(params={"n": n})
    age_artifacts(workspace, 3600)
    assert main(["gc", "--keep", "1"]) == 0
    assert "deleted 2 artifacts" in capsys.readouterr().out
    assert main(["gc", "--keep", "0"]) == 2
