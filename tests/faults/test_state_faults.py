"""A corrupt or read-only state folder: one clear error naming the file and what to do, and
reading commands that work read-only (issue 8)."""

from __future__ import annotations

import os

import pytest
from state_mounts import needs_mount, read_only

import ctcd_jupyter as ctcd
from ctcd_jupyter.cli import main


@pytest.mark.parametrize("content", [os.urandom(4096), b"SQLite format 3\x00" + os.urandom(2000),
                                     b"{}"])
def test_a_corrupt_state_db_is_one_clear_error(home, content, capsys):
    home.mkdir()
    (home / "state.db").write_bytes(content)
    with pytest.raises(ctcd.StateError, match=r"state\.db is not a readable ctcd state "
                                              r"database.*move it aside") as caught:
        ctcd.Workspace(home)
    assert caught.value.path == str(home / "state.db")
    for argv in (["runs"], ["services", "list"], ["gc"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "state.db is not a readable" in err
    (home / "state.db").unlink()  # as the message says; the next use starts afresh
    assert ctcd.Workspace(home, tracking=False).runs() == []


@needs_mount
def test_a_read_only_state_folder_reads_and_refuses_writes_clearly(home, capsys):
    workspace = ctcd.Workspace(home, tracking=False)
    run = ctcd.Pipeline("p", [ctcd.Step("a", "x = 1")], workspace=workspace).run()
    ctcd.LocalDaemonService("web", ["sleep", "60"], home=home)
    workspace.close()
    with read_only(home):
        assert main(["runs"]) == 0
        assert run.id in capsys.readouterr().out
        assert main(["services", "list"]) == 0
        assert "web" in capsys.readouterr().out
        assert main(["runs", "--json"]) == 0
        again = ctcd.Workspace(home, tracking=False)
        assert [r.id for r in again.runs()] == [run.id]
        with pytest.raises(ctcd.StateError, match="is read-only; make it writable"):
            ctcd.Pipeline("p", [ctcd.Step("a", "x = 1")], workspace=again).run()
        again.close()
    assert [r.id for r in ctcd.Workspace(home, tracking=False).runs()] == [run.id]  # nothing lost


@needs_mount
def test_a_new_state_folder_under_a_read_only_one_is_one_clear_error(tmp_path, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    with read_only(parent):
        assert main(["--home", str(parent / "new"), "runs"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot create the folder" in err
