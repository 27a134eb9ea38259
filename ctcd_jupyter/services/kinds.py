"""The table of service kinds that can be stored: name -> class. Classes add themselves with
`@register_kind`; a lookup error lists the valid names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ServiceSpecError, unknown_name

if TYPE_CHECKING:
    from .base import BaseService

__all__ = ["SERVICE_KINDS", "kind_class", "kind_name", "register_kind"]

# Service kinds that may be stored: name → class. Classes add themselves with @register_kind.
SERVICE_KINDS: dict[str, type[BaseService]] = {}

def register_kind(name: str):
    """Class decorator: store services of this class under the kind `name`."""

    def decorate(cls: type[BaseService]) -> type[BaseService]:
        if cls.__module__ == "__main__":
            raise ServiceSpecError(
                f"service class {cls.__qualname__} is defined in __main__ (a notebook cell or "
                "script); another process could not import it. Define it in a module.",
                kind=name)
        SERVICE_KINDS[name] = cls
        cls.kind = name
        return cls

    return decorate


def kind_class(name: str) -> type[BaseService]:
    try:
        return SERVICE_KINDS[name]
    except KeyError:
        raise ServiceSpecError(unknown_name("service kind", name, SERVICE_KINDS),
                               kind=name) from None


def kind_name(cls: type) -> str:
    """The stored kind of a service class; refuses classes that are not registered kinds."""
    for name, known in SERVICE_KINDS.items():
        if known is cls:
            return name
    where = "defined in a notebook cell or script (__main__)" if cls.__module__ == "__main__" \
        else f"from module {cls.__module__}"
    valid = ", ".join(f"{k} ({v.__name__})" for k, v in sorted(SERVICE_KINDS.items()))
    raise ServiceSpecError(
        f"{cls.__qualname__} ({where}) is not a registered service kind, so it cannot be "
        f"stored as data; valid kinds: {valid}")
