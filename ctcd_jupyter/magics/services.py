"""`%services`: list and control services from a notebook (text forms; the widget comes later)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..errors import ServiceNotFoundError, front_end, unknown_name
from ..services import get_service, services
from ..views.services import services_table
from .base import CtcdMagics, show_widget

__all__ = ["ServiceMagics"]

_ACTIONS = ("list", "start", "stop", "restart", "logs", "rollback", "unpin")


@magics_class
class ServiceMagics(CtcdMagics):
    @magic_arguments()
    @argument("action", nargs="?", default="list",
              help="list (default), start, stop, restart, logs, rollback or unpin")
    @argument("name", nargs="?", help="the service to act on (not for list)")
    @argument("-n", "--tail", type=int, default=20, help="log lines to show (logs)")
    @argument("--timeout", type=float, default=None,
              help="seconds to wait for health (start, restart) or before KILL (stop)")
    @argument("--force", action="store_true", help="stop: KILL at once")
    @argument("--to", default=None, help="rollback: the version to serve (default: the one "
                                         "served before)")
    @line_magic
    def services(self, line: str = ""):
        """The services panel (a widget in a notebook; the list elsewhere), or list, start, stop,
        restart one, or show its log."""
        if not line.strip() and show_widget(self.shell, "ServicesPanel",
                                             workspace=self.workspace):
            return None
        args = parse_argstring(self.services, line)
        if args.action not in _ACTIONS:
            raise UsageError("%services: " + unknown_name("action", args.action, _ACTIONS))
        if args.action == "list":
            if args.name:
                raise UsageError("%services list takes no name")
            print(services_table(services(self.workspace.home)))
            return None
        if not args.name:
            raise UsageError(f"%services {args.action} needs a service NAME")
        try:
            svc = get_service(args.name, self.workspace.home)
        except ServiceNotFoundError as exc:
            raise UsageError(str(exc)) from None
        with front_end("magic"):  # advice in errors and notes in %services syntax
            self._act(svc, args)
        return None

    def _act(self, svc: Any, args: Any) -> None:
        if args.action == "logs":
            print(svc.logs(tail=args.tail))
        # progress=None: one self-updating line in a notebook (stderr would draw a pink box
        # around a successful start), nothing elsewhere; the outcome is printed below
        elif args.action == "start":
            svc.start(timeout=args.timeout, progress=None)
        elif args.action == "stop":
            svc.stop(timeout=args.timeout, force=args.force)
        elif args.action in ("rollback", "unpin"):
            if not hasattr(svc, "rollback"):
                verb = "roll back" if args.action == "rollback" else args.action
                raise UsageError(f"{args.name} is a {svc.kind} service: it has no model "
                                 f"versions to {verb}")
            if args.action == "rollback":
                svc.rollback(to=args.to, progress=None)  # its repr below says what it pinned
            else:
                print(f"{args.name}: unpinned" if svc.pinned else f"{args.name}: was not pinned")
                svc.unpin()
        else:
            svc.restart(timeout=args.timeout)
        if args.action != "logs":
            print(repr(svc))
