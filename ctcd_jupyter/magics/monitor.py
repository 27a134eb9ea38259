"""`%monitor NAME`: a served model's live accuracy, errors, latency and drift, per version."""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..errors import ServiceError
from ..services.prediction_access import log_of
from ..views.monitor import monitor_text
from .base import CtcdMagics, show_widget

__all__ = ["MonitorMagics"]


@magics_class
class MonitorMagics(CtcdMagics):
    @magic_arguments()
    @argument("name", help="the model service")
    @argument("--window", default="1h", help="how far back: 30m, 1h, 7d, or 'all' (default 1h)")
    @argument("--min-labels", type=int, default=50,
              help="labels needed before live accuracy is shown (default 50)")
    @argument("--text", action="store_true", help="print the report instead of the panel")
    @line_magic
    def monitor(self, line: str = ""):
        """The monitor of a served model: a panel refreshing in place in a notebook (the
        report as text elsewhere, or with --text)."""
        args = parse_argstring(self.monitor, line)
        window = None if args.window.strip().lower() == "all" else args.window
        try:
            svc = log_of(args.name, self.workspace.home)
        except ServiceError as exc:
            raise UsageError(str(exc)) from None
        if not args.text and show_widget(self.shell, "MonitorPanel", service=svc,
                                         window=window, min_labels=args.min_labels,
                                         workspace=self.workspace):
            return None
        try:
            report = svc.monitor(window, min_labels=args.min_labels)
        except ValueError as exc:  # a window that is not a duration
            raise UsageError(f"%monitor: {exc}") from None
        print(monitor_text(report.to_dict(), args.name))
        return None
