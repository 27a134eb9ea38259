"""Services as text (the `%services list` / `ctcd services list` table, one service in full) and
as JSON: `service_json` is the one shape of `ctcd services --json` and `GET /ctcd/api/services`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .format import table, when
from .history import history_text

__all__ = ["describe_text", "pinned_of", "pinned_text", "services_table",
           "short_prediction_error", "warning_of"]

BaseService = Any  # duck-typed: views import nothing above them


def pinned_of(svc: BaseService) -> dict[str, Any] | None:
    """The pin a rollback put on the served version ({"version", "at", "reason"}), or None."""
    try:
        pin = getattr(svc, "pinned", None)
        pin = pin() if callable(pin) else pin
    except Exception:  # a service that cannot say is shown unpinned, not as an error
        return None
    return dict(pin) if isinstance(pin, Mapping) else None


def pinned_text(svc_or_pin: Any, *, short: bool = False) -> str:
    """"pinned v2 (by rollback at 10:42:05)" ("pinned v2" when `short`), or '' for a service
    that is not pinned."""
    pin = svc_or_pin if isinstance(svc_or_pin, Mapping) or svc_or_pin is None \
        else pinned_of(svc_or_pin)
    if not pin:
        return ""
    version = f" v{pin['version']}" if pin.get("version") else ""
    if short:
        return f"pinned{version}"
    why = " ".join(p for p in (f"by {pin['reason']}" if pin.get("reason") else "",
                               f"at {when(pin['at'], today_short=True)}"
                               if isinstance(pin.get("at"), (int, float)) else "") if p)
    return f"pinned{version}" + (f" ({why})" if why else "")


def warning_of(svc: BaseService, status: str) -> str:
    """The first line of the error of a service that still serves (a follower that cannot
    follow keeps serving its version and stays ACTIVE), or ''."""
    error = (svc.last_error or "").strip()
    return error.splitlines()[0][:200] if status == "ACTIVE" and error else ""


def services_table(items: Sequence[BaseService]) -> str:
    """One line per service: name, kind, status (and pin), pid, endpoint (and the error or the
    warning, shortened)."""
    if not items:
        return "no services"
    rows = [("NAME", "KIND", "STATUS", "PID", "ENDPOINT / ERROR")]
    for svc in items:
        status = svc.status.value
        pid = getattr(svc, "pid", None)
        where = svc.endpoint or ""
        if status == "ERROR" and svc.last_error:
            where = svc.last_error.splitlines()[0][:100]
        warning = warning_of(svc, status)
        if warning:
            where = f"{where}  warning: {warning}".strip()
        pinned = pinned_text(svc, short=True)
        kind = getattr(svc, "stored_kind", svc.kind)
        rows.append((svc.name, kind, status + (f" ({pinned})" if pinned else ""),
                     str(pid) if pid and status != "INACTIVE" else "-", where or "-"))
    return table(rows, free_last=True)


def describe_text(svc: BaseService, now: float | None = None) -> str:
    """A service in full: its settings, the error, and which version it served when."""
    info = svc.describe()
    error = info.pop("last_error", None)
    lines = [f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}"
             for k, v in info.items() if k not in ("runtime", "history")]
    pinned = pinned_text(svc)
    if pinned:
        lines.append(f"pinned: {pinned}")
    if error:
        lines.append("last_error: " + error.replace("\n", "\n  "))
    history = getattr(svc, "history", None)
    if callable(history):
        lines += ["history:", *("  " + line for line in history_text(
            history(), time.time() if now is None else now).splitlines())]
    return "\n".join(lines)


_MISSING = re.compile(r"missing inputs \[([^\]]*)\]")
_EXTRA = re.compile(r"extra inputs: \[([^\]]*)\]")


def _names(listed: str) -> str:
    return ", ".join(n.strip().strip("'\"") for n in listed.split(",") if n.strip())


def short_prediction_error(message: str) -> str:
    """MLflow's schema errors in a few words ("missing columns x0, x1; unexpected: sepal");
    any other message as its first line."""
    missing = _MISSING.search(message)
    if missing:
        text = f"missing columns {_names(missing.group(1))}"
        extra = _EXTRA.search(message)
        return text + (f"; unexpected: {_names(extra.group(1))}" if extra else "")
    lines = message.strip().splitlines()
    return lines[0][:300] if lines else message
