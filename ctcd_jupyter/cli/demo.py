"""`ctcd demo`: run an example notebook headless in a fresh kernel and print it as it ran (its
text, code and outputs), then what it left running and what to open next.

The examples ship inside the package (`ctcd_jupyter/examples/`, copied from `notebooks/` when the
wheel is built); in a checkout they are `notebooks/`.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TextIO

from ..errors import unknown_name
from .group import Group

__all__ = ["COMMANDS", "EXAMPLES", "examples_folder", "find_notebook", "run_notebook"]

EXAMPLES = {
    "pipelines": "01_pipelines.ipynb",
    "continuous-training": "02_continuous_training.ipynb",
    "services": "03_services.ipynb",
    "continuous-deployment": "04_continuous_deployment.ipynb",
    "beyond-the-kernel": "05_beyond_the_kernel.ipynb",
    "monitoring": "06_monitoring.ipynb",
}
ABOUT = {
    "pipelines": "steps, pipelines, runs, the cache",
    "continuous-training": "a pipeline retrained on a schedule on drifting data",
    "services": "a long-lived MLflow model server: start, predict, swap, stop",
    "continuous-deployment": "retrain on a schedule, deploy what beats the champion, roll back",
    "beyond-the-kernel": "a pipeline exported as a file, run by ctcd run and by Prefect",
    "monitoring": "every answer logged, labels joined, live accuracy and drift per version",
}
DEFAULT = "continuous-deployment"
# Where the examples are copied when run outside a checkout: a folder the user can open and edit.
COPY_FOLDER = "ctcd-examples"

_PACKAGE = Path(__file__).resolve().parents[1]


def examples_folder() -> Path:
    """The example notebooks of this installation: shipped in the package (a wheel), else the
    `notebooks/` folder of the checkout the package is imported from (an editable install)."""
    for folder in (_PACKAGE / "examples", _PACKAGE.parent / "notebooks"):
        if (folder / EXAMPLES[DEFAULT]).is_file():
            return folder
    raise FileNotFoundError(f"this installation of ctcd_jupyter has no example notebooks "
                            f"(looked in {_PACKAGE / 'examples'}); give a path to an .ipynb")


def find_notebook(name: str, cwd: Path | None = None) -> Path:
    """The notebook to run for `name` (an example name or an .ipynb path).

    An example runs where its state can stay and the user can open it afterwards: in
    `notebooks/` of the current folder when that is a checkout, else in a copy of the shipped
    examples in `./ctcd-examples/` (copied once; copies already there are kept)."""
    cwd = cwd or Path.cwd()
    path = Path(name)
    if path.suffix == ".ipynb":
        if not path.is_file():
            raise FileNotFoundError(f"no notebook file {name!r}")
        return path
    if name not in EXAMPLES:
        raise FileNotFoundError(unknown_name("example", name, EXAMPLES)
                                + " (or give a path to an .ipynb)")
    checkout = cwd / "notebooks" / EXAMPLES[name]
    if checkout.is_file():
        return checkout
    return copy_examples(cwd / COPY_FOLDER) / EXAMPLES[name]


def copy_examples(folder: Path) -> Path:
    """Copy the shipped examples into `folder`, leaving any copy already there untouched."""
    source = examples_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for file in EXAMPLES.values():
        if not (folder / file).exists():
            shutil.copyfile(source / file, folder / file)
    return folder


def run_notebook(path: Path, *, timeout: float = 600, out: TextIO | None = None) -> bool:
    """Execute every cell in order; print the notebook as it ran: its text cells, each code
    cell's source and text outputs. True if no cell raised (cells tagged `raises-exception`
    are expected to)."""
    out = out or sys.stdout
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    start = time.monotonic()
    print(f"running {path} in a fresh kernel ...", file=out, flush=True)
    ok, error = True, ""
    try:
        client.execute()
    except CellExecutionError as exc:
        ok, error = False, str(exc)
    ran = [c for c in notebook.cells if c.cell_type == "markdown" or c.get("execution_count")]
    for cell in ran:
        print(file=out)
        if cell.cell_type == "markdown":
            print(cell.source.strip(), file=out)
            continue
        prompt = f"[{cell.execution_count}] "
        print(prompt + cell.source.strip().replace("\n", "\n" + " " * len(prompt)), file=out)
        for output in cell.get("outputs", []):
            text = _text(output)
            if text:
                print("  → " + text.rstrip().replace("\n", "\n    "), file=out)
    elapsed = time.monotonic() - start
    if ok:
        print(f"\n{path.name}: all cells ran ({elapsed:.1f} s)", file=out)
    else:
        print(f"\n{path.name}: FAILED after {elapsed:.1f} s\n{error}", file=out)
    _still_serving(path, out)
    _next_steps(path, out)
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


def _next_steps(path: Path, out: TextIO) -> None:
    print(f"\nnext: jupyter lab {_shown(path)}\n"
          "  opens this notebook with its state; the CT/CD tab in JupyterLab's left side bar\n"
          "  (or \"CT/CD: show panel\" in the command palette) shows its services, schedules,\n"
          "  runs and deployments", file=out)
    others = [name for name, file in EXAMPLES.items()
              if file != path.name and (path.parent / file).is_file()]
    if others:
        print(f"the other examples, in {_shown(path.parent)}/ (ctcd demo NAME runs one):",
              *[f"  {name:<22} {ABOUT[name]}" for name in others], sep="\n", file=out)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    return output.get("data", {}).get("text/plain", "")


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    names = "\n".join(f"  {name:<22} {ABOUT[name]}" for name in EXAMPLES)
    parser.epilog = (f"examples:\n{names}\n\nOutside a checkout the examples are copied to "
                     f"./{COPY_FOLDER}/ and run there.")
    parser.add_argument("example", nargs="?", default=DEFAULT,
                        help=f"an example name or a notebook path (default: {DEFAULT})")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per cell")


def _demo(args: argparse.Namespace) -> int:
    try:
        path = find_notebook(args.example)
    except FileNotFoundError as exc:
        print(f"ctcd: error: {exc}", file=sys.stderr)
        return 1
    if args.example in EXAMPLES and importlib.util.find_spec("sklearn") is None:
        print("ctcd: error: the examples train scikit-learn models: "
              "pip install 'ctcd_jupyter[examples]'", file=sys.stderr)
        return 1
    if args.home:  # the kernel inherits it: the notebook's state goes where --home says
        os.environ["CTCD_HOME"] = str(Path(args.home).resolve())
    if args.example in EXAMPLES:
        print(f"example {args.example!r}: {ABOUT[args.example]}", flush=True)
    return 0 if run_notebook(path, timeout=args.timeout) else 1


COMMANDS = {
    "demo": Group("run an example notebook headless and print what it shows",
                  _demo_arguments, _demo,
                  "run an example notebook in a fresh kernel and print it as it ran: its "
                  "text, code and outputs, what it left running, and what to open next"),
}
