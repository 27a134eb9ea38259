"""`ctcd run FILE` and `ctcd prefect serve|deploy FILE`: exported pipelines off the kernel.

Only parses and calls `ctcd_jupyter.portable.runfile` and `ctcd_jupyter.prefect`.
"""

from __future__ import annotations

import argparse
import sys

from .group import Group

__all__ = ["COMMANDS"]


def _run_arguments(p: argparse.ArgumentParser) -> None:
    from ..portable.runfile import add_run_arguments

    p.add_argument("file", help="the exported file, e.g. cd_pipeline.py")
    add_run_arguments(p)


def _prefect_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = sub.add_parser("serve", help="a deployment served by this process (flow.serve)")
    deploy = sub.add_parser("deploy", help="a deployment that workers of a work pool run")
    for q in (serve, deploy):
        q.add_argument("file", help="the exported file")
        when = q.add_mutually_exclusive_group()
        when.add_argument("--cron", metavar="EXPR", help='a cron expression, e.g. "0 3 * * 1"')
        when.add_argument("--every", metavar="DURATION", help="an interval: 30s, 5m, 1h, 1d")
        q.add_argument("--tz", metavar="ZONE", default=None,
                       help="time zone of --cron (default: UTC)")
        q.add_argument("--param", "-p", action="append", default=[], metavar="K=V",
                       help="a parameter value for every run; repeatable")
        q.add_argument("--name", default=None, help="deployment name (default: the pipeline's)")
        q.add_argument("--no-cache", action="store_true",
                       help="recompute every step in every run (default: unchanged steps with "
                            "unchanged inputs are ctcd cache hits)")
    deploy.add_argument("--work-pool", required=True, metavar="POOL",
                        help="the work pool whose workers run it (prefect worker start "
                             "--pool POOL)")
    deploy.add_argument("--create-pool", action="store_true",
                        help="create POOL as a process pool if it does not exist")


def _run(args: argparse.Namespace) -> int:
    from ..portable.runfile import load_file, parse_params, report, run_file

    exported = load_file(args.file)
    run = run_file(exported, parse_params(args.param), home=args.home,
                   cache=not args.no_cache)
    return report(run)


def _prefect(args: argparse.Namespace) -> int:
    from .. import prefect as ctcd_prefect
    from ..portable.runfile import parse_params

    params = parse_params(args.param)
    schedule = ctcd_prefect.schedule_from_args(cron=args.cron, every=args.every, tz=args.tz,
                                               file=args.file)
    if args.action == "serve":
        ctcd_prefect.serve(args.file, schedule=schedule, params=params, name=args.name,
                           home=args.home, cache=not args.no_cache)
        return 0
    deployment_id = ctcd_prefect.deploy(args.file, work_pool=args.work_pool, schedule=schedule,
                                        params=params, name=args.name,
                                        create_pool=args.create_pool, home=args.home,
                                        cache=not args.no_cache)
    print(f"deployment {deployment_id}: workers of pool {args.work_pool!r} run it "
          f"(prefect worker start --pool {args.work_pool})", file=sys.stdout)
    return 0


COMMANDS = {
    "run": Group("run an exported pipeline file once (%pipeline export writes it)",
                 _run_arguments, _run,
                 "run a pipeline file written by %pipeline export once, in this process, "
                 "recorded in the state folder (trigger cli; exit 0 if it succeeded, else 1)"),
    "prefect": Group("serve or deploy an exported pipeline file as a Prefect flow",
                     _prefect_arguments, _prefect,
                     "serve or deploy an exported pipeline file as a Prefect flow (needs "
                     "ctcd_jupyter[prefect]; PREFECT_API_URL names the Prefect server)"),
}
