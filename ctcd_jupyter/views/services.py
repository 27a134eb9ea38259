"""Services as text (the `%services list` / `ctcd services list` table, one service in full) and
as JSON: `service_json` is the one shape of `ctcd services --json` and `GET /ctcd/api/services`."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from .format import table

__all__ = ["describe_text", "services_table", "short_prediction_error"]

BaseService = Any  # duck-typed: views import nothing above them


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
    return table(rows, free_last=True)


def describe_text(svc: BaseService) -> str:
    info = svc.describe()
    error = info.pop("last_error", None)
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
