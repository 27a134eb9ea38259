"""`ctcd services list|describe|logs|start|stop|delete|warm`."""

from __future__ import annotations

import argparse
import json

from .group import Group

__all__ = ["COMMANDS"]


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
    p = sub.add_parser("warm", help="the warm processes that fork model servers in ~0.2 s")
    p.add_argument("--stop", action="store_true", help="stop them (servers keep running)")


def _services(args: argparse.Namespace) -> int:
    from ..services import get_service, services
    from ..views.json import service_json
    from ..views.services import describe_text, services_table

    home = args.home
    if args.action == "list":
        items = services(home)
        if args.json:
            print(json.dumps([service_json(s) for s in items], indent=2, default=str))
        else:
            print(services_table(items))
        return 0
    if args.action == "warm":
        return _warm(args.stop)
    svc = get_service(args.name, home)
    if args.action == "describe":
        print(json.dumps(service_json(svc, detail=True), indent=2, default=str) if args.json
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


def _warm(stop: bool) -> int:
    from ..services import warm_start
    from ..views.format import table

    if stop:
        print(f"stopped {warm_start.stop()} warm process(es)")
        return 0
    found = warm_start.processes()
    if not found:
        print("no warm process (the next model server starts cold, and leaves one)"
              if warm_start.enabled() else "warm starts are off (CTCD_WARM_START=0)")
        return 0
    print(table([["PID", "RSS MiB", "SOCKET"],
                 *[[str(p["pid"]), f"{p['rss_mib']:.0f}", p["socket"]] for p in found]]))
    return 0


COMMANDS = {
    "services": Group("list, inspect, start and stop services", _services_arguments, _services),
}
