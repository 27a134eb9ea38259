"""Help and hints for the magics: verbs shown as subcommands with one example each in `%magic?`,
and one-line hints for the usual slips (an unquoted cron, a space in a step name)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from IPython.core.error import UsageError

__all__ = ["cron_hint", "step_name_hint", "subcommands"]


def subcommands(magic: str, verbs: Sequence[tuple[str, str, str]]) -> dict[str, str]:
    """`kwds(...)` for magic_arguments: a usage line per verb and an epilog listing them as
    subcommands with one example each. `verbs`: (syntax, what it does, example)."""
    # argparse %-formats the usage, and IPython's formatter puts "%" before its first line
    usage = "\n  %%".join(f"%(prog)s {syntax.replace('%', '%%')}".rstrip()
                           for syntax, _, _ in verbs)
    lines = ["subcommands:"]
    for syntax, meaning, example in verbs:
        lines.append(f"  %{magic} {syntax}".rstrip())
        lines.append(f"      {meaning}; e.g. {example}")
    return {"usage": usage, "epilog": "\n".join(lines)}


# --cron followed by an unquoted expression: the first field is the option's value and the
# other four fields are left over ("unrecognized arguments: * * * *").
_CRON = re.compile(r"--cron[ =](?P<first>[^'\"\s]\S*)(?P<rest>(?:\s+(?!-)[^\s'\"]+){1,5})")


def cron_hint(line: str) -> None:
    """UsageError with the quoted form when `line` has `--cron` and an unquoted expression."""
    found = _CRON.search(line)
    if found:
        expression = " ".join([found["first"], *found["rest"].split()])
        raise UsageError(f'quote the cron expression: --cron "{expression}" (unquoted, only '
                         f'{found["first"]!r} is read as --cron)')


def step_name_hint(line: str) -> None:
    """UsageError when the name of `%%step` has spaces (`%%step load data`)."""
    try:
        words = shlex.split(line)
    except ValueError:
        return
    names = []
    for word in words:
        if word.startswith("-"):
            break
        names.append(word)
    if len(names) > 1:
        raise UsageError(f"a step name has no spaces: %%step {'_'.join(names)} "
                         f"(not {' '.join(names)!r})")
