"""`ctcd demo` outside a checkout: the examples ship in the wheel, and are found and copied
from the installed package wherever the command runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from ctcd_jupyter.cli.demo import EXAMPLES, examples_folder, find_notebook

REPO = Path(__file__).resolve().parents[2]


def test_an_example_is_copied_out_of_the_package_and_run_from_the_copy(tmp_path):
    path = find_notebook("continuous-deployment", cwd=tmp_path)
    assert path == tmp_path / "ctcd-examples" / "04_continuous_deployment.ipynb"
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(EXAMPLES.values())
    assert path.read_bytes() == (examples_folder() / path.name).read_bytes()
    path.write_text("{}")  # the user's own edits are kept
    assert find_notebook("pipelines", cwd=tmp_path).parent == path.parent
    assert path.read_text() == "{}"
    # in a checkout the examples run in place, in notebooks/
    assert find_notebook("services", cwd=REPO) == REPO / "notebooks" / "03_services.ipynb"


def test_the_wheel_ships_the_examples_and_demo_finds_them(tmp_path):
    # Hooks off: the labextension build (jlpm) is not what this test is about.
    env = {**os.environ, "HATCH_BUILD_NO_HOOKS": "true"}
    build = subprocess.run(
        [sys.executable, "-c", "import sys; from hatchling.build import build_wheel; "
         "print(build_wheel(sys.argv[1]))", str(tmp_path / "dist")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    wheel = tmp_path / "dist" / build.stdout.strip().splitlines()[-1]
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(site)
    assert {f"ctcd_jupyter/examples/{f}" for f in EXAMPLES.values()} <= set(names)
    assert not [n for n in names if "/.ctcd/" in n or n.endswith(("conftest.py", ".cfg"))]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run(
        [sys.executable, "-c", "import json, ctcd_jupyter\n"
         "from ctcd_jupyter.cli.demo import examples_folder, find_notebook\n"
         "print(json.dumps([ctcd_jupyter.__file__, str(examples_folder()),"
         " str(find_notebook('continuous-deployment'))]))"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    package, folder, notebook = json.loads(probe.stdout)
    assert Path(package).is_relative_to(site)  # the unpacked wheel, not the checkout
    assert Path(folder) == site / "ctcd_jupyter" / "examples"
    assert Path(notebook) == elsewhere / "ctcd-examples" / "04_continuous_deployment.ipynb"
    assert Path(notebook).read_bytes() == (REPO / "notebooks" / Path(notebook).name).read_bytes()
    help_ = subprocess.run([sys.executable, "-m", "ctcd_jupyter.cli", "demo", "--help"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert help_.returncode == 0 and "continuous-deployment" in help_.stdout
