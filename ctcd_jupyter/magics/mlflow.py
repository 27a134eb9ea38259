"""`%mlflow ui`: the MLflow UI on the workspace's tracking store, as the `mlflow-ui` service
(it outlives the kernel and shows in the panels), and its link."""

from __future__ import annotations

from html import escape

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, kwds, magic_arguments, parse_argstring

from ..services.mlflow_ui import NAME, mlflow_ui
from ..state import mlflow_tracking_uri
from .base import CtcdMagics
from .help import subcommands

__all__ = ["MlflowMagics"]


@magics_class
class MlflowMagics(CtcdMagics):
    @magic_arguments()
    @kwds(**subcommands("mlflow", [
        ("ui [--timeout S]", "start the MLflow UI on this workspace's store and show its link",
         "%mlflow ui"),
    ]))
    @argument("verb", metavar="SUBCOMMAND", help="ui")
    @argument("--timeout", type=float, default=120.0,
              help="seconds to wait until the UI answers (default 120)")
    @line_magic
    def mlflow(self, line: str) -> str | None:
        """MLflow beside ctcd: the UI on the workspace's tracking store."""
        args = parse_argstring(self.mlflow, line)
        if args.verb != "ui":
            raise UsageError(f"%mlflow: unknown subcommand {args.verb!r}; use: %mlflow ui")
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
