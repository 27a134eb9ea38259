"""Exporting a pipeline as a file: what it holds, and every kind of name that cannot travel."""

from __future__ import annotations

import io
import socket

import pytest

import ctcd_jupyter as ctcd
from ctcd_jupyter.portable.export import MARKER, ExportError, export_pipeline, export_source


def _pipeline(workspace, *sources: str, name: str = "p") -> ctcd.Pipeline:
    steps = [ctcd.Step(f"s{i}", src) for i, src in enumerate(sources)]
    return ctcd.Pipeline(name, steps, workspace=workspace)


def _error(pipeline, **kwargs) -> ExportError:
    with pytest.raises(ExportError) as info:
        export_source(pipeline, **kwargs)
    return info.value


def test_file_holds_imports_constants_parameters_and_steps(workspace, tmp_path):
    import math

    from sklearn.linear_model import LogisticRegression

    workspace.namespace.update({"math": math, "LogisticRegression": LogisticRegression,
                                "N": 3, "ctcd": ctcd})
    pipeline = ctcd.Pipeline("p", [
        ctcd.Step("load", "xs = [math.sqrt(i) for i in range(N)]", cache=False),
        ctcd.Step("fit", "model = LogisticRegression(C=C)\nscore = sum(xs)\n"
                         "ctcd.log_metric('score', score)", outputs=["model", "score"]),
    ], workspace=workspace)
    path = export_pipeline(pipeline, tmp_path / "out.py")
    text = path.read_text()
    assert text.startswith(MARKER)
    assert "import math\n" in text
    assert "from sklearn.linear_model import LogisticRegression\n" in text
    assert "PARAMETERS = {'N': 3}" in text and "REQUIRED = ['C']" in text
    assert "cache=False" in text and "outputs=['model', 'score']" in text
    assert str(tmp_path) not in text  # nothing machine-specific
    assert text.index("ctcd.Step('load'") < text.index("ctcd.Step('fit'")
    compile(text, str(path), "exec")


def test_every_unportable_name_is_listed_and_nothing_is_written(workspace, tmp_path):
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2]})

    def make_closure():
        captured = frame
        return lambda: captured

    conn = socket.socket()
    handle = io.StringIO("x")
    workspace.namespace.update({
        "df": frame, "arr": np.arange(3), "sock": conn, "fh": handle,
        "by_df": eval("lambda x: x + df.a.sum()", workspace.namespace),
        "closure": make_closure(), "pair": (1, 2), "est": object(),
    })
    try:
        pipeline = _pipeline(workspace, "out = (df, arr, sock, fh, by_df, closure, pair, est)")
        with pytest.raises(ExportError) as info:
            export_pipeline(pipeline, tmp_path / "p.py")
    finally:
        conn.close()
    error = info.value
    assert not (tmp_path / "p.py").exists()
    why = {p.name: p.why for p in error.problems}
    assert set(why) == {"df", "arr", "sock", "fh", "by_df", "closure", "pair", "est"}
    assert "DataFrame" in why["df"] and "numpy array" in why["arr"]
    assert "connection" in why["sock"] and "connection or file" in why["fh"]
    assert "closes over" in why["closure"] and "tuple" in why["pair"]
    # A lambda whose body reads a DataFrame: the lambda cannot travel, say so
    assert "lambda" in why["by_df"]
    message = str(error)
    assert "df (read by s0): a DataFrame in the notebook; read it inside a step, or pass" \
        in message
    for problem in error.problems:
        assert problem.fix and problem.name in message


def test_helper_reading_a_dataframe_is_reported_through_the_helper(workspace):
    import pandas as pd

    namespace = workspace.namespace
    cell = "def total():\n    return float(df.a.sum())\n"
    exec(cell, namespace)
    namespace["In"] = ["", cell]  # IPython's input history: where exec'd source is found
    namespace["df"] = pd.DataFrame({"a": [1, 2]})
    error = _error(_pipeline(workspace, "t = total()"))
    assert [(p.name, p.read_by) for p in error.problems] == [("df", "total()")]


def test_parameter_that_is_also_a_notebook_variable(workspace):
    workspace.namespace["C"] = 0.3
    error = _error(_pipeline(workspace, "m = C * 2"), params={"C": 0.5})
    assert "C (notebook: 0.3, param: 0.5) is both a parameter and a notebook variable" \
        in str(error)


def test_unknown_parameter_and_undefined_steps(workspace):
    pipeline = _pipeline(workspace, "m = C * 2")
    assert "no parameter named 'D'; known: C" in str(_error(pipeline, params={"D": 1}))
    del workspace.steps["s0"]
    assert "no step named 's0'" in str(_error(pipeline))


def test_overwrites_only_files_ctcd_wrote(workspace, tmp_path):
    pipeline = _pipeline(workspace, "m = 2")
    target = tmp_path / "mine.py"
    target.write_text("print('my own script')\n")
    with pytest.raises(ExportError, match="was not written by ctcd"):
        export_pipeline(pipeline, target)
    assert target.read_text() == "print('my own script')\n"
    ours = tmp_path / "p_pipeline.py"
    export_pipeline(pipeline, tmp_path)
    first = ours.read_text()
    workspace.add_step(ctcd.Step("s0", "m = 3"))
    export_pipeline(pipeline, tmp_path)
    assert ours.read_text() != first and "m = 3" in ours.read_text()


def test_schedule_and_its_params_are_exported(workspace):
    pipeline = _pipeline(workspace, "m = C * 2")
    workspace.schedule(pipeline, ctcd.Schedule(cron_expression="0 3 * * 1", tz="Europe/Paris"),
                       params={"C": 2})
    try:
        text = export_source(pipeline)
    finally:
        workspace.stop_scheduling()
    assert "SCHEDULE = ctcd.Schedule(cron_expression='0 3 * * 1', tz='Europe/Paris')" in text
    assert "PARAMETERS = {'C': 2}" in text


def test_magic_exports_next_to_the_notebook(shell, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shell.run_cell("import ctcd_jupyter as ctcd\nFACTOR = 2", store_history=True)
    shell.run_cell_magic("step", "double --no-run", "y = FACTOR * x")
    shell.run_line_magic("pipeline", "dbl double")
    shell.run_line_magic("pipeline", "export dbl --param x=4")
    text = (tmp_path / "dbl_pipeline.py").read_text()
    assert "PARAMETERS = {'FACTOR': 2, 'x': 4}" in text
    from IPython.core.error import UsageError

    shell.user_ns["x"] = 1
    with pytest.raises(UsageError, match="both a parameter and a notebook variable"):
        shell.run_line_magic("pipeline", "export dbl --param x=4")
