"""README.md as a user reads it: every ```python block runs as pasted, in order, in one fresh
kernel; the command list names every `ctcd` command the parser has."""

from __future__ import annotations

import argparse
import contextlib
import re
from pathlib import Path

import nbformat
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(README.read_text()) if lang == language]


@pytest.fixture
def fresh_folder(tmp_path, monkeypatch):
    """The kernel's working folder, state folder and MLflow store: all new, all temporary
    (the kernel inherits this environment)."""
    monkeypatch.setenv("CTCD_HOME", str(tmp_path / "ctcd-home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("CTCD_TRACKING", raising=False)
    yield tmp_path
    if (tmp_path / "ctcd-home" / "state.db").exists():
        from ctcd_jupyter.services import services

        for svc in services(tmp_path / "ctcd-home"):
            with contextlib.suppress(Exception):
                svc.stop(timeout=10, force=True)


@pytest.mark.timeout(600)
def test_every_python_block_runs_in_order_in_one_fresh_kernel(fresh_folder):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    sources = blocks("python")
    assert len(sources) >= 10  # the tutorial part: a parse that finds nothing must fail
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source.rstrip("\n")) for source in sources]
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(fresh_folder)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        failed = next(i for i, c in enumerate(notebook.cells)
                      if any(o.get("output_type") == "error" for o in c.get("outputs", [])))
        pytest.fail(f"README python block {failed + 1} of {len(sources)} failed:\n"
                    f"{sources[failed]}\n{exc}")
    # What the blocks promise: a deployed model that answered, and the file export wrote.
    outputs = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                        for c in notebook.cells for o in c.get("outputs", []))
    assert "ACTIVE http://127.0.0.1:" in outputs and "v1" in outputs
    assert (fresh_folder / "iris_cd_pipeline.py").is_file()


def command_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[str]:
    """`ctcd services list`, `ctcd serve`, ...: every command that has no subcommands."""
    children = [(name, child) for action in parser._actions
                if isinstance(action, argparse._SubParsersAction)
                for name, child in action.choices.items()]
    if not children:
        return [" ".join(("ctcd", *path))]
    return [p for name, child in children for p in command_paths(child, (*path, name))]


def test_the_command_list_names_every_command():
    from ctcd_jupyter.cli import build_parser

    listed = "\n".join(b for b in blocks("text") if b.lstrip().startswith("ctcd "))
    commands = command_paths(build_parser())
    assert {"ctcd serve", "ctcd services warm", "ctcd prefect deploy"} <= set(commands)
    missing = [c for c in commands if not re.search(rf"^{re.escape(c)}(\s|$)", listed, re.M)]
    assert not missing, f"README.md's command list lacks: {', '.join(missing)}"
