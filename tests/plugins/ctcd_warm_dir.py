"""A pytest plugin (pyproject's addopts `-p ctcd_warm_dir`) for every test and notebook: warm
model-server processes (services/warm_start.py) of a test session live in a folder of its own
and are stopped at its end."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if "CTCD_WARM_DIR" not in os.environ:
        os.environ["CTCD_WARM_DIR"] = config._ctcd_warm_dir = tempfile.mkdtemp(prefix="ctcd-w-")


def pytest_unconfigure(config: pytest.Config) -> None:
    from ctcd_jupyter.services import warm_start

    warm_start.stop()
    if getattr(config, "_ctcd_warm_dir", None):
        shutil.rmtree(config._ctcd_warm_dir, ignore_errors=True)
