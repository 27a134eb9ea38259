"""`%load_ext` starts importing MLflow in the background, without waiting for it, so the first
run finds it ready; a run that comes sooner says it waits for it. Each test is a fresh
interpreter: MLflow must not be imported before."""

from __future__ import annotations

import json
import os
import subprocess
import sys

LOAD = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
assert "mlflow" not in sys.modules
ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "ctcd_jupyter")
from ctcd_jupyter.engine import warmup
out = {"importing_at_return": warmup.importing(),
       "mlflow_done_at_return": all(m in sys.modules for m in warmup.MODULES)
                                and not warmup.importing()}
"""


def _run(tmp_path, code: str) -> dict:
    env = dict(os.environ, CTCD_HOME=str(tmp_path / "state"), CTCD_TRACKING="1")
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run([sys.executable, "-c", LOAD + code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["stdout"] = done.stdout
    return result


def test_load_ext_returns_at_once_and_mlflow_is_imported_without_any_run(tmp_path):
    found = _run(tmp_path, """
warmup.start().join(120)
import ctcd_jupyter as ctcd
out["mlflow_after"] = [m for m in warmup.MODULES if m in sys.modules]
out["runs"] = len(ctcd.runs())
print(json.dumps(out))
""")
    assert found["importing_at_return"] and not found["mlflow_done_at_return"]
    assert found["mlflow_after"] == ["mlflow", "mlflow.tracking", "mlflow.entities"]
    assert found["runs"] == 0


def test_a_run_during_the_import_says_it_waits_and_is_tracked(tmp_path):
    found = _run(tmp_path, """
ip.run_cell_magic("step", "s --no-run", "x = 1")
ip.run_line_magic("pipeline", "p s")
run = ip.run_line_magic("pipeline", "run p")
out["ok"] = run.ok
out["mlflow_run_id"] = run.mlflow_run_id
print(json.dumps(out))
""")
    assert found["importing_at_return"]
    assert "waiting for MLflow to import…" in found["stdout"]
    assert found["ok"] and found["mlflow_run_id"]


def test_no_import_when_tracking_is_off(tmp_path):
    env = dict(os.environ, CTCD_HOME=str(tmp_path / "state"), CTCD_TRACKING="0")
    code = LOAD + "print(json.dumps(out))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout)["importing_at_return"] is False
