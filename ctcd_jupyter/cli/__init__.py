"""The `ctcd` command: act on the same state folder as the notebooks, from a shell.

Each module of this package is one noun's commands (a `COMMANDS` table of `Group`s); this one
only builds the parser and turns errors into one line and an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import CtcdError, front_end
from . import demo, mlflow_ui, monitor, portable, predictions, runs, services, serving
from .group import CtcdParser, Group

__all__ = ["GROUPS", "Group", "build_parser", "main"]

GROUPS: dict[str, Group] = {}
for _module in (demo, runs, services, serving, predictions, monitor, mlflow_ui, portable):
    GROUPS.update(_module.COMMANDS)

# A failed start's log tail follows the one-line error; more than this is `ctcd services logs`.
_LOG_TAIL_LINES = 10


def build_parser() -> argparse.ArgumentParser:
    parser = CtcdParser(
        prog="ctcd", description="Continuous training and deployment from notebooks.",
        epilog="`ctcd COMMAND --help` describes one command.")
    parser.add_argument("--home", default=None,
                        help="state folder (default: $CTCD_HOME, else ./.ctcd)")
    sub = parser.add_subparsers(dest="group", metavar="COMMAND")
    for name, group in GROUPS.items():
        group.add_arguments(sub.add_parser(
            name, help=group.help, description=group.description or group.help))
    return parser


def command_list() -> str:
    """What bare `ctcd` prints: every command with its one-line help."""
    width = max(len(name) for name in GROUPS)
    lines = ["usage: ctcd [--home HOME] COMMAND ...", "",
             "Continuous training and deployment from notebooks. Commands:", ""]
    lines += [f"  {name:<{width}}  {group.help}" for name, group in GROUPS.items()]
    lines += ["", "`ctcd COMMAND --help` describes one command; `ctcd demo` runs the main "
                  "example."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `ctcd` command; errors print one line to stderr and give exit code 1."""
    args = build_parser().parse_args(argv)  # usage errors exit with 2
    if args.group is None:
        print(command_list())
        return 0
    try:
        with front_end("cli"):  # advice in errors is written as `ctcd ...` commands
            return GROUPS[args.group].handler(args)
    except CtcdError as exc:
        print(f"ctcd: error: {_one_line(exc)}", file=sys.stderr)
        log_tail = (getattr(exc, "log_tail", None) or "").strip()
        if log_tail:
            tail = log_tail.splitlines()[-_LOG_TAIL_LINES:]
            print("\n".join("  | " + line for line in tail), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ctcd: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
