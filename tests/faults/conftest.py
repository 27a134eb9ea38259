"""Fault scenarios for services with real processes: every test gets the top-level `home` (a
fresh state folder whose services are stopped afterwards), and then a safety net that kills
whatever is still running in the sessions its services started, failing the test if it must."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from fault_helpers import ASGI_APP, PING_SERVER, kill_sessions, recorded_sessions


@pytest.fixture
def state(home):
    """`home`, and afterwards no process left in any session a service of it started."""
    sids: set[int] = set()
    yield home
    from ctcd_jupyter.services import services

    if (home / "state.db").exists():
        sids.update(recorded_sessions(home))
        for svc in services(home):
            # an unreadable row refuses: the net below catches its processes
            with contextlib.suppress(Exception):
                svc.stop(timeout=5)
    leftovers = kill_sessions(sorted(sids))
    assert not leftovers, f"test left processes running: {leftovers}"


@pytest.fixture(scope="session")
def ping_server(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scripts") / "ping_server.py"
    path.write_text(PING_SERVER)
    return path


@pytest.fixture(scope="session")
def asgi_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("asgi")
    (folder / "asgi_app.py").write_text(ASGI_APP)
    return folder


@pytest.fixture
def jp_server_config(home):
    """For the REST scenarios: a real Jupyter server with the ctcd extension on `home`."""
    return {"ServerApp": {"jpserver_extensions": {"ctcd_jupyter": True}}}
