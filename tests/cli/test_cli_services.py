"""`ctcd services ...` in-process through `main(argv)`, and once through the console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ctcd_jupyter.cli import main
from ctcd_jupyter.services import LocalDaemonService, ServiceState, get_service

SERVER = ("import http.server, sys\n"
          "class H(http.server.BaseHTTPRequestHandler):\n"
          "    def do_GET(self):\n"
          "        self.send_response(200); self.end_headers()\n"
          "print('listening', flush=True)\n"
          "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n")


@pytest.fixture
def web(home):
    return LocalDaemonService("web", [sys.executable, "-c", SERVER, "{port}"], port=0,
                              health_path="/")


def test_services_commands(web, capsys):
    assert main(["services", "start", "web", "--timeout", "10"]) == 0
    assert "web: ACTIVE http://127.0.0.1:" in capsys.readouterr().out
    assert main(["services", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["NAME", "KIND", "STATUS"]
    assert "web" in out and "ACTIVE" in out
    assert main(["services", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "ACTIVE"
    assert main(["services", "describe", "web", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pid"] == web.pid
    assert main(["services", "logs", "web", "-n", "500"]) == 0
    assert "listening" in capsys.readouterr().out
    assert main(["services", "stop", "web"]) == 0
    assert web.status is ServiceState.INACTIVE
    assert main(["services", "delete", "web"]) == 0
    assert main(["services", "list"]) == 0
    assert capsys.readouterr().out.strip().endswith("no services")


def test_errors_are_one_line(home, capsys):
    assert main(["services", "stop", "ghost"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ctcd: error: no service named 'ghost'") and err.count("\n") == 1
    with pytest.raises(SystemExit) as info:
        main(["services", "frobnicate"])
    assert info.value.code == 2


def test_console_script_stops_a_service_started_elsewhere(web, home):
    web.start(timeout=10)
    ctcd = Path(sys.executable).with_name("ctcd")
    out = subprocess.run([str(ctcd), "services", "stop", "web"], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "CTCD_HOME": str(home)})
    assert out.returncode == 0, out.stderr
    assert get_service("web").status is ServiceState.INACTIVE
