"""The model server's direct registry reads (services/mlflow_registry.py) on a real PostgreSQL
registry (the team's shared store, written here through its MLflow tracking server), compared
with MlflowClient's answers."""

from __future__ import annotations

import pytest

from ctcd_jupyter.model_server.mlflow_registry import NotInRegistry, RegistryReader


def test_direct_reads_on_postgresql_agree_with_mlflow_client(pg_backend, tracking_server):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_server)
    client.create_registered_model("pgreads")
    run = client.create_run(client.create_experiment("pgreads"))
    for i in range(3):
        client.create_model_version("pgreads", source=f"{run.info.artifact_uri}/m{i}",
                                    run_id=run.info.run_id)
    client.set_registered_model_alias("pgreads", "champion", "2")

    reader = RegistryReader(pg_backend)
    assert reader.direct  # psycopg2 and MLflow's tables: no ORM on the server's boot path
    assert reader.version_of("pgreads", "champion") == "2"
    for version in ("1", "2", "3"):
        assert reader.location("pgreads", version) == client.get_model_version_download_uri(
            "pgreads", version)
    client.set_registered_model_alias("pgreads", "champion", "3")
    assert reader.version_of("pgreads", "champion") == "3"  # autocommit: the newest commit
    client.delete_model_version("pgreads", "1")
    with pytest.raises(NotInRegistry, match="no version 1"):
        reader.location("pgreads", "1")
    with pytest.raises(NotInRegistry, match="no alias 'nope'"):
        reader.version_of("pgreads", "nope")
    reader.close()
