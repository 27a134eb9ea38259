"""`--help` of `ctcd` and of every command under it (found by walking the parser, so a command
added later is covered), bare `ctcd`, and help text that mentions a magic's `%`."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from ctcd_jupyter.cli import GROUPS, build_parser, main
from ctcd_jupyter.cli.group import CtcdParser

CTCD = Path(sys.executable).with_name("ctcd")


def command_paths(parser: argparse.ArgumentParser,
                  path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of the tree: (), ("services",), ("services", "list"), ..."""
    found = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += command_paths(child, (*path, name))
    return found


def test_the_walk_finds_nested_commands():
    paths = command_paths(build_parser())
    assert {(), ("demo",), ("services", "warm"), ("prefect", "deploy")} <= set(paths)
    assert {p[0] for p in paths if p} == set(GROUPS)


@pytest.mark.parametrize("path", command_paths(build_parser()), ids=" ".join)
def test_help_of_every_command(path, capsys):
    with pytest.raises(SystemExit) as info:
        main([*path, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {' '.join(('ctcd', *path))}")


def test_help_through_the_entry_point_outside_the_checkout(tmp_path):
    # `ctcd run`'s help says "%pipeline export": argparse read it as a format and crashed.
    for argv in (["--help"], ["run", "--help"], ["demo", "--help"]):
        done = subprocess.run([str(CTCD), *argv], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("usage: ctcd") and done.stderr == ""
        if argv[0] == "run":
            assert "%pipeline export" in done.stdout


def test_bare_ctcd_lists_every_command_on_one_line(tmp_path):
    done = subprocess.run([str(CTCD)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    for name, group in GROUPS.items():
        assert [line for line in lines if line.split()[:1] == [name]] == \
            [f"  {name:<{max(map(len, GROUPS))}}  {group.help}"]
    assert all(len(line) <= 100 for line in lines)
    assert "ctcd COMMAND --help" in done.stdout


def test_help_text_may_say_percent_and_still_use_argparse_fields(capsys):
    parser = CtcdParser(prog="x")
    sub = parser.add_subparsers(dest="cmd")
    child = sub.add_parser("export", help="what %pipeline export writes, 100% readable")
    child.add_argument("--n", default=3, help="how many (default %(default)s); %%done")
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    assert "what %pipeline export writes, 100% readable" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["export", "--help"])
    assert "how many (default 3); %done" in capsys.readouterr().out
