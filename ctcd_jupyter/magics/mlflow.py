"""`%mlflow ui`: the MLflow UI on the workspace's tracking store, as the `mlflow-ui` service
(it outlives the kernel and shows in the panels), and its link."""

from __future__ import annotations

from html import escape

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, kwds, magic_arguments, parse_argstring

from ..errors import unknown_name
from ..services.mlflow_ui import NAME, mlflow_ui
from ..state import mlflow_tracking_uri
from .base import CtcdMagics
from .help import subcommands

__all__ = ["MlflowMagics"]

_VERBS = [("ui [--timeout S]", "start the MLflow UI on this workspace's store and show its link",
           "%mlflow ui")]


@magics_class
class MlflowMagics(CtcdMagics):
    @magic_arguments()
    @kwds(**subcommands("mlflow", _VERBS))
    @argument("verb", metavar="SUBCOMMAND", nargs="?", help="ui")
    @argument("--timeout", type=float, default=120.0,
              help="seconds to wait until the UI answers (default 120)")
    @line_magic
    def mlflow(self, line: str) -> str | None:
        """MLflow beside ctcd: the UI on the workspace's tracking store."""
        args = parse_argstring(self.mlflow, line)
        if args.verb != "ui":
            said = " needs a subcommand" if args.verb is None else \
                ": " + unknown_name("subcommand", args.verb, (v.split()[0] for v, _, _ in _VERBS))
            raise UsageError(f"%mlflow{said}; use: " + "; ".join(
                f"%mlflow {syntax} ({meaning})" for syntax, meaning, _ in _VERBS))
        home = self.workspace.home
        svc = mlflow_ui(home, timeout=args.timeout)
        url = svc.base_url
        store = mlflow_tracking_uri(home)
        from IPython.display import display

        display({"text/plain": f"MLflow UI: {url} (store {store}; stop with "
                               f"%services stop {NAME})",
                 "text/html": f"MLflow UI: <a href='{escape(url)}' target='_blank' "
                              f"rel='noopener'>{escape(url)}</a> <span style='color:"
                              f"var(--jp-ui-font-color2)'>(store {escape(store)}; stop with "
                              f"<code>%services stop {NAME}</code>)</span>"}, raw=True)
        return None
