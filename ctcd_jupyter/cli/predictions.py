"""`ctcd predictions NAME` and `ctcd labels NAME FILE.csv`: the prediction log from a shell."""

from __future__ import annotations

import argparse
import sys

from .group import Group

__all__ = ["COMMANDS"]

_TABLE_ROWS = 20


def _predictions_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the model service")
    parser.add_argument("--since", default=None,
                        help="from this long ago (1h, 30m, 7d) or epoch seconds")
    parser.add_argument("--until", default=None, help="up to this long ago, or epoch seconds")
    parser.add_argument("--version", default=None, help="only the rows of this model version")
    parser.add_argument("--limit", type=int, default=None,
                        help=f"the newest N rows (default: all with --json/--csv, "
                             f"{_TABLE_ROWS} in the table)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON records")
    fmt.add_argument("--csv", action="store_true", help="print CSV")


def _predictions(args: argparse.Namespace) -> int:
    from ..services.prediction_access import log_of

    limit = args.limit if args.limit is not None or args.json or args.csv else _TABLE_ROWS
    frame = log_of(args.name, args.home).predictions(
        since=_number(args.since), until=_number(args.until), version=args.version,
        limit=limit)
    if args.json:
        print(frame.to_json(orient="records", indent=2))
    elif args.csv:
        frame.to_csv(sys.stdout, index=False)
    elif frame.empty:
        print(f"no logged predictions for {args.name!r}")
    else:
        print(frame.to_string(index=False, max_colwidth=40))
    return 0


def _number(value: str | None) -> float | str | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return value  # a duration such as "1h"


def _labels_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the model service")
    parser.add_argument("file", help="a CSV file with the columns request_id and label")


def _labels(args: argparse.Namespace) -> int:
    from ..services.prediction_access import labels_file, log_of

    svc = log_of(args.name, args.home)
    result = svc.log_labels(labels_file(args.file))
    print(f"{args.name}: {result}")
    if result.unknown_ids:
        shown = ", ".join(result.unknown_ids[:10])
        more = f" and {result.unknown - 10} more" if result.unknown > 10 else ""
        print(f"unknown request ids: {shown}{more}")
    return 0


COMMANDS = {
    "predictions": Group("the prediction log of a model service", _predictions_arguments,
                         _predictions),
    "labels": Group("join true outcomes (a CSV of request_id,label) to logged predictions",
                    _labels_arguments, _labels),
}
