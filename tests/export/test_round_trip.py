"""A notebook pipeline exported and run in a fresh process gives the kernel's metrics, records
a `cli` run in the same state folder, and uses the cache like any other run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ctcd_jupyter as ctcd
from ctcd_jupyter import RunState

CELLS = [
    "import numpy as np\n"
    "import ctcd_jupyter as ctcd\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "SEED = 7",
    "def make_data(seed, n=300):\n"
    "    rng = np.random.default_rng(seed)\n"
    "    X = rng.normal(size=(n, 4))\n"
    "    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.7, size=n) > 0).astype(int)\n"
    "    return X[:200], X[200:], y[:200], y[200:]\n",
]
STEPS = {
    "load": "X_train, X_test, y_train, y_test = make_data(SEED)",
    "train": "model = LogisticRegression(C=C).fit(X_train, y_train)\n"
             "accuracy = model.score(X_test, y_test)\n"
             "ctcd.log_metric('accuracy', accuracy)\n"
             "print(f'accuracy {accuracy:.3f}')",
}


def _ctcd(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    ctcd_cli = Path(sys.executable).with_name("ctcd")
    return subprocess.run([str(ctcd_cli), *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


@pytest.fixture
def exported(shell, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for cell in CELLS:
        assert shell.run_cell(cell, store_history=True).success
    for name, source in STEPS.items():
        shell.run_cell_magic("step", f"{name} --no-run", source)
    shell.run_line_magic("pipeline", "rt load train")
    kernel_run = shell.run_line_magic("pipeline", "run rt --param C=0.5")
    shell.run_line_magic("pipeline", "export rt")
    return tmp_path / "rt_pipeline.py", kernel_run


def test_python_file_and_ctcd_run_match_the_kernel(exported, home, tmp_path):
    path, kernel_run = exported
    text = path.read_text()
    assert "def make_data(seed, n=300):" in text
    assert "from sklearn.linear_model import LogisticRegression" in text
    assert "import numpy as np" in text and "PARAMETERS = {'SEED': 7}" in text
    assert "REQUIRED = ['C']" in text

    env = {**os.environ, "CTCD_HOME": str(home), "CTCD_TRACKING": "0"}
    # A fresh process, from another folder: the file carries everything it needs.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, str(path), "--param", "C=0.5"], capture_output=True,
                          text=True, env=env, cwd=elsewhere, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "SUCCEEDED" in done.stdout and f"accuracy={kernel_run.metrics['accuracy']:.4g}" \
        in done.stdout

    again = _ctcd("run", str(path), "--param", "C=0.5", env=env, cwd=elsewhere)
    assert again.returncode == 0, again.stderr
    assert "(2 cached)" in again.stdout  # same sources, same inputs: the cache holds

    runs = ctcd.Workspace(home, tracking=False).runs("rt")
    assert [r.trigger for r in runs] == ["cli", "cli", "manual"]
    assert {r.metrics["accuracy"] for r in runs} == {kernel_run.metrics["accuracy"]}
    assert all(r.status is RunState.SUCCEEDED for r in runs)


def test_missing_parameter_and_failing_run_exit_1(exported, home, tmp_path):
    path, _ = exported
    env = {**os.environ, "CTCD_HOME": str(home), "CTCD_TRACKING": "0"}
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 1
    assert "needs parameter(s) C: give --param C=VALUE" in done.stderr
    failed = _ctcd("run", str(path), "--param", "C=-1", env=env, cwd=tmp_path)
    assert failed.returncode == 1
    assert "FAILED" in failed.stdout and "step train:" in failed.stdout
    assert _ctcd("run", str(tmp_path / "nope.py"), env=env, cwd=tmp_path).returncode == 1
