"""Run an example notebook headless in a fresh kernel and print what each cell shows: the
README's "run the main example" command, and `ctcd demo`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from .group import Group

__all__ = ["COMMANDS", "EXAMPLES", "find_notebook", "run_notebook"]

EXAMPLES = {
    "pipelines": "01_pipelines.ipynb",
    "continuous-training": "02_continuous_training.ipynb",
    "services": "03_services.ipynb",
    "continuous-deployment": "04_continuous_deployment.ipynb",
}


def find_notebook(name: str, folder: Path | None = None) -> Path:
    """A notebook by example name or path; examples live in `notebooks/` of the checkout."""
    path = Path(name)
    if path.suffix == ".ipynb" and path.exists():
        return path
    folder = folder or Path.cwd() / "notebooks"
    if name in EXAMPLES and (folder / EXAMPLES[name]).exists():
        return folder / EXAMPLES[name]
    raise FileNotFoundError(
        f"no notebook {name!r}: give a path to an .ipynb or one of {', '.join(EXAMPLES)} "
        f"(looked in {folder})")


def run_notebook(path: Path, *, timeout: float = 600, out: TextIO | None = None) -> bool:
    """Execute every cell in order; print sources' first lines and text outputs. True if no
    cell raised (cells tagged `raises-exception` are expected to)."""
    out = out or sys.stdout
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    start = time.monotonic()
    print(f"running {path} in a fresh kernel ...", file=out)
    ok = True
    try:
        client.execute()
    except CellExecutionError as exc:
        ok = False
        error = str(exc)
    for cell in notebook.cells:
        if cell.cell_type != "code" or not cell.get("execution_count"):
            continue
        first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        print(f"\n[{cell.execution_count}] {first}", file=out)
        for output in cell.get("outputs", []):
            text = _text(output)
            if text:
                print("    " + text.rstrip().replace("\n", "\n    "), file=out)
    elapsed = time.monotonic() - start
    if ok:
        print(f"\n{path.name}: all cells ran ({elapsed:.1f} s)", file=out)
    else:
        print(f"\n{path.name}: FAILED after {elapsed:.1f} s\n{error}", file=out)
    _still_serving(path, out)
    return ok


def _still_serving(path: Path, out: TextIO) -> None:
    """What the notebook left running (its kernel's state folder: $CTCD_HOME, else `.ctcd`
    beside the notebook), and how to call and stop it."""
    from ..services import services
    from ..services.input_example import invocation_body

    home = Path(os.environ.get("CTCD_HOME") or path.parent.resolve() / ".ctcd")
    if not (home / "state.db").exists():
        return
    running = [svc for svc in services(home) if svc.is_running]
    for svc in running:
        version = getattr(svc, "model_version", None)
        what = f"{svc.name}" + (f" v{version}" if version else "")
        print(f"\nstill serving {what} at {svc.endpoint} (state in {home})", file=out)
        body = invocation_body(svc) if hasattr(svc, "predict") else None
        if body is not None:
            print(f"  call it: curl -s {svc.endpoint} -H 'Content-Type: application/json' "
                  f"-d '{body}'", file=out)
        print(f"  stop it: CTCD_HOME={home} ctcd services stop {svc.name}", file=out)


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    return output.get("data", {}).get("text/plain", "")


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("example", nargs="?", default="continuous-deployment",
                        help=f"an example ({', '.join(EXAMPLES)}) or a notebook path "
                             "(default: continuous-deployment, end to end)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per cell")


def _demo(args: argparse.Namespace) -> int:
    try:
        path = find_notebook(args.example)
    except FileNotFoundError as exc:
        print(f"ctcd: error: {exc}", file=sys.stderr)
        return 1
    return 0 if run_notebook(path, timeout=args.timeout) else 1


COMMANDS = {
    "demo": Group("run an example notebook headless and print what it shows",
                  _demo_arguments, _demo),
}
