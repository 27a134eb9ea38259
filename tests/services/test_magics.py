"""`%services` through a real InteractiveShell."""

from __future__ import annotations

import pytest
from service_helpers import ping_command

from ctcd_jupyter.magics.services import ServiceMagics
from ctcd_jupyter.services import LocalDaemonService, ServiceState


@pytest.fixture
def ip():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.register_magics(ServiceMagics)
    return shell


def test_services_magic_text_forms(home, ping_server, ip, capsys):
    svc = LocalDaemonService("web", ping_command(ping_server), port=0, health_path="/ping")
    ip.run_line_magic("services", "")  # bare: the list, for now
    out = capsys.readouterr().out
    assert "web" in out and "INACTIVE" in out
    ip.run_line_magic("services", "start web --timeout 10")
    assert svc.status is ServiceState.ACTIVE
    ip.run_line_magic("services", "list")
    out = capsys.readouterr().out
    assert "web" in out and "ACTIVE" in out
    ip.run_line_magic("services", "logs web -n 3")
    assert "request /ping" in capsys.readouterr().out
    ip.run_line_magic("services", "restart web --timeout 10")
    assert svc.status is ServiceState.ACTIVE
    ip.run_line_magic("services", "stop web")
    assert svc.status is ServiceState.INACTIVE


def test_services_magic_usage_errors(home, ip):
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="needs a service NAME"):
        ip.run_line_magic("services", "start")
    with pytest.raises(UsageError, match="no service named 'nope'"):
        ip.run_line_magic("services", "stop nope")
    with pytest.raises(UsageError, match="no action named"):
        ip.run_line_magic("services", "explode web")
