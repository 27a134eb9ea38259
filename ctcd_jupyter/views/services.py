"""Services as text (the `%services list` / `ctcd services list` table, one service in full) and
as JSON: `service_json` is the one shape of `ctcd services --json` and `GET /ctcd/api/services`."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from .. import redact
from .format import table, tone

__all__ = ["ServiceLabel", "describe_text", "service_label", "services_table",
           "short_prediction_error"]

BaseService = Any  # duck-typed: views import nothing above them


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
    """One line per service: name, kind, status, pid, endpoint (and the error, shortened)."""
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
        kind = getattr(svc, "stored_kind", svc.kind)
        rows.append((svc.name, kind, label.text,
                     str(pid) if pid and status != "INACTIVE" else "-", where or "-"))
    return table(rows, free_last=True)


def describe_text(svc: BaseService) -> str:
    info = svc.describe()
    error = redact.text(info.pop("last_error", None) or "")
    lines = [f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}"
             for k, v in info.items() if k != "runtime"]
    if error:
        lines.append("last_error: " + error.replace("\n", "\n  "))
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
