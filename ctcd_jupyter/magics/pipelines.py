"""`%%step`, `%pipeline` and `%runs`: thin wrappers that parse arguments and call the engine."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, kwds, magic_arguments, parse_argstring

from ..engine.pipeline import Pipeline
from ..engine.run import Run
from ..engine.run_store import pipeline_names
from ..engine.steps import Step
from ..errors import (
    ParameterError,
    PipelineDefinitionError,
    StepCellError,
    StepDefinitionError,
    unknown_name,
)
from ..portable.export import ExportError, export_pipeline
from ..portable.remote import with_remote_runs
from ..portable.runfile import parse_params as parse_param_items
from ..views.pipelines import pipeline_bundle
from ..views.runs import runs_table
from .base import CtcdMagics
from .help import step_name_hint, subcommands

__all__ = ["PipelineMagics", "parse_params"]

_USER_ERRORS = (StepDefinitionError, PipelineDefinitionError, ParameterError)


def parse_params(items: list[list[str]] | None) -> dict[str, Any]:
    """`K=V` strings (argparse's nested lists) to a dict, as `ctcd run --param` reads them."""
    try:
        return parse_param_items([i for group in items or [] for i in group])
    except ParameterError as exc:
        raise UsageError(str(exc)) from None


# The verbs of %pipeline: a pipeline cannot be *defined* under these names from the magic
# (`%pipeline run ...` would be ambiguous); plain Python may use any name.
VERBS = frozenset({"run", "list", "show", "export"})

PIPELINE_HELP = subcommands("pipeline", [
    ("NAME STEP [STEP ...]", "define (or redefine) pipeline NAME; the order comes from the "
     "data flow", "%pipeline ct load_data train evaluate"),
    ("run NAME [--param K=V ...] [--no-cache]", "run it once now and return the run",
     "%pipeline run ct --param C=0.5"),
    ("show NAME", "its DAG (drawn where the front end can), inputs, outputs, parameters",
     "%pipeline show ct"),
    ("export NAME [PATH] [--param K=V ...]", "write it as one runnable Python file "
     "(python FILE, ctcd run FILE, Prefect)", "%pipeline export ct"),
    ("list", "every pipeline defined in this kernel", "%pipeline list"),
])


@magics_class
class PipelineMagics(CtcdMagics):
    @magic_arguments()
    @argument("name", help="the step's name (letters, digits, _ or -)")
    @argument("--inputs", default=None, metavar="A,B",
              help="names the step reads (default: inferred from the code)")
    @argument("--outputs", default=None, metavar="C,D",
              help="names the step writes (default: names bound at top level)")
    @argument("--no-run", action="store_true", help="only register the step, do not run the cell")
    @argument("--no-cache", action="store_true",
              help="always recompute this step in pipeline runs (e.g. it reads fresh data)")
    @cell_magic
    def step(self, line: str, cell: str) -> None:
        """Register this cell as a pipeline step and run it once in the notebook."""
        step_name_hint(line)
        args = parse_argstring(self.step, line)
        try:
            step = Step(args.name, cell, inputs=args.inputs, outputs=args.outputs,
                        cache=not args.no_cache)
        except StepDefinitionError as exc:
            raise UsageError(str(exc)) from None
        self.workspace.add_step(step)
        if not args.no_run:
            result = self.shell.run_cell(cell, store_history=False)
            error = result.error_before_exec or result.error_in_exec
            if error is not None:
                # The traceback is already shown; failing the cell too stops "Run All" here.
                raise StepCellError(args.name, error)

    @magic_arguments()
    @kwds(**PIPELINE_HELP)
    @argument("words", nargs="*", metavar="SUBCOMMAND",
              help="one of the subcommands below (a name that is not a verb defines a pipeline)")
    @argument("--param", "-p", action="append", nargs="+", metavar="K=V",
              help="a value for a name the steps read (run; export: a parameter default); "
                   "repeatable")
    @argument("--no-cache", action="store_true", help="recompute every step (run only)")
    @line_magic
    def pipeline(self, line: str) -> Run | None:
        """Define, run, show or list pipelines."""
        args = parse_argstring(self.pipeline, line)
        words = args.words
        if not words:
            raise UsageError("usage: %pipeline NAME STEP [STEP ...] | %pipeline run NAME "
                             "[--param K=V] | %pipeline show NAME | %pipeline list")
        verb = words[0]
        try:
            if verb == "list":
                print(self._list())
                return None
            if verb == "export":
                return self._export(words, parse_params(args.param))
            if verb in ("run", "show"):
                if len(words) != 2:
                    raise UsageError(f"usage: %pipeline {verb} NAME")
                pipeline = self.workspace.get_pipeline(words[1])
                if verb == "show":
                    from IPython.display import display

                    display(pipeline_bundle(pipeline, self.workspace.user_namespace()), raw=True)
                    return None
                run = pipeline.run(params=parse_params(args.param),
                                   cache=False if args.no_cache else None, on_wait=_tell)
                print(run.summary())
                return run.raise_for_status()
            if args.param or args.no_cache:
                raise UsageError("--param and --no-cache go with '%pipeline run NAME'")
            if len(words) < 2:
                raise UsageError(f"usage: %pipeline {verb} STEP [STEP ...]")
            if verb in VERBS:
                raise UsageError(f"{verb!r} is a verb of %pipeline; pick another pipeline name")
            pipeline = Pipeline(verb, words[1:], workspace=self.workspace)
        except _USER_ERRORS as exc:
            raise UsageError(str(exc)) from None
        order = " -> ".join(s.name for s in pipeline.graph().steps)
        print(f"pipeline {pipeline.name}: {order}")
        return None

    def _export(self, words: list[str], params: dict[str, Any]) -> None:
        if len(words) not in (2, 3):
            raise UsageError("usage: %pipeline export NAME [PATH] [--param K=V]")
        pipeline = self.workspace.get_pipeline(words[1])
        try:
            path = export_pipeline(pipeline, words[2] if len(words) == 3 else None,
                                   params=params, namespace=self.shell.user_ns)
        except ExportError as exc:
            raise UsageError(str(exc)) from None
        print(f"exported pipeline {pipeline.name} to {path.name}: run it with "
              f"python {path.name}, or ctcd run {path.name}")

    def _list(self) -> str:
        pipelines = self.workspace.pipelines
        if not pipelines:
            return "no pipelines defined"
        return "\n".join(f"{name}: {' '.join(p.step_names)}"
                         for name, p in sorted(pipelines.items()))

    @magic_arguments()
    @argument("pipeline", nargs="?", default=None, help="only this pipeline's runs")
    @argument("-n", type=int, default=10, help="how many runs to show (default 10)")
    @argument("--remote", action="store_true",
              help="also the runs the MLflow tracking server has from other machines")
    @line_magic
    def runs(self, line: str) -> None:
        """Run history, newest first: id, trigger, status, start, duration, metrics."""
        args = parse_argstring(self.runs, line)
        if args.n < 1:
            raise UsageError("-n must be at least 1")
        workspace = self.workspace
        runs = workspace.runs(args.pipeline, limit=args.n)
        if args.remote:
            runs = with_remote_runs(workspace, runs, args.pipeline, args.n)
        if not runs and args.pipeline:
            known = set(workspace.pipelines) | set(pipeline_names(workspace.store))
            if args.pipeline not in known:
                raise UsageError(unknown_name("pipeline", args.pipeline, known))
        print(runs_table(runs))


def _tell(message: str) -> None:
    # a wait (for another run, for MLflow's import) is progress, not an error: stdout, not
    # the red box of stderr in a notebook
    print(message, flush=True)
