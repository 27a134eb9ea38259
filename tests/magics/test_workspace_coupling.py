"""Every front end acts on the current workspace, and unloading leaves no thread behind (bugs
found when the layers were made visible)."""

from __future__ import annotations

import threading
import time

import ctcd_jupyter as ctcd
from ctcd_jupyter.widgets import ServicesPanel


def _poll(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.01)


def test_services_magic_and_panel_show_the_workspace_set_after_loading(shell, tmp_path,
                                                                        capsys):
    other = ctcd.Workspace(tmp_path / "elsewhere", tracking=False)
    ctcd.LocalDaemonService("only-elsewhere", ["sleep", "60"], home=other.home)
    old = ctcd.set_workspace(other)
    try:
        shell.run_line_magic("services", "list")
        assert "only-elsewhere" in capsys.readouterr().out
        panel = ServicesPanel()
        assert panel.workspace.home == other.home
        panel.close()
    finally:
        ctcd.set_workspace(old)
        other.close()


def test_unload_leaves_no_worker_thread_behind(shell):
    shell.run_cell_magic("step", "s --no-run", "x = 1")
    shell.run_line_magic("pipeline", "p s")
    shell.run_line_magic("schedule", "p --every 1s")
    shell.run_line_magic("schedule", "wait p --runs 1 --timeout 30")
    assert any(t.name == "ctcd-worker" for t in threading.enumerate())
    shell.run_line_magic("unload_ext", "ctcd_jupyter")
    started = time.monotonic()
    _poll(lambda: not any(t.name in ("ctcd-worker", "ctcd-scheduler")
                          for t in threading.enumerate()))
    assert time.monotonic() - started < 5.0
    shell.run_line_magic("load_ext", "ctcd_jupyter")  # the fixture unloads it again
