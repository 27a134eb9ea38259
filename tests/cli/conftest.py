"""A state folder per CLI test; services left running are stopped afterwards."""

from __future__ import annotations

import contextlib

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("CTCD_HOME", str(path))
    yield path
    from ctcd_jupyter.services import services

    for svc in services(path):
        with contextlib.suppress(Exception):
            svc.stop(timeout=3, force=True)
