"""How every view says that a rollback pinned the served version (`svc.pinned`: None or
{"version", "at", "reason"})."""

from __future__ import annotations

import sys
from datetime import datetime

import ctcd_jupyter as ctcd
from ctcd_jupyter.views.json import service_json
from ctcd_jupyter.views.services import pinned_of, pinned_text, services_table


def test_a_pin_in_words():
    at = datetime(2026, 1, 2, 10, 42, 5).timestamp()
    assert pinned_text({"version": "2", "at": at, "reason": "rollback"}) == \
        "pinned v2 (by rollback at 2026-01-02 10:42:05)"
    assert pinned_text({"version": "2"}) == "pinned v2"
    assert pinned_text(None) == "" and pinned_text({}) == ""


def test_a_service_without_a_pin_shows_none(workspace):
    svc = ctcd.LocalDaemonService("web", [sys.executable, "-c", "pass"])
    assert pinned_of(svc) is None and pinned_text(svc) == ""
    assert service_json(svc)["pinned"] is None and "pinned" not in services_table([svc])
