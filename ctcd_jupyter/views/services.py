"""Services as text (the `%services list` / `ctcd services list` table, one service in full) and
as JSON: `service_json` is the one shape of `ctcd services --json` and `GET /ctcd/api/services`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ..model_server import redact
from .format import table, tone, when
from .history import history_text

__all__ = ["ServiceLabel", "describe_text", "pinned_of", "pinned_text", "service_label",
           "services_table", "short_prediction_error"]

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


class ServiceLabel(NamedTuple):
    """How a service's state reads: `text` ("ACTIVE (not following)"), its `tone`, and the
    reason to show beside it (None when there is nothing to say)."""

    text: str
    tone: str
    reason: str | None


def service_label(status: str, last_error: str | None, model_uri: str | None) -> ServiceLabel:
    """The one rule for a service that serves with a problem: an ACTIVE service with an error
    answers, but not as asked. A follower (`models:/NAME@ALIAS`) then serves something other
    than what the alias names (the registry is unreachable, the alias is gone, the version it
    names was refused): "not following"; any other one serves "with a warning"."""
    reason = redact.text(last_error.strip().splitlines()[0][:200]) if last_error else None
    if status == "ACTIVE" and reason:
        follows = bool(model_uri) and str(model_uri).startswith("models:/") \
            and "@" in str(model_uri)
        return ServiceLabel(f"ACTIVE ({'not following' if follows else 'warning'})", "warn",
                            reason)
    return ServiceLabel(status, tone(status), reason if status == "ERROR" else None)


def services_table(items: Sequence[BaseService]) -> str:
    """One line per service: name, kind, status (and pin), pid, endpoint (and the error or the
    warning, shortened)."""
    if not items:
        return "no services"
    rows = [("NAME", "KIND", "STATUS", "PID", "ENDPOINT / ERROR")]
    for svc in items:
        status = svc.status.value
        pid = getattr(svc, "pid", None)
        label = service_label(status, svc.last_error, getattr(svc, "model_uri", None))
        where = svc.endpoint or ""
        if label.reason:
            where = "; ".join(x for x in (where if status != "ERROR" else "",
                                          label.reason[:100]) if x)
        pinned = pinned_text(svc, short=True)
        kind = getattr(svc, "stored_kind", svc.kind)
        rows.append((svc.name, kind, label.text + (f" ({pinned})" if pinned else ""),
                     str(pid) if pid and status != "INACTIVE" else "-", where or "-"))
    return table(rows, free_last=True)


def describe_text(svc: BaseService, now: float | None = None) -> str:
    """A service in full: its settings, the error, and which version it served when."""
    info = svc.describe()
    error = redact.text(info.pop("last_error", None) or "")
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
