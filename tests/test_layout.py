"""The layout is the architecture: no import circles (function-level imports count), no module
over 500 lines, and the layer contract in pyproject.toml really catches a wrong import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

import ctcd_jupyter

PACKAGE = Path(ctcd_jupyter.__file__).parent
ROOT = PACKAGE.parent


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in graph.find_modules_directly_imported_by(node):
            if child not in graph.modules:
                continue
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_circles_counting_function_level_imports():
    graph = grimp.build_graph("ctcd_jupyter", exclude_type_checking_imports=True)
    assert _cycles(graph) == []


def test_no_module_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 500}
    assert long == {}


def _lint_with(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess:
    """lint-imports over a copy of the package (passing), then with `line` added to `module`."""
    copy = tmp_path / "ctcd_jupyter"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("labextension", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    lint = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    kept = subprocess.run(lint, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert kept.returncode == 0, kept.stdout[-2000:]
    path = copy.joinpath(*module.split(".")[1:]).with_suffix(".py")
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    return subprocess.run(lint, cwd=tmp_path, env=env, capture_output=True, text=True)


def test_layer_contract_fails_when_the_engine_imports_ipython(tmp_path):
    broken = _lint_with(tmp_path, "ctcd_jupyter.engine.steps", "import IPython")
    assert broken.returncode != 0
    assert "ctcd_jupyter.engine.steps -> IPython" in broken.stdout


def test_the_model_server_contract_fails_when_the_program_imports_the_package(tmp_path):
    # The model server runs by path without the package (model_server/serve.py): even a lazy
    # import of a package module from it breaks the contract.
    broken = _lint_with(tmp_path, "ctcd_jupyter.model_server.slot",
                        "from ctcd_jupyter.services import serving_history")
    assert broken.returncode != 0
    assert "The model server is a program of its own" in broken.stdout
    assert "ctcd_jupyter.model_server.slot -> ctcd_jupyter.services" in broken.stdout
