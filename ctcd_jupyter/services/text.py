"""Plain-text views of services, shared by the CLI and the `%services` magic."""

from __future__ import annotations

import json
from collections.abc import Sequence

from .base import BaseService

__all__ = ["describe_text", "services_table"]


def services_table(items: Sequence[BaseService]) -> str:
    """One line per service: name, kind, status, pid, endpoint (and the error, shortened)."""
    if not items:
        return "no services"
    rows = [("NAME", "KIND", "STATUS", "PID", "ENDPOINT / ERROR")]
    for svc in items:
        status = svc.status.value
        pid = getattr(svc, "pid", None)
        where = svc.endpoint or ""
        if status == "ERROR" and svc.last_error:
            where = svc.last_error.splitlines()[0][:100]
        kind = getattr(svc, "stored_kind", svc.kind)
        rows.append((svc.name, kind, status, str(pid) if pid and status != "INACTIVE" else "-",
                     where or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        for r in rows)


def describe_text(svc: BaseService) -> str:
    info = svc.describe()
    error = info.pop("last_error", None)
    lines = [f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}"
             for k, v in info.items() if k != "runtime"]
    if error:
        lines.append("last_error: " + error.replace("\n", "\n  "))
    return "\n".join(lines)
