"""A real Jupyter server (pytest-jupyter) with the ctcd extension, on a temporary state folder."""

from __future__ import annotations

import pytest


@pytest.fixture
def jp_server_config(home):
    return {"ServerApp": {"jpserver_extensions": {"ctcd_jupyter": True}}}
