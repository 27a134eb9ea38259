"""The `ctcd` command: act on the same state folder as the notebooks, from a shell.

`cli.py` only parses and calls the engine. Each command group is one entry of `GROUPS`
(name → help, a function adding its arguments, a handler); add `runs` and `demo` there.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

from .errors import CtcdError

__all__ = ["GROUPS", "Group", "main"]


class Group(NamedTuple):
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]


# -- ctcd services ----------------------------------------------------------------------------
def _services_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="every known service and its status")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = sub.add_parser("describe", help="everything known about one service")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("logs", help="the end of a service's log")
    p.add_argument("name")
    p.add_argument("-n", "--tail", type=int, default=50, help="number of lines (default 50)")
    p = sub.add_parser("start", help="start a service and wait until it is healthy")
    p.add_argument("name")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait for health")
    p = sub.add_parser("stop", help="stop a service (TERM, then KILL after the timeout)")
    p.add_argument("name")
    p.add_argument("--timeout", type=float, default=None, help="seconds before KILL")
    p.add_argument("--force", action="store_true", help="KILL at once")
    p = sub.add_parser("delete", help="stop a service and forget it")
    p.add_argument("name")


def _services(args: argparse.Namespace) -> int:
    from .services import get_service, services
    from .services.text import describe_text, services_table

    home = args.home
    if args.action == "list":
        items = services(home)
        if args.json:
            print(json.dumps([_summary(s) for s in items], indent=2))
        else:
            print(services_table(items))
        return 0
    svc = get_service(args.name, home)
    if args.action == "describe":
        print(json.dumps(svc.describe(), indent=2, default=str) if args.json
              else describe_text(svc))
    elif args.action == "logs":
        text = svc.logs(tail=args.tail)
        if text:
            print(text)
    elif args.action == "start":
        svc.start(timeout=args.timeout, progress=True)
        print(f"{svc.name}: {svc.status.value} {svc.endpoint or ''}".rstrip())
    elif args.action == "stop":
        svc.stop(timeout=args.timeout, force=args.force)
        print(f"{svc.name}: {svc.status.value}")
    elif args.action == "delete":
        svc.delete()
        print(f"{svc.name}: deleted")
    return 0


def _summary(svc) -> dict:
    return {"name": svc.name, "kind": getattr(svc, "stored_kind", svc.kind),
            "status": svc.status.value, "endpoint": svc.endpoint, "last_error": svc.last_error}


# -- ctcd runs --------------------------------------------------------------------------------
def _runs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", nargs="?", default=None, help="only this pipeline's runs")
    parser.add_argument("-n", type=int, default=20, help="how many runs (default 20)")
    parser.add_argument("--show", metavar="RUN_ID", default=None,
                        help="one run in full: steps, notes, error and log (an id prefix works)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _runs(args: argparse.Namespace) -> int:
    from .runs import format_run, format_runs, load_run, load_runs, reap_orphaned_runs
    from .state import state_home
    from .store import Store

    store = Store(state_home(args.home))
    try:
        reap_orphaned_runs(store)
        if args.show:
            run = load_run(store, args.show)
            if run is None:
                print(f"ctcd: error: no single run matches {args.show!r}", file=sys.stderr)
                return 1
            print(json.dumps(run.to_dict(), indent=2) if args.json else format_run(run))
            return 0
        runs = load_runs(store, args.pipeline, limit=max(1, args.n))
        print(json.dumps([r.to_dict() for r in runs], indent=2) if args.json
              else format_runs(runs))
        return 0
    finally:
        store.close()


# -- ctcd gc ----------------------------------------------------------------------------------
def _gc_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", type=int, default=None, metavar="N",
                        help="runs per pipeline whose outputs are kept "
                             "(default: $CTCD_KEEP_RUNS, else 50)")


def _gc(args: argparse.Namespace) -> int:
    from .workspace import Workspace

    if args.keep is not None and args.keep < 1:
        print("ctcd: error: --keep must be at least 1", file=sys.stderr)
        return 2
    workspace = Workspace(args.home, tracking=False)
    try:
        print(workspace.prune(args.keep))
    finally:
        workspace.close()
    return 0


# -- ctcd demo --------------------------------------------------------------------------------
def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    from .demo import EXAMPLES

    parser.add_argument("example", nargs="?", default="continuous-deployment",
                        help=f"an example ({', '.join(EXAMPLES)}) or a notebook path "
                             "(default: continuous-deployment, end to end)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per cell")


def _demo(args: argparse.Namespace) -> int:
    from .demo import find_notebook, run_notebook

    try:
        path = find_notebook(args.example)
    except FileNotFoundError as exc:
        print(f"ctcd: error: {exc}", file=sys.stderr)
        return 1
    return 0 if run_notebook(path, timeout=args.timeout) else 1


GROUPS: dict[str, Group] = {
    "services": Group("list, inspect, start and stop services", _services_arguments, _services),
    "runs": Group("pipeline run history", _runs_arguments, _runs),
    "gc": Group("delete step outputs that only old runs reference", _gc_arguments, _gc),
    "demo": Group("run an example notebook headless and print what it shows",
                  _demo_arguments, _demo),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctcd", description="Continuous training and deployment from notebooks.")
    parser.add_argument("--home", default=None,
                        help="state folder (default: $CTCD_HOME, else ./.ctcd)")
    sub = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for name, group in GROUPS.items():
        group.add_arguments(sub.add_parser(name, help=group.help, description=group.help))
    from .cli_beyond import register  # run FILE, prefect serve|deploy

    parser.set_defaults(_beyond=register(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `ctcd` command; errors print one line to stderr and give exit code 1."""
    args = build_parser().parse_args(argv)  # usage errors exit with 2
    try:
        if args.group not in GROUPS:
            return args._beyond[args.group](args)
        return GROUPS[args.group].handler(args)
    except CtcdError as exc:
        print(f"ctcd: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
              file=sys.stderr)
        log_tail = getattr(exc, "log_tail", None)
        if log_tail:
            print(log_tail, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ctcd: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
