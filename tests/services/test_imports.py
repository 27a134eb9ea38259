"""`import ctcd_jupyter.services` stays light: no mlflow, no IPython, no widgets."""

from __future__ import annotations

import subprocess
import sys


def test_services_import_is_light():
    code = ("import sys, ctcd_jupyter.services, ctcd_jupyter.cli\n"
            "heavy = [m for m in ('mlflow', 'IPython', 'ipywidgets', 'jupyter_server')"
            " if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
