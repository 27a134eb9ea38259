"""uvicorn HTTP protocol that sets TCP_NODELAY on every accepted connection.

With `--workers N > 1` uvicorn binds the listening socket itself with `socket.socket(AF_INET)`,
whose `proto` is 0, so asyncio's `_set_nodelay` (which checks `proto == IPPROTO_TCP`) skips the
accepted connections. The response then leaves as a small header segment and a small body
segment with Nagle on, and a kept-alive client's delayed ACK costs ~40 ms per request
(uvicorn issue #3149). Selected through `UVICORN_HTTP=ctcd_nodelay_http:NoDelayHTTPProtocol`,
which `mlflow models serve` passes on to uvicorn unchanged. Imports nothing from ctcd_jupyter.
"""

import contextlib
import socket

from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

_Base = import_from_string(HTTP_PROTOCOLS["auto"])


class NoDelayHTTPProtocol(_Base):
    def connection_made(self, transport):
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
