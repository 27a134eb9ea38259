"""uvicorn HTTP protocol of the model servers: TCP_NODELAY on every accepted connection, and a
deadline for a request's headers.

TCP_NODELAY: with `--workers N > 1` uvicorn binds the listening socket itself with
`socket.socket(AF_INET)`, whose `proto` is 0, so asyncio's `_set_nodelay` (which checks `proto
== IPPROTO_TCP`) skips the accepted connections. The response then leaves as a small header
segment and a small body segment with Nagle on, and a kept-alive client's delayed ACK costs
~40 ms per request (uvicorn issue #3149). Off with CTCD_NODELAY=0.

Header deadline: uvicorn has none, so a connection that sends part of a request's headers and
then nothing stays open forever (300 of them did; each holds a socket and memory). Here the
headers of each request must be complete within CTCD_HEADER_TIMEOUT seconds (default 10) of the
connection's start, or of the first byte of that request on a kept-alive connection; else the
connection is closed. Bodies are the app's business (its request timeout, the size limit).

Selected through `UVICORN_HTTP=ctcd_nodelay_http:NoDelayHTTPProtocol`, which `mlflow models
serve` passes on to uvicorn unchanged. Imports nothing from ctcd_jupyter.
"""

import contextlib
import os
import socket

from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

_Base = import_from_string(HTTP_PROTOCOLS["auto"])
HEADER_TIMEOUT_ENV = "CTCD_HEADER_TIMEOUT"
NODELAY_ENV = "CTCD_NODELAY"


def _header_timeout():
    with contextlib.suppress(ValueError):
        value = float(os.environ.get(HEADER_TIMEOUT_ENV, "10"))
        return value if value > 0 else None
    return 10.0


class NoDelayHTTPProtocol(_Base):
    header_timeout = _header_timeout()
    nodelay = os.environ.get(NODELAY_ENV, "1") != "0"

    def connection_made(self, transport):
        sock = transport.get_extra_info("socket")
        if self.nodelay and sock is not None and sock.family in (socket.AF_INET,
                                                                   socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self._header_timer = None
        self._waiting_for = None  # the request cycle that was current when the timer started
        self._arm()

    def data_received(self, data):
        if self._header_timer is None and self._between_requests():
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self._header_timer is not None and self.cycle is not self._waiting_for:
            self._disarm()  # its headers are complete: a new request cycle started

    def connection_lost(self, exc):
        self._disarm()
        super().connection_lost(exc)

    def _between_requests(self):
        return self.cycle is None or self.cycle.response_complete

    def _arm(self):
        if self.header_timeout is not None:
            self._waiting_for = self.cycle
            self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self):
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self):
        self._header_timer = None
        if self.cycle is self._waiting_for and not self.transport.is_closing():
            self.transport.close()
