"""`ServiceState`: the documented states of a service, wanted and observed."""

from __future__ import annotations

from ..enums import StrEnum

__all__ = ["ServiceState"]


class ServiceState(StrEnum):
    """The state of a service, as wanted by the user or as observed.

    INACTIVE          not running, and nobody asked it to run (or it was stopped)
    PENDING_STARTUP   launched, not yet healthy
    ACTIVE            running and answering its health check
    PENDING_SHUTDOWN  being stopped
    ERROR             should run but does not: exited, unhealthy, stale record, failed start
    """

    INACTIVE = "INACTIVE"
    PENDING_STARTUP = "PENDING_STARTUP"
    ACTIVE = "ACTIVE"
    PENDING_SHUTDOWN = "PENDING_SHUTDOWN"
    ERROR = "ERROR"
