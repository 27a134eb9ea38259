"""The `ctcd` command: act on the same state folder as the notebooks, from a shell.

Each module of this package is one noun's commands (a `COMMANDS` table of `Group`s); this one
only builds the parser and turns errors into one line and an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import CtcdError, front_end
from . import demo, mlflow_ui, portable, runs, services, serving
from .group import Group

__all__ = ["GROUPS", "Group", "main"]

GROUPS: dict[str, Group] = {}
for _module in (services, runs, serving, portable, mlflow_ui, demo):
    GROUPS.update(_module.COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctcd", description="Continuous training and deployment from notebooks.")
    parser.add_argument("--home", default=None,
                        help="state folder (default: $CTCD_HOME, else ./.ctcd)")
    sub = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for name, group in GROUPS.items():
        group.add_arguments(sub.add_parser(name, help=group.help, description=group.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `ctcd` command; errors print one line to stderr and give exit code 1."""
    args = build_parser().parse_args(argv)  # usage errors exit with 2
    try:
        with front_end("cli"):  # advice in errors is written as `ctcd ...` commands
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
