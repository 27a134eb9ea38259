"""`ctcd monitor NAME`: the monitor report of a model service from a shell."""

from __future__ import annotations

import argparse
import json

from .group import Group

__all__ = ["COMMANDS"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the model service")
    parser.add_argument("--window", default="1h",
                        help="how far back: 30m, 1h, 7d, or 'all' (default: 1h)")
    parser.add_argument("--min-labels", type=int, default=50,
                        help="labels needed before live accuracy is shown (default: 50)")
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON (the shape of the REST API)")


def _monitor(args: argparse.Namespace) -> int:
    from ..services.prediction_access import log_of
    from ..views.monitor import monitor_text

    window = None if args.window.strip().lower() == "all" else args.window
    report = log_of(args.name, args.home).monitor(window, min_labels=args.min_labels)
    data = report.to_dict()
    if args.json:
        print(json.dumps({"service": args.name, **data}, indent=2))
    else:
        print(monitor_text(data, args.name))
    return 0


COMMANDS = {
    "monitor": Group("live accuracy, errors, latency and drift of a model service, per version",
                     _arguments, _monitor),
}
