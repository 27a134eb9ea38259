"""The model server's registry reads (services/mlflow_registry.py) against a real SQLite MLflow
store, compared with MlflowClient's answers; and the server's own modules booting without the
ctcd_jupyter package (model_server/serve.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from service_helpers import wait_for

from ctcd_jupyter.model_server.mlflow_registry import NotInRegistry, RegistryReader
from ctcd_jupyter.services import MLFlowDeploymentService

REGISTER = """
import sys
import mlflow, mlflow.pyfunc
from mlflow import MlflowClient

class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [7] * len(model_input)

folder, requirement = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
exp = mlflow.create_experiment("reader", artifact_location=f"{folder}/artifacts")
with mlflow.start_run(experiment_id=exp):
    for _ in range(3):
        mlflow.pyfunc.log_model(name="m", python_model=Constant(), registered_model_name="const",
                                pip_requirements=[requirement] if requirement else [])
MlflowClient().set_registered_model_alias("const", "champion", "2")
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("reader-store")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(REGISTER), str(folder),
                          "no-such-package-for-ctcd==1.0"], capture_output=True, text=True,
                         timeout=180, cwd=folder)
    assert out.returncode == 0, out.stderr[-3000:]
    return f"sqlite:///{folder}/mlflow.db"


def test_direct_reads_agree_with_mlflow_client(store):
    from mlflow import MlflowClient

    client = MlflowClient(store)
    reader = RegistryReader(store)
    assert reader.direct  # a SQLite registry with MLflow's tables: no ORM on the boot path
    assert reader.version_of("const", "champion") == "2"
    for version in ("1", "2", "3"):
        assert reader.location("const", version) == client.get_model_version_download_uri(
            "const", version)

    client.set_registered_model_alias("const", "champion", "3")  # seen at the next read
    assert reader.version_of("const", "champion") == "3"
    client.set_registered_model_alias("const", "champion", "2")

    with pytest.raises(NotInRegistry, match="no alias 'nope'"):
        reader.version_of("const", "nope")
    with pytest.raises(NotInRegistry, match="no version 9"):
        reader.location("const", "9")
    with pytest.raises(NotInRegistry):
        reader.version_of("nobody", "champion")
    # `latest` is MLflow's pseudo-alias: asked of MlflowClient, which defines it
    assert reader.version_of("const", "latest") == "3"


def test_a_deleted_version_is_no_version(store, tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(store)
    client.set_registered_model_alias("const", "doomed", "1")
    reader = RegistryReader(store)
    assert reader.version_of("const", "doomed") == "1"
    client.delete_model_version("const", "1")
    with pytest.raises(NotInRegistry):
        reader.version_of("const", "doomed")
    with pytest.raises(NotInRegistry, match="no version 1"):
        reader.location("const", "1")


def test_other_registries_go_through_mlflow_client(store, tmp_path, monkeypatch):
    assert not RegistryReader(f"file://{tmp_path}/mlruns").direct
    assert not RegistryReader(f"sqlite:///{tmp_path}/not-there.db").direct
    (tmp_path / "other.db").write_bytes(b"")  # a database without MLflow's tables
    assert not RegistryReader(f"sqlite:///{tmp_path}/other.db").direct
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    through_client = RegistryReader(store)
    assert not through_client.direct
    monkeypatch.delenv("MLFLOW_ENABLE_WORKSPACES")
    assert through_client.version_of("const", "champion") == "2"


def test_the_server_modules_boot_without_the_ctcd_jupyter_package():
    folder = Path(__import__("ctcd_jupyter").__file__).parent / "model_server"
    modules = sorted(p.stem for p in folder.glob("*.py")
                     if p.stem not in ("__init__", "serve"))
    assert {"server", "slot", "fast_path", "prediction_writer", "hooks"} <= set(modules)
    code = (f"import runpy, sys; runpy.run_path({str(folder / 'serve.py')!r}, run_name='setup'); "
            + "".join(f"import ctcd_model_server.{m}; " for m in modules)
            + "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('ctcd_jupyter', 'mlflow', 'sklearn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_requirement_warnings_still_reach_the_log_after_the_first_answer(store, home,
                                                                         monkeypatch):
    """MLflow's requirements check moved off the boot path; its warning is still logged."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    svc = MLFlowDeploymentService("reader", "models:/const@champion", access_log=False)
    svc.start(timeout=120, progress=False)
    try:
        assert svc.predict([[1.0]]) == [7]
        wait_for(lambda: "no-such-package-for-ctcd" in svc.logs(tail=200), timeout=30,
                 what="the requirements warning in the log")
    finally:
        svc.stop()


def test_a_missing_registry_file_is_an_error_and_a_replaced_one_is_read_anew(store, tmp_path):
    """An open SQLite connection keeps reading a file that was moved away or replaced: the
    follower would silently serve from a registry that is no longer there."""
    import shutil
    import sqlite3

    path = Path(store.removeprefix("sqlite:///"))
    reader = RegistryReader(store)
    assert reader.version_of("const", "champion") == "2"
    aside = tmp_path / "aside.db"
    path.rename(aside)
    try:
        with pytest.raises(FileNotFoundError):
            reader.version_of("const", "champion")  # unreachable, and said
    finally:
        aside.rename(path)
    assert reader.version_of("const", "champion") == "2"  # back: recovered

    copy = tmp_path / "restored.db"  # a restore from a backup where the alias is elsewhere
    shutil.copy(path, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE registered_model_aliases SET version = 3 WHERE alias = 'champion'")
    original = tmp_path / "original.db"
    shutil.copy(path, original)
    try:
        copy.replace(path)
        assert reader.version_of("const", "champion") == "3"
    finally:
        original.replace(path)
    assert reader.version_of("const", "champion") == "2"
    reader.close()
