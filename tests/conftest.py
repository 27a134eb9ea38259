"""Fixtures shared by every layer: a temporary state folder per test, and a real IPython shell."""

from __future__ import annotations

import contextlib

import pytest

import ctcd_jupyter as ctcd

# jp_fetch & co. for tests/server: a real Jupyter server with the extension.
pytest_plugins = ["pytest_jupyter.jupyter_server"]



@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh state folder; MLflow off unless a test turns it on. Services a test left in it
    are stopped afterwards."""
    state = tmp_path / "ctcd-home"
    monkeypatch.setenv("CTCD_HOME", str(state))
    monkeypatch.setenv("CTCD_TRACKING", "0")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield state
    if (state / "state.db").exists():
        from ctcd_jupyter.services import services

        for svc in services(state):
            with contextlib.suppress(Exception):
                svc.stop(timeout=10, force=True)


@pytest.fixture
def workspace(home):
    """The process's default workspace, pointed at a fresh state folder, with its own namespace."""
    ws = ctcd.Workspace(home, namespace={}, tracking=False)
    old = ctcd.set_workspace(ws)
    yield ws
    ctcd.set_workspace(old)
    ws.close()


@pytest.fixture
def shell(workspace):
    """A real InteractiveShell with the extension loaded; unloaded and cleaned afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "ctcd_jupyter")
    workspace.namespace = ip.user_ns
    yield ip
    ip.run_line_magic("unload_ext", "ctcd_jupyter")
    ip.reset(new_session=False)
