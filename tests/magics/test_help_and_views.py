"""What the magics show: subcommand help, hints for the usual slips, the DAG as Mermaid, run
notes, MLflow pointed at the workspace, one-line errors. Through a real InteractiveShell."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from IPython.core.error import UsageError

import ctcd_jupyter as ctcd
from ctcd_jupyter.errors import DeploymentError, PredictionError


def test_help_lists_verbs_as_subcommands_with_examples(shell):
    for magic, verbs in (("pipeline", ("run NAME", "show NAME", "list")),
                         ("schedule", ("pause PIPELINE", "next PIPELINE",
                                       'PIPELINE --cron "EXPR"')),
                         ("mlflow", ("ui",))):
        doc = shell.find_line_magic(magic).__doc__
        assert "subcommands:" in doc and "words" not in doc
        for verb in verbs:
            assert f"%{magic} {verb}" in doc, (magic, verb)
        assert doc.count("e.g. %" + magic) >= len(verbs)
    assert "%pipeline run ct --param C=0.5" in shell.find_line_magic("pipeline").__doc__


def test_unquoted_cron_and_spaced_step_name_get_hints(shell):
    shell.run_cell_magic("step", "s --no-run", "x = 1")
    shell.run_line_magic("pipeline", "ct s")
    with pytest.raises(UsageError, match=r'quote the cron expression: --cron "\*/5 \* \* \* \*"'):
        shell.run_line_magic("schedule", "ct --cron */5 * * * *")
    with pytest.raises(UsageError, match=r"a step name has no spaces: %%step load_data"):
        shell.run_cell_magic("step", "load data --no-run", "x = 1")


def test_runs_did_you_mean_and_notes(shell, workspace, capsys):
    shell.run_cell_magic("step", "s --no-run", "x = 1")
    shell.run_line_magic("pipeline", "training s")
    run = shell.run_line_magic("pipeline", "run training")
    with pytest.raises(UsageError, match=r"no pipeline named 'trainng' \(did you mean "
                                         r"'training'\?\)"):
        shell.run_line_magic("runs", "trainng")
    from ctcd_jupyter.deployment import DeploymentRecord, _record

    _record(workspace.store, DeploymentRecord("iris", "kept", "0.71 < 0.76", "accuracy", 0.71,
                                              0.76, "6", "4", run_id=run.id))
    capsys.readouterr()
    shell.run_line_magic("runs", "training")
    assert "kept v4 (0.71 < 0.76)" in capsys.readouterr().out


def test_pipeline_show_is_mermaid_with_text_and_leaves_out_modules_and_classes(shell):
    shell.run_cell("import math\nfrom fractions import Fraction\nC = 2\ndef helper(v): "
                   "return v")
    shell.run_cell_magic("step", "load --no-run", "X = [math.sqrt(helper(v)) for v in "
                                                  "range(n)]")
    shell.run_cell_magic("step", "fit --no-run", "model = Fraction(sum(X)) * C")
    shell.run_line_magic("pipeline", "ct load fit")
    published = []
    original = shell.display_pub.publish
    shell.display_pub.publish = lambda data, *a, **k: published.append(data)
    try:
        shell.run_line_magic("pipeline", "show ct")
    finally:
        shell.display_pub.publish = original
    [bundle] = published
    mermaid, text = bundle["text/vnd.mermaid"], bundle["text/plain"]
    assert mermaid.startswith("flowchart LR") and 's_load -->|"X"| s_fit' in mermaid
    assert "param_n" in mermaid and "notebook_C" in mermaid
    assert "from the notebook: C, helper" in text  # not math, not Fraction
    assert "parameters (give with --param, or define them): n" in text


def test_load_ext_points_mlflow_at_the_workspace_store_and_unload_undoes_it(shell, workspace):
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{workspace.home / 'mlflow.db'}"
    shell.run_line_magic("unload_ext", "ctcd_jupyter")
    assert "MLFLOW_TRACKING_URI" not in os.environ
    os.environ["MLFLOW_TRACKING_URI"] = "sqlite:////tmp/mine.db"
    try:
        shell.run_line_magic("load_ext", "ctcd_jupyter")
        assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:////tmp/mine.db"  # the user's wins
        shell.run_line_magic("unload_ext", "ctcd_jupyter")
        assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:////tmp/mine.db"
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
        shell.run_line_magic("load_ext", "ctcd_jupyter")


def test_load_ext_stays_light_and_mlflow_client_sees_the_store(tmp_path):
    # A fresh process: %load_ext must not import mlflow itself, and a client made afterwards in the
    # notebook reads the workspace's store, not a stray ./mlflow.db.
    code = (
        "import sys, os\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'ctcd_jupyter')\n"
        # MLflow is imported on the warm-up thread (issue 15 item 18), never by %load_ext itself
        "from ctcd_jupyter.engine import warmup\n"
        "assert warmup.importing() or 'mlflow' not in sys.modules, 'load_ext imported mlflow'\n"
        "import mlflow\n"
        "print(mlflow.get_tracking_uri())\n"
        "mlflow.MlflowClient().search_experiments()\n")
    env = dict(os.environ, CTCD_HOME=str(tmp_path / "state"))
    env.pop("MLFLOW_TRACKING_URI", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}"
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


def test_prediction_and_deployment_errors_are_one_line(shell):
    long = "service 'iris' answered 400: Model is missing inputs ['x0'].\n" + "config " * 200
    assert PredictionError(long)._render_traceback_() == [
        "PredictionError: service 'iris' answered 400: Model is missing inputs ['x0']. "
        "[+1 lines: print(sys.last_value)]"]
    [line] = DeploymentError("model 'iris' v3 passed but could not be served: " + "x" * 900,
                             model_name="iris")._render_traceback_()
    assert line.startswith("DeploymentError: model 'iris' v3") and len(line) < 450
    result = shell.run_cell("import ctcd_jupyter as ctcd\n"
                            "raise ctcd.PredictionError('answered 400: bad input')")
    assert isinstance(result.error_in_exec, ctcd.PredictionError)


def test_services_start_shows_no_stderr_lines(shell, workspace, capsys, tmp_path):
    script = tmp_path / "ping.py"
    script.write_text("import http.server, sys\nclass H(http.server.BaseHTTPRequestHandler):\n"
                      "    def do_GET(self):\n        self.send_response(200); self.end_headers()\n"
                      "http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H)"
                      ".serve_forever()\n")
    ctcd.LocalDaemonService("web", [sys.executable, str(script), "{host}", "{port}"],
                            health_path="/ping")
    shell.run_line_magic("services", "start web")
    shell.run_line_magic("services", "restart web")
    out = capsys.readouterr()
    assert out.err == "" and out.out.count("ACTIVE") == 2
    with pytest.raises(UsageError, match="no model versions to roll back"):
        shell.run_line_magic("services", "rollback web")
    shell.run_line_magic("services", "stop web")
