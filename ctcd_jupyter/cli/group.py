"""A command group of `ctcd` (its help, a function adding its arguments, a handler giving the
exit code), and the parser class every `ctcd` parser and subparser is made of.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["CtcdParser", "Group"]


class Group(NamedTuple):
    help: str  # one line in `ctcd`'s command list
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]
    description: str = ""  # the top of `ctcd COMMAND --help`; default: help


# A `%` that does not start `%(name)s` or `%%`: argparse %-formats every help string, so help
# that mentions a magic (`%pipeline export`) would crash `--help`.
_LONE_PERCENT = re.compile(r"(?<!%)%(?![(%])")


class _Formatter(argparse.HelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str | None:
        return _LONE_PERCENT.sub("%%", action.help) if action.help else action.help

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        # A description or epilog written with line breaks (a table of examples) is laid out
        # as written; one long line is wrapped.
        if "\n" in text:
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


class CtcdParser(argparse.ArgumentParser):
    """An ArgumentParser whose help text may say `%magic`. `add_subparsers` makes its
    subparsers of this class too, so the whole tree is safe wherever a group adds to it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
