"""nbval runs each example notebook in a fresh kernel: give each its own state folder (the kernel
inherits CTCD_HOME), so the tests stay isolated while the notebooks themselves keep their state
where a user's side panel sees it, and stop whatever services a notebook left running."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

import pytest

_homes: dict[str, str] = {}
_mlflow: dict[str, str | None] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    notebook = str(item.path)
    if notebook.endswith(".ipynb") and notebook not in _homes:
        # Before nbval starts this notebook's kernel (it does so when its first cell is set up).
        _homes[notebook] = os.environ["CTCD_HOME"] = tempfile.mkdtemp(prefix="ctcd-nbval-")
        # the notebook's MLflow store is its state folder's, whatever this process was told
        _mlflow[notebook] = os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.hookimpl(trylast=True)  # after nbval shut the kernel down
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    notebook = str(item.path)
    if notebook in _homes and (nextitem is None or str(nextitem.path) != notebook):
        home = _homes[notebook]
        from ctcd_jupyter.services import services

        with contextlib.suppress(Exception):
            for svc in services(home):
                with contextlib.suppress(Exception):
                    svc.stop(timeout=10, force=True)
        os.environ.pop("CTCD_HOME", None)
        if _mlflow.get(notebook) is not None:
            os.environ["MLFLOW_TRACKING_URI"] = _mlflow[notebook]
        shutil.rmtree(home, ignore_errors=True)
