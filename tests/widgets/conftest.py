"""Widgets are real ipywidgets objects driven by clicking their buttons; services behind them are
real processes in a temporary state folder."""

from __future__ import annotations

import pytest

PING_SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/ping" else 404)
        self.end_headers()
    def log_message(self, *args):
        sys.stdout.write("request %s\\n" % self.path)
        sys.stdout.flush()
print("serving", flush=True)
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"""


@pytest.fixture
def ping_server(tmp_path):
    path = tmp_path / "ping_server.py"
    path.write_text(PING_SERVER)
    return path


def rows(panel):
    """{key: row} of a panel's table (its rows are updated in place)."""
    return panel._table.rows


def text(row):
    """The row's cells as one string of HTML (without the <wbr> wrap hints in addresses)."""
    return " | ".join(cell.value for cell in row.cells).replace("<wbr>", "")


def buttons(row):
    """{verb: button} of one panel row (the same objects across refreshes)."""
    return dict(row.buttons)


def widget_count():
    """Widget models alive in this process (what a kernel keeps until they are closed)."""
    from ipywidgets.widgets import widget

    return len(widget._instances)


def eventually(predicate, timeout: float = 10.0):
    """Poll `predicate` until it holds or the deadline passes (events arrive on other threads)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.01)
