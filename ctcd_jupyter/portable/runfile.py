"""Run an exported pipeline file (`ctcd_jupyter.export`) in this process with the same engine:
`python FILE [--param K=V]` and `ctcd run FILE [--param K=V]` both end up here.

The file's globals are the namespace its steps read from (the notebook's role); its run is
recorded in the state folder ($CTCD_HOME) with trigger `cli`, so `%runs` in a notebook sharing
that folder shows it.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.pipeline import Pipeline
from ..errors import CtcdError, ParameterError, PipelineFileError, advice
from ..workspace import Workspace

if TYPE_CHECKING:
    from ..engine.run import Run

__all__ = ["ExportedPipeline", "export_advice", "load_file", "load_source", "main",
           "parse_params", "run_file"]



def export_advice() -> str:
    return advice(python="ctcd.export_pipeline(NAME)", magic="%pipeline export NAME",
                  cli="%pipeline export NAME in the notebook")


@dataclass
class ExportedPipeline:
    """An exported file, loaded: its name, steps, parameter defaults, schedule and globals."""

    name: str
    steps: list[Any]
    parameters: dict[str, Any]
    required: list[str]
    schedule: Any
    namespace: dict[str, Any]
    path: str

    def params(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults with `overrides` on top; ParameterError when a required one is missing."""
        values = {**self.parameters, **(overrides or {})}
        missing = [k for k in self.required if k not in values]
        if missing:
            raise ParameterError(
                f"pipeline {self.name!r} needs parameter(s) {', '.join(missing)}: give "
                + " ".join(f"--param {k}=VALUE" for k in missing), names=missing)
        return values

    def pipeline(self, workspace: Workspace | None = None) -> Pipeline:
        """The pipeline in `workspace` (default: one on $CTCD_HOME whose namespace is this
        file's globals)."""
        if workspace is None:
            workspace = Workspace(namespace=self.namespace)
        elif workspace.namespace is None:
            workspace.namespace = self.namespace
        return Pipeline(self.name, self.steps, workspace=workspace)


def from_namespace(namespace: Mapping[str, Any], path: str) -> ExportedPipeline:
    try:
        return ExportedPipeline(
            name=namespace["PIPELINE"], steps=list(namespace["STEPS"]),
            parameters=dict(namespace.get("PARAMETERS") or {}),
            required=list(namespace.get("REQUIRED") or []),
            schedule=namespace.get("SCHEDULE"), namespace=dict(namespace), path=path)
    except KeyError as exc:
        raise PipelineFileError(
            f"{path} defines no {exc.args[0]}: it is not a pipeline file exported by ctcd "
            f"(export one with {export_advice()})") from None


def load_source(source: str, filename: str = "pipeline.py") -> ExportedPipeline:
    """Execute an exported file's text as a module (not as __main__) and read its pipeline."""
    import types

    module = types.ModuleType(f"ctcd_exported_{Path(filename).stem}")
    module.__file__ = filename
    code = compile(source, filename, "exec")
    # Registered so that functions defined in the file can be pickled by reference.
    sys.modules[module.__name__] = module
    exec(code, module.__dict__)
    return from_namespace(vars(module), filename)


def load_file(path: str | os.PathLike) -> ExportedPipeline:
    """Import the file at `path` under a private module name and read its pipeline."""
    path = Path(path)
    if not path.is_file():
        raise PipelineFileError(f"no such file: {path}; export one with {export_advice()}")
    name = f"ctcd_exported_{path.stem.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PipelineFileError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return from_namespace(vars(module), str(path))


def parse_params(items: Sequence[str] | None) -> dict[str, Any]:
    """`K=V` strings to a dict; values are Python literals when they parse, else strings."""
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ParameterError(f"--param {item!r}: expected NAME=VALUE, e.g. --param C=0.5")
        try:
            params[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            params[key] = text
    return params


def run_file(path_or_pipeline: str | os.PathLike | ExportedPipeline,
             params: Mapping[str, Any] | None = None, *, trigger: str = "cli",
             home: str | os.PathLike | None = None, cache: bool = True) -> Run:
    """Run an exported pipeline once and return the finished, stored run."""
    exported = (path_or_pipeline if isinstance(path_or_pipeline, ExportedPipeline)
                else load_file(path_or_pipeline))
    values = exported.params(params)
    workspace = Workspace(home, namespace=exported.namespace)
    try:
        pipeline = exported.pipeline(workspace)
        run = pipeline.run(params=values, cache=cache, trigger=trigger)
        from .remote import publish_decisions

        publish_decisions(workspace, run)
        return run
    finally:
        workspace.close()


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Run this exported ctcd pipeline "
                                     "once (state: $CTCD_HOME, else ./.ctcd).")
    add_run_arguments(parser)
    return parser


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--param", "-p", action="append", default=[], metavar="K=V",
                        help="a parameter value (a Python literal, else a string); repeatable")
    parser.add_argument("--no-cache", action="store_true", help="recompute every step")


def report(run: Run) -> int:
    """Print the summary line (and warnings) of a finished run; 0 if it succeeded, else 1."""
    print(run.summary(), flush=True)
    for warning in run.warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    if not run.ok and run.error:
        print(run.error.rstrip(), file=sys.stderr, flush=True)
    return 0 if run.ok else 1


def main(namespace: Mapping[str, Any], argv: Sequence[str] | None = None) -> int:
    """`python FILE [--param K=V]`: run the file whose globals are `namespace`."""
    path = str(namespace.get("__file__") or "pipeline.py")
    args = build_parser(f"python {Path(path).name}").parse_args(argv)
    try:
        # Loaded again under the same private module name as `ctcd run FILE` uses: functions
        # the file defines then fingerprint alike, and both ways share the step cache.
        exported = load_file(path) if namespace.get("__file__") else from_namespace(
            namespace, path)
        run = run_file(exported, parse_params(args.param), cache=not args.no_cache)
    except CtcdError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    return report(run)
