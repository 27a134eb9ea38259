"""The base of the package's documented state enums (`RunState`, `ServiceState`, ...): members
are their own values, so they store as text and read as it."""

from __future__ import annotations

import enum

__all__ = ["StrEnum"]


class StrEnum(str, enum.Enum):
    """Python 3.11's `enum.StrEnum`, for 3.10: `str()` and f-strings give the value
    (`RUNNING`, not `RunState.RUNNING`)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)
