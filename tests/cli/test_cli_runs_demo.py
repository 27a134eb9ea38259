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
    assert "no run with an id starting with 'zzzz'" in capsys.readouterr().err


def test_demo_runs_a_notebook_and_prints_it_as_it_ran(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Small\nWhat the next cell prints."),
                      nbformat.v4.new_code_cell("x = 'hello from the demo'\nprint(x)"),
                      nbformat.v4.new_code_cell("1 + 1")]
    path = tmp_path / "small.ipynb"
    nbformat.write(notebook, path)
    assert main(["demo", str(path)]) == 0
    out = capsys.readouterr().out
    assert "# Small\nWhat the next cell prints.\n\n[1] x = 'hello from the demo'\n" \
           "    print(x)\n  → hello from the demo\n" in out
    assert "[2] 1 + 1\n  → 2" in out and "all cells ran" in out
    assert "next: jupyter lab small.ipynb" in out and "CT/CD tab" in out
    notebook.cells.append(nbformat.v4.new_code_cell("raise ValueError('boom')"))
    nbformat.write(notebook, path)
    assert main(["demo", str(path)]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_demo_names_a_wrong_example_and_the_right_ones(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "continuous-deploy"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "ctcd: error: no example named 'continuous-deploy' (did you mean "
        "'continuous-deployment'?); known: beyond-the-kernel, continuous-deployment, ")
    assert main(["demo", "missing.ipynb"]) == 1
    assert capsys.readouterr().err == "ctcd: error: no notebook file 'missing.ipynb'\n"
    assert not (tmp_path / "ctcd-examples").exists()  # nothing copied for a wrong name


def test_demo_home_is_the_kernels_state_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CTCD_HOME", raising=False)  # restored after the test: demo sets it
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import os; print(os.environ['CTCD_HOME'])")]
    nbformat.write(notebook, tmp_path / "home.ipynb")
    assert main(["--home", "state", "demo", "home.ipynb"]) == 0
    assert f"  → {tmp_path.resolve() / 'state'}\n" in capsys.readouterr().out
