"""`ctcd runs` on the same state folder as a workspace, and `ctcd demo` on a small notebook."""

from __future__ import annotations

import json

import nbformat

import ctcd_jupyter as ctcd
from ctcd_jupyter.cli import main


def test_runs_lists_and_shows_runs_of_any_process(workspace, capsys):
    workspace.namespace = {}
    ok = ctcd.Pipeline("p", [ctcd.Step("a", "x = 1\nprint('hello')")]).run()
    bad = ctcd.Pipeline("q", [ctcd.Step("b", "y = 1 / 0")]).run()
    capsys.readouterr()
    assert main(["runs"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].startswith(bad.id) and table[2].startswith(ok.id)
    assert main(["runs", "p", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [ok.id]
    assert main(["runs", "--show", bad.id[:6]]) == 0
    shown = capsys.readouterr().out
    assert "FAILED" in shown and 'File "<step b>", line 1' in shown
    assert main(["runs", "--show", "zzzz"]) == 1
    assert "no single run matches 'zzzz'" in capsys.readouterr().err


def test_demo_runs_a_notebook_and_prints_its_outputs(tmp_path, capsys):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("print('hello from the demo')"),
                      nbformat.v4.new_code_cell("1 + 1")]
    path = tmp_path / "small.ipynb"
    nbformat.write(notebook, path)
    assert main(["demo", str(path)]) == 0
    out = capsys.readouterr().out
    assert "hello from the demo" in out and "    2" in out and "all cells ran" in out
    notebook.cells.append(nbformat.v4.new_code_cell("raise ValueError('boom')"))
    nbformat.write(notebook, path)
    assert main(["demo", str(path)]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert main(["demo", "no-such-example"]) == 1
    assert "no notebook 'no-such-example'" in capsys.readouterr().err
